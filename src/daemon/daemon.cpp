// famfs-fused: start-up (checks, mapping, first replay), the FUSE session and its loop.
// The operations are in ops.cpp, INIT in negotiate.cpp, following the log in follow.cpp.
#include "daemon/daemon.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "daemon/device_guard.hpp"
#include "daemon/logging.hpp"
#include "daemon/mount_options.hpp"
#include "dax/cache.hpp"
#include "dax/identity.hpp"
#include "dax/mounts.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/numeric.hpp"
#include "proto/fmap_text.hpp"

namespace famfs::daemon {

namespace {

// Inode numbers beyond the log's slots: the root, .meta and its two files, and spare.
constexpr uint64_t kSyntheticInodes = 8;
// One line of libfuse's log.
constexpr std::size_t kFuseLogLine = 1024;

void check_mountpoint(const std::string& mpt) {
  struct stat st {};
  if (::stat(mpt.c_str(), &st) != 0) {
    int e = errno;
    throw Error(e, "mount point " + mpt + ": " + std::strerror(e) +
                       (e == ENOTCONN ? " (a dead FUSE mount is there: run 'famfs umount " + mpt +
                                            "' first)"
                                      : "; create an empty directory first"));
  }
  if (!S_ISDIR(st.st_mode)) throw Error(ENOTDIR, "mount point " + mpt + " is not a directory");
  for (const auto& m : dax::famfs_mounts())
    if (m.mountpoint == mpt)
      throw Error(EBUSY, "mount point " + mpt + " already has famfs (" + m.device +
                             ") mounted; unmount it first");
  DIR* d = ::opendir(mpt.c_str());
  if (!d) {
    int e = errno;
    throw Error(e, "mount point " + mpt + ": cannot read it: " + std::strerror(e));
  }
  bool empty = true;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") && std::strcmp(de->d_name, "..")) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (!empty) throw Error(ENOTEMPTY, "mount point " + mpt + " is not empty; use an empty directory");
}

} // namespace

Daemon::Daemon(Options opt) : opt_(std::move(opt)), ready_fd_(opt_.ready_fd) {}

Daemon::~Daemon() {
  stop_create();
  stop_ = true;
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

// ---------------------------------------------------------------------------------------------
// Start-up checks and replay

void Daemon::prepare() {
  mount_time_ = ::time(nullptr);
  check_mountpoint(opt_.mountpoint);
  map_device();
  take_identity();
  refuse_same_host_mount();
  start_host_slot(); // with delete enabled: registered before the log is read
  first_replay();
  take_ownership();
}

// Open and map the device; a usable superblock and a log header replay can follow.
void Daemon::map_device() {
  dev_.emplace(dax::Device::open(opt_.device, !opt_.read_only));
  map_ = dax::Mapping::map(*dev_, !opt_.read_only);
  base_ = map_.data();
  live_size_ = map_.size();
  DeviceGuard::install(base_, map_.size());
  if (map_.size() < omf::kSuperblockRegion + omf::kMinLogLen)
    throw Error(EINVAL, opt_.device + ": too small to hold a famfs file system (" +
                            std::to_string(map_.size()) + " bytes)");
  dax::invalidate_range(base_, sizeof(omf::Superblock));
  sb_ = read_superblock(map_.cbytes());
  SbStatus s = check_superblock(sb_);
  if (!sb_usable(s))
    throw Error(EINVAL, opt_.device + ": " + sb_status_text(s) + "; run mkfs.famfs on it first");
  if (s == SbStatus::ValidOldVersion)
    spdlog::warn("{}: superblock version {} (previous release): mounting anyway", opt_.device,
                 omf::kVersionPrevious);
  geo_ = geometry_of(sb_, map_.cbytes());
  dax::invalidate_range(base_ + omf::kLogOffset, omf::kLogHeaderSize);
  const omf::LogHeader h = read_log_header(map_.cbytes());
  const LogHeaderStatus hs = check_log_header(h, geo_.log_len);
  // One rule with the replay that follows the log (issue 8 defect 11): a header whose
  // next_index and next_seqnum disagree is followed, bounded, and reported.
  if (!log_header_usable(hs))
    throw Error(EUCLEAN, opt_.device + ": the famfs log header is invalid (" +
                             log_header_status_text(hs) + "); run 'famfs fsck " + opt_.device +
                             "'");
  if (hs != LogHeaderStatus::Ok)
    spdlog::warn("{}: {} (next_index {}, next_seqnum {}); mounting anyway and serving the "
                 "first {} entries (a writer may be between its two header stores); if it "
                 "persists, run 'famfs fsck {}'",
                 opt_.device, log_header_status_text(hs), h.famfs_log_next_index,
                 h.famfs_log_next_seqnum,
                 log_entries_used(h.famfs_log_next_index, geo_, map_.cbytes()), opt_.device);
}

// This host's identity, and so the role.
void Daemon::take_identity() {
  std::string idpath = dax::system_uuid_path(opt_.system_uuid_file);
  try {
    system_uuid_ = dax::get_or_create_system_uuid(idpath);
  } catch (const Error& e) {
    spdlog::warn("host identity {}: {}; serving as a client", idpath, e.what());
    system_uuid_ = dax::read_system_uuid(idpath);
  }
  role_ = role_of(sb_, system_uuid_ ? &*system_uuid_ : nullptr);
  master_ = role_ == Role::Master;
  fs_uuid_text_ = uuid_to_string(sb_.ts_uuid);
  system_uuid_text_ = system_uuid_ ? uuid_to_string(*system_uuid_) : std::string();
}

// refuse_same_host_mount: same_host.cpp.

void Daemon::first_replay() {
  ns_ = std::make_unique<Namespace>(geo_, master_);
  replayer_ = std::make_unique<Replayer>(map_.cbytes(), geo_, dax::cpu_cache_ops());
  lookups_ = std::make_unique<LookupCounts>(geo_.slots() + kSyntheticInodes);
  for (Ino i = 1; i <= ns_->max_ino(); ++i) lookups_->ensure(i);
  refresh(true);
  inval_.clear(); // nothing is cached by the kernel yet
  spdlog::info("famfs-fused {} on {}: role {}, {} files, {} directories, {} log entries{}",
               opt_.device, opt_.mountpoint, role_name(role_), ns_->file_count(),
               ns_->dir_count(), replayer_->played(),
               replayer_->damaged() ? " (LOG DAMAGED: serving the valid prefix)" : "");
  std::lock_guard rl(replay_mu_);
  update_space();
}

// The ready-fd handshake (famfs mount waits for it): one byte once INIT is answered.
// systemd hears READY=1 at the same point: the replayed log is served from now on.
void Daemon::mount_ready() {
  notify_.ready(service_state());
  if (!ready_fd_) return;
  const char c = 1;
  (void)!::write(ready_fd_.get(), &c, 1);
  ready_fd_.reset();
}

// ---------------------------------------------------------------------------------------------
// Extended attributes

std::string Daemon::fmap_text(const Inode& n) const {
  return proto::format_fmap_text(n.size, n.fmap);
}

// ---------------------------------------------------------------------------------------------
// The FUSE session

namespace {

ssize_t cio_read(int fd, void* buf, size_t len, void* ud) {
  return static_cast<Daemon*>(ud)->io_read(fd, buf, len);
}
ssize_t cio_writev(int fd, struct iovec* iov, int count, void* ud) {
  return static_cast<Daemon*>(ud)->io_writev(fd, iov, count);
}

// Our read/writev on /dev/fuse (negotiate.cpp), for fuse_session_custom_io.
const struct fuse_custom_io kCustomIo = {cio_writev, cio_read, nullptr, nullptr};

void fuse_log_to_spdlog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[kFuseLogLine];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = std::strlen(buf);
  while (n && buf[n - 1] == '\n') buf[--n] = 0;
  if (level <= FUSE_LOG_ERR)
    spdlog::error("fuse: {}", buf);
  else if (level <= FUSE_LOG_NOTICE)
    spdlog::info("fuse: {}", buf);
  else
    spdlog::debug("fuse: {}", buf);
}

} // namespace

// A FUSE session mounted on the mount point with our I/O hooks; false (logged) on failure.
bool Daemon::open_session() {
  const struct fuse_lowlevel_ops ops = operation_table();

  fuse_set_log_func(fuse_log_to_spdlog);
  std::string o = fuse_mount_options(opt_);
  std::vector<std::string> argv_s = {"famfs-fused", "-o", o};
  if (opt_.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  struct fuse_args args = FUSE_ARGS_INIT(int(argv.size()), argv.data());
  se_ = fuse_session_new(&args, &ops, sizeof ops, this);
  if (!se_) {
    spdlog::error("cannot create the FUSE session");
    return false;
  }
  if (fuse_set_signal_handlers(se_) != 0) {
    fuse_session_destroy(se_);
    se_ = nullptr;
    return false;
  }
  if (fuse_session_mount(se_, opt_.mountpoint.c_str()) != 0) {
    spdlog::error("cannot mount {} on {} (is the fuse module loaded and /dev/fuse usable?)",
                  opt_.device, opt_.mountpoint);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
    se_ = nullptr;
    return false;
  }
  if (int rc = fuse_session_custom_io(se_, &kCustomIo, fuse_session_fd(se_)); rc != 0) {
    spdlog::error("cannot install custom FUSE I/O: {}", std::strerror(-rc));
    fuse_session_unmount(se_);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
    se_ = nullptr;
    return false;
  }
  return true;
}

void Daemon::start_poller() {
  // The poller must not take the termination signals meant for the main thread.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  poller_ = std::thread([this] { poller_main(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

int Daemon::run() {
  if (!open_session()) return 1;
  if (!opt_.foreground) {
    fuse_daemonize(0);
    set_logging_after_daemonize(opt_);
  }
  ownership_after_daemonize();
  start_poller();
  start_create();
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, opt_.threads);
  fuse_loop_cfg_set_idle_threads(cfg, opt_.idle_threads >= 0 ? unsigned(opt_.idle_threads)
                                                               : opt_.threads);
  int rc = fuse_session_loop_mt(se_, cfg);
  stop_ring();
  notify_.stopping();
  fuse_loop_cfg_destroy(cfg);
  stop_create();
  stop_ = true;
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
  stop_host_slot();
  fuse_session_unmount(se_);
  fuse_remove_signal_handlers(se_);
  fuse_session_destroy(se_);
  se_ = nullptr;
  spdlog::info("famfs-fused {}: unmounted {}", opt_.device, opt_.mountpoint);
  // libfuse's loop returns the number of the signal that ended it: a requested stop.
  return (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP) ? 0 : 1;
}

} // namespace famfs::daemon
