// Incremental log replay (spec B§8.1 with Part A §3-§5): apply entries [played, next_index).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/bitmap.hpp"
#include "meta/cacheops.hpp"
#include "meta/namespace.hpp"

namespace famfs {

struct ReplayIssue {
  uint64_t index;
  std::string what;
};

struct ReplayReport {
  uint64_t from = 0;          // first slot looked at
  uint64_t to = 0;            // one past the last slot applied
  uint64_t new_files = 0;
  uint64_t new_dirs = 0;
  uint64_t existed = 0;       // duplicates (first wins)
  uint64_t ignored = 0;       // DELETE (feature off) / ADD_DAXDEV / unknown types
  uint64_t deleted = 0;       // DELETE entries applied (feature on)
  std::vector<ReplayIssue> skipped;   // entries rejected by path or extent rules
  std::optional<ReplayIssue> damage;  // first entry failing seqnum/CRC twice: replay stops there
  std::vector<Ino> created;           // inodes created by this call, in order
  std::vector<Ino> removed;           // inodes a DELETE unlinked (still in the table)
  std::vector<ReplayIssue> ignored_deletes; // DELETE entries met with the feature off
  uint64_t errors() const { return skipped.size() + (damage ? 1 : 0); }
};

// Besides the inode table, a Replayer keeps the allocation bitmap of the entries it applied
// (space()): every valid entry below played() has claimed its extents, so the free space, and
// a master writer's allocator (Allocator over a copy of space().bitmap(), LogWriter told that
// [0, played()) is checked), cost O(new entries) per play, never a pass over the whole log.
class Replayer {
 public:
  // `device` starts at device offset 0 and covers at least geometry.device_size bytes.
  Replayer(std::span<const std::byte> device, const Geometry& g, CacheOps cache);
  // The geometry is taken from the first Namespace played (space() is empty until then).
  Replayer(std::span<const std::byte> device, CacheOps cache);

  // Apply every entry from played() up to the header's next_index (bounded by the slot count).
  // After damage is found, later calls re-check only the damaged slot (it may have been a torn
  // read of an append in progress) and continue if it became valid; when the header no longer
  // counts that slot, the log is whole again and damaged() is false.
  ReplayReport play(Namespace& ns);

  // Re-read just the header's next_index (after invalidating its cache line), bounded as
  // log_entries_used (by the slot count once the geometry is known): the cheap "did the log
  // grow?" poll.
  uint64_t log_next_index() const;

  uint64_t played() const { return played_; }
  bool damaged() const { return damaged_; }
  // The allocation bitmap and figures of the entries applied so far (entries_used = played()).
  const SpaceMap& space() const { return space_; }

  // Shared memory is not trusted after one check (issue 8 defect 12): the CRC of every applied
  // entry is kept, and this re-reads `count` applied slots (a rolling cursor over [0,
  // played())). Returns the changed slot found (the first one whose bytes are no longer what
  // was applied), sticky until a later call finds that slot as applied again. The table keeps
  // what was applied; the caller reports the change as damage.
  std::optional<ReplayIssue> recheck_applied(uint64_t count);

 private:
  void set_geometry(const Geometry& g);
  void apply_delete(Namespace& ns, const omf::LogEntry& e, uint64_t i, ReplayReport& rep);

  std::span<const std::byte> device_;
  CacheOps cache_;
  bool have_geometry_ = false;
  uint64_t slots_ = ~0ULL;
  SpaceMap space_{Geometry{}};
  uint64_t played_ = 0;
  bool damaged_ = false;
  std::vector<uint32_t> applied_crcs_; // CRC (as stored, low 32 bits) of each applied slot
  uint64_t recheck_cursor_ = 0;
  std::optional<ReplayIssue> changed_;
  std::optional<bool> delete_on_; // the feature, read once per play() that meets a DELETE

  bool applied_intact(uint64_t slot, std::string* now) const;
};

} // namespace famfs
