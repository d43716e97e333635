// The kernel's references to each inode (lookups minus forgets), for the status report.
//
// Counters live in chunks allocated as the inode table grows, so a big, mostly empty log
// costs nothing until its entries exist; the chunk directory is sized once at start, so a
// reader (any FUSE thread, no lock) never sees it move.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "meta/namespace.hpp"

namespace famfs::daemon {

class LookupCounts {
 public:
  // Inodes 1..max_inodes can be counted; others are ignored.
  explicit LookupCounts(uint64_t max_inodes);

  // Make `ino` countable (called by the replay before the inode is served).
  void ensure(Ino ino);
  void add(Ino ino, uint64_t n);
  void sub(Ino ino, uint64_t n);

  struct Totals {
    uint64_t refs = 0;  // sum of references
    uint64_t known = 0; // inodes with at least one
  };
  // O(1): kept by add/sub, so no caller (any user reading the status) makes the daemon walk
  // every inode.
  Totals totals() const { return {refs_.load(), known_.load()}; }

 private:
  static constexpr unsigned kChunkShift = 12; // 4096 counters (32 KiB) per chunk
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkShift;
  using Chunk = std::array<std::atomic<uint64_t>, kChunkSize>;

  std::atomic<uint64_t>* counter(Ino ino) const;

  uint64_t max_inodes_;
  std::vector<std::atomic<Chunk*>> dir_;     // chunk i counts inodes [i << shift, (i+1) << shift)
  std::mutex grow_mu_;                       // ensure() only
  std::vector<std::unique_ptr<Chunk>> owned_; // under grow_mu_
  std::atomic<uint64_t> refs_{0}, known_{0};
};

} // namespace famfs::daemon
