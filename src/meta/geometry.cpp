// Geometry from a superblock, bounded by what is actually mapped (design.md "Device access").
#include "meta/numeric.hpp"
#include "meta/geometry.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "meta/error.hpp"

namespace famfs {

Geometry geometry_of(const omf::Superblock& sb, std::span<const std::byte> device) {
  Geometry g;
  g.device_size = std::min<uint64_t>(sb.ts_daxdev.dd_size, device.size());
  g.log_len = sb.ts_log_len;
  g.alloc_unit = sb.ts_alloc_unit;
  if (g.alloc_unit != omf::kAllocUnit && g.alloc_unit != omf::kSmallAllocUnit)
    throw Error(EINVAL, "superblock alloc unit " + hex(g.alloc_unit) +
                            " is neither 0x1000 nor 0x200000");
  if (!log_len_valid(g.log_len))
    throw Error(EINVAL, "superblock log length " + hex(g.log_len) +
                            " is not a power of 2 of at least 8 MiB");
  // log_len_valid bounds nothing above, so compare without forming 2 MiB + log_len.
  if (g.device_size < omf::kLogOffset || g.log_len > g.device_size - omf::kLogOffset)
    throw Error(EINVAL, "the log (" + hex(omf::kLogOffset) + " + " + hex(g.log_len) +
                            " bytes) does not fit in the device (" + hex(g.device_size) +
                            " bytes: min of superblock size " + hex(sb.ts_daxdev.dd_size) +
                            " and mapped size " + hex(device.size()) + ")");
  return g;
}

} // namespace famfs
