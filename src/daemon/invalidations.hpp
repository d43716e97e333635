// Kernel cache invalidations found by a replay, sent later by the poller thread: never from a
// request handler and never under the table lock (the kernel may call back into the daemon).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "meta/namespace.hpp"

namespace famfs::daemon {

class InvalidationQueue {
 public:
  using Entry = std::pair<Ino, std::string>; // (parent, name) of a new object

  // Queue the attributes of `inodes` and the (negative) entries `entries`.
  void push(std::vector<Ino> inodes, std::vector<Entry> entries);
  // Forget everything queued (before the mount: the kernel has cached nothing yet).
  void clear();
  // Send everything queued through `se` (dropped when se is null: not mounted yet).
  void send(struct fuse_session* se);

  bool pending() const { return pending_.load(); }
  // Queued and not yet sent (status: tests wait for 0 before counting lookups).
  uint64_t unsent() const { return unsent_.load(); }

 private:
  std::mutex mu_;
  std::vector<Ino> inodes_;
  std::vector<Entry> entries_;
  std::atomic<bool> pending_{false};
  std::atomic<uint64_t> unsent_{0};
};

} // namespace famfs::daemon
