// Shared machinery of the master-side commands: see master_common.hpp.
#include "cli/master_common.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "dax/identity.hpp"
#include "dax/mounts.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"
#include "meta/random_fill.hpp"
#include "meta/replay.hpp"
#include "proto/xattr.h"

namespace famfs::cli::master {

// =============================================================================================
// Small helpers
std::string errno_text(int err) { return std::strerror(err); }

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

namespace {

std::string realpath_of(const std::string& p, int* err = nullptr) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (!r) {
    if (err) *err = errno;
    return {};
  }
  std::string out(r);
  ::free(r);
  return out;
}

bool is_inside(const std::string& mpt, const std::string& abs) {
  if (mpt == "/") return !abs.empty() && abs[0] == '/';
  return abs.size() >= mpt.size() && abs.compare(0, mpt.size(), mpt) == 0 &&
         (abs.size() == mpt.size() || abs[mpt.size()] == '/');
}

std::string rel_of(const std::string& mpt, const std::string& abs) {
  if (abs.size() <= mpt.size()) return {};
  std::string r = abs.substr(mpt == "/" ? 1 : mpt.size() + 1);
  return r;
}

} // namespace

// =============================================================================================
// Argument parsing
uint64_t parse_u64_arg(const std::string& s, const char* option) {
  std::string t = s;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) base = 16;
  if (t.empty() || t[0] == '-' || t[0] == '+' || std::isspace(static_cast<unsigned char>(t[0])))
    throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is not a non-negative number");
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(t.c_str(), &end, base);
  if (errno || !end || *end != '\0')
    throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is not a non-negative number");
  return v;
}

uint32_t parse_id_arg(const std::string& s, const char* option) {
  uint64_t v = parse_u64_arg(s, option);
  if (v > 0xFFFFFFFEull) throw Error(EINVAL, std::string(option) + ": " + quote(s) + " is too large");
  return uint32_t(v);
}

uint64_t parse_size_arg(const std::string& s, const char* option) {
  std::string why;
  auto v = parse_size(s, &why);
  if (!v) throw Error(EINVAL, std::string(option) + ": " + why);
  return *v;
}

uint32_t parse_mode_arg(const std::string& s, const char* option) {
  std::string why;
  auto v = parse_mode(s, &why);
  if (!v) throw Error(EINVAL, std::string(option) + ": " + why);
  return *v;
}

unsigned parse_threads_arg(const std::string& s, unsigned dflt) {
  if (s.empty()) return dflt;
  uint64_t v = parse_u64_arg(s, "-t/--threadct");
  if (v > 256) throw Error(EINVAL, "-t/--threadct: " + quote(s) + " is more than 256 threads");
  return v == 0 ? 1 : unsigned(v);
}

uint32_t current_umask() {
  mode_t m = ::umask(0022);
  ::umask(m);
  return uint32_t(m);
}

std::optional<InterleaveParams> parse_interleave(const InterleaveArgs& a, const Geometry* g) {
  if (!a.given()) return std::nullopt;
  InterleaveParams p;
  p.chunk_size = a.chunk.empty() ? omf::kAllocUnit : parse_size_arg(a.chunk, "-C/--chunksize");
  uint64_t nstrips = a.nstrips.empty() ? 0 : parse_u64_arg(a.nstrips, "-N/--nstrips");
  uint64_t nbuckets = a.nbuckets.empty() ? 0 : parse_u64_arg(a.nbuckets, "-B/--nbuckets");
  if (nstrips < 1 || nstrips > omf::kMaxStrips)
    throw Error(EINVAL, "interleaved allocation needs -N/--nstrips between 1 and 16 (got " +
                            (a.nstrips.empty() ? std::string("none") : a.nstrips) + ")");
  if (nbuckets < 1 || nbuckets > 64)
    throw Error(EINVAL, "interleaved allocation needs -B/--nbuckets between 1 and 64 (got " +
                            (a.nbuckets.empty() ? std::string("none") : a.nbuckets) + ")");
  if (nstrips > nbuckets)
    throw Error(EINVAL, "-N/--nstrips (" + std::to_string(nstrips) +
                            ") must not exceed -B/--nbuckets (" + std::to_string(nbuckets) + ")");
  uint64_t au = g ? g->alloc_unit : omf::kAllocUnit;
  if (p.chunk_size == 0 || (p.chunk_size & (p.chunk_size - 1)) || p.chunk_size % au)
    throw Error(EINVAL, "-C/--chunksize " + a.chunk + " must be a power of two and a multiple of " +
                            "the allocation unit (" + human_bytes(au) + ")");
  if (g && g->device_size / nbuckets < (1ull << 30))
    throw Error(EINVAL, "-B/--nbuckets " + std::to_string(nbuckets) + " is too many for this " +
                            human_bytes(g->device_size) + " device: each bucket must be at least 1 GiB");
  p.nstrips = uint32_t(nstrips);
  p.nbuckets = uint32_t(nbuckets);
  return p;
}

