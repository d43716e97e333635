// famfs-fused: the per-host FUSE daemon serving one famfs device (see docs/daemon.md).
//
// One class, its parts in files by concern:
//   daemon.cpp        start-up checks and first replay, the FUSE session and its loop, fmap text
//   ops.cpp           the FUSE operations (one member function per operation)
//   ops_table.cpp     their trampolines and the fuse_lowlevel_ops table
//   negotiate.cpp     INIT and the wire-level negotiation (custom I/O on /dev/fuse, wire.hpp)
//   follow.cpp        following the log: the poller, refresh, invalidations, free space
//   control.cpp       the status and logplay reports (control.hpp)
//   owner.cpp         owning the file system's writes on this host (writer lock, writer())
//   lookup_counts.cpp, invalidations.cpp: the containers those use
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
#include <string_view>
#include <thread>
#include <vector>

#include "daemon/control.hpp"
#include "daemon/host_slot.hpp"
#include "daemon/invalidations.hpp"
#include "daemon/lookup_counts.hpp"
#include "dax/device.hpp"
#include "daemon/notify.hpp"
#include "daemon/owner.hpp"
#include "dax/mapping.hpp"
#include "master/writer.hpp"
#include "master/writer_lock.hpp"
#include "meta/geometry.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"
#include "proto/daemon_defaults.h"
#include "proto/unique_fd.hpp"

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
  // -o owner (transitional, until CLI commands are clients of the daemon): a root read-write
  // master mount owns the file system's writes on this host (writer()).
  bool owner = false;
  std::vector<std::string> kernel_options; // noexec, noatime, ... (daemon/mount_options.hpp)
};

// Parse argv as documented in docs/daemon.md. Returns nullopt after printing an error
// (or help, with *exit_code 0).
std::optional<Options> parse_args(int argc, char** argv, int* exit_code);

// Largest read or write request (max_read / max_write), also the st_blksize served.
inline constexpr uint64_t kMaxIo = uint64_t{1} << 20;

// Per-open state of a regular file: an immutable copy of what the data path needs, so reads
// and writes take no lock and allocate nothing.
struct OpenFile {
  Ino ino = 0;
  uint64_t log_index = kNoLogIndex; // published as this host's oldest open (host_slot.hpp)
  uint64_t epoch = 0;               // Daemon::serve_epoch_ at open: an eviction fails it
  uint64_t size = 0;
  Fmap fmap;
  bool writable = false;
  std::atomic<uint64_t> dirty_lo{~0ULL}; // written range, flushed from CPU caches on fsync/release
  std::atomic<uint64_t> dirty_hi{0};
};

// The FUSE operations famfs-fused serves (ops_table.cpp); `userdata` of the session.
struct fuse_lowlevel_ops operation_table();

class Daemon {
 public:
  explicit Daemon(Options opt);
  ~Daemon();

  // Open, map, validate, check the mount point and identity, replay. Throws famfs::Error
  // with a message for the user.
  void prepare();
  // Mount, (daemonize), serve until unmounted or signalled. Returns the exit status.
  int run();

  // The file system's writer when this daemon owns it (a read-write master mount run by
  // root that took /run/famfs/<fs-uuid>/writer.lock at start and holds it for life), else
  // nullptr. Every method is safe to call from any FUSE worker thread at once. Its
  // logplay() replays into this daemon's own namespace in-process (no xattr round trip).
  master::Writer* writer() { return writer_.get(); }

  // ---- the FUSE operations (ops.cpp), called by the trampolines of ops_table.cpp ----------
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
  // unlink(2)/rmdir(2) of a committed (logged) object through the master's mount: one DELETE
  // entry through writer() (ops_remove.cpp; docs/delete.md). Clients and a file system
  // without delete: EPERM as before, with the reason logged.
  void remove_committed(fuse_req_t req, fuse_ino_t parent, const char* name, bool is_rmdir);
  // An operation famfs does not do: change nothing, log one line, reply `err`.
  void refuse(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name, int err,
              const char* why);

  // ---- raw I/O on /dev/fuse (negotiate.cpp; fuse_session_custom_io), to see INIT and amend
  // its reply.
  ssize_t io_read(int fd, void* buf, size_t len);
  ssize_t io_writev(int fd, struct iovec* iov, int count);

