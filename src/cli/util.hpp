// Helpers shared by the famfs CLI commands and mkfs.famfs: argument parsing (sizes, modes),
// consistent error/warning output, and a small JSON writer (no JSON library in our deps).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "master/text.hpp"

namespace famfs::cli {

// "N", "0xN", or "N" followed by one of k K m M g G (binary: KiB, MiB, GiB). Rejects empty
// input, junk, negative numbers and overflow; `why` (if given) says what is wrong.
std::optional<uint64_t> parse_size(std::string_view s, std::string* why = nullptr);

// An octal permission mode such as "644", "0644" or "4755" (at most 07777).
std::optional<uint32_t> parse_mode(std::string_view s, std::string* why = nullptr);

// "<prog>: <message>" on stderr, one line. Messages name the thing and say what to do next.
void print_error(std::string_view prog, std::string_view message);
void print_warning(std::string_view prog, std::string_view message); // "<prog>: warning: ..."

// The uid a FUSE mount records as its mounting user ("user_id=N" in its /proc/mounts options).
std::optional<uint32_t> fuse_mount_user(std::string_view mount_options);

// Issue 8 defect 9 (mkfs.famfs and famfs mount): when users other than root can read or write
// the device `path` with status `st`, the warning that says who and what to do (chmod 600).
std::optional<std::string> device_exposure_warning(const std::string& path,
                                                   const struct stat& st);

// Why the calling user cannot use the FUSE mount at `mpt` after an access failure `err`, when
// the cause is a mount without allow_other (only root and the mounting user get in); nullopt
// when that is not the cause.
std::optional<std::string> fuse_access_denied(std::string_view mpt, std::string_view mount_options,
                                              int err);

// 4294967296 -> "4.00 GiB" (master/text.hpp).
using famfs::master::human_bytes;

// Escape for a JSON string body (quotes, backslash, control characters as \u00XX; bytes
// >= 0x80 pass through, so valid UTF-8 stays valid).
std::string json_escape(std::string_view s);

// Builds one flat-or-nested JSON object in insertion order:
//   JsonObject j; j.add("files", 5).add("role", "master"); puts(j.str().c_str());
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, uint64_t value);
  JsonObject& add(std::string_view key, int64_t value);
  JsonObject& add(std::string_view key, int value) { return add(key, int64_t(value)); }
  JsonObject& add(std::string_view key, unsigned value) { return add(key, uint64_t(value)); }
  JsonObject& add(std::string_view key, long long value) { return add(key, int64_t(value)); }
  JsonObject& add(std::string_view key, unsigned long long value) { return add(key, uint64_t(value)); }
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add_null(std::string_view key);
  // `json` must already be valid JSON (a nested object or array).
  JsonObject& add_raw(std::string_view key, std::string_view json);
  template <typename T>
  JsonObject& add(std::string_view key, const std::optional<T>& v) {
    return v ? add(key, *v) : add_null(key);
  }
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

} // namespace famfs::cli