namespace {
uint64_t alloc_seed_for(const std::string& what) {
  // Reproducible bucket order (Part A §7): FNV-1a of the path, mixed with $FAMFS_ALLOC_SEED.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : what) h = (h ^ c) * 1099511628211ull;
  if (const char* e = std::getenv("FAMFS_ALLOC_SEED")) h ^= std::strtoull(e, nullptr, 0);
  return h;
}
} // namespace

Fmap allocate_file(Session& s, uint64_t size, const std::optional<InterleaveParams>& ip,
                   const std::string& what) {
  Allocator& a = s.allocator();
  std::optional<Fmap> f;
  if (ip) {
    try {
      f = a.alloc_interleaved(size, *ip, alloc_seed_for(what));
    } catch (const Error& e) {
      throw Error(EINVAL, "cannot interleave " + quote(what) + ": " + e.what());
    }
  } else {
    f = a.alloc_contiguous(size);
  }
  if (!f) {
    uint64_t au = s.geometry().alloc_unit;
    uint64_t need = (size + au - 1) / au * au;
    std::string msg = "out of space: " + quote(what) + " needs " + human_bytes(need) +
                      " (its size rounded up to " + human_bytes(au) + " units) but the famfs on " +
                      s.mount().device + " has " + human_bytes(a.free_bytes()) + " free";
    if (ip) msg += " (interleaved: " + std::to_string(ip->nstrips) + " strips in separate buckets "
                   "of " + std::to_string(ip->nbuckets) + " needed)";
    throw Error(ENOSPC, msg + "; nothing was created");
  }
  return *f;
}

// =============================================================================================
// xattrs
std::optional<std::string> get_xattr(const std::string& path, const char* name, int* err) {
  std::string buf(4096, '\0');
  for (int attempt = 0; attempt < 6; ++attempt) {
    ssize_t n = ::getxattr(path.c_str(), name, buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(size_t(n));
      return buf;
    }
    if (errno != ERANGE) {
      if (err) *err = errno;
      return std::nullopt;
    }
    ssize_t want = ::getxattr(path.c_str(), name, nullptr, 0);
    buf.assign(want > 0 ? size_t(want) + 4096 : buf.size() * 4, '\0');
  }
  if (err) *err = ERANGE;
  return std::nullopt;
}

// =============================================================================================
// Mounts and paths
namespace {

MountInfo info_from_entry(const dax::MountEntry& e) {
  MountInfo m;
  m.mpt = e.mountpoint;
  int err = 0;
  auto dev = get_xattr(m.mpt, FAMFS_XATTR_DEVICE, &err);
  m.device = dev && !dev->empty() ? *dev : e.device;
  size_t pos = 0;
  while (pos <= e.options.size()) {
    size_t c = e.options.find(',', pos);
    if (c == std::string::npos) c = e.options.size();
    if (e.options.compare(pos, c - pos, "ro") == 0) m.read_only = true;
    pos = c + 1;
  }
  return m;
}

[[noreturn]] void throw_outside(const std::string& user_path, const std::string& resolved) {
  throw Error(EXDEV, quote(user_path) + " is not inside a famfs file system (" + resolved +
                         " is on no fuse.famfs mount); famfs commands work only on paths under "
                         "a mounted famfs (see 'famfs mount' and 'famfs status MOUNTPOINT')");
}

} // namespace

