// famfs-fused: serving the replayed namespace over FUSE (low-level API, multithreaded).
//
// Locking: table_mu_ guards the Namespace. Handlers take it shared; the replay (poller thread
// or a forced logplay) takes it exclusive only while applying new entries. The data path
// (read/write) takes no lock at all: open() copies the file's immutable map into an OpenFile.
// Kernel cache invalidations are queued and sent by the poller thread, never from a request
// handler and never under table_mu_.
#include "daemon/daemon.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#if defined(__x86_64__)
#endif
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "dax/cache.hpp"
#include "dax/identity.hpp"
#include "dax/mounts.hpp"
#include "daemon/logging.hpp"
#include "daemon/mount_options.hpp"
#include "daemon/wire.hpp"
#include "meta/numeric.hpp"
#include "meta/bitmap.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "proto/xattr.h"

namespace famfs::daemon {

namespace {

constexpr size_t kMaxIov = 512;          // stack iovecs for one multi-run read
constexpr uint64_t kMaxIo = 1u << 20;    // max_read / max_write

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string jstr(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += char(c);
        }
    }
  }
  return o + "\"";
}

Daemon* self(fuse_req_t req) { return static_cast<Daemon*>(fuse_req_userdata(req)); }

constexpr size_t kStreamMin = 64 * 1024; // writes at least this big bypass the CPU caches

} // namespace

Daemon::Daemon(Options opt) : opt_(std::move(opt)) {}

Daemon::~Daemon() {
  stop_ = true;
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
}

// ---------------------------------------------------------------------------------------------
// Start-up checks and replay

