// Chunked lookup counters (lookup_counts.hpp).
#include "daemon/lookup_counts.hpp"

#include <algorithm>

namespace famfs::daemon {

LookupCounts::LookupCounts(uint64_t max_inodes)
    : max_inodes_(max_inodes), dir_((max_inodes >> kChunkShift) + 1) {}

void LookupCounts::ensure(Ino ino) {
  if (ino > max_inodes_) return;
  std::atomic<Chunk*>& slot = dir_[ino >> kChunkShift];
  if (slot.load(std::memory_order_acquire)) return;
  std::lock_guard lk(grow_mu_);
  if (slot.load(std::memory_order_relaxed)) return;
  owned_.push_back(std::make_unique<Chunk>()); // value-initialised: every counter 0
  slot.store(owned_.back().get(), std::memory_order_release);
}

std::atomic<uint64_t>* LookupCounts::counter(Ino ino) const {
  if (ino > max_inodes_) return nullptr;
  Chunk* c = dir_[ino >> kChunkShift].load(std::memory_order_acquire);
  return c ? &(*c)[ino & (kChunkSize - 1)] : nullptr;
}

void LookupCounts::add(Ino ino, uint64_t n) {
  std::atomic<uint64_t>* c = counter(ino);
  if (!c || n == 0) return;
  if (c->fetch_add(n, std::memory_order_relaxed) == 0) known_.fetch_add(1, std::memory_order_relaxed);
  refs_.fetch_add(n, std::memory_order_relaxed);
}

void LookupCounts::sub(Ino ino, uint64_t n) {
  std::atomic<uint64_t>* c = counter(ino);
  if (!c || n == 0) return;
  // The kernel never forgets more than it looked up; clamp anyway (a count never wraps).
  uint64_t old = c->load(std::memory_order_relaxed);
  uint64_t take;
  do {
    take = std::min(old, n);
  } while (!c->compare_exchange_weak(old, old - take, std::memory_order_relaxed));
  if (take != 0 && take == old) known_.fetch_sub(1, std::memory_order_relaxed);
  refs_.fetch_sub(take, std::memory_order_relaxed);
}

} // namespace famfs::daemon
