// The few numbers every part of the core needs, taken from a validated superblock.
#pragma once

#include <cstdint>
#include <span>

#include "meta/omf.hpp"

namespace famfs {

struct Geometry {
  uint64_t device_size = 0; // min(superblock dd_size, bytes actually mapped): never trust more
  uint64_t log_len = 0;
  uint64_t alloc_unit = omf::kAllocUnit;

  uint64_t data_start() const { return omf::kLogOffset + log_len; }
  uint64_t last_index() const { return omf::log_last_index(log_len); }
  uint64_t slots() const { return last_index() + 1; }
};

// The on-media rule for a log length (B§1, mkfs -l): a power of 2 of at least 8 MiB.
constexpr bool log_len_valid(uint64_t log_len) {
  return log_len >= omf::kMinLogLen && (log_len & (log_len - 1)) == 0;
}

// Geometry from a usable superblock and the mapped device span. Throws famfs::Error(EINVAL)
// if the log does not fit inside the mapped bytes.
Geometry geometry_of(const omf::Superblock& sb, std::span<const std::byte> device);

} // namespace famfs