namespace {

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

void Daemon::prepare() {
  mount_time_ = ::time(nullptr);
  check_mountpoint(opt_.mountpoint);

  dev_.emplace(dax::Device::open(opt_.device, !opt_.read_only));
  map_ = dax::Mapping::map(*dev_, !opt_.read_only);
  base_ = map_.data();
  if (map_.size() < omf::kSuperblockRegion + omf::kMinLogLen)
    throw Error(EINVAL, opt_.device + ": too small to hold a famfs file system (" +
                            std::to_string(map_.size()) + " bytes)");
  dax::invalidate_range(base_, sizeof(omf::Superblock));
  sb_ = read_superblock(map_.cbytes());
  SbStatus s = check_superblock(sb_);
  if (!sb_usable(s))
    throw Error(EINVAL, opt_.device + ": no valid famfs superblock (" + sb_status_text(s) +
                            "); run mkfs.famfs on it first");
  if (s == SbStatus::ValidOldVersion)
    spdlog::warn("{}: superblock version 47 (previous release): mounting anyway", opt_.device);
  geo_ = geometry_of(sb_, map_.cbytes());
  dax::invalidate_range(base_ + omf::kLogOffset, omf::kLogHeaderSize);
  omf::LogHeader h = read_log_header(map_.cbytes());
  LogHeaderStatus hs = check_log_header(h, geo_.log_len);
  if (hs != LogHeaderStatus::Ok)
    throw Error(EUCLEAN, opt_.device + ": the famfs log header is invalid (" +
                             log_header_status_text(hs) + "); run 'famfs fsck " + opt_.device +
                             "'");

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

  // The same device mounted by this host (same identity) already?
  for (const auto& m : dax::famfs_mounts()) {
    if (m.device != opt_.device) continue;
    char buf[64];
    ssize_t n = ::getxattr(m.mountpoint.c_str(), FAMFS_XATTR_SYSTEM_UUID, buf, sizeof buf);
    if (n < 0) {
      spdlog::warn("{} is also listed at {} but that mount does not answer ({}); ignoring it",
                   opt_.device, m.mountpoint, std::strerror(errno));
      continue;
    }
    if (std::string(buf, size_t(n)) == system_uuid_text_)
      throw Error(EBUSY, opt_.device + " is already mounted on this host at " + m.mountpoint +
                             " (same system uuid " + system_uuid_text_ + ")");
  }

  ns_ = std::make_unique<Namespace>(geo_, master_);
  replayer_ = std::make_unique<Replayer>(map_.cbytes(), dax::cpu_cache_ops());
  max_inodes_ = geo_.slots() + 8;
  // calloc'ed: pages never touched stay unallocated, so a big log costs nothing until used.
  nlookup_.reset(static_cast<std::atomic<uint64_t>*>(std::calloc(max_inodes_ + 1, 8)));
  subdirs_.reset(static_cast<std::atomic<uint32_t>*>(std::calloc(max_inodes_ + 1, 4)));
  if (!nlookup_ || !subdirs_) throw Error(ENOMEM, "out of memory for the inode table");
  for (Ino i = 2; i <= ns_->max_ino(); ++i) {
    const Inode* n = ns_->get(i);
    if (n && n->is_dir && n->parent) subdirs_[n->parent]++;
  }
  Refresh r = refresh(true);
  {
    std::lock_guard lk(inval_mu_); // nothing is cached by the kernel yet
    inval_entries_.clear();
    inval_inodes_.clear();
  }
  spdlog::info("famfs-fused {} on {}: role {}, {} files, {} directories, {} log entries{}",
               opt_.device, opt_.mountpoint, role_name(role_), ns_->file_count(),
               ns_->dir_count(), replayer_->played(),
               replayer_->damaged() ? " (LOG DAMAGED: serving the valid prefix)" : "");
  (void)r;
  update_space();
}

Daemon::Refresh Daemon::refresh(bool forced) {
  std::lock_guard rl(replay_mu_);
  Refresh out;
  uint64_t next = replayer_->log_next_index();
  int64_t t0 = mono_ms();
  if (!forced && next <= replayer_->played()) {
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
  int64_t since = (!forced && last_quiet_poll_ms_) ? last_quiet_poll_ms_ : t0;
  std::vector<std::pair<Ino, std::string>> entries;
  std::vector<Ino> parents;
  {
    std::unique_lock tl(table_mu_);
    out.report = replayer_->play(*ns_);
    for (Ino ino : out.report.created) {
      Inode* n = ns_->get_mutable(ino);
      if (!n) continue;
      if (!master_ && !n->is_dir) n->mode &= ~0222u; // clients: read-only until chmod
      if (n->is_dir && n->parent && n->parent <= max_inodes_) subdirs_[n->parent]++;
      parents.push_back(n->parent);
      if (out.report.created.size() <= 256) entries.emplace_back(n->parent, n->name);
    }
  }
  out.ran = true;
  last_replay_ms_ = unix_ms();
  if (!out.report.created.empty() || out.report.to > out.report.from)
    replay_lag_ms_ = mono_ms() - since;

  const ReplayReport& r = out.report;
  for (const auto& s : r.skipped)
    spdlog::warn("log entry {} skipped: {}", s.index, s.what);
  skipped_total_ += r.skipped.size();
  {
    std::lock_guard sl(status_mu_);
    if (r.damage) {
      damage_ = r.damage;
      if (logged_damage_index_ != r.damage->index) {
        logged_damage_index_ = r.damage->index;
        spdlog::error("LOG DAMAGED at entry {}: {}; serving the {} entries before it, nothing "
                      "after it is visible until it is repaired (run famfs fsck)",
                      r.damage->index, r.damage->what, r.damage->index);
      }
    } else if (!replayer_->damaged()) {
      if (damage_) spdlog::warn("log entry {} is valid now; replay continued", damage_->index);
      damage_.reset();
      logged_damage_index_ = ~0ULL;
    }
  }
  if (!r.created.empty()) {
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    {
      std::lock_guard lk(inval_mu_);
      for (Ino p : parents) inval_inodes_.push_back(p);
      for (auto& e : entries) inval_entries_.push_back(std::move(e));
      inval_unsent_ += parents.size() + entries.size();
    }
    inval_pending_ = true;
    wake_.notify_all();
    update_space();
    if (opt_.debug || r.created.size() < 64)
      spdlog::info("replayed log entries [{}, {}): {} new files, {} new directories", r.from,
                   r.to, r.new_files, r.new_dirs);
  }
  return out;
}

void Daemon::update_space() {
  try {
    BitmapBuild bb = build_bitmap(map_.cbytes(), geo_, dax::cpu_cache_ops());
    Allocator a(bb.bitmap, geo_);
    capacity_ = geo_.device_size;
    free_ = a.free_bytes();
    allocated_ = geo_.device_size > free_ ? geo_.device_size - free_ : 0; // incl. superblock + log, as upstream fsck
    collisions_ = bb.stats.collisions;
  } catch (const std::exception& e) {
    spdlog::warn("cannot compute free space: {}", e.what());
  }
}

void Daemon::flush_invalidations() {
  std::vector<Ino> inodes;
  std::vector<std::pair<Ino, std::string>> entries;
  {
    std::lock_guard lk(inval_mu_);
    inodes.swap(inval_inodes_);
    entries.swap(inval_entries_);
    inval_pending_ = false;
  }
  const uint64_t batch = inodes.size() + entries.size();
  if (initialized_ && se_) {
    for (auto& [parent, name] : entries)
      fuse_lowlevel_notify_inval_entry(se_, parent, name.c_str(), name.size());
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    for (Ino ino : inodes) fuse_lowlevel_notify_inval_inode(se_, ino, -1, 0); // attributes only
  }
  inval_unsent_ -= batch;
}

void Daemon::poller_main() {
  // Wake-ups are rare and short; on a busy host a higher priority keeps visibility latency
  // close to the poll interval. Best effort (needs CAP_SYS_NICE to go below 0).
  (void)::setpriority(PRIO_PROCESS, pid_t(::gettid()), -10);
  bool tuned = false;
  while (!stop_) {
    if (!tuned && initialized_) {
      tuned = true;
      tune_readahead();
    }
    {
      std::unique_lock lk(wake_mu_);
      wake_.wait_for(lk, std::chrono::milliseconds(opt_.refresh_ms),
                     [&] { return stop_.load() || inval_pending_.load(); });
    }
    if (stop_) break;
    if (inval_pending_) flush_invalidations();
    try {
      refresh(false);
    } catch (const std::exception& e) {
      spdlog::error("log refresh failed: {}", e.what());
    }
    if (inval_pending_) flush_invalidations();
    if (notify_.enabled()) notify_.poll(service_state());
  }
}

// Page-cache mode (no direct I/O): the kernel's read-ahead defaults to 128 KiB per FUSE mount;
// raise it to 1 MiB (the request size) through the mount's bdi. Best effort.
void Daemon::tune_readahead() {
  if (use_direct_io_) return;
  struct stat st {};
  if (::stat(opt_.mountpoint.c_str(), &st) != 0) return;
  char path[96];
  std::snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
                minor(st.st_dev));
  if (FILE* f = std::fopen(path, "w")) {
    std::fputs("1024\n", f);
    if (std::fclose(f) == 0) spdlog::info("page-cache mode: read-ahead raised to 1 MiB");
  }
}

// ---------------------------------------------------------------------------------------------
// Attributes

bool Daemon::fill_stat(Ino ino, struct stat* st) const {
  const Inode* n = ns_->get(ino);
  if (!n) return false;
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = (n->is_dir ? S_IFDIR : S_IFREG) | (n->mode & 07777);
  st->st_nlink = n->is_dir ? 2 + (ino <= max_inodes_ ? subdirs_[ino].load() : 0) : 1;
  st->st_uid = n->uid;
  st->st_gid = n->gid;
  st->st_size = n->is_dir ? 0 : off_t(n->size);
  st->st_blksize = 1 << 20;
  st->st_blocks = n->is_dir ? 0 : blkcnt_t(n->fmap.capacity() / 512);
  st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = mount_time_;
  return true;
}

void Daemon::add_lookup(Ino ino, uint64_t n) {
  if (ino <= max_inodes_) nlookup_[ino].fetch_add(n, std::memory_order_relaxed);
}

void Daemon::op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_entry_param e{};
  {
    std::shared_lock tl(table_mu_);
    const Inode* p = ns_->get(parent);
    if (!p) return (void)fuse_reply_err(req, ENOENT);
    if (!p->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    auto ino = ns_->lookup(parent, name);
    // No negative entries: the kernel asks again next time, so a new file shows at once.
    if (!ino) return (void)fuse_reply_err(req, ENOENT);
    fill_stat(*ino, &e.attr);
    e.ino = *ino;
    add_lookup(*ino, 1);
  }
  e.generation = 1;
  e.attr_timeout = e.entry_timeout = opt_.timeout;
  fuse_reply_entry(req, &e);
}

void Daemon::op_forget(fuse_ino_t ino, uint64_t nlookup) {
  if (ino <= max_inodes_) nlookup_[ino].fetch_sub(nlookup, std::memory_order_relaxed);
}

void Daemon::op_getattr(fuse_req_t req, fuse_ino_t ino) {
  struct stat st;
  {
    std::shared_lock tl(table_mu_);
    if (!fill_stat(ino, &st)) return (void)fuse_reply_err(req, ENOENT);
  }
  fuse_reply_attr(req, &st, opt_.timeout);
}

void Daemon::op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set) {
  struct stat st;
  {
    std::shared_lock tl(table_mu_);
    if (!fill_stat(ino, &st)) return (void)fuse_reply_err(req, ENOENT);
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != st.st_size) {
    if (S_ISDIR(st.st_mode)) return (void)fuse_reply_err(req, EISDIR);
    return refuse(req, "truncate", ino, nullptr, EPERM, "famfs files have a fixed size");
  }
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    if (ino == kSuperblockIno || ino == kLogIno || ino == kMetaDirIno)
      return refuse(req, "chmod/chown", ino, nullptr, EPERM, ".meta is not changeable");
    if (opt_.read_only) return (void)fuse_reply_err(req, EROFS);
    std::unique_lock tl(table_mu_);
    Inode* n = ns_->get_mutable(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (to_set & FUSE_SET_ATTR_MODE) n->mode = attr->st_mode & 07777;
    if (to_set & FUSE_SET_ATTR_UID) n->uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) n->gid = attr->st_gid;
    fill_stat(ino, &st);
  }
  // Timestamps are not stored (the log has none): accepted and ignored.
  fuse_reply_attr(req, &st, opt_.timeout);
}

