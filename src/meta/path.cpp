// Relative paths in log entries (spec Part A §3, B§5). Purely lexical: the log names objects
// by path and famfs has no symlinks, so ".." can be resolved without looking anything up.
#include "meta/path.hpp"

#include <cerrno>
#include <cstring>

#include "meta/error.hpp"
#include "meta/omf.hpp"

namespace famfs {

namespace {

// Printable form of a path for messages (NUL shown as \0 so the message stays one string).
std::string show(std::string_view p) {
  std::string out;
  for (char c : p) {
    if (c == '\0') out += "\\0";
    else out += c;
  }
  return out;
}

} // namespace

std::optional<std::string> normalise_relpath(std::string_view raw, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<std::string> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (raw.empty()) return fail("empty path");
  if (raw.find('\0') != std::string_view::npos)
    return fail("path '" + show(raw) + "' contains a NUL byte");
  if (raw.front() == '/') return fail("path '" + show(raw) + "' is absolute");

  // Fast path: what writers emit (every component ordinary) is returned as is.
  bool canonical = raw.back() != '/';
  for (std::size_t pos = 0; canonical && pos <= raw.size();) {
    std::size_t slash = raw.find('/', pos);
    if (slash == std::string_view::npos) slash = raw.size();
    const std::string_view comp = raw.substr(pos, slash - pos);
    canonical = !comp.empty() && comp != "." && comp != "..";
    pos = slash + 1;
  }
  if (canonical) return std::string(raw);

  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t slash = raw.find('/', pos);
    if (slash == std::string_view::npos) slash = raw.size();
    const std::string_view comp = raw.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (parts.empty()) return fail("path '" + show(raw) + "' escapes the root");
      parts.pop_back();
      continue;
    }
    parts.push_back(comp);
  }
  if (parts.empty()) return fail("path '" + show(raw) + "' names the root itself");

  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::string canonical_relpath_for_write(std::string_view path) {
  std::string why;
  std::optional<std::string> rel = normalise_relpath(path, &why);
  if (!rel) throw Error(EINVAL, "cannot log '" + show(path) + "': " + why);
  if (rel->size() > omf::kRelpathMax)
    throw Error(ENAMETOOLONG, "path '" + *rel + "' is " + std::to_string(rel->size()) +
                                  " bytes; famfs log entries hold at most 79");
  return *rel;
}

std::vector<std::string_view> split_relpath(std::string_view rel) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    if (slash > pos) out.push_back(rel.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string_view relpath_field(const char (&field)[80]) {
  // Stored NUL-terminated, but hostile media may fill all 80 bytes: never read past them.
  const void* nul = std::memchr(field, '\0', sizeof(field));
  const std::size_t n = nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - field)
                            : sizeof(field);
  return std::string_view(field, n);
}

} // namespace famfs
