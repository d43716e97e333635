// mkfs as pure code over a mapped device (spec B§9, Part A §1).
#pragma once

#include <cstdint>
#include <span>

#include "meta/cacheops.hpp"
#include "meta/geometry.hpp" // log_len_valid: the -l rule is the format's rule
#include "meta/superblock.hpp"

namespace famfs {

// Zero the superblock region and the whole log, write the log header, then the superblock
// (CRC last). Flushes the log, then the superblock, as upstream. Throws famfs::Error(EINVAL)
// when the log does not fit (0x200000 + log_len must be < device size) or the log length is
// not a power of two >= 8 MiB, or the device is smaller than the mapped span requires.
void format_device(std::span<std::byte> device, const SuperblockParams& p, const CacheOps& cache);

// mkfs -k -f: set ts_magic = 0 and flush those 8 bytes; nothing else changes.
void kill_superblock(std::span<std::byte> device, const CacheOps& cache);

} // namespace famfs