void Daemon::op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  std::vector<char> buf(std::min<size_t>(size, 1u << 20));
  size = buf.size();
  size_t pos = 0;
  {
    std::shared_lock tl(table_mu_);
    const Inode* d = ns_->get(ino);
    if (!d) return (void)fuse_reply_err(req, ENOENT);
    if (!d->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    uint64_t total = 2 + d->children.size();
    for (uint64_t i = off < 0 ? 0 : uint64_t(off); i < total; ++i) {
      Ino cino;
      const char* name;
      if (i == 0) {
        cino = ino;
        name = ".";
      } else if (i == 1) {
        cino = d->parent ? d->parent : ino;
        name = "..";
      } else {
        cino = d->children[i - 2];
        const Inode* c = ns_->get(cino);
        if (!c) continue;
        name = c->name.c_str();
      }
      size_t ent;
      if (plus) {
        fuse_entry_param e{};
        fill_stat(cino, &e.attr);
        e.ino = cino;
        e.generation = 1;
        e.attr_timeout = e.entry_timeout = opt_.timeout;
        ent = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &e, off_t(i + 1));
        if (ent > size - pos) break;
        if (i >= 2) add_lookup(cino, 1); // the kernel takes a reference for all but . and ..
      } else {
        struct stat st {};
        st.st_ino = cino;
        st.st_mode = (i < 2 || ns_->get(cino)->is_dir) ? S_IFDIR : S_IFREG;
        ent = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, off_t(i + 1));
        if (ent > size - pos) break;
      }
      pos += ent;
    }
  }
  fuse_reply_buf(req, buf.data(), pos);
}

