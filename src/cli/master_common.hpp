// Shared machinery of the master-side commands (creat, cp, mkdir, clone) and the read-side
// helpers (verify, getmap, flush, chkread, status): finding the famfs mount of a path, the
// locked append session of docs/design.md "Appending", the fast data path into the device
// mapping, a progress bar, and a small JSON reader for the daemon's xattrs.
//
// Nothing here includes CLI11, so these files compile quickly; cmd_master.cpp does the parsing.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cli/json_read.hpp"
#include "dax/device.hpp"
#include "dax/mapping.hpp"
#include "meta/append.hpp"
#include "meta/bitmap.hpp"
#include "meta/error.hpp"
#include "meta/fmap.hpp"
#include "meta/geometry.hpp"
#include "meta/namespace.hpp"
#include "meta/omf.hpp"
#include "meta/superblock.hpp"

namespace famfs::cli::master {


// ---------------------------------------------------------------------------------------------
// Extended attributes. nullopt and *err = errno on failure (ENODATA, ENOTSUP, ...).
std::optional<std::string> get_xattr(const std::string& path, const char* name, int* err = nullptr);

// ---------------------------------------------------------------------------------------------
// Paths and mounts
struct MountInfo {
  std::string mpt;    // mount point as in /proc/mounts (canonical)
  std::string device; // user.famfs.device of the root (what the daemon mapped), else fsname
  bool read_only = false; // mounted with -r/ro: master commands refuse to add to it
};

// The famfs mount that holds the existing path `path` (file or directory). Throws
// famfs::Error(EXDEV) naming the path when it is not inside a famfs mount.
MountInfo mount_of_existing(const std::string& path);

// A path about to be created (file or directory) in a famfs mount.
struct NewPath {
  MountInfo mount;
  std::string relpath;                    // canonical, <= 79 bytes
  std::string abspath;                    // mpt + "/" + relpath
  std::vector<std::string> missing_dirs;  // make_parents: relpaths of missing ancestors,
                                          // parent first (all <= 79 bytes)
};
// realpath of the parent + basename, relative to the mount root (spec B§5, Part A §3).
// Refuses: the mount root itself, anything outside a famfs mount, '.'/'..' as the last
// component, `.meta`, relpaths over 79 bytes. `make_parents`: missing ancestors are allowed
// and listed (mkdir -p); otherwise the parent must exist.
NewPath resolve_new_path(const std::string& user_path, bool make_parents);

// The relpath of an existing object inside `m` (for clone sources, overwrite targets).
std::string relpath_in_mount(const MountInfo& m, const std::string& existing_path);

// ---------------------------------------------------------------------------------------------
// The append session: docs/design.md "Appending" steps 1-5.
class Session {
 public:
  // Checks the role first (superblock read through <mpt>/.meta/.superblock; the client
  // refusal names the master), takes flock(LOCK_EX) on <mpt>/.meta/.log, maps the device
  // read-write and opens the log writer (which refuses a damaged log). `cmd` names the
  // command in messages.
  Session(const MountInfo& m, const std::string& uuid_file_option, std::string cmd);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const MountInfo& mount() const { return mount_; }
  std::span<std::byte> device() const { return map_.bytes(); }
  const Geometry& geometry() const { return geo_; }
  LogWriter& writer() { return *writer_; }

  // The log replayed into an inode table (built on first use; kept current by append()).
  Namespace& ns();
  // The allocator over the bitmap rebuilt from the log (built on first use).
  Allocator& allocator();
  uint64_t free_bytes();

  // Append one entry (thread-safe; consumes a reservation) and apply it to ns(). Returns the
  // slot used.
  uint64_t append(omf::LogEntry e);
  uint64_t appended() const { return appended_; }
  // Give back reservations that will not be used (thread-safe).
  void unreserve(uint64_t n);

  // Make the local daemon replay now (read user.famfs.logplay on the mount root). Returns
  // the daemon's report, or nullopt (with a warning printed) if the daemon could not be asked.
  std::optional<JsonValue> logplay();

  const std::string& cmd() const { return cmd_; }

