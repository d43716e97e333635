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

#include "daemon/control_socket.hpp"
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
  if (!master_ || opt_.read_only) return; // clients and read-only mounts never write
  if (!opt_.owner) {
    spdlog::info("-o noowner: famfs commands on this host write the log themselves, under the "
                 "writer lock");
    return;
  }
  if (::geteuid() != 0) {
    spdlog::info("not run by root: famfs commands on this host write the log themselves (the "
                 "writer lock and the control socket in {} are root's)", master::kRunDir);
    return;
  }
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
  control_ = std::make_unique<ControlServer>(master::kRunDir, control_context());
  spdlog::info("owning the writes of file system {} on this host (writer lock {}, control "
               "socket {})", fs_uuid_text_, owner_lock_.path(), control_->path());
}

// fuse_daemonize forked: /proc/locks still names the parent that took the lock and exited,
// and threads do not survive a fork, so the control socket is served from here on.
void Daemon::ownership_after_daemonize() {
  if (!writer_) return;
  owner_lock_.record_holder();
  control_->start();
}

ControlServer::Context Daemon::control_context() {
  ControlServer::Context c{*writer_, fs_uuid_text_, opt_.mountpoint, {}, {}, {}};
  c.entry_problem = [this](const omf::LogEntry& e) -> std::optional<std::string> {
    std::string why;
    std::shared_lock tl(table_mu_);
    if (e.famfs_log_entry_type == omf::kLogDelete) return delete_entry_problem(e); // famfs rm
    switch (ns_->check(e, &why)) {
      case ApplyResult::CreatedFile:
      case ApplyResult::CreatedDir: return std::nullopt;
      case ApplyResult::Existed: // the same directory, made meanwhile by another command: harmless
        if (e.famfs_log_entry_type == omf::kLogMkdir) return std::nullopt;
        return why + " (made meanwhile by another famfs command?)";
      case ApplyResult::Ignored: return "this entry type is not written by famfs commands (" + why + ")";
      case ApplyResult::Skipped: return why;
      case ApplyResult::Removed: return why; // check() never removes (DELETEs are above)
    }
    return why;
  };
  c.claimed = [this](const Fmap& f) {
    std::lock_guard rl(replay_mu_);
    const Bitmap& b = replayer_->space().bitmap();
    const uint64_t au = geo_.alloc_unit;
    for (const Extent& x : f.extents) {
      if (au == 0 || x.offset % au || x.len == 0) return false;
      for (uint64_t bit = x.offset / au; bit < (x.offset + x.len + au - 1) / au; ++bit)
        if (bit >= b.nbits() || !b.test(bit)) return false;
    }
    return !f.extents.empty();
  };
  c.logplay = [this] { return logplay_report(SIZE_MAX); };
  return c;
}

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