// ---------------------------------------------------------------------------------------------
// Files

void Daemon::op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  int acc = fi->flags & O_ACCMODE;
  bool wr = acc == O_WRONLY || acc == O_RDWR;
  auto of = std::make_unique<OpenFile>();
  {
    std::shared_lock tl(table_mu_);
    const Inode* n = ns_->get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (n->is_dir) return (void)fuse_reply_err(req, EISDIR);
    if (wr) {
      if (opt_.read_only) return (void)fuse_reply_err(req, EROFS);
      if (ino == kSuperblockIno) {
        tl.unlock();
        return refuse(req, "open for writing", ino, nullptr, EPERM,
                      "the superblock is never written through the mount");
      }
      if (ino == kLogIno && !master_) {
        tl.unlock();
        return refuse(req, "open for writing", ino, nullptr, EROFS,
                      "only the master writes the log");
      }
      // A client's file stays read-only, even for root, until made writable by chmod.
      if (!master_ && (n->mode & 0222) == 0) return (void)fuse_reply_err(req, EACCES);
    }
    of->ino = ino;
    of->size = n->size;
    of->fmap = n->fmap;
    of->writable = wr;
  }
  fi->fh = reinterpret_cast<uint64_t>(of.release());
  fi->direct_io = use_direct_io_ ? 1 : 0;
  fi->keep_cache = 0; // no page cache survives across opens (another host may have written)
  fi->noflush = wr ? 0 : 1;
  if (fuse_reply_open(req, fi) == -ENOENT) { // interrupted: nobody will release it
    delete reinterpret_cast<OpenFile*>(fi->fh);
  }
}

void Daemon::flush_dirty(OpenFile& of) {
  uint64_t lo = of.dirty_lo.exchange(~0ULL), hi = of.dirty_hi.exchange(0);
  if (lo >= hi) return;
  for (uint64_t off = lo; off < hi;) {
    auto r = of.fmap.resolve(off);
    if (!r) break;
    uint64_t l = std::min(r->len, hi - off);
    dax::flush_range(base_ + r->dev_offset, l);
    off += l;
  }
  dax::store_fence();
}

void Daemon::op_release(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (of) {
    if (of->writable) flush_dirty(*of);
    delete of;
  }
  fuse_reply_err(req, 0);
}

void Daemon::op_fsync(fuse_req_t req, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (of && of->writable) flush_dirty(*of);
  fuse_reply_err(req, 0);
}

void Daemon::op_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info* fi) {
  const auto* of = reinterpret_cast<const OpenFile*>(fi->fh);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  uint64_t o = uint64_t(off);
  if (o >= of->size || size == 0) return (void)fuse_reply_buf(req, nullptr, 0);
  uint64_t n = std::min<uint64_t>(size, of->size - o);
  auto r = of->fmap.resolve(o);
  if (!r || r->dev_offset + std::min(r->len, n) > map_.size())
    return (void)fuse_reply_err(req, EIO);
  if (r->len >= n)
    return (void)fuse_reply_buf(req, reinterpret_cast<const char*>(base_ + r->dev_offset), n);
  struct iovec iov[kMaxIov];
  size_t cnt = 0;
  uint64_t done = 0;
  while (done < n && cnt < kMaxIov) {
    auto rr = of->fmap.resolve(o + done);
    if (!rr) break;
    uint64_t l = std::min(rr->len, n - done);
    if (rr->dev_offset + l > map_.size()) break;
    iov[cnt].iov_base = base_ + rr->dev_offset;
    iov[cnt].iov_len = l;
    ++cnt;
    done += l;
  }
  if (done == 0) return (void)fuse_reply_err(req, EIO);
  fuse_reply_iov(req, iov, int(cnt));
}