MountInfo mount_of_existing(const std::string& path) {
  int err = 0;
  std::string r = realpath_of(path, &err);
  if (r.empty()) throw Error(err, "cannot find " + quote(path) + ": " + errno_text(err));
  auto e = dax::mount_containing(dax::famfs_mounts(), r);
  if (!e) throw_outside(path, r);
  return info_from_entry(*e);
}

std::string relpath_in_mount(const MountInfo& m, const std::string& existing_path) {
  int err = 0;
  std::string r = realpath_of(existing_path, &err);
  if (r.empty()) throw Error(err, "cannot find " + quote(existing_path) + ": " + errno_text(err));
  if (!is_inside(m.mpt, r))
    throw Error(EXDEV, quote(existing_path) + " is not in the famfs mounted at " + m.mpt);
  return rel_of(m.mpt, r);
}

NewPath resolve_new_path(const std::string& user_path, bool make_parents) {
  if (user_path.empty()) throw Error(EINVAL, "empty path");
  std::string p = user_path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();

  // Refuse the mount root itself (and anything that resolves to a famfs mount point).
  {
    std::string r = realpath_of(p);
    if (!r.empty()) {
      for (const auto& e : dax::famfs_mounts())
        if (e.mountpoint == r)
          throw Error(EEXIST, quote(user_path) + " is the root of the famfs file system mounted "
                                                 "at " + r + "; name a file or directory inside it");
    }
  }

  std::string dir, base;
  auto slash = p.find_last_of('/');
  if (slash == std::string::npos) {
    dir = ".";
    base = p;
  } else {
    dir = slash == 0 ? "/" : p.substr(0, slash);
    base = p.substr(slash + 1);
  }
  if (base.empty() || base == "." || base == "..")
    throw Error(EINVAL, quote(user_path) + " does not name a new file or directory (its last "
                                           "component is '" + base + "')");

  // Resolve the parent; with make_parents, peel off missing components.
  std::vector<std::string> missing; // in reverse order while peeling
  std::string head = dir;
  std::string real;
  while (true) {
    int err = 0;
    real = realpath_of(head, &err);
    if (!real.empty()) break;
    if (err != ENOENT || !make_parents) {
      if (err == ENOENT)
        throw Error(ENOENT, "the directory " + quote(dir) + " does not exist; create it first "
                                "(famfs mkdir -p " + dir + ")");
      throw Error(err, "cannot resolve " + quote(dir) + ": " + errno_text(err));
    }
    std::string h = head;
    while (h.size() > 1 && h.back() == '/') h.pop_back();
    auto s = h.find_last_of('/');
    std::string comp = s == std::string::npos ? h : h.substr(s + 1);
    if (comp == "..")
      throw Error(EINVAL, quote(user_path) + ": cannot create a path containing '..' below a "
                                             "directory that does not exist");
    if (!comp.empty() && comp != ".") missing.push_back(comp);
    if (s == std::string::npos) head = ".";
    else head = s == 0 ? "/" : h.substr(0, s);
  }
  struct stat st{};
  if (::stat(real.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(ENOTDIR, quote(dir) + " is not a directory");

  auto e = dax::mount_containing(dax::famfs_mounts(), real);
  if (!e) throw_outside(user_path, real);

  NewPath np;
  np.mount = info_from_entry(*e);
  std::string rel = rel_of(np.mount.mpt, real);
  auto join = [](const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; };
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    rel = join(rel, *it);
    np.missing_dirs.push_back(rel);
  }
  rel = join(rel, base);

  auto canon = [&](const std::string& r) {
    std::string c;
    try {
      c = canonical_relpath_for_write(r);
    } catch (const Error& ex) {
      if (ex.err() == ENAMETOOLONG)
        throw Error(ENAMETOOLONG,
                    "the path " + quote(r) + " is " + std::to_string(r.size()) +
                        " bytes long relative to the famfs root " + np.mount.mpt +
                        "; famfs log entries hold at most 79 bytes: use a shorter name or a "
                        "shallower directory");
      throw Error(ex.err(), quote(user_path) + ": " + ex.what());
    }
    if (c == ".meta" || c.rfind(".meta/", 0) == 0)
      throw Error(EPERM, quote(user_path) + " is inside .meta, which famfs reserves for its "
                                            "superblock and log");
    return c;
  };
  for (auto& d : np.missing_dirs) d = canon(d);
  np.relpath = canon(rel);
  np.abspath = np.mount.mpt == "/" ? "/" + np.relpath : np.mount.mpt + "/" + np.relpath;
  return np;
}

// =============================================================================================
// Session
omf::Superblock read_mount_superblock(const MountInfo& m) {
  omf::Superblock sb{};
  std::string path = m.mpt + "/.meta/.superblock";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::pread(fd, &sb, sizeof sb, 0);
    ::close(fd);
    if (n == ssize_t(sizeof sb)) return sb;
  }
  // Fall back to the device itself (read-only).
  dax::Device d = dax::Device::open(m.device, false);
  dax::Mapping map = dax::Mapping::map(d, false);
  if (map.size() < sizeof sb) throw Error(EIO, "device " + m.device + " is too small");
  return read_superblock(map.cbytes());
}

