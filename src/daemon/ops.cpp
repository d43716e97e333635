// The FUSE operations famfs-fused serves, one member function each (the trampolines and the
// operation table are in ops_table.cpp). Handlers take table_mu_ shared; the data path
// (read/write) takes no lock at all: open() copies the file's immutable map into an OpenFile.
#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/clock.hpp"
#include "dax/cache.hpp"
#include "proto/xattr.h"

namespace famfs::daemon {

namespace {

constexpr size_t kMaxIov = 512;           // stack iovecs for one multi-run read
constexpr size_t kMaxReaddirBuf = kMaxIo; // one readdir reply at most
constexpr uint64_t kStatfsBlock = 4096;   // f_bsize / f_frsize
constexpr uint64_t kStatBlock = 512;      // st_blocks unit
constexpr uint64_t kGeneration = 1;       // inode numbers are never reused
constexpr uint32_t kPermBits = 07777;
constexpr uint32_t kWriteBits = 0222;
constexpr int64_t kNsPerSec = 1000000000;
// How long a forced replay waits for the poller to send its invalidations.
constexpr std::chrono::milliseconds kLogplayInvalWait{500};

bool is_meta_inode(Ino ino) { return ino == kMetaDirIno || ino == kSuperblockIno || ino == kLogIno; }

} // namespace

void reply_xattr(fuse_req_t req, const std::string& v, size_t size) {
  if (size == 0) return (void)fuse_reply_xattr(req, v.size());
  if (size < v.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v.data(), v.size());
}

// ---------------------------------------------------------------------------------------------
// Attributes and directories

bool Daemon::fill_stat(Ino ino, struct stat* st) const {
  const Inode* n = ns_->get(ino);
  if (!n) return false;
  std::memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = (n->is_dir ? S_IFDIR : S_IFREG) | (n->mode & kPermBits);
  st->st_nlink = n->nlink();
  st->st_uid = n->uid;
  st->st_gid = n->gid;
  st->st_size = n->is_dir ? 0 : off_t(n->size);
  st->st_blksize = kMaxIo;
  st->st_blocks = n->is_dir ? 0 : blkcnt_t(n->fmap.capacity() / kStatBlock);
  st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = mount_time_;
  if (n->is_dir && !dir_changed_ns_.empty()) {
    if (auto it = dir_changed_ns_.find(ino); it != dir_changed_ns_.end()) {
      st->st_mtim.tv_sec = st->st_ctim.tv_sec = time_t(it->second / kNsPerSec);
      st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = long(it->second % kNsPerSec);
    }
  }
  return true;
}

void Daemon::op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_entry_param e{};
  if (!serving()) return (void)fuse_reply_err(req, EIO);
  {
    std::shared_lock tl(table_mu_);
    const Inode* p = ns_->get(parent);
    if (!p) return (void)fuse_reply_err(req, ENOENT);
    if (!p->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    auto ino = ns_->lookup(parent, name);
    if (!ino && !negative_cacheable(parent, name)) return (void)fuse_reply_err(req, ENOENT);
    if (ino) fill_entry(*ino, &e);
  }
  // A negative entry (ino 0) is kept by the kernel for the entry timeout: a replay that adds
  // the name invalidates it (note_created, then the poller).
  e.generation = kGeneration;
  e.attr_timeout = e.entry_timeout = opt_.timeout;
  fuse_reply_entry(req, &e);
}

// The entry of a known inode, counted as one more kernel lookup (caller holds table_mu_).
void Daemon::fill_entry(Ino ino, fuse_entry_param* e) {
  fill_stat(ino, &e->attr);
  e->ino = ino;
  lookups_->add(ino, 1);
}

// May the kernel keep "`name` does not exist in `parent`"? Caller holds table_mu_ shared
// (NegativeNames' rule). A name no log entry can hold is always cacheable, and remembered by
// no one; others only while NegativeNames has room, so a replay can find and invalidate them.
bool Daemon::negative_cacheable(Ino parent, const char* name) {
  if (opt_.timeout <= 0) return false;
  const std::string_view n(name);
  if (n.size() > omf::kRelpathMax) return true;
  return negatives_.record(parent, n);
}

void Daemon::op_forget(fuse_ino_t ino, uint64_t nlookup) { lookups_->sub(ino, nlookup); }

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
    if (is_meta_inode(ino))
      return refuse(req, "chmod/chown", ino, nullptr, EPERM, ".meta is not changeable");
    if (opt_.read_only) return (void)fuse_reply_err(req, EROFS);
    std::unique_lock tl(table_mu_);
    Inode* n = ns_->get_mutable(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (to_set & FUSE_SET_ATTR_MODE) n->mode = attr->st_mode & kPermBits;
    if (to_set & FUSE_SET_ATTR_UID) n->uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) n->gid = attr->st_gid;
    fill_stat(ino, &st);
  }
  // Timestamps are not stored (the log has none): accepted and ignored.
  fuse_reply_attr(req, &st, opt_.timeout);
}