void Daemon::op_write(fuse_req_t req, const char* buf, size_t size, off_t off,
                      struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  uint64_t o = uint64_t(off);
  if (size == 0) return (void)fuse_reply_write(req, 0);
  if (o >= of->size)
    return refuse(req, "write past end of file", of->ino, nullptr, EFBIG,
                  "famfs files have a fixed size");
  uint64_t n = std::min<uint64_t>(size, of->size - o);
  uint64_t done = 0;
  while (done < n) {
    auto r = of->fmap.resolve(o + done);
    if (!r) break;
    uint64_t l = std::min(r->len, n - done);
    if (r->dev_offset + l > map_.size()) break;
    if (n >= kStreamMin)
      dax::stream_store(base_ + r->dev_offset, buf + done, l);
    else
      std::memcpy(base_ + r->dev_offset, buf + done, l);
    done += l;
  }
  if (done == 0) return (void)fuse_reply_err(req, EIO);
  if (n >= kStreamMin) {
    dax::store_fence(); // the streamed stores are in memory before the write is acknowledged
    return (void)fuse_reply_write(req, done); // nothing left in the caches
  }
  uint64_t cur = of->dirty_lo.load(std::memory_order_relaxed);
  while (o < cur && !of->dirty_lo.compare_exchange_weak(cur, o)) {
  }
  cur = of->dirty_hi.load(std::memory_order_relaxed);
  while (o + done > cur && !of->dirty_hi.compare_exchange_weak(cur, o + done)) {
  }
  fuse_reply_write(req, done);
}

void Daemon::op_statfs(fuse_req_t req) {
  struct statvfs sv {};
  constexpr uint64_t bs = 4096;
  sv.f_bsize = bs;
  sv.f_frsize = bs;
  sv.f_blocks = capacity_ / bs;
  sv.f_bfree = sv.f_bavail = std::min<uint64_t>(free_, capacity_) / bs;
  uint64_t used = std::min(replayer_->log_next_index(), geo_.slots());
  sv.f_files = geo_.slots();
  sv.f_ffree = sv.f_favail = geo_.slots() - used;
  sv.f_namemax = omf::kRelpathMax;
  fuse_reply_statfs(req, &sv);
}

// ---------------------------------------------------------------------------------------------
// Extended attributes

std::string Daemon::fmap_text(const Inode& n) const {
  std::string s = "famfs-fmap 1\nsize " + hex(n.size) + "\n";
  if (n.fmap.kind == Fmap::Kind::Interleave)
    s += "interleave " + std::to_string(n.fmap.extents.size()) + " " + hex(n.fmap.chunk_size) +
         "\n";
  else
    s += "simple " + std::to_string(n.fmap.extents.size()) + "\n";
  for (const auto& e : n.fmap.extents) s += hex(e.offset) + " " + hex(e.len) + "\n";
  return s;
}

std::string Daemon::report_json(const ReplayReport& r, uint64_t entries, bool damaged,
                                std::optional<uint64_t> damage_index) {
  std::string s = "{\"entries\":" + std::to_string(entries) +
                  ",\"new_files\":" + std::to_string(r.new_files) +
                  ",\"new_dirs\":" + std::to_string(r.new_dirs) +
                  ",\"existed\":" + std::to_string(r.existed) + ",\"skipped\":[";
  for (size_t i = 0; i < r.skipped.size(); ++i) {
    if (i) s += ",";
    s += "{\"index\":" + std::to_string(r.skipped[i].index) +
         ",\"what\":" + jstr(r.skipped[i].what) + "}";
  }
  s += "],\"damaged\":";
  s += damaged ? "true" : "false";
  s += ",\"damage_index\":" + (damage_index ? std::to_string(*damage_index) : std::string("null"));
  if (r.damage) s += ",\"damage_reason\":" + jstr(r.damage->what);
  return s + "}";
}

std::string Daemon::status_json() {
  uint64_t files, dirs;
  {
    std::shared_lock tl(table_mu_);
    files = ns_->file_count();
    dirs = ns_->dir_count();
  }
  std::optional<ReplayIssue> dmg;
  {
    std::lock_guard sl(status_mu_);
    dmg = damage_;
  }
  uint64_t used = std::min(replayer_->log_next_index(), geo_.slots());
  std::string s = "{";
  s += "\"role\":" + jstr(role_name(role_));
  s += ",\"device\":" + jstr(opt_.device);
  s += ",\"mountpoint\":" + jstr(opt_.mountpoint);
  s += ",\"fs_uuid\":" + jstr(fs_uuid_text_);
  s += ",\"system_uuid\":" + jstr(system_uuid_text_);
  s += ",\"capacity_bytes\":" + std::to_string(capacity_.load());
  s += ",\"free_bytes\":" + std::to_string(free_.load());
  s += ",\"allocated_bytes\":" + std::to_string(allocated_.load());
  s += ",\"entries_used\":" + std::to_string(used);
  s += ",\"entries_total\":" + std::to_string(geo_.slots());
  s += ",\"files\":" + std::to_string(files);
  s += ",\"directories\":" + std::to_string(dirs);
  s += ",\"last_replay_unix_ms\":" + std::to_string(last_replay_ms_.load());
  int64_t lag = replay_lag_ms_.load();
  s += ",\"replay_lag_ms\":" + (lag < 0 ? std::string("null") : std::to_string(lag));
  s += ",\"refresh_ms\":" + std::to_string(opt_.refresh_ms);
  s += ",\"damaged\":";
  s += dmg ? "true" : "false";
  s += ",\"damage_index\":" + (dmg ? std::to_string(dmg->index) : std::string("null"));
  s += ",\"damage_reason\":" + (dmg ? jstr(dmg->what) : std::string("null"));
  s += ",\"skipped_entries\":" + std::to_string(skipped_total_.load());
  s += ",\"collisions\":" + std::to_string(collisions_.load());
  s += ",\"read_only\":";
  s += opt_.read_only ? "true" : "false";
  s += ",\"pid\":" + std::to_string(::getpid());
  s += ",\"direct_io\":";
  s += use_direct_io_ ? "true" : "false";
  s += ",\"direct_io_allow_mmap\":";
  s += allow_mmap_negotiated_ ? "true" : "false";
  s += ",\"kernel_proto_minor\":" + std::to_string(kernel_minor_);
  uint64_t refs = 0, known = 0;
  for (uint64_t i = 1; i <= max_inodes_; ++i) {
    uint64_t v = nlookup_[i].load(std::memory_order_relaxed);
    refs += v;
    known += v != 0;
  }
  s += ",\"invalidations_unsent\":" + std::to_string(inval_unsent_.load());
  s += ",\"lookup_refs\":" + std::to_string(refs);     // kernel references (lookups - forgets)
  s += ",\"inodes_known_to_kernel\":" + std::to_string(known);
  return s + "}";
}

