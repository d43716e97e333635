// Owning the file system's writes on this host (docs/design.md "One writer per host"): a root
// read-write master mount takes /run/famfs/<fs-uuid>/writer.lock at start without waiting and
// holds it for life; its master::Writer works over the daemon's own mapping and replayed log.
#include "daemon/daemon.hpp"
#include "dax/cache.hpp"
#include "master/reuse.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "meta/error.hpp"

namespace famfs::daemon {

namespace {

// "pid N (famfs-fused, mounted at MPT)" from /proc, as far as it can be read.
std::string describe_holder(pid_t pid) {
  std::string text = "pid " + std::to_string(pid);
  std::ifstream cf("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(cf)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  for (size_t at = 0; at < cmdline.size();) {
    size_t end = cmdline.find('\0', at);
    if (end == std::string::npos) end = cmdline.size();
    argv.push_back(cmdline.substr(at, end - at));
    at = end + 1;
  }
  if (argv.empty()) return text;
  const std::string prog = argv[0].substr(argv[0].rfind('/') + 1);
  if (prog == "famfs-fused" && argv.size() >= 3)
    return text + " (famfs-fused, mounted at " + argv.back() + ")";
  return text + " (" + prog + ")";
}

} // namespace

void Daemon::take_ownership() {
  if (!opt_.owner) return;
  if (!master_ || opt_.read_only) {
    spdlog::info("-o owner: this mount is {}, so it does not own the file system's writes",
                 master_ ? "read-only" : "a client's");
    return;
  }
  if (::geteuid() != 0)
    throw Error(EPERM, "-o owner: only root may own the writes of file system " + fs_uuid_text_ +
                           " (its writer lock in " + master::kRunDir +
                           " is root-only); mount as root or leave -o owner out");
  std::optional<pid_t> holder;
  auto lock = master::WriterLock::try_acquire(fs_uuid_text_, master::kRunDir, &holder);
  if (!lock)
    throw Error(EBUSY,
                "file system " + fs_uuid_text_ + " (" + opt_.device + ") already has its writer on "
                "this host: " + std::string(master::kRunDir) + "/" + fs_uuid_text_ +
                "/writer.lock is held by " + (holder ? describe_holder(*holder) : "another process") +
                ". One master mount per file system and host owns the writes: unmount the other "
                "with 'famfs umount MOUNTPOINT' (or wait for the famfs command) and mount again");
  owner_lock_ = std::move(*lock);
  writer_ = master::open_owned_writer({{opt_.mountpoint, opt_.device, false}, geo_, map_.bytes()},
                                      owner_host_, owner_events_);
  spdlog::info("owning the writes of file system {} on this host (writer lock {})", fs_uuid_text_,
               owner_lock_.path());
}

// fuse_daemonize forked: /proc/locks still names the parent that took the lock and exited.
void Daemon::ownership_after_daemonize() { owner_lock_.record_holder(); }

// ---- the WriterHost the owned writer works over -----------------------------------------

const Inode* OwnerHost::lookup(const std::string& relpath) {
  std::shared_lock tl(d_.table_mu_);
  auto ino = d_.ns_->resolve(relpath);
  return ino ? d_.ns_->get(*ino) : nullptr;
}

ReplayReport OwnerHost::append_and_replay(const std::function<void()>& write) {
  std::lock_guard rl(d_.replay_mu_);
  write();
  return d_.refresh_locked(true).report;
}

ReplayReport OwnerHost::replay_now() { return d_.refresh(true).report; }

master::WriterHost::Space OwnerHost::space() {
  std::lock_guard rl(d_.replay_mu_);
  // Deleted space only as the reuse rule allows (docs/delete.md; master/reuse.hpp).
  return {master::reuse_bitmap(d_.replayer_->space(), d_.map_.cbytes(), dax::cpu_cache_ops()),
          d_.replayer_->played()};
}

uint64_t OwnerHost::played() { return d_.played_.load(); }

std::optional<ReplayIssue> OwnerHost::check_applied(uint64_t count) {
  if (count) d_.recheck_applied(count);
  return d_.current_damage();
}

uint64_t OwnerHost::entries() { return d_.entries_used(); }

void OwnerEvents::error(const std::string& m) { spdlog::error("{}", m); }
void OwnerEvents::warning(const std::string& m) { spdlog::warn("{}", m); }
void OwnerEvents::note(const std::string& m) { spdlog::debug("{}", m); }
void OwnerEvents::waiting(const std::string& m) { spdlog::info("{}", m); }

} // namespace famfs::daemon