namespace {

std::string role_refusal(const MountInfo& m, const omf::Superblock& sb, const std::string& cmd,
                         const std::optional<Uuid>& id, const std::string& id_path) {
  std::string msg = "this host is not the master of the famfs file system mounted at " + m.mpt +
                    " (device " + m.device + "), so it cannot " + cmd +
                    ": only the master may add to the log.\n"
                    "  master:    the host whose system UUID is " +
                    uuid_to_string(sb.ts_system_uuid) + " (recorded in the superblock)\n"
                    "  this host: ";
  if (id)
    msg += uuid_to_string(*id) + " (from " + id_path + ")";
  else
    msg += "no readable system UUID in " + id_path;
  msg += "\n  Run the command on the master, or check the roles with 'famfs status " + m.mpt + "'.";
  return msg;
}

} // namespace

Session::Session(const MountInfo& m, const std::string& uuid_file_option, std::string cmd)
    : mount_(m), cmd_(std::move(cmd)) {
  // 3. role (checked first: a client must not even try to open the device read-write)
  omf::Superblock sb = read_mount_superblock(mount_);
  SbStatus st = check_superblock(sb);
  if (!sb_usable(st))
    throw Error(EUCLEAN, "the superblock of " + mount_.device + " (mounted at " + mount_.mpt +
                             ") is not usable: " + sb_status_text(st) +
                             "; run 'famfs fsck " + mount_.mpt + "'");
  std::string id_path = dax::system_uuid_path(uuid_file_option);
  std::optional<Uuid> id = dax::read_system_uuid(id_path);
  Role role = role_of(sb, id ? &*id : nullptr);
  if (role != Role::Master) throw Error(EPERM, role_refusal(mount_, sb, cmd_, id, id_path));

  if (mount_.read_only)
    throw Error(EROFS, "the famfs at " + mount_.mpt + " is mounted read-only, so this host will not " +
                           cmd_ + " through it; remount it without -r to add files");

  // 2. the host-local lock
  std::string logpath = mount_.mpt + "/.meta/.log";
  lock_fd_ = ::open(logpath.c_str(), O_RDONLY | O_CLOEXEC);
  if (lock_fd_ < 0)
    throw Error(errno, "cannot open " + logpath + " to take the famfs log lock: " +
                           errno_text(errno));
  while (::flock(lock_fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw Error(e, "cannot lock " + logpath + ": " + errno_text(e));
  }

  try {
    // 1. the device, read-write
    dev_.emplace(dax::Device::open(mount_.device, true));
    map_ = dax::Mapping::map(*dev_, true);
    omf::Superblock sb2 = read_superblock(map_.cbytes());
    if (std::memcmp(sb2.ts_uuid, sb.ts_uuid, sizeof sb.ts_uuid) != 0)
      throw Error(EXDEV, "device " + mount_.device + " does not hold the file system mounted at " +
                             mount_.mpt + " (file system UUIDs differ); remount it");
    geo_ = geometry_of(sb2, map_.cbytes());
    try {
      writer_ = std::make_unique<LogWriter>(map_.bytes(), geo_, dax::cpu_cache_ops());
    } catch (const Error& e) {
      throw Error(e.err(), std::string(e.what()) + "; nothing was written. Inspect it with "
                                                   "'famfs fsck " + mount_.mpt + "'");
    }
  } catch (...) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

Session::~Session() {
  writer_.reset();
  alloc_.reset();
  bitmap_.reset();
  ns_.reset();
  map_ = dax::Mapping();
  dev_.reset();
  if (lock_fd_ >= 0) {
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
  }
}

Namespace& Session::ns() {
  if (!ns_) {
    ns_ = std::make_unique<Namespace>(geo_, true);
    Replayer r(map_.cbytes(), dax::cpu_cache_ops());
    r.play(*ns_);
  }
  return *ns_;
}

Allocator& Session::allocator() {
  if (!alloc_) {
    bitmap_ = std::make_unique<BitmapBuild>(build_bitmap(map_.cbytes(), geo_, dax::cpu_cache_ops()));
    alloc_ = std::make_unique<Allocator>(bitmap_->bitmap, geo_);
  }
  return *alloc_;
}

uint64_t Session::free_bytes() { return allocator().free_bytes(); }

uint64_t Session::append(omf::LogEntry e) {
  std::lock_guard<std::mutex> g(append_mu_);
  uint64_t idx = writer_->append(e);
  ++appended_;
  if (first_index_ == ~0ull) first_index_ = idx;
  if (ns_) {
    omf::LogEntry stored = read_log_entry(map_.cbytes(), idx);
    ns_->apply(stored, idx);
  }
  // Long batches: let the local mount catch up about once a second, not per entry.
  auto now = std::chrono::steady_clock::now();
  if (now - last_logplay_ >= std::chrono::seconds(1)) {
    last_logplay_ = now;
    (void)logplay();
  }
  return idx;
}

void Session::unreserve(uint64_t n) {
  std::lock_guard<std::mutex> g(append_mu_);
  writer_->unreserve(n);
}

std::optional<JsonValue> Session::logplay() {
  int err = 0;
  auto raw = get_xattr(mount_.mpt, FAMFS_XATTR_LOGPLAY, &err);
  if (!raw) {
    print_warning("famfs " + cmd_,
                  "could not ask the famfs daemon of " + mount_.mpt +
                      " to replay the log now (user.famfs.logplay: " + errno_text(err) +
                      "); the new entries appear at its next log poll");
    return std::nullopt;
  }
  std::string why;
  auto j = json_parse(*raw, &why);
  if (!j) {
    print_warning("famfs " + cmd_, "the famfs daemon's logplay report is not JSON (" + why + ")");
    return std::nullopt;
  }
  // Entries this command wrote that the daemon would not apply: say so (never expected).
  if (const JsonValue* sk = j->get("skipped"); sk && sk->type == JsonValue::Type::Array) {
    for (const JsonValue& e : sk->array) {
      uint64_t idx = e.u64("index", ~0ull);
      if (idx == ~0ull || first_index_ == ~0ull || idx < first_index_ || idx < warned_upto_) continue;
      print_error("famfs " + cmd_, "the famfs daemon of " + mount_.mpt + " did not apply log entry " +
                                       std::to_string(idx) + " written by this command: " +
                                       e.str("what", "no reason given") +
                                       "; run 'famfs fsck " + mount_.mpt + "'");
    }
  }
  warned_upto_ = j->u64("entries", warned_upto_);
  return j;
}

// =============================================================================================
// Progress
Progress::Progress(uint64_t total_bytes, uint64_t total_files, std::string label)
    : total_bytes_(total_bytes), total_files_(total_files), label_(std::move(label)),
      start_(std::chrono::steady_clock::now()) {
  if (::isatty(2)) thr_ = std::thread([this] { run(); });
}

Progress::~Progress() { finish(); }

void Progress::finish() {
  if (stop_.exchange(true)) return;
  if (thr_.joinable()) thr_.join();
  if (shown_) {
    draw(true);
    std::fputc('\n', stderr);
  }
}

// How long work runs before the bar appears: 1 s, or $FAMFS_PROGRESS_DELAY_MS (tests set 0 so
// that whether a bar appears does not depend on how fast this machine copies).
std::chrono::milliseconds progress_delay() {
  const char* v = std::getenv("FAMFS_PROGRESS_DELAY_MS");
  char* end = nullptr;
  long ms = v ? std::strtol(v, &end, 10) : -1;
  return std::chrono::milliseconds(v && *v && end && *end == '\0' && ms >= 0 ? ms : 1000);
}

void Progress::run() {
  using namespace std::chrono;
  const milliseconds delay = progress_delay();
  while (!stop_.load()) {
    if (steady_clock::now() - start_ >= delay) {
      shown_ = true;
      draw(false);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

void Progress::draw(bool final) {
  using namespace std::chrono;
  double secs = duration<double>(steady_clock::now() - start_).count();
  uint64_t b = bytes_.load(), f = files_.load();
  double frac = total_bytes_ ? double(b) / double(total_bytes_)
                             : (total_files_ ? double(f) / double(total_files_) : 1.0);
  if (final) frac = std::min(frac, 1.0);
  frac = std::clamp(frac, 0.0, 1.0);
  const int width = 30;
  int fill = int(frac * width + 0.5);
  std::string bar(size_t(fill), '#');
  bar += std::string(size_t(width - fill), '.');
  double rate = secs > 0 ? double(b) / secs / 1e9 : 0;
  std::string files;
  if (total_files_ > 1) files = "  " + std::to_string(f) + "/" + std::to_string(total_files_) + " files";
  std::fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %.2f GB/s%s   ", label_.c_str(), bar.c_str(),
               int(frac * 100), human_bytes(b).c_str(), human_bytes(total_bytes_).c_str(), rate,
               files.c_str());
  std::fflush(stderr);
}

// =============================================================================================
// Data path
CopyMethod copy_method_from_env() {
  const char* m = std::getenv("FAMFS_CP_METHOD");
  if (!m) return CopyMethod::Auto;
  std::string_view v(m);
  if (v == "read") return CopyMethod::Read;
  if (v == "memcpy") return CopyMethod::Memcpy;
  if (v == "nt") return CopyMethod::NonTemporal;
  return CopyMethod::Auto;
}

namespace {

constexpr std::size_t kPiece = 64ull << 20; // progress granularity

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Fault the destination in ahead of the copy, one batch per piece (one call instead of a
// fault per 4 KiB page on image files; device-dax gets its PMD mappings). Best effort.
void prefault_write(void* p, std::size_t n) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t lo = a & ~std::uintptr_t(4095), hi = (a + n + 4095) & ~std::uintptr_t(4095);
  if (n >= (1u << 20)) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_WRITE);
}

} // namespace

namespace {

struct Piece {
  uint64_t src_off;
  std::byte* dst;
  std::size_t len;
};

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

void populate(const void* p, std::size_t n, int advice) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t lo = a & ~std::uintptr_t(4095), hi = (a + n + 4095) & ~std::uintptr_t(4095);
  ::madvise(reinterpret_cast<void*>(lo), hi - lo, advice);
}

// Faults in the next pieces (destination for writing, source for reading) on a helper thread
// while the caller copies the current one, so page-table work overlaps the copy. Purely a
// speed-up: the copier faults whatever the helper has not reached yet.
class Prefetcher {
 public:
  Prefetcher(const std::vector<Piece>& pieces, const char* src) : pieces_(pieces), src_(src) {
    thr_ = std::thread([this] { run(); });
  }
  ~Prefetcher() {
    stop_.store(true);
    thr_.join();
  }
  void copied(std::size_t i) { copied_.store(i + 1, std::memory_order_release); }

 private:
  void run() {
    constexpr std::size_t kAhead = 3;
    for (std::size_t i = 1; i < pieces_.size() && !stop_.load(); ++i) {
      while (!stop_.load() && i >= copied_.load(std::memory_order_acquire) + kAhead)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (stop_.load()) break;
      const Piece& p = pieces_[i];
      populate(p.dst, p.len, MADV_POPULATE_WRITE);
      if (src_) populate(src_ + p.src_off, p.len, MADV_POPULATE_READ);
    }
  }
  const std::vector<Piece>& pieces_;
  const char* src_;
  std::atomic<std::size_t> copied_{0};
  std::atomic<bool> stop_{false};
  std::thread thr_;
};

} // namespace

void copy_fd_to_fmap(std::span<std::byte> dev, const Fmap& fmap, int fd, uint64_t size,
                     const std::string& src_name, Progress* progress, CopyMethod method,
                     unsigned threads) {
  if (method == CopyMethod::Auto) method = size >= (1u << 20) ? CopyMethod::NonTemporal : CopyMethod::Read;

  // The destination pieces, in file order.
  std::vector<Piece> pieces;
  for (uint64_t off = 0; off < size;) {
    auto run = fmap.resolve(off);
    if (!run || run->len == 0)
      throw Error(EIO, "internal error: the map of the destination for " + quote(src_name) +
                           " ends at " + std::to_string(off) + " of " + std::to_string(size) + " bytes");
    uint64_t n = std::min<uint64_t>(run->len, size - off);
    if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset)
      throw Error(EIO, "internal error: destination extent beyond the device end");
    for (uint64_t done = 0; done < n;) {
      std::size_t k = std::size_t(std::min<uint64_t>(kPiece, n - done));
      pieces.push_back({off + done, dev.data() + run->dev_offset + done, k});
      done += k;
    }
    off += n;
  }

  const bool debug = std::getenv("FAMFS_CP_DEBUG") != nullptr;
  auto t_start = std::chrono::steady_clock::now();
  const char* env = std::getenv("FAMFS_CP_PREFETCH");
  // Opt-in: on a busy 2-CPU machine the helper thread costs more than it saves (measured).
  bool prefetch = pieces.size() > 2 && env && std::string_view(env) == "1";
  const char* src = nullptr;
  if (method != CopyMethod::Read && size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (prefetch ? 0 : MAP_POPULATE), fd, 0);
    if (p == MAP_FAILED) {
      method = CopyMethod::Read; // pipes, some special files: read() instead
    } else {
      ::madvise(p, size, MADV_SEQUENTIAL);
      src = static_cast<const char*>(p);
    }
  }
  struct Unmap {
    const char* p;
    uint64_t n;
    ~Unmap() {
      if (p) ::munmap(const_cast<char*>(p), n);
    }
  } unmap{src, size};

  auto t_mapped = std::chrono::steady_clock::now();
  std::optional<Prefetcher> pf;
  if (prefetch) {
    populate(pieces[0].dst, pieces[0].len, MADV_POPULATE_WRITE);
    if (src) populate(src, pieces[0].len, MADV_POPULATE_READ);
    pf.emplace(pieces, src);
  }
  auto copy_piece = [&](std::size_t i) {
    const Piece& pc = pieces[i];
    if (!prefetch) prefault_write(pc.dst, pc.len);
    switch (method) {
      case CopyMethod::Read:
      case CopyMethod::Auto: {
        std::size_t got = 0;
        while (got < pc.len) {
          ssize_t r = ::pread(fd, pc.dst + got, pc.len - got, off_t(pc.src_off + got));
          if (r < 0) {
            if (errno == EINTR) continue;
            throw Error(errno, "cannot read " + quote(src_name) + ": " + errno_text(errno));
          }
          if (r == 0)
            throw Error(EIO, quote(src_name) + " ended at " + std::to_string(pc.src_off + got) +
                                 " bytes, expected " + std::to_string(size) +
                                 " (did it shrink during the copy?)");
          got += std::size_t(r);
        }
        dax::flush_range(pc.dst, pc.len);
        break;
      }
      case CopyMethod::Memcpy:
        std::memcpy(pc.dst, src + pc.src_off, pc.len);
        dax::flush_range(pc.dst, pc.len);
        break;
      case CopyMethod::NonTemporal:
        dax::stream_store(pc.dst, src + pc.src_off, pc.len);
        break;
    }
    if (pf) pf->copied(i);
    if (progress) progress->add_bytes(pc.len);
  };
  if (threads > 1 && pieces.size() > 1 && !pf) {
    // Several copiers over the pieces of one large file; the first error wins.
    std::mutex err_mu;
    std::optional<Error> err;
    parallel_for(pieces.size(), threads, [&](std::size_t i) {
      {
        std::lock_guard<std::mutex> g(err_mu);
        if (err) return;
      }
      try {
        copy_piece(i);
        dax::store_fence();
      } catch (const Error& e) {
        std::lock_guard<std::mutex> g(err_mu);
        if (!err) err = e;
      }
    });
    if (err) throw *err;
  } else {
    for (std::size_t i = 0; i < pieces.size(); ++i) copy_piece(i);
  }
  dax::store_fence();
  if (debug) {
    using sec = std::chrono::duration<double>;
    auto t_end = std::chrono::steady_clock::now();
    std::fprintf(stderr, "famfs cp: %s: %llu bytes, method %d, prefetch %d: map %.3f s, copy %.3f s (%.2f GB/s)\n",
                 src_name.c_str(), (unsigned long long)size, int(method), int(prefetch),
                 sec(t_mapped - t_start).count(), sec(t_end - t_mapped).count(),
                 double(size) / sec(t_end - t_mapped).count() / 1e9);
  }
}

