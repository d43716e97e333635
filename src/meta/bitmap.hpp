// Allocation bitmap rebuilt from the log (spec B§6.1) and the allocators (B§6.2, B§6.3, A§7).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/cacheops.hpp"
#include "meta/fmap.hpp"
#include "meta/geometry.hpp"
#include "meta/omf.hpp"

namespace famfs {

struct BitmapStats {
  uint64_t entries_used = 0;   // header next_index (bounded by slot count)
  uint64_t bad_entries = 0;    // failed seqnum/CRC: skipped, not counted as allocated
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t collisions = 0;     // AUs claimed twice (incl. overlap with superblock+log)
  uint64_t out_of_bounds = 0;  // extents reaching past the device end (bits >= nbits; rejected)
  uint64_t alloc_bytes = 0;    // AUs set by files (collisions not double counted) * AU
  uint64_t sum_file_sizes = 0;
  uint64_t deletes = 0;        // DELETE entries applied (files and directories)
  uint64_t deleted_bytes = 0;  // AUs of deleted files not yet claimed by a later file * AU
  std::optional<uint64_t> first_bad_index; // first damaged entry (Part A §5)
};

// The space of a file a DELETE entry removed (docs/delete.md): no longer live, not free
// either until the reuse rule says every host is past it.
struct DeletedSpace {
  uint64_t delete_index = 0;  // the DELETE entry
  uint64_t target_index = 0;  // the FILE entry it deleted
  std::string path;           // for status: what holds the space
  Fmap fmap;
  uint64_t bytes = 0;         // AUs it had * AU
};

class Bitmap {
 public:
  explicit Bitmap(uint64_t nbits);
  uint64_t nbits() const { return nbits_; }
  bool test(uint64_t bit) const;
  // Set bits [first, first+count); returns how many were already set (collisions).
  // Bits >= nbits are not set; *out_of_bounds (if given) counts them.
  uint64_t set_range(uint64_t first, uint64_t count, uint64_t* out_of_bounds = nullptr);
  void clear_range(uint64_t first, uint64_t count);
  // Clear bits [first, first+count) (clamped to nbits); returns how many were set.
  uint64_t clear_range_counted(uint64_t first, uint64_t count);
  // Bitwise OR of `other` (same nbits) into this one.
  void merge(const Bitmap& other);
  uint64_t count_set() const;
  uint64_t count_set_below(uint64_t end) const; // set bits in [0, min(end, nbits))
  // First fit: the lowest i in [from, limit) with bits [i, i+run) all clear and i+run <= limit
  // (limit is clamped to nbits). nullopt when there is none or run is 0.
  std::optional<uint64_t> find_clear_run(uint64_t from, uint64_t limit, uint64_t run) const;

 private:
  uint64_t nbits_;
  std::vector<uint64_t> words_;
};

struct BitmapBuild {
  Bitmap bitmap;
  BitmapStats stats;
};

// The allocation bitmap and its figures, kept one log entry at a time (B§6.1): nbits =
// ceil(device_size / AU), [0, 2 MiB + log_len) preset, then every valid FILE entry claims the
// AUs of its extents (valid or not: the allocator must never hand out space an entry claims).
// build_bitmap feeds it the whole log; a Replayer feeds it the entries each play() applied, so
// the daemon's free space and a master writer's allocator cost O(new entries), not O(log).
class SpaceMap {
 public:
  // `reserved_log_len`: the log length the reserved range uses (the header's, or the
  // superblock's when the header cannot be trusted).
  SpaceMap(const Geometry& g, uint64_t reserved_log_len);
  explicit SpaceMap(const Geometry& g) : SpaceMap(g, g.log_len) {}

  // A valid entry (seqnum and CRC checked): FILE entries claim their extents, counts grow.
  void claim(const omf::LogEntry& e);
  // A DELETE entry at `delete_index` removed the file made by entry `target_index` (its map
  // `fmap`): its AUs leave the live bitmap and become deleted space (deleted_bitmap()). A
  // later FILE entry claiming deleted AUs reuses them: not a collision. The caller (replay,
  // after the namespace unlinked the file) calls this at most once per target.
  void release(uint64_t delete_index, uint64_t target_index, std::string path, uint64_t size,
               const Fmap& fmap);
  // A DELETE of a directory (counted, no space).
  void note_dir_delete() { ++stats_.deletes; }
  // A slot that failed validation (fsck-style passes skip it and go on).
  void note_bad(uint64_t index);
  void set_entries_used(uint64_t n) { stats_.entries_used = n; }

