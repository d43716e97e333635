// The kernel cache invalidation queue (invalidations.hpp).
#include "daemon/invalidations.hpp"

#include <algorithm>

namespace famfs::daemon {

void InvalidationQueue::push(std::vector<Ino> inodes, std::vector<Entry> entries) {
  {
    std::lock_guard lk(mu_);
    unsent_ += inodes.size() + entries.size();
    inodes_.insert(inodes_.end(), inodes.begin(), inodes.end());
    for (Entry& e : entries) entries_.push_back(std::move(e));
  }
  pending_ = true;
}

void InvalidationQueue::clear() {
  std::lock_guard lk(mu_);
  unsent_ -= inodes_.size() + entries_.size();
  inodes_.clear();
  entries_.clear();
  pending_ = false;
}

void InvalidationQueue::send(struct fuse_session* se) {
  std::vector<Ino> inodes;
  std::vector<Entry> entries;
  {
    std::lock_guard lk(mu_);
    inodes.swap(inodes_);
    entries.swap(entries_);
    pending_ = false;
  }
  const uint64_t batch = inodes.size() + entries.size();
  if (se) {
    for (const auto& [parent, name] : entries)
      fuse_lowlevel_notify_inval_entry(se, parent, name.c_str(), name.size());
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    for (Ino ino : inodes) fuse_lowlevel_notify_inval_inode(se, ino, -1, 0); // attributes only
  }
  unsent_ -= batch;
}

} // namespace famfs::daemon