 private:
  MountInfo mount_;
  std::string cmd_;
  int lock_fd_ = -1;
  std::optional<dax::Device> dev_;
  dax::Mapping map_;
  Geometry geo_{};
  std::unique_ptr<LogWriter> writer_;
  std::unique_ptr<Namespace> ns_;
  std::unique_ptr<BitmapBuild> bitmap_;
  std::unique_ptr<Allocator> alloc_;
  std::mutex append_mu_;
  uint64_t appended_ = 0;
  uint64_t first_index_ = ~0ull; // first slot this session appended
  uint64_t warned_upto_ = 0;     // skipped-entry warnings already printed below this slot
  std::chrono::steady_clock::time_point last_logplay_ = std::chrono::steady_clock::now();
};

// Read the superblock of a mount through <mpt>/.meta/.superblock (works on clients).
omf::Superblock read_mount_superblock(const MountInfo& m);

// ---------------------------------------------------------------------------------------------
// Progress on stderr: shown only when stderr is a terminal and the work takes > ~1 s.
class Progress {
 public:
  Progress(uint64_t total_bytes, uint64_t total_files, std::string label);
  ~Progress(); // finish()
  void add_bytes(uint64_t n) { bytes_.fetch_add(n, std::memory_order_relaxed); }
  void add_file() { files_.fetch_add(1, std::memory_order_relaxed); }
  void finish();

 private:
  void run();
  void draw(bool final);
  uint64_t total_bytes_, total_files_;
  std::string label_;
  std::atomic<uint64_t> bytes_{0}, files_{0};
  std::atomic<bool> stop_{false};
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::thread thr_;
};

// ---------------------------------------------------------------------------------------------
// Data path
enum class CopyMethod { Auto, Read, Memcpy, NonTemporal };
CopyMethod copy_method_from_env(); // $FAMFS_CP_METHOD = read|memcpy|nt (benchmarks); else Auto

// Copy `size` bytes of the open source `fd` into the file's device ranges (`fmap` over the
// device mapping `dev`), then make them durable (flush + fence). `progress` may be null.
// Throws famfs::Error naming `src_name` on a read error or a short file.
// `threads` > 1 copies the pieces of one large file in parallel.
void copy_fd_to_fmap(std::span<std::byte> dev, const Fmap& fmap, int fd, uint64_t size,
                     const std::string& src_name, Progress* progress, CopyMethod method,
                     unsigned threads = 1);

// Fill the file's device ranges with the B§8.5 stream for `seed`, then flush.
void random_fill_fmap(std::span<std::byte> dev, const Fmap& fmap, uint64_t size, uint64_t seed,
                      Progress* progress);

// Zero [size, end of its 4 KiB page) so a mapped last page shows zeros past EOF.
void zero_tail(std::span<std::byte> dev, const Fmap& fmap, uint64_t size);

// Run fn(i) for i in [0, n) on `threads` workers (1 = inline).
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn);

// ---------------------------------------------------------------------------------------------
// Argument parsing shared by the commands (throw famfs::Error(EINVAL) naming the option)
uint64_t parse_u64_arg(const std::string& s, const char* option);   // decimal or 0x hex
uint32_t parse_id_arg(const std::string& s, const char* option);    // uid/gid
uint64_t parse_size_arg(const std::string& s, const char* option);  // N[kmg]
uint32_t parse_mode_arg(const std::string& s, const char* option);  // octal
unsigned parse_threads_arg(const std::string& s, unsigned dflt);    // 1..256
uint32_t current_umask();

struct InterleaveArgs;
// nullopt when no -N/-B/-C was given; else validated parameters (chunk defaults to 2 MiB).
std::optional<InterleaveParams> parse_interleave(const InterleaveArgs& a, const Geometry* g);

// Allocate space for a new file of `size` bytes, contiguous or interleaved. Throws
// famfs::Error(ENOSPC) with a message naming `what` and the free space.
Fmap allocate_file(Session& s, uint64_t size, const std::optional<InterleaveParams>& ip,
                   const std::string& what);

// ---------------------------------------------------------------------------------------------
// Small helpers
std::string errno_text(int err);
std::string quote(std::string_view s); // 'like this'
// Exit status rule for commands that count errors: capped like upstream.
inline int count_rc(uint64_t n) { return n > 127 ? 127 : int(n); }

// Split an -M/--multi argument "a,b,c" on commas (empty fields kept, so "f,,1" is 3 fields).
std::vector<std::string> split_commas(const std::string& s);

} // namespace famfs::cli::master