 private:
  // ---- daemon.cpp
  void map_device();
  void take_identity();
  void refuse_same_host_mount();
  void first_replay();
  bool open_session();
  void start_poller();
  void mount_ready();                             // INIT answered: tell whoever started us
  std::string fmap_text(const Inode& n) const;

  // ---- owner.cpp
  friend class OwnerHost;
  void take_ownership();                          // prepare(): lock, writer_
  void ownership_after_daemonize();               // run(): the lock names this process

  // ---- follow.cpp
  struct Refresh {
    ReplayReport report;
    bool ran = false;
  };
  Refresh refresh(bool forced);
  Refresh refresh_locked(bool forced);           // caller holds replay_mu_
  void note_created(const ReplayReport& r);      // caller holds table_mu_ exclusive
  void note_removed(const ReplayReport& r);      // same (ops_remove.cpp)
  void note_damage(const ReplayReport& r);
  void recheck_applied(uint64_t count);          // re-read `count` applied entries
  void check_device();                           // poller: did the device shrink?
  bool log_gone() const { return live_size_.load() < geo_.data_start(); }
  std::optional<ReplayIssue> current_damage();   // replay damage, else a changed entry
  void poller_main();
  void update_space();                           // caller holds replay_mu_
  void tune_readahead();
  uint64_t entries_used() const;

  // ---- ops.cpp
  bool fill_stat(Ino ino, struct stat* st) const; // caller holds table_mu_ (shared)
  void flush_dirty(OpenFile& of);
  std::optional<std::string> xattr_value(std::string_view name) const;
  std::string status_report();
  std::string logplay_report(size_t caller_size);
  ServiceState service_state(); // for notify_ (defined in notify.cpp)
  void add_delete_figures(StatusFigures& f); // ops_remove.cpp

  // ---- host_slot.cpp (only with delete enabled; docs/delete.md)
  void start_host_slot();   // prepare(), before the first replay
  void publish_host_slot(); // the poller, after each refresh
  void stop_host_slot();    // clean unmount: LEAVING
  bool serving() const;     // false: EIO (this host may have been considered gone)

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
  proto::UniqueFd ready_fd_;             // -o ready_fd: one byte once the mount is ready

  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<Replayer> replayer_;
  mutable std::shared_mutex table_mu_;   // guards ns_ (the poller writes, handlers read)
  std::mutex replay_mu_;                 // serialises replayer_
  std::unique_ptr<LookupCounts> lookups_;
  std::atomic<uint64_t> played_{0};      // replayer_->played(), for readers without replay_mu_
  // Bytes of the mapping still backed by the device: the smallest size seen since the mount
  // (a shrunk device stays shrunk for this mount). Reads and writes past it get EIO.
  std::atomic<uint64_t> live_size_{0};
  uint64_t logged_replaced_pages_ = 0;   // poller only

  // Status figures.
  std::atomic<uint64_t> capacity_{0}, free_{0}, allocated_{0}, collisions_{0};
  std::atomic<int64_t> last_replay_ms_{0}, replay_lag_ms_{-1};
  int64_t last_quiet_poll_ms_ = 0;       // under replay_mu_
  bool warned_shrink_ = false;           // under replay_mu_
  std::atomic<uint64_t> skipped_total_{0};
  std::mutex status_mu_;                 // damage_, changed_, logged_damage_index_
  std::optional<ReplayIssue> damage_;    // where replay stopped
  std::optional<ReplayIssue> changed_;   // an applied entry rewritten since
  uint64_t logged_damage_index_ = ~0ULL;
  LogplayReports logplay_;

  std::unique_ptr<HostSlotKeeper> slots_;
  std::optional<dax::Device> slot_dev_;  // -o ro with delete: a writable mapping for the slot
  dax::Mapping slot_map_;
  OpenIndexes opens_;
  std::atomic<uint64_t> serve_epoch_{0}; // bumped by an eviction: older OpenFiles fail (EIO)

  InvalidationQueue inval_;
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

  // Owning the writes (owner.cpp); last, so the writer goes before what it works over.
  master::WriterLock owner_lock_;
  OwnerHost owner_host_{*this};
  OwnerEvents owner_events_;
  std::unique_ptr<master::Writer> writer_;
};

} // namespace famfs::daemon
