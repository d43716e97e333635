// Incremental log replay (spec B§8.1 with Part A §3-§5): apply entries [played, next_index).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
  uint64_t ignored = 0;       // DELETE / ADD_DAXDEV / unknown types
  std::vector<ReplayIssue> skipped;   // entries rejected by path or extent rules
  std::optional<ReplayIssue> damage;  // first entry failing seqnum/CRC twice: replay stops there
  std::vector<Ino> created;           // inodes created by this call, in order
  uint64_t errors() const { return skipped.size() + (damage ? 1 : 0); }
};

class Replayer {
 public:
  // `device` starts at device offset 0 and covers at least geometry.device_size bytes.
  Replayer(std::span<const std::byte> device, CacheOps cache);

  // Apply every entry from played() up to the header's next_index (bounded by the slot count).
  // After damage is found, later calls re-check only the damaged slot (it may have been a torn
  // read of an append in progress) and continue if it became valid.
  ReplayReport play(Namespace& ns);

  // Re-read just the header's next_index (after invalidating its cache line): the cheap
  // "did the log grow?" poll.
  uint64_t log_next_index() const;

  uint64_t played() const { return played_; }
  bool damaged() const { return damaged_; }

 private:
  std::span<const std::byte> device_;
  CacheOps cache_;
  uint64_t played_ = 0;
  bool damaged_ = false;
};

} // namespace famfs
