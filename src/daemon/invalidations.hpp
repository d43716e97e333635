// Kernel cache invalidations found by a replay, sent later by the poller thread: never from a
// request handler and never under the table lock (the kernel may call back into the daemon).
//
// What the kernel may cache, and what invalidates it:
//   * attributes of every inode (entry/attr timeout): a directory whose children changed is
//     queued here (attributes and its cached listing, FOPEN_CACHE_DIR);
//   * negative entries (a lookup answered with inode 0 and the entry timeout): the daemon
//     remembers each (parent, name) it answered that way (NegativeNames); a replay that
//     creates one of them queues that name, and the poller sends notify_inval_entry.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "meta/namespace.hpp"

namespace famfs::daemon {

class InvalidationQueue {
 public:
  using Entry = std::pair<Ino, std::string>; // (parent, name) of a new object

  // Queue the directories `dirs` (attributes and cached listing) and the (negative) entries
  // `entries`. Each push gets the next ticket (1, 2, ...).
  void push(std::vector<Ino> dirs, std::vector<Entry> entries);
  // Forget everything queued (before the mount: the kernel has cached nothing yet).
  void clear();
  // Send everything queued through `se` (dropped when se is null: not mounted yet).
  void send(struct fuse_session* se);
  // The ticket of the last push (0: none yet).
  uint64_t last_ticket();
  // Wait until every push up to `ticket` was sent (or cleared); false on timeout.
  bool wait_sent(uint64_t ticket, std::chrono::milliseconds timeout);

  bool pending() const { return pending_.load(); }
  // Queued and not yet sent (status: tests wait for 0 before counting lookups).
  uint64_t unsent() const { return unsent_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable sent_cv_;
  uint64_t pushed_ = 0, sent_ = 0; // tickets, under mu_
  std::vector<Ino> dirs_;
  std::vector<Entry> entries_;
  std::atomic<bool> pending_{false};
  std::atomic<uint64_t> unsent_{0};
};

// The negative entries the kernel may hold: every (parent, name) a lookup answered "does not
// exist" with a timeout. Bounded: when full, lookups of absent names are answered without a
// timeout (not cached), so the set never has to forget a name the kernel still holds.
// Thread-safe. Its callers keep one rule: record() while holding the table lock shared,
// take() while holding it exclusively, so a name is either found by the lookup or recorded
// before the replay that adds it looks here.
class NegativeNames {
 public:
  explicit NegativeNames(std::size_t capacity) : capacity_(capacity) {}
  // Remember a negative answer about to be sent; false when full (answer it uncached).
  bool record(Ino parent, std::string_view name);
  // The name now exists: true when the kernel may hold a negative entry for it (the caller
  // queues notify_inval_entry); it is forgotten here.
  bool take(Ino parent, std::string_view name);
  std::size_t size() const;

 private:
  static std::string key(Ino parent, std::string_view name);
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_set<std::string> names_;
};

} // namespace famfs::daemon