  const Bitmap& bitmap() const { return bitmap_; }         // live files, superblock, log
  const Bitmap& deleted_bitmap() const { return deleted_; } // deleted, not claimed since
  const std::vector<DeletedSpace>& deleted() const { return deleted_files_; }
  // Bytes of `d` still deleted (not claimed by a later file).
  uint64_t unclaimed_bytes(const DeletedSpace& d) const;
  // The bitmap a master's allocator may use: live AUs plus the AUs of every deleted file that
  // `reusable(d)` refuses (held by some host). Deleted space nobody holds is free in it.
  template <class Pred>
  Bitmap allocation_bitmap(Pred reusable) const {
    Bitmap bm = bitmap_;
    for (const DeletedSpace& d : deleted_files_)
      if (!reusable(d)) hold(bm, d.fmap);
    return bm;
  }
  const BitmapStats& stats() const { return stats_; }
  const Geometry& geometry() const { return geo_; }
  // Allocatable bytes neither live nor deleted-and-unclaimed: O(1). (Deleted space becomes
  // allocatable only through allocation_bitmap, on the master, by the reuse rule.)
  uint64_t free_bytes() const;
  // The bitmap and figures, moving them out (this map is left empty).
  BitmapBuild take() &&;

 private:
  Geometry geo_;
  Bitmap bitmap_;
  BitmapStats stats_;
  uint64_t first_bit_ = 0;  // allocatable bits: [first_bit_, limit_bit_), as the Allocator's
  uint64_t limit_bit_ = 0;
  uint64_t used_bits_ = 0;  // set bits inside [first_bit_, limit_bit_)
  Bitmap deleted_{0};
  uint64_t deleted_bits_ = 0; // set bits of deleted_ inside [first_bit_, limit_bit_)
  std::vector<DeletedSpace> deleted_files_;

  void hold(Bitmap& bm, const Fmap& f) const; // set f's AUs in bm
};

// The whole log in one pass (fsck): bad entries are skipped and counted (as upstream fsck
// and the allocator do), not a reason to stop as in replay.
BitmapBuild build_bitmap(std::span<const std::byte> device, const Geometry& g,
                         const CacheOps& cache);

struct InterleaveParams {
  uint32_t nbuckets = 0;
  uint32_t nstrips = 0;
  uint64_t chunk_size = 0; // 0 -> 2 MiB when interleave is enabled
  bool enabled() const { return nbuckets || nstrips || chunk_size; }
};

// First-fit allocation over a bitmap (the caller holds the log lock for the session).
// A master writer builds one over a copy of a SpaceMap's bitmap (Replayer::space()), so that
// allocating reads no log entry: `Bitmap bm = replayer.space().bitmap(); Allocator a(bm, g);`.
class Allocator {
 public:
  Allocator(Bitmap& bitmap, const Geometry& g);

  // Contiguous next-fit from the session cursor, no wrap, clamped to the device end (B§6.2):
  // one extent of round_up(size, AU). nullopt when no space.
  std::optional<Fmap> alloc_contiguous(uint64_t size);

  // Interleaved (B§6.3) with a bucket order shuffled reproducibly from `seed`. Falls back to
  // contiguous (cursor reset to 0) when size < chunk. Throws famfs::Error(EINVAL) for invalid
  // params; nullopt when not enough buckets have room.
  std::optional<Fmap> alloc_interleaved(uint64_t size, const InterleaveParams& p, uint64_t seed);

  // Give back what alloc_* returned (used when a later step fails before the log entry).
  void release(const Fmap& f);

  uint64_t free_bytes() const;

 private:
  // Allocatable bits: [first_bit_, limit_bit_). Never below the end of the log (even on a
  // bitmap that was not preset), never a partial AU at the device end.
  uint64_t first_bit_ = 0;
  uint64_t limit_bit_ = 0;
  Bitmap& bitmap_;
  Geometry geo_;
  uint64_t cursor_bit_ = 0;
};

} // namespace famfs
