// Relative paths in log entries (spec Part A §3, B§5).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace famfs {

// Reader side: lexical normalisation of a stored relpath ("a//b/./c" -> "a/b/c", "a/../b" -> "b").
// Returns nullopt (and sets *why) when the path is empty, absolute, contains NUL, escapes the
// root, or normalises to the root itself.
std::optional<std::string> normalise_relpath(std::string_view raw, std::string* why = nullptr);

// Writer side: the canonical relpath to log for `path` (already relative to the mount root).
// Throws famfs::Error(EINVAL) for empty/escaping/absolute paths and (ENAMETOOLONG) for more
// than 79 bytes.
std::string canonical_relpath_for_write(std::string_view path);

// "a/b/c" -> {"a", "b", "c"}; input must be normalised.
std::vector<std::string_view> split_relpath(std::string_view rel);

// The relpath field of an entry as a string (up to the first NUL, at most 80 bytes).
std::string_view relpath_field(const char (&field)[80]);

} // namespace famfs
