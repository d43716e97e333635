// famfs-fused: the per-host FUSE daemon serving one famfs device (see docs/daemon.md).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "dax/device.hpp"
#include "daemon/notify.hpp"
#include "dax/mapping.hpp"
#include "meta/geometry.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"
#include "proto/daemon_defaults.h"

namespace famfs::daemon {

struct Options {
  std::string device;            // absolute path
  std::string mountpoint;        // absolute path
  bool foreground = false;
  bool debug = false;
  bool read_only = false;
  bool allow_other = false;
  std::string system_uuid_file;
  unsigned refresh_ms = FAMFS_DEFAULT_REFRESH_MS;
  double timeout = FAMFS_DEFAULT_TIMEOUT_S; // entry/attr cache timeout (s)
  int ready_fd = -1;
  std::string log_file;
  std::string log_target;        // -o log=journal|syslog (daemon/logging.hpp); "": default
  std::string log_level;         // -o loglevel=...; "": info (debug with -d)
  unsigned threads = FAMFS_DEFAULT_THREADS; // max worker threads
  int idle_threads = -1;         // max idle worker threads (-1: default)
  bool direct_io = true;         // -o nodirect turns it off (page cache for file data)
  std::vector<std::string> kernel_options; // noexec, noatime, ... (daemon/mount_options.hpp)
};

// Parse argv as documented in docs/daemon.md. Returns nullopt after printing an error
// (or help, with *exit_code 0).
std::optional<Options> parse_args(int argc, char** argv, int* exit_code);

// Per-open state of a regular file: an immutable copy of what the data path needs, so reads
// and writes take no lock and allocate nothing.
struct OpenFile {
  Ino ino = 0;
  uint64_t size = 0;
  Fmap fmap;
  bool writable = false;
  std::atomic<uint64_t> dirty_lo{~0ULL}; // written range, flushed from CPU caches on fsync/release
  std::atomic<uint64_t> dirty_hi{0};
};

class Daemon {
 public:
  explicit Daemon(Options opt);
  ~Daemon();

  // Open, map, validate, check the mount point and identity, replay. Throws famfs::Error
  // with a message for the user.
  void prepare();
  // Mount, (daemonize), serve until unmounted or signalled. Returns the exit status.
  int run();

  // ---- called by the FUSE operation trampolines --------------------------------------------
  void op_init(struct fuse_conn_info* conn);
  void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void op_forget(fuse_ino_t ino, uint64_t nlookup);
  void op_getattr(fuse_req_t req, fuse_ino_t ino);
  void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set);
  void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
  void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
  void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
  void op_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info* fi);
  void op_write(fuse_req_t req, const char* buf, size_t size, off_t off,
                struct fuse_file_info* fi);
  void op_fsync(fuse_req_t req, struct fuse_file_info* fi);
  void op_statfs(fuse_req_t req);
  void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void refuse(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name, int err,
              const char* why);

  // Raw I/O on /dev/fuse (fuse_session_custom_io), to see INIT and amend its reply.
  ssize_t io_read(int fd, void* buf, size_t len);
  ssize_t io_writev(int fd, struct iovec* iov, int count);

 private:
  struct Refresh {
    ReplayReport report;
    bool ran = false;
  };
  Refresh refresh(bool forced);
  void poller_main();
  void flush_invalidations();
  void update_space();
  void tune_readahead();
  bool fill_stat(Ino ino, struct stat* st) const; // caller holds table_mu (shared)
  std::string status_json();
  std::string fmap_text(const Inode& n) const;
  static std::string report_json(const ReplayReport& r, uint64_t entries, bool damaged,
                                 std::optional<uint64_t> damage_index);
  void add_lookup(Ino ino, uint64_t n);
  void flush_dirty(OpenFile& of);
  ServiceState service_state(); // for notify_ (defined in notify.cpp)

  Options opt_;
  ServiceNotifier notify_;        // systemd: READY, STATUS, WATCHDOG, STOPPING
  std::optional<dax::Device> dev_;
  dax::Mapping map_;
  std::byte* base_ = nullptr;
  Geometry geo_;
  omf::Superblock sb_{};
  std::optional<Uuid> system_uuid_;
  Role role_ = Role::Client;
  bool master_ = false;
  std::string fs_uuid_text_, system_uuid_text_;
  int64_t mount_time_ = 0;

  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<Replayer> replayer_;
  mutable std::shared_mutex table_mu_; // guards ns_ (the poller writes, handlers read)
  std::mutex replay_mu_;                // serialises replayer_
  uint64_t max_inodes_ = 0;
  std::unique_ptr<std::atomic<uint64_t>[], void (*)(void*)> nlookup_{nullptr, &std::free};
  std::unique_ptr<std::atomic<uint32_t>[], void (*)(void*)> subdirs_{nullptr, &std::free};

  // Status figures.
  std::atomic<uint64_t> capacity_{0}, free_{0}, allocated_{0}, collisions_{0};
  std::atomic<int64_t> last_replay_ms_{0}, replay_lag_ms_{-1};
  int64_t last_quiet_poll_ms_ = 0;        // under replay_mu_
  bool warned_shrink_ = false;            // under replay_mu_
  std::atomic<uint64_t> skipped_total_{0};
  std::mutex status_mu_;                  // damage description and skipped list
  std::optional<ReplayIssue> damage_;
  uint64_t logged_damage_index_ = ~0ULL;
  ReplayReport pending_acc_;
  bool have_pending_ = false;
  std::mutex logplay_mu_;

  // Kernel cache invalidations, done by the poller outside handlers and table_mu_.
  std::mutex inval_mu_;
  std::vector<Ino> inval_inodes_;
  std::vector<std::pair<Ino, std::string>> inval_entries_;
  std::atomic<bool> inval_pending_{false};
  // Notifications queued and not yet sent (status: tests wait for 0 before counting lookups).
  std::atomic<uint64_t> inval_unsent_{0};
  std::condition_variable wake_;
  std::mutex wake_mu_;
  std::atomic<bool> stop_{false};
  std::thread poller_;

  struct fuse_session* se_ = nullptr;
  std::atomic<bool> use_direct_io_{false};
  std::atomic<bool> initialized_{false};
  uint32_t kernel_minor_ = 0;
  bool kernel_offers_allow_mmap_ = false;
  std::atomic<uint64_t> init_unique_{0};
  std::atomic<bool> allow_mmap_negotiated_{false};
};

} // namespace famfs::daemon
