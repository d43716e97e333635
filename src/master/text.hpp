// Small text helpers of the master library's messages (also used by the CLI).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace famfs::master {

// 4294967296 -> "4.00 GiB" (binary units; bytes below 1 KiB as "N bytes").
std::string human_bytes(uint64_t bytes);
std::string quote(std::string_view s); // 'like this'
// "1 log entry", "2 log entries": a count with the word that agrees with it.
std::string count_of(uint64_t n, std::string_view one, std::string_view many);
std::string errno_text(int err);       // strerror

} // namespace famfs::master
