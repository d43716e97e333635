// Small text helpers of the master library's messages (also used by the CLI).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace famfs::master {

// 4294967296 -> "4.00 GiB" (binary units; bytes below 1 KiB as "N bytes").
std::string human_bytes(uint64_t bytes);
std::string quote(std::string_view s); // 'like this'
std::string errno_text(int err);       // strerror

} // namespace famfs::master