namespace {
constexpr const char* kXattrCommon[] = {FAMFS_XATTR_DEVICE, FAMFS_XATTR_ROLE,
                                        FAMFS_XATTR_SYSTEM_UUID, FAMFS_XATTR_FS_UUID};
}

void Daemon::op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  std::string v;
  bool is_dir = false;
  {
    std::shared_lock tl(table_mu_);
    const Inode* n = ns_->get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    is_dir = n->is_dir;
    if (!is_dir && !std::strcmp(name, FAMFS_XATTR_FMAP)) v = fmap_text(*n);
  }
  std::string_view nm(name);
  if (!v.empty()) {
  } else if (nm == FAMFS_XATTR_DEVICE) {
    v = opt_.device;
  } else if (nm == FAMFS_XATTR_ROLE) {
    v = role_name(role_);
  } else if (nm == FAMFS_XATTR_SYSTEM_UUID) {
    v = system_uuid_text_;
  } else if (nm == FAMFS_XATTR_FS_UUID) {
    v = fs_uuid_text_;
  } else if (ino == kRootIno && nm == FAMFS_XATTR_STATUS) {
    v = status_json();
  } else if (ino == kRootIno && nm == FAMFS_XATTR_LOGPLAY) {
    std::lock_guard lk(logplay_mu_);
    static int64_t pending_since = 0;
    Refresh rf = refresh(true);
    if (!have_pending_ || mono_ms() - pending_since > 2000) {
      pending_acc_ = ReplayReport{};
      pending_acc_.from = rf.report.from;
    }
    pending_acc_.to = rf.report.to;
    pending_acc_.new_files += rf.report.new_files;
    pending_acc_.new_dirs += rf.report.new_dirs;
    pending_acc_.existed += rf.report.existed;
    pending_acc_.ignored += rf.report.ignored;
    for (auto& s : rf.report.skipped) pending_acc_.skipped.push_back(s);
    pending_acc_.damage = rf.report.damage;
    std::optional<uint64_t> di;
    {
      std::lock_guard sl(status_mu_);
      if (damage_) di = damage_->index;
    }
    v = report_json(pending_acc_, std::min(replayer_->log_next_index(), geo_.slots()),
                    bool(di), di);
    if (size == 0 || size < v.size()) {
      if (!have_pending_) pending_since = mono_ms();
      have_pending_ = true; // the caller will ask again with a bigger buffer
    } else {
      have_pending_ = false;
    }
  } else {
    return (void)fuse_reply_err(req, ENODATA);
  }
  if (size == 0) return (void)fuse_reply_xattr(req, v.size());
  if (size < v.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v.data(), v.size());
}

void Daemon::op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  bool is_dir;
  {
    std::shared_lock tl(table_mu_);
    const Inode* n = ns_->get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    is_dir = n->is_dir;
  }
  std::string v;
  for (const char* c : kXattrCommon) v.append(c).push_back('\0');
  if (!is_dir) v.append(FAMFS_XATTR_FMAP).push_back('\0');
  if (ino == kRootIno) {
    v.append(FAMFS_XATTR_STATUS).push_back('\0');
    v.append(FAMFS_XATTR_LOGPLAY).push_back('\0');
  }
  if (size == 0) return (void)fuse_reply_xattr(req, v.size());
  if (size < v.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v.data(), v.size());
}

void Daemon::refuse(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name, int err,
                    const char* why) {
  std::string path;
  {
    std::shared_lock tl(table_mu_);
    path = ns_->get(parent) ? ns_->path_of(parent) : std::string("?");
  }
  if (name) path = path.empty() ? std::string(name) : path + "/" + name;
  spdlog::warn("{} /{}: refused ({}): {}", op, path, std::strerror(err), why);
  fuse_reply_err(req, err);
}

// ---------------------------------------------------------------------------------------------
// INIT negotiation and raw I/O

