// famfs-fused: the per-host FUSE daemon serving one famfs device (see docs/daemon.md).
//
// One class, its parts in files by concern:
//   daemon.cpp        start-up checks and first replay, the FUSE session and its loop, fmap text
//   ops.cpp           the FUSE operations (one member function per operation)
//   ops_table.cpp     their trampolines and the fuse_lowlevel_ops table
//   negotiate.cpp     INIT and the wire-level negotiation (custom I/O on /dev/fuse, wire.hpp)
//   transport.cpp     the FUSE-over-io_uring transport's place in the session (uring.hpp)
//   follow.cpp        following the log: the poller, refresh, invalidations, free space
//   control.cpp       the status and logplay reports (control.hpp)
//   ops_create.cpp    create through the master's mount: mkdir, staged files (staged.hpp)
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
#include <unordered_map>
#include <vector>

#include "daemon/control.hpp"
#include "daemon/control_socket.hpp"
#include "daemon/host_slot.hpp"
#include "daemon/invalidations.hpp"
#include "daemon/lookup_counts.hpp"
#include "dax/device.hpp"
#include "daemon/notify.hpp"
#include "daemon/uring.hpp"
#include "daemon/staged.hpp"
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
#include "proto/xattr.h"

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
  // A root read-write master mount owns the file system's writes on this host (writer(), the
  // control socket); -o noowner leaves them to famfs commands (each under the writer lock).
  bool owner = true;
  std::vector<std::string> kernel_options; // noexec, noatime, ... (daemon/mount_options.hpp)
  Transport transport = Transport::Dev; // -o transport= (default $FAMFS_TRANSPORT, else dev)
};

// Parse argv as documented in docs/daemon.md. Returns nullopt after printing an error
// (or help, with *exit_code 0).
std::optional<Options> parse_args(int argc, char** argv, int* exit_code);

// Negative entries remembered for invalidation at most (NegativeNames; ~100 bytes each).
inline constexpr std::size_t kMaxNegativeNames = 16384;

// Largest read or write request (max_read / max_write), also the st_blksize served.
inline constexpr uint64_t kMaxIo = uint64_t{1} << 20;
// Writes at least this big bypass the CPU caches (streaming stores).
inline constexpr size_t kStreamMin = 64 * 1024;
// The extended attributes every inode has (docs/design.md lists them).
inline constexpr const char* kXattrCommon[] = {FAMFS_XATTR_DEVICE, FAMFS_XATTR_ROLE,
                                               FAMFS_XATTR_SYSTEM_UUID, FAMFS_XATTR_FS_UUID};
