// mkfs over a mapped device (spec B§9, Part A §1).
#include "meta/numeric.hpp"
#include "meta/format.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "meta/error.hpp"
#include "meta/log.hpp"

namespace famfs {

void format_device(std::span<std::byte> device, const SuperblockParams& p,
                   const CacheOps& cache) {
  if (!log_len_valid(p.log_len))
    throw Error(EINVAL, "log length " + hex(p.log_len) +
                            " is invalid: it must be a power of 2 and at least 8 MiB");
  if (p.device_size == 0) throw Error(EINVAL, "device size is 0");
  if (p.device_size > device.size())
    throw Error(EINVAL, "device size " + hex(p.device_size) + " exceeds the mapped " +
                            hex(device.size()) + " bytes");
  // 0x200000 + log_len < device size, written so that a huge log_len cannot wrap.
  if (p.device_size <= omf::kLogOffset || p.log_len >= p.device_size - omf::kLogOffset)
    throw Error(EINVAL, "log of " + hex(p.log_len) + " bytes does not fit: 0x200000 + log " +
                            "length must be below the device size " + hex(p.device_size));

  std::byte* const base = device.data();
  std::byte* const log = base + omf::kLogOffset;

  // Order chosen so that a crash never leaves a valid superblock over a half-written log:
  // first the old superblock goes away, then the log is built and made durable, and only
  // then does the new superblock (CRC computed last) appear.
  std::memset(base, 0, omf::kSuperblockRegion);
  cache.flush(base, omf::kSuperblockRegion);
  cache.fence();

  std::memset(log, 0, p.log_len);
  const omf::LogHeader h = make_log_header(p.log_len);
  std::memcpy(log, &h, sizeof(h));
  cache.flush(log, p.log_len);
  cache.fence();

  const omf::Superblock sb = make_superblock(p);
  std::memcpy(base, &sb, sizeof(sb));
  cache.flush(base, sizeof(sb));
  cache.fence();
}

void kill_superblock(std::span<std::byte> device, const CacheOps& cache) {
  if (device.size() < sizeof(omf::Superblock))
    throw Error(EINVAL, "device of " + std::to_string(device.size()) +
                            " bytes is too small to hold a superblock");
  const uint64_t zero = 0;
  std::memcpy(device.data() + offsetof(omf::Superblock, ts_magic), &zero, sizeof(zero));
  cache.flush(device.data(), sizeof(zero));
  cache.fence();
}

} // namespace famfs
