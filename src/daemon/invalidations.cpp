// The kernel cache invalidation queue and the negative names (invalidations.hpp).
#include "daemon/invalidations.hpp"

#include <algorithm>
#include <cstring>

namespace famfs::daemon {

void InvalidationQueue::push(std::vector<Ino> dirs, std::vector<Entry> entries) {
  {
    std::lock_guard lk(mu_);
    unsent_ += dirs.size() + entries.size();
    ++pushed_;
    dirs_.insert(dirs_.end(), dirs.begin(), dirs.end());
    for (Entry& e : entries) entries_.push_back(std::move(e));
  }
  pending_ = true;
}

void InvalidationQueue::clear() {
  std::lock_guard lk(mu_);
  unsent_ -= dirs_.size() + entries_.size();
  dirs_.clear();
  entries_.clear();
  pending_ = false;
  sent_ = pushed_;
  sent_cv_.notify_all();
}

void InvalidationQueue::send(struct fuse_session* se) {
  std::vector<Ino> dirs;
  std::vector<Entry> entries;
  uint64_t upto;
  {
    std::lock_guard lk(mu_);
    dirs.swap(dirs_);
    entries.swap(entries_);
    pending_ = false;
    upto = pushed_;
  }
  const uint64_t batch = dirs.size() + entries.size();
  if (se) {
    for (const auto& [parent, name] : entries)
      fuse_lowlevel_notify_inval_entry(se, parent, name.c_str(), name.size());
    std::sort(dirs.begin(), dirs.end());
    dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
    // Offset 0, length 0: the attributes and every cached page, which for a directory is
    // its cached listing (FOPEN_CACHE_DIR).
    for (Ino ino : dirs) fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
  }
  unsent_ -= batch;
  std::lock_guard lk(mu_);
  sent_ = std::max(sent_, upto);
  sent_cv_.notify_all();
}

uint64_t InvalidationQueue::last_ticket() {
  std::lock_guard lk(mu_);
  return pushed_;
}

bool InvalidationQueue::wait_sent(uint64_t ticket, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return sent_cv_.wait_for(lk, timeout, [&] { return sent_ >= ticket; });
}

std::string NegativeNames::key(Ino parent, std::string_view name) {
  std::string k(sizeof parent + name.size(), '\0');
  std::memcpy(k.data(), &parent, sizeof parent);
  std::memcpy(k.data() + sizeof parent, name.data(), name.size());
  return k;
}

bool NegativeNames::record(Ino parent, std::string_view name) {
  std::string k = key(parent, name);
  std::lock_guard lk(mu_);
  if (names_.size() >= capacity_ && !names_.count(k)) return false;
  names_.insert(std::move(k));
  return true;
}

bool NegativeNames::take(Ino parent, std::string_view name) {
  const std::string k = key(parent, name);
  std::lock_guard lk(mu_);
  return names_.erase(k) != 0;
}

std::size_t NegativeNames::size() const {
  std::lock_guard lk(mu_);
  return names_.size();
}

} // namespace famfs::daemon