void Daemon::op_init(struct fuse_conn_info* conn) {
  kernel_minor_ = conn->proto_minor;
  conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC |
                  FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                  FUSE_CAP_WRITEBACK_CACHE);
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  conn->max_write = kMaxIo;
  conn->max_readahead = std::min<unsigned>(conn->max_readahead, kMaxIo);
  conn->time_gran = 1000000000;
  // Direct I/O for file data needs FUSE_DIRECT_IO_ALLOW_MMAP (7.39) for shared mmap to work.
  bool dio = opt_.direct_io && kernel_minor_ >= wire::kMinorDirectIoAllowMmap &&
             kernel_offers_allow_mmap_;
  use_direct_io_ = dio;
  spdlog::info("FUSE protocol 7.{}: file data via {}{}", kernel_minor_,
               dio ? "direct I/O (with DIRECT_IO_ALLOW_MMAP)" : "the page cache",
               (!dio && opt_.direct_io) ? " (kernel cannot mmap direct-I/O files)" : "");
}

ssize_t Daemon::io_read(int fd, void* buf, size_t len) {
  ssize_t r = ::read(fd, buf, len);
  if (r >= ssize_t(sizeof(wire::InHeader) + 16) && !initialized_) {
    wire::InHeader h;
    std::memcpy(&h, buf, sizeof h);
    if (h.opcode == wire::kOpInit) {
      int e = errno;
      wire::InitIn in{};
      std::memcpy(&in, static_cast<char*>(buf) + sizeof h,
                  std::min<size_t>(sizeof in, size_t(r) - sizeof h));
      kernel_offers_allow_mmap_ =
          in.minor >= wire::kMinorDirectIoAllowMmap && (in.flags & wire::kInitExt) &&
          (in.flags2 & wire::kFlags2DirectIoAllowMmap);
      init_unique_ = h.unique;
      errno = e;
    }
  }
  return r;
}

ssize_t Daemon::io_writev(int fd, struct iovec* iov, int count) {
  uint64_t iu = init_unique_.load();
  if (iu && count >= 1 && iov[0].iov_len >= sizeof(wire::OutHeader)) {
    wire::OutHeader oh;
    std::memcpy(&oh, iov[0].iov_base, sizeof oh);
    if (oh.unique == iu) {
      init_unique_ = 0;
      char buf[512];
      size_t total = 0;
      bool fits = true;
      for (int i = 0; i < count; ++i) {
        if (total + iov[i].iov_len > sizeof buf) {
          fits = false;
          break;
        }
        std::memcpy(buf + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
      }
      ssize_t r;
      if (fits) {
        if (oh.error == 0 && use_direct_io_ &&
            total >= sizeof(wire::OutHeader) + sizeof(wire::InitOut)) {
          wire::InitOut io;
          std::memcpy(&io, buf + sizeof oh, sizeof io);
          io.flags |= wire::kInitExt;
          io.flags2 |= wire::kFlags2DirectIoAllowMmap;
          std::memcpy(buf + sizeof oh, &io, sizeof io);
          allow_mmap_negotiated_ = true;
        }
        r = ::write(fd, buf, total);
      } else {
        r = ::writev(fd, iov, count);
      }
      int e = errno;
      if (oh.error == 0 && r >= 0) {
        initialized_ = true;
        if (opt_.ready_fd >= 0) {
          char c = 1;
          (void)!::write(opt_.ready_fd, &c, 1);
          ::close(opt_.ready_fd);
          opt_.ready_fd = -1;
        }
        if (!use_direct_io_ || !allow_mmap_negotiated_) use_direct_io_ = false;
        notify_.ready(service_state()); // the replayed log is served from now on
      }
      errno = e;
      return r;
    }
  }
  return ::writev(fd, iov, count);
}

// ---------------------------------------------------------------------------------------------
// Operation table

namespace {

void ll_init(void* ud, struct fuse_conn_info* conn) { static_cast<Daemon*>(ud)->op_init(conn); }
void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  self(req)->op_lookup(req, parent, name);
}
void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  self(req)->op_forget(ino, nlookup);
  fuse_reply_none(req);
}
void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) self(req)->op_forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}
void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info*) {
  self(req)->op_getattr(req, ino);
}
void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                struct fuse_file_info*) {
  self(req)->op_setattr(req, ino, attr, to_set);
}
void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info*) {
  self(req)->op_readdir(req, ino, size, off, false);
}
void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info*) {
  self(req)->op_readdir(req, ino, size, off, true);
}
void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  self(req)->op_open(req, ino, fi);
}
void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  self(req)->op_release(req, ino, fi);
}
void ll_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, struct fuse_file_info* fi) {
  self(req)->op_read(req, size, off, fi);
}
void ll_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
              struct fuse_file_info* fi) {
  self(req)->op_write(req, buf, size, off, fi);
}
void ll_fsync(fuse_req_t req, fuse_ino_t, int, struct fuse_file_info* fi) {
  self(req)->op_fsync(req, fi);
}
void ll_statfs(fuse_req_t req, fuse_ino_t) { self(req)->op_statfs(req); }
void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  self(req)->op_getxattr(req, ino, name, size);
}
void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  self(req)->op_listxattr(req, ino, size);
}
// Unsupported: change nothing, one log line, errno as documented in docs/daemon.md.
void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, dev_t) {
  self(req)->refuse(req, "mknod", parent, name, EPERM,
                    "create files with 'famfs creat/cp' on the master");
}
void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t) {
  self(req)->refuse(req, "mkdir", parent, name, EPERM,
                    "create directories with 'famfs mkdir' on the master");
}
void ll_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t,
               struct fuse_file_info*) {
  self(req)->refuse(req, "create", parent, name, EPERM,
                    "create files with 'famfs creat/cp' on the master");
}
void ll_symlink(fuse_req_t req, const char*, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "symlink", parent, name, EPERM, "famfs has no symbolic links");
}
void ll_link(fuse_req_t req, fuse_ino_t, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "link", parent, name, EPERM, "famfs has no hard links");
}
void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "unlink", parent, name, EPERM, "famfs files cannot be removed");
}
void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  self(req)->refuse(req, "rmdir", parent, name, EPERM, "famfs directories cannot be removed");
}
void ll_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t, const char*,
               unsigned) {
  self(req)->refuse(req, "rename", parent, name, EPERM, "famfs files cannot be renamed");
}
void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int, off_t, off_t, struct fuse_file_info*) {
  self(req)->refuse(req, "fallocate", ino, nullptr, EOPNOTSUPP,
                    "famfs files are allocated once, by the master");
}
void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char*, size_t, int) {
  self(req)->refuse(req, "setxattr", ino, nullptr, ENOTSUP,
                    (std::string("extended attributes are read-only: ") + name).c_str());
}
void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  self(req)->refuse(req, "removexattr", ino, nullptr, ENOTSUP,
                    (std::string("extended attributes are read-only: ") + name).c_str());
}