// Answer a getxattr/listxattr with `v`: its size for a probe, ERANGE when it does not fit.
void reply_xattr(fuse_req_t req, const std::string& v, size_t size);

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
  StagedPtr staged;   // a staged file (ops_create.cpp): its own data path, no fmap
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
  void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
  void op_flush(fuse_req_t req, struct fuse_file_info* fi);
  void op_fsync(fuse_req_t req, struct fuse_file_info* fi);
  void op_statfs(fuse_req_t req);
  void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  // ---- create through the master's mount (ops_create.cpp); ops_table.cpp dispatches staged
  // inodes and handles to the staged_* functions.
  void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                 struct fuse_file_info* fi);
  void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                 const char* newname, unsigned flags);
  void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                    struct fuse_file_info* fi);
  bool staged_lookup(fuse_req_t req, fuse_ino_t parent, const char* name); // true: answered
  void staged_forget(fuse_ino_t ino, uint64_t nlookup);
  void staged_getattr(fuse_req_t req, fuse_ino_t ino);
  void staged_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set);
  void staged_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi);
  void staged_release(fuse_req_t req, struct fuse_file_info* fi);
  void staged_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info* fi);
  void staged_write(fuse_req_t req, const char* buf, size_t size, off_t off,
                    struct fuse_file_info* fi);
  void staged_fsync(fuse_req_t req, struct fuse_file_info* fi);
  void staged_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void staged_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

  // unlink(2)/rmdir(2) of a committed (logged) object through the master's mount: one DELETE
  // entry through writer() (ops_remove.cpp; docs/delete.md). Clients and a file system
  // without delete: EPERM as before, with the reason logged.
  void remove_committed(fuse_req_t req, fuse_ino_t parent, const char* name, bool is_rmdir);
  // Why a DELETE entry from a control-socket client must not be written (nullopt: it may);
  // caller holds table_mu_ (ops_remove.cpp).
  std::optional<std::string> delete_entry_problem(const omf::LogEntry& e);
  // An operation famfs does not do: change nothing, log one line, reply `err`.
  void refuse(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name, int err,
              const char* why);


  // ---- raw I/O on /dev/fuse (negotiate.cpp; fuse_session_custom_io), to see INIT and amend
  // its reply.
  ssize_t io_read(int fd, void* buf, size_t len);
  ssize_t io_writev(int fd, struct iovec* iov, int count);
  // The OPEN reply this thread sends next carries FOPEN_PARALLEL_DIRECT_WRITES (protocol
  // 7.36; libfuse 3.14 cannot set it): io_writev adds it.
  void add_parallel_direct_writes();
  ssize_t write_open_reply(int fd, struct iovec* iov, int count, uint32_t add);

  // ---- FUSE-over-io_uring (transport.cpp, uring.hpp): set up before the INIT reply asks for
  // it (true: ask), started once that reply was written, stopped when the loop ends.
  bool prepare_ring(uint32_t init_flags, uint32_t max_write, uint16_t max_pages);
  void start_ring();
  void stop_ring();
  std::string transport_in_use() const; // "uring" or "dev", for the status

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
  ControlServer::Context control_context();

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
  int64_t poll_interval_ms(int64_t now, int64_t current) const;
  void check_device();                           // poller: did the device shrink?
  bool log_gone() const { return live_size_.load() < geo_.data_start(); }
  std::optional<ReplayIssue> current_damage();   // replay damage, else a changed entry
  void poller_main();
  void update_space();                           // caller holds replay_mu_
  void tune_readahead();
  uint64_t entries_used() const;

  // ---- ops.cpp
  bool fill_stat(Ino ino, struct stat* st) const; // caller holds table_mu_ (shared)
  void fill_entry(Ino ino, fuse_entry_param* e); // fill_stat + one kernel lookup (table_mu_ held)
  bool negative_cacheable(Ino parent, const char* name); // caller holds table_mu_ (shared)
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

  // ---- ops_create.cpp
  void start_create();  // run(): staged files on when this daemon owns the writer
  void stop_create();   // run(): commit what is closed, stop the committer
  void committer_main();
  void wake_committer();
  void commit_batch(std::vector<StagedPtr>& batch);
  std::string staged_relpath(const StagedPtr& f);
  bool create_refused(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name,
                      const char* client_why);
  int new_name_in(fuse_ino_t parent, const char* name, std::string* rel, bool check_staged);
  StagedPtr make_staged(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name,
                        mode_t mode);
  void fill_staged_stat(const StagedAttr& a, struct stat* st) const;
  void staged_entry(const StagedPtr& f, fuse_entry_param* e);
  // readdir: staged children after the logged ones (caller holds table_mu_ shared).
  size_t add_staged_dirents(fuse_req_t req, fuse_ino_t dir, char* buf, size_t pos, size_t size,
                            off_t off, bool plus);

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
  std::atomic<int64_t> last_change_ms_{0}; // mono_ms of the last replay that applied entries
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
  NegativeNames negatives_{kMaxNegativeNames};
  // Directories changed by a replay since the mount: their mtime/ctime (ns since the epoch;
  // the others show the mount time). Guarded by table_mu_.
  std::unordered_map<Ino, int64_t> dir_changed_ns_;
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
  bool kernel_offers_uring_ = false;     // INIT offered FUSE_OVER_IO_URING
  std::unique_ptr<UringTransport> uring_; // set while INIT is answered, before any ring request

  // Create through the mount (ops_create.cpp): null unless this daemon owns the writer.
  std::unique_ptr<SpaceSource> staged_space_;
  std::unique_ptr<StagedTable> staged_;
  std::thread committer_;
  std::mutex commit_mu_;
  std::condition_variable commit_wake_;  // a release, or stop
  bool commit_stop_ = false;             // under commit_mu_
  // Owning the writes (owner.cpp); last, so the writer goes before what it works over.
  master::WriterLock owner_lock_;
  OwnerHost owner_host_{*this};
  OwnerEvents owner_events_;
  std::unique_ptr<master::Writer> writer_;
  std::unique_ptr<ControlServer> control_;        // its clients: famfs master commands
};

} // namespace famfs::daemon