void random_fill_fmap(std::span<std::byte> dev, const Fmap& fmap, uint64_t size, uint64_t seed,
                      Progress* progress) {
  RandomStream rs(seed);
  uint64_t off = 0;
  while (off < size) {
    auto run = fmap.resolve(off);
    if (!run || run->len == 0) throw Error(EIO, "internal error: map shorter than the file");
    uint64_t n = std::min<uint64_t>(run->len, size - off);
    if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset)
      throw Error(EIO, "internal error: extent beyond the device end");
    std::byte* dst = dev.data() + run->dev_offset;
    uint64_t done = 0;
    while (done < n) {
      std::size_t k = std::size_t(std::min<uint64_t>(kPiece, n - done));
      std::byte* p = dst + done;
      prefault_write(p, k);
      std::size_t words = k / 4;
      for (std::size_t w = 0; w < words; ++w) {
        uint32_t v = uint32_t(rs.next());
        std::memcpy(p + 4 * w, &v, 4);
      }
      if (std::size_t rem = k % 4) {
        // Only the very end of the file can be a partial word (runs are AU multiples).
        uint32_t v = uint32_t(rs.next());
        std::memcpy(p + 4 * words, &v, rem);
      }
      dax::flush_range(p, k);
      done += k;
      if (progress) progress->add_bytes(k);
    }
    off += n;
  }
  dax::store_fence();
}

void zero_tail(std::span<std::byte> dev, const Fmap& fmap, uint64_t size) {
  if (size % 4096 == 0) return;
  auto run = fmap.resolve(size);
  if (!run) return;
  uint64_t n = std::min<uint64_t>(run->len, 4096 - size % 4096);
  if (run->dev_offset > dev.size() || n > dev.size() - run->dev_offset) return;
  std::memset(dev.data() + run->dev_offset, 0, n);
  dax::flush_range(dev.data() + run->dev_offset, n);
}

void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn) {
  if (threads <= 1 || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  threads = unsigned(std::min<std::size_t>(threads, n));
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  for (auto& t : pool) t.join();
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t c = s.find(',', pos);
    out.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  return out;
}

} // namespace famfs::cli::master
