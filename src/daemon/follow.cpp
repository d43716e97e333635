// Following the log: the poller thread, refresh (replay of new entries), the kernel cache
// invalidations a replay causes, and the free-space figures.
//
// Locking: table_mu_ guards the Namespace. Handlers take it shared; the replay (poller thread
// or a forced logplay) takes it exclusive only while applying new entries. Kernel cache
// invalidations are queued and sent by the poller thread, never from a request handler and
// never under table_mu_.
#include "daemon/daemon.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "daemon/clock.hpp"
#include "daemon/device_guard.hpp"

namespace famfs::daemon {

namespace {

// A replay creating fewer objects than this is logged at info level (bulk loads are not).
constexpr std::size_t kQuietReplayCreates = 64;
// The poller's scheduling priority (best effort: below 0 needs CAP_SYS_NICE).
constexpr int kPollerNice = -10;
// Page-cache mode: read-ahead of the mount's bdi, in KiB (the request size).
constexpr unsigned kReadaheadKb = kMaxIo >> 10;
constexpr std::size_t kBdiPathMax = 96; // "/sys/class/bdi/MAJ:MIN/read_ahead_kb"
// The poller's housekeeping period (ms): device size, applied entries re-read, systemd.
constexpr int64_t kHousekeepingMs = 5;
// Adaptive polling: every refresh_ms for kFastWindowMs after the log last changed, then the
// interval doubles at each quiet poll up to kIdlePollMs (or refresh_ms, if longer). A wake-up
// costs ~5-60 us of CPU here (more on a busy host), whatever it then reads.
constexpr int64_t kFastWindowMs = 2000;
constexpr int64_t kIdlePollMs = 10;
// Applied entries re-read per housekeeping round to notice one rewritten in shared memory
// (1,600 entries a second, 100,000 entries in about a minute; ~1 us each).
constexpr uint64_t kRecheckPerPoll = 8;

} // namespace

// The header's count, or what was applied when the log is no longer backed by the device.
uint64_t Daemon::entries_used() const {
  return log_gone() ? played_.load() : replayer_->log_next_index();
}

// Issue 8 defect 5: the device (an image file) shrinking under the mount. From the poll that
// sees it, nothing past the new end is touched again (EIO); an access racing with the
// truncation lands on a zero page (DeviceGuard) and is logged here.
void Daemon::check_device() {
  if (const uint64_t n = DeviceGuard::pages_replaced(); n != logged_replaced_pages_) {
    spdlog::error("DEVICE SHRANK: {} page(s) of the mapping of {} were gone when accessed "
                  "(SIGBUS caught; those reads saw zeros)", n - logged_replaced_pages_,
                  opt_.device);
    logged_replaced_pages_ = n;
  }
  if (dev_->info().kind != dax::DeviceKind::ImageFile) return;
  struct stat st {};
  if (::fstat(dev_->fd(), &st) != 0) return;
  const uint64_t now = uint64_t(st.st_size);
  if (now >= live_size_.load()) return;
  live_size_ = now;
  spdlog::error("DEVICE SHRANK: {} is now {} bytes, {} were mapped at mount: reads and writes "
                "past the end fail with EIO{}; restore the device and remount (famfs umount "
                "{}, then famfs mount)",
                opt_.device, now, map_.size(),
                log_gone() ? ", and the log is gone: replay stopped, serving what was applied"
                           : "",
                opt_.mountpoint);
}

Daemon::Refresh Daemon::refresh(bool forced) {
  std::lock_guard rl(replay_mu_);
  return refresh_locked(forced);
}

Daemon::Refresh Daemon::refresh_locked(bool forced) {
  Refresh out;
  if (log_gone()) return out; // never touch what the device no longer backs
  const uint64_t next = replayer_->log_next_index();
  const int64_t t0 = mono_ms();
  // A damaged log is looked at on every poll: the damaged slot may have become valid, or the
  // header may no longer count it (defect: "LOG DAMAGED" stuck after the log was whole again).
  if (!forced && next <= replayer_->played() && !replayer_->damaged()) {
    last_quiet_poll_ms_ = t0; // the log had not grown yet at this time
    if (next < replayer_->played() && !warned_shrink_) {
      warned_shrink_ = true;
      spdlog::error("the log on {} went back from {} to {} entries: was the device formatted "
                    "again while mounted? Unmount and mount again",
                    opt_.device, replayer_->played(), next);
    }
    return out;
  }
  // Upper bound of "log grew -> applied": from the last poll that saw no growth.
  const int64_t since = (!forced && last_quiet_poll_ms_) ? last_quiet_poll_ms_ : t0;
  {
    std::unique_lock tl(table_mu_);
    out.report = replayer_->play(*ns_);
    note_created(out.report);
    note_removed(out.report);
  }
  played_ = replayer_->played();
  out.ran = true;
  last_replay_ms_ = unix_ms();
  const ReplayReport& r = out.report;
  if (!r.created.empty() || r.to > r.from) {
    replay_lag_ms_ = mono_ms() - since;
    last_change_ms_ = mono_ms();
  }
  if (r.to > r.from) update_space(); // skipped entries claim space too
  for (const auto& s : r.skipped) spdlog::warn("log entry {} skipped: {}", s.index, s.what);
  skipped_total_ += r.skipped.size();
  note_damage(r);
  if (!r.created.empty()) {
    wake_.notify_all();
    if (opt_.debug || r.created.size() < kQuietReplayCreates)
      spdlog::info("replayed log entries [{}, {}): {} new files, {} new directories", r.from,
                   r.to, r.new_files, r.new_dirs);
  }
  return out;
}

// What the kernel may have cached about the new objects: their parents' attributes and
// listings, and a negative entry for each new name a lookup was told did not exist
// (NegativeNames). Every way a name enters the table after the mount goes through here.
void Daemon::note_created(const ReplayReport& r) {
  if (r.created.empty()) return;
  std::vector<InvalidationQueue::Entry> entries;
  std::vector<Ino> parents;
  for (Ino ino : r.created) {
    Inode* n = ns_->get_mutable(ino);
    if (!n) continue;
    lookups_->ensure(ino);
    if (!master_ && !n->is_dir) n->mode &= ~0222u; // clients: read-only until chmod
    parents.push_back(n->parent);
    if (negatives_.take(n->parent, n->name)) entries.emplace_back(n->parent, n->name);
  }
  std::sort(parents.begin(), parents.end());
  parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
  if (initialized_) {
    // A listing cached while this replay ran is refused at the next opendir by its mtime.
    const int64_t now = unix_ns();
    for (Ino p : parents) {
      int64_t& t = dir_changed_ns_[p];
      t = std::max(now, t + 1);
    }
  }
  inval_.push(std::move(parents), std::move(entries));
}

void Daemon::note_damage(const ReplayReport& r) {
  std::lock_guard sl(status_mu_);
  if (r.damage) {
    damage_ = r.damage;
    if (logged_damage_index_ != r.damage->index) {
      logged_damage_index_ = r.damage->index;
      spdlog::error("LOG DAMAGED at entry {}: {}; serving the {} before it, nothing after it "
                    "is visible ('famfs fsck' reports the damage; it cannot repair a log)",
                    r.damage->index, r.damage->what,
                    r.damage->index == 1 ? std::string("1 entry")
                                         : std::to_string(r.damage->index) + " entries");
    }
  } else if (!replayer_->damaged()) {
    if (damage_) spdlog::warn("log entry {} is valid now; replay continued", damage_->index);
    damage_.reset();
    logged_damage_index_ = ~0ULL;
  }
}

// A few applied entries per housekeeping round, compared with what was applied (issue 8
// defect 12); `count` entries (the poller: kRecheckPerPoll per round since the last call).
void Daemon::recheck_applied(uint64_t count) {
  std::optional<ReplayIssue> changed;
  {
    std::lock_guard rl(replay_mu_);
    if (log_gone()) return;
    changed = replayer_->recheck_applied(count);
  }
  std::lock_guard sl(status_mu_);
  if (changed && (!changed_ || changed_->index != changed->index))
    spdlog::error("LOG DAMAGED: {}", changed->what);
  else if (!changed && changed_)
    spdlog::warn("log entry {} is as applied again", changed_->index);
  changed_ = std::move(changed);
}

std::optional<ReplayIssue> Daemon::current_damage() {
  std::lock_guard sl(status_mu_);
  return damage_ ? damage_ : changed_;
}

// O(1): the replayer keeps the bitmap of the entries it applied.
void Daemon::update_space() {
  const SpaceMap& space = replayer_->space();
  capacity_ = geo_.device_size;
  free_ = space.free_bytes();
  // Counts the superblock and log too, as upstream fsck.
  allocated_ = geo_.device_size > free_ ? geo_.device_size - free_ : 0;
  collisions_ = space.stats().collisions;
}

// The poll interval after a poll at `now`: refresh_ms while the log changed recently, then
// backing off (adaptive polling; docs/daemon.md "Following the log").
int64_t Daemon::poll_interval_ms(int64_t now, int64_t current) const {
  const int64_t fast = opt_.refresh_ms;
  if (now - last_change_ms_.load() < kFastWindowMs) return fast;
  return std::min(std::max<int64_t>(current * 2, fast), std::max(fast, kIdlePollMs));
}

// Each poll looks at one cache line, the header's next_index (refresh); the rest of the
// poller's work (device size, re-reading applied entries, systemd) is housekeeping done every
// kHousekeepingMs, so a fast poll stays cheap.
void Daemon::poller_main() {
  // Wake-ups are frequent and short; on a busy host a higher priority keeps visibility
  // latency close to the poll interval.
  (void)::setpriority(PRIO_PROCESS, pid_t(::gettid()), kPollerNice);
  bool tuned = false;
  int64_t next_housekeeping = 0;
  int64_t interval = opt_.refresh_ms;
  auto send = [&] {
    if (inval_.pending()) inval_.send(initialized_ ? se_ : nullptr);
  };
  while (!stop_) {
    if (!tuned && initialized_) {
      tuned = true;
      tune_readahead();
    }
    {
      std::unique_lock lk(wake_mu_);
      wake_.wait_for(lk, std::chrono::milliseconds(interval),
                     [&] { return stop_.load() || inval_.pending(); });
    }
    if (stop_) break;
    send();
    const int64_t now = mono_ms();
    const bool housekeeping = now >= next_housekeeping;
    try {
      if (housekeeping) check_device();
      refresh(false);
      if (housekeeping)
        recheck_applied(kRecheckPerPoll * uint64_t(std::max<int64_t>(1, interval / kHousekeepingMs)));
      publish_host_slot();
    } catch (const std::exception& e) {
      spdlog::error("log refresh failed: {}", e.what());
    }
    send();
    if (housekeeping) {
      next_housekeeping = now + kHousekeepingMs;
      if (notify_.enabled()) notify_.poll(service_state());
    }
    interval = poll_interval_ms(mono_ms(), interval);
  }
}

// Page-cache mode (no direct I/O): the kernel's read-ahead defaults to 128 KiB per FUSE mount;
// raise it to the request size through the mount's bdi. Best effort.
void Daemon::tune_readahead() {
  if (use_direct_io_) return;
  struct stat st {};
  if (::stat(opt_.mountpoint.c_str(), &st) != 0) return;
  char path[kBdiPathMax];
  std::snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
                minor(st.st_dev));
  if (FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "%u\n", kReadaheadKb);
    if (std::fclose(f) == 0) spdlog::info("page-cache mode: read-ahead raised to {} KiB", kReadaheadKb);
  }
}

} // namespace famfs::daemon