ssize_t cio_read(int fd, void* buf, size_t len, void* ud) {
  return static_cast<Daemon*>(ud)->io_read(fd, buf, len);
}
ssize_t cio_writev(int fd, struct iovec* iov, int count, void* ud) {
  return static_cast<Daemon*>(ud)->io_writev(fd, iov, count);
}

void fuse_log_to_spdlog(enum fuse_log_level level, const char* fmt, va_list ap) {
  char buf[1024];
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


int Daemon::run() {
  struct fuse_lowlevel_ops ops {};
  ops.init = ll_init;
  ops.lookup = ll_lookup;
  ops.forget = ll_forget;
  ops.forget_multi = ll_forget_multi;
  ops.getattr = ll_getattr;
  ops.setattr = ll_setattr;
  ops.readdir = ll_readdir;
  ops.readdirplus = ll_readdirplus;
  ops.open = ll_open;
  ops.release = ll_release;
  ops.read = ll_read;
  ops.write = ll_write;
  ops.fsync = ll_fsync;
  ops.statfs = ll_statfs;
  ops.getxattr = ll_getxattr;
  ops.listxattr = ll_listxattr;
  ops.mknod = ll_mknod;
  ops.mkdir = ll_mkdir;
  ops.create = ll_create;
  ops.symlink = ll_symlink;
  ops.link = ll_link;
  ops.unlink = ll_unlink;
  ops.rmdir = ll_rmdir;
  ops.rename = ll_rename;
  ops.fallocate = ll_fallocate;
  ops.setxattr = ll_setxattr;
  ops.removexattr = ll_removexattr;

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
    return 1;
  }
  if (fuse_set_signal_handlers(se_) != 0) {
    fuse_session_destroy(se_);
    return 1;
  }
  if (fuse_session_mount(se_, opt_.mountpoint.c_str()) != 0) {
    spdlog::error("cannot mount {} on {} (is the fuse module loaded and /dev/fuse usable?)",
                  opt_.device, opt_.mountpoint);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
    return 1;
  }
  static const struct fuse_custom_io cio = {cio_writev, cio_read, nullptr, nullptr};
  if (int rc = fuse_session_custom_io(se_, &cio, fuse_session_fd(se_)); rc != 0) {
    spdlog::error("cannot install custom FUSE I/O: {}", std::strerror(-rc));
    fuse_session_unmount(se_);
    fuse_remove_signal_handlers(se_);
    fuse_session_destroy(se_);
    return 1;
  }
  if (!opt_.foreground) {
    fuse_daemonize(0);
    set_logging_after_daemonize(opt_);
  }
  {
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
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, opt_.threads);
  fuse_loop_cfg_set_idle_threads(cfg, opt_.idle_threads >= 0 ? unsigned(opt_.idle_threads)
                                                               : opt_.threads);
  int rc = fuse_session_loop_mt(se_, cfg);
  notify_.stopping();
  fuse_loop_cfg_destroy(cfg);
  stop_ = true;
  wake_.notify_all();
  if (poller_.joinable()) poller_.join();
  fuse_session_unmount(se_);
  fuse_remove_signal_handlers(se_);
  fuse_session_destroy(se_);
  se_ = nullptr;
  spdlog::info("famfs-fused {}: unmounted {}", opt_.device, opt_.mountpoint);
  // libfuse's loop returns the number of the signal that ended it: a requested stop.
  return (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP) ? 0 : 1;
}

} // namespace famfs::daemon