// Listings are cached by the kernel (FOPEN_CACHE_DIR, kept across opens): a replay that
// changes a directory queues it, and the poller invalidates its pages (invalidations.hpp).
// A cached listing that raced with that invalidation is still dropped at the next opendir:
// the directory's mtime moved (dir_changed_ns_), which the kernel compares (auto_inval_data).
void Daemon::op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  {
    std::shared_lock tl(table_mu_);
    const Inode* d = ns_->get(ino);
    if (!d) return (void)fuse_reply_err(req, ENOENT);
    if (!d->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
  }
  const bool cache = opt_.timeout > 0; // -c never: nothing cached
  fi->cache_readdir = cache ? 1 : 0;
  fi->keep_cache = cache ? 1 : 0;
  fuse_reply_open(req, fi);
}

void Daemon::op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  if (!serving()) return (void)fuse_reply_err(req, EIO);
  std::vector<char> buf(std::min(size, kMaxReaddirBuf));
  size = buf.size();
  size_t pos = 0;
  {
    std::shared_lock tl(table_mu_);
    const Inode* d = ns_->get(ino);
    if (!d) return (void)fuse_reply_err(req, ENOENT);
    if (!d->is_dir) return (void)fuse_reply_err(req, ENOTDIR);
    const uint64_t total = 2 + d->children.size(); // ".", "..", then the children
    bool full = false;
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
        if (!c || c->removed) continue; // a deleted name keeps its offset as a hole
        name = c->name.c_str();
      }
      size_t ent;
      if (plus) {
        fuse_entry_param e{};
        fill_stat(cino, &e.attr);
        e.ino = cino;
        e.generation = kGeneration;
        e.attr_timeout = e.entry_timeout = opt_.timeout;
        ent = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, name, &e, off_t(i + 1));
        if ((full = ent > size - pos)) break;
        if (i >= 2) lookups_->add(cino, 1); // the kernel takes a reference for all but . and ..
      } else {
        struct stat st {};
        st.st_ino = cino;
        st.st_mode = (i < 2 || ns_->get(cino)->is_dir) ? S_IFDIR : S_IFREG;
        ent = fuse_add_direntry(req, buf.data() + pos, size - pos, name, &st, off_t(i + 1));
        if ((full = ent > size - pos)) break;
      }
      pos += ent;
    }
    if (!full) pos = add_staged_dirents(req, ino, buf.data(), pos, size, off, plus);
  }
  fuse_reply_buf(req, buf.data(), pos);
}

void Daemon::op_statfs(fuse_req_t req) {
  struct statvfs sv {};
  sv.f_bsize = kStatfsBlock;
  sv.f_frsize = kStatfsBlock;
  sv.f_blocks = capacity_ / kStatfsBlock;
  sv.f_bfree = sv.f_bavail = std::min<uint64_t>(free_, capacity_) / kStatfsBlock;
  sv.f_files = geo_.slots();
  sv.f_ffree = sv.f_favail = geo_.slots() - entries_used();
  sv.f_namemax = omf::kRelpathMax;
  fuse_reply_statfs(req, &sv);
}

// ---------------------------------------------------------------------------------------------
// Files

