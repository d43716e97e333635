// Space for new files (spec B§6, Part A §7) with the messages the user sees when it fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "meta/bitmap.hpp"
#include "meta/fmap.hpp"
#include "meta/geometry.hpp"

namespace famfs::master {

// The reproducible bucket order of an interleaved file named `relpath` (Part A §7): FNV-1a of
// the path, mixed with $FAMFS_ALLOC_SEED.
uint64_t alloc_seed_for(const std::string& relpath);

// Allocate `size` bytes for the file `what` from `a`, contiguous or interleaved. Throws
// famfs::Error: ENOSPC naming the file, the space it needs and what `device` has free;
// EINVAL when the interleave parameters cannot be met.
Fmap allocate_file(Allocator& a, const Geometry& g, const std::string& device, uint64_t size,
                   const std::optional<InterleaveParams>& ip, const std::string& what);

// Issue 8 defect 12: the refusal to allocate while applied log entry `index` of the famfs on
// `device` (mounted at `mpt`) differs from what was applied (`what`). Throws Error(EUCLEAN).
[[noreturn]] void refuse_allocation(const std::string& device, const std::string& mpt,
                                    uint64_t index, const std::string& what);

// Mark the space of `f` as used in `b` (allocation units of `g`).
void mark_allocated(Bitmap& b, const Geometry& g, const Fmap& f);

} // namespace famfs::master
