// Helpers shared by the famfs CLI commands and mkfs.famfs: argument parsing (sizes, modes),
// consistent error/warning output. (JSON: nlohmann-json, written by proto/json_text.hpp.)
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

} // namespace famfs::cli