void Daemon::op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  const int acc = fi->flags & O_ACCMODE;
  const bool wr = acc == O_WRONLY || acc == O_RDWR;
  auto of = std::make_unique<OpenFile>();
  if (!serving()) return (void)fuse_reply_err(req, EIO);
  {
    std::shared_lock tl(table_mu_);
    const Inode* n = ns_->get(ino);
    if (!n || n->removed) return (void)fuse_reply_err(req, ENOENT);
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
      if (!master_ && (n->mode & kWriteBits) == 0) return (void)fuse_reply_err(req, EACCES);
    }
    of->ino = ino;
    of->size = n->size;
    of->fmap = n->fmap;
    of->writable = wr;
    of->log_index = n->log_index;
    of->epoch = serve_epoch_.load();
    if (n->log_index != kNoLogIndex) opens_.add(n->log_index);
  }
  fi->fh = reinterpret_cast<uint64_t>(of.release());
  fi->direct_io = use_direct_io_ ? 1 : 0;
  fi->keep_cache = 0; // no page cache survives across opens (another host may have written)
  fi->noflush = wr ? 0 : 1; // read-only opens have nothing to flush: no FLUSH at close
  // Writes of one file run in parallel (op_write takes no lock; no write extends a file).
  if (wr && use_direct_io_) add_parallel_direct_writes();
  if (fuse_reply_open(req, fi) == -ENOENT) { // interrupted: nobody will release it
    auto* gone = reinterpret_cast<OpenFile*>(fi->fh);
    if (gone->log_index != kNoLogIndex) opens_.remove(gone->log_index);
    delete gone;
  }
}

void Daemon::flush_dirty(OpenFile& of) {
  const uint64_t lo = of.dirty_lo.exchange(~0ULL), hi = of.dirty_hi.exchange(0);
  if (lo >= hi) return;
  for (uint64_t off = lo; off < hi;) {
    auto r = of.fmap.resolve(off);
    if (!r || r->dev_offset >= live_size_.load()) break; // a shrunk device: nothing to flush
    const uint64_t l = std::min({r->len, hi - off, live_size_.load() - r->dev_offset});
    dax::flush_range(base_ + r->dev_offset, l);
    off += l;
  }
  dax::store_fence();
}

void Daemon::op_release(fuse_req_t req, fuse_ino_t, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (of) {
    if (of->writable) flush_dirty(*of);
    if (of->log_index != kNoLogIndex) opens_.remove(of->log_index);
    delete of;
  }
  fuse_reply_err(req, 0);
}

