// The reuse rule on the master (docs/delete.md "The reuse rule"): which deleted space the
// allocator may hand out again. Deleted space stays held unless every host that counts (host
// slots, eviction table: meta/extension.hpp) has replayed past the DELETE and holds nothing
// open made at or before the deleted file.
#pragma once

#include <span>

#include "meta/bitmap.hpp"
#include "meta/cacheops.hpp"

namespace famfs::master {

// The bitmap an allocator of this session starts from: `space`'s live AUs plus every deleted
// file's AUs the rule still holds. Everything deleted is held when delete is not enabled (a
// header gone bad), when no host has registered yet, or when the log has cross-links (a
// delete may then have given up AUs another file still uses).
Bitmap reuse_bitmap(const SpaceMap& space, std::span<const std::byte> device, const CacheOps& cache);

} // namespace famfs::master