// FLUSH comes at every close(2) of a writable open (read-only opens carry FOPEN_NOFLUSH).
// Its reply is what close(2) waits for, while RELEASE comes later and asynchronously: so
// the written range leaves the CPU caches here, and a program that closed the file knows
// another host can read it (memory without coherence between hosts).
void Daemon::op_flush(fuse_req_t req, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (of && of->writable) flush_dirty(*of);
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
  if (of->epoch != serve_epoch_.load() || !serving()) return (void)fuse_reply_err(req, EIO);
  const uint64_t o = uint64_t(off);
  if (o >= of->size || size == 0) return (void)fuse_reply_buf(req, nullptr, 0);
  const uint64_t n = std::min<uint64_t>(size, of->size - o);
  auto r = of->fmap.resolve(o);
  if (!r || r->dev_offset + std::min(r->len, n) > live_size_.load())
    return (void)fuse_reply_err(req, EIO);
  if (r->len >= n)
    return (void)fuse_reply_buf(req, reinterpret_cast<const char*>(base_ + r->dev_offset), n);
  struct iovec iov[kMaxIov];
  size_t cnt = 0;
  uint64_t done = 0;
  while (done < n && cnt < kMaxIov) {
    auto rr = of->fmap.resolve(o + done);
    if (!rr) break;
    const uint64_t l = std::min(rr->len, n - done);
    if (rr->dev_offset + l > live_size_.load()) break;
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
  if (of->epoch != serve_epoch_.load() || !serving()) return (void)fuse_reply_err(req, EIO);
  const uint64_t o = uint64_t(off);
  if (size == 0) return (void)fuse_reply_write(req, 0);
  if (o >= of->size)
    return refuse(req, "write past end of file", of->ino, nullptr, EFBIG,
                  "famfs files have a fixed size");
  const uint64_t n = std::min<uint64_t>(size, of->size - o);
  const bool stream = n >= kStreamMin;
  uint64_t done = 0;
  while (done < n) {
    auto r = of->fmap.resolve(o + done);
    if (!r) break;
    const uint64_t l = std::min(r->len, n - done);
    if (r->dev_offset + l > live_size_.load()) break;
    if (stream)
      dax::stream_store(base_ + r->dev_offset, buf + done, l);
    else
      std::memcpy(base_ + r->dev_offset, buf + done, l);
    done += l;
  }
  if (done == 0) return (void)fuse_reply_err(req, EIO);
  if (stream) {
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

// ---------------------------------------------------------------------------------------------
// Extended attributes (read-only; docs/design.md lists them)

std::string Daemon::status_report() {
  StatusFigures f;
  {
    std::shared_lock tl(table_mu_);
    f.files = ns_->file_count();
    f.directories = ns_->dir_count();
  }
  f.damage = current_damage();
  f.role = role_name(role_);
  f.device = opt_.device;
  f.mountpoint = opt_.mountpoint;
  f.fs_uuid = fs_uuid_text_;
  f.system_uuid = system_uuid_text_;
  f.capacity_bytes = capacity_;
  f.free_bytes = free_;
  f.allocated_bytes = allocated_;
  f.entries_used = entries_used();
  f.entries_total = geo_.slots();
  f.last_replay_unix_ms = last_replay_ms_;
  if (const int64_t lag = replay_lag_ms_; lag >= 0) f.replay_lag_ms = lag;
  f.refresh_ms = opt_.refresh_ms;
  f.skipped_entries = skipped_total_;
  f.collisions = collisions_;
  f.read_only = opt_.read_only;
  f.owner = writer_ != nullptr;
  f.pid = long(::getpid());
  f.direct_io = use_direct_io_;
  f.direct_io_allow_mmap = allow_mmap_negotiated_;
  f.kernel_proto_minor = kernel_minor_;
  f.invalidations_unsent = inval_.unsent();
  const LookupCounts::Totals t = lookups_->totals();
  f.lookup_refs = t.refs;
  f.inodes_known_to_kernel = t.known;
  f.transport = transport_in_use();
  f.uring_requests = uring_ ? uring_->requests() : 0;
  f.negative_entries = negatives_.size();
  add_delete_figures(f);
  return status_json(f);
}

std::string Daemon::logplay_report(size_t caller_size) {
  std::unique_lock lk = logplay_.lock();
  const Refresh rf = refresh(true);
  // The caller (a master command) expects its new names visible when this returns: wait for
  // the poller to send this replay's invalidations (negative entries). Bounded, so a kernel
  // that holds them back can never hold a worker for good.
  if (!inval_.wait_sent(inval_.last_ticket(), kLogplayInvalWait))
    spdlog::debug("logplay: invalidations not sent within {} ms", kLogplayInvalWait.count());
  logplay_.add(rf.report, mono_ms());
  std::string v = logplay_.text(entries_used(), current_damage());
  logplay_.answered(caller_size, v.size(), mono_ms());
  return v;
}

// The value of the xattr `name` that every inode has, nullopt when it is not one of them.
std::optional<std::string> Daemon::xattr_value(std::string_view name) const {
  if (name == FAMFS_XATTR_DEVICE) return opt_.device;
  if (name == FAMFS_XATTR_ROLE) return std::string(role_name(role_));
  if (name == FAMFS_XATTR_SYSTEM_UUID) return system_uuid_text_;
  if (name == FAMFS_XATTR_FS_UUID) return fs_uuid_text_;
  return std::nullopt;
}

void Daemon::op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  std::string_view nm(name);
  std::optional<std::string> v;
  {
    std::shared_lock tl(table_mu_);
    const Inode* n = ns_->get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (!n->is_dir && nm == FAMFS_XATTR_FMAP) v = fmap_text(*n);
  }
  if (!v) v = xattr_value(nm);
  if (!v && ino == kRootIno && nm == FAMFS_XATTR_STATUS) v = status_report();
  if (!v && ino == kRootIno && nm == FAMFS_XATTR_LOGPLAY) v = logplay_report(size);
  if (!v) return (void)fuse_reply_err(req, ENODATA);
  reply_xattr(req, *v, size);
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
  reply_xattr(req, v, size);
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

} // namespace famfs::daemon
