// Create through the master's mount (docs/native-create.md): mkdir(2) appends a MKDIR entry
// through src/master's make_dirs; create/mknod make a staged file (daemon/staged.hpp) whose
// data goes straight into device memory and which the committer thread appends as one FILE
// entry after its last release. Before that, rename/unlink/truncate/fallocate work on it and
// only this host sees it. Everything else on a staged inode is served here too; the
// trampolines of ops_table.cpp dispatch staged inodes and handles to these functions.
//
// Locks: table_mu_ (the namespace) may be held while the staged table's mutex is taken, never
// the other way round; the writer is never called under table_mu_ (its logplay replays into
// this daemon's namespace).
#include "daemon/daemon.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "daemon/clock.hpp"
#include "dax/cache.hpp"
#include "master/create.hpp"
#include "master/writer.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/omf.hpp"

namespace famfs::daemon {

namespace {

constexpr uint32_t kPermBits = 07777;
constexpr uint64_t kStatBlock = 512;      // st_blocks unit
constexpr uint64_t kGeneration = 1;       // as ops.cpp: inode numbers are never reused
constexpr int kOpenWaitMs = 2000;         // open() of a file being committed waits this long
constexpr const char* kClientCreate = "create files with 'famfs creat/cp' on the master";
constexpr const char* kClientMkdir = "create directories with 'famfs mkdir' on the master";

// The master library's events, as daemon log lines.
struct LogEvents : master::Events {
  void error(const std::string& m) override { spdlog::error("{}", m); }
  void warning(const std::string& m) override { spdlog::warn("{}", m); }
  void note(const std::string& m) override { spdlog::debug("{}", m); }
  void waiting(const std::string& m) override { spdlog::info("{}", m); }
};

std::string join_rel(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

} // namespace

// Staged files get their space and log slots from the daemon's writer.
class WriterSpace : public SpaceSource {
 public:
  explicit WriterSpace(master::Writer& w) : w_(w) {}
  Extent allocate(uint64_t size, const std::string& what) override {
    const Fmap f = w_.allocate(size, std::nullopt, what);
    if (f.extents.size() != 1) {
      w_.release(f);
      throw Error(EIO, what + ": the allocator returned " + std::to_string(f.extents.size()) +
                           " extents for a contiguous request");
    }
    return f.extents[0];
  }
  // One allocation at a time, as allocate() returned them; the tail of one (trimmed at
  // commit) is a part of it.
  void release(const std::vector<Extent>& ext) override {
    for (const Extent& x : ext) {
      Fmap f;
      f.extents.push_back(x);
      try {
        w_.release(f);
      } catch (const Error& e) {
        spdlog::warn("staged space at device offset {:#x} ({} bytes) stays allocated until the "
                     "daemon restarts: {}", x.offset, x.len, e.what());
      }
    }
  }
  void reserve_slot() override { w_.reserve(1); }
  void release_slot() override { w_.unreserve(1); }

 private:
  master::Writer& w_;
};

// ---------------------------------------------------------------------------------------------
// Start and stop (run())

void Daemon::start_create() {
  master::Writer* w = master_ && !opt_.read_only ? writer() : nullptr;
  if (!w) return;
  staged_space_ = std::make_unique<WriterSpace>(*w);
  auto store = [](std::byte* dst, const char* src, std::size_t n) {
    if (n < kStreamMin) return StagedTable::memcpy_store(dst, src, n);
    dax::stream_store(dst, src, n);
    dax::store_fence(); // in memory before the write is acknowledged
    return false;
  };
  staged_ = std::make_unique<StagedTable>(*staged_space_, std::span<std::byte>(base_, map_.size()),
                                          geo_.alloc_unit, dax::cpu_cache_ops(), store,
                                          FAMFS_DEFAULT_COMMIT_DELAY_MS);
  // The committer must not take the termination signals meant for the main thread.
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  committer_ = std::thread([this] { committer_main(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  spdlog::info("create through the mount: on (staged files are committed {} ms after their "
               "last close)", FAMFS_DEFAULT_COMMIT_DELAY_MS);
}

void Daemon::stop_create() {
  if (!staged_) return;
  {
    std::lock_guard lk(commit_mu_);
    if (commit_stop_) return; // once: run() and the destructor both call it
    commit_stop_ = true;
  }
  commit_wake_.notify_all();
  if (committer_.joinable()) committer_.join();
  // Closed files are committed now; files still open lost their writer with the connection:
  // they never become visible.
  std::vector<StagedPtr> due = staged_->take_due(mono_ms(), true);
  if (!due.empty()) commit_batch(due);
  const StagedTable::Counts left = staged_->counts();
  if (left.files)
    spdlog::warn("unmounted with {} staged file(s) still open: not committed, their space is "
                 "free", left.files);
}

// A file became due: the committer waits for the earliest due time. Taking its mutex between
// the change and the notification means it cannot miss it.
void Daemon::wake_committer() {
  { std::lock_guard lk(commit_mu_); }
  commit_wake_.notify_all();
}

void Daemon::committer_main() {
  std::unique_lock lk(commit_mu_);
  while (!commit_stop_) {
    const int64_t due = staged_->next_due();
    const int64_t now = mono_ms();
    if (due < 0)
      commit_wake_.wait(lk);
    else if (due > now)
      commit_wake_.wait_for(lk, std::chrono::milliseconds(due - now));
    if (commit_stop_) break;
    std::vector<StagedPtr> batch = staged_->take_due(mono_ms(), false);
    if (batch.empty()) continue;
    lk.unlock();
    try {
      commit_batch(batch);
    } catch (const std::exception& e) {
      spdlog::error("committing staged files failed: {}", e.what());
    }
    lk.lock();
  }
}

// The relpath a staged file will have, or "" (logged) when it can no longer be committed.
std::string Daemon::staged_relpath(const StagedPtr& f) {
  const auto [parent, name] = staged_->name_of(f);
  std::shared_lock tl(table_mu_);
  const Inode* p = ns_->get(parent);
  if (!p || !p->is_dir) return std::string();
  return join_rel(ns_->path_of(parent), name);
}

// Part A §6: the data is flushed (trim_for_commit), then each file's FILE entry is appended
// (its log slot was reserved at create), then the daemon's namespace replays them.
void Daemon::commit_batch(std::vector<StagedPtr>& batch) {
  master::Writer& w = *writer();
  std::vector<std::pair<StagedPtr, std::string>> done;
  for (StagedPtr& f : batch) {
    const std::string rel = staged_relpath(f);
    try {
      if (rel.empty()) throw Error(ENOENT, "its directory is gone");
      if (w.lookup(rel))
        throw Error(EEXIST, "another writer created /" + rel + " first");
      const Fmap fm = staged_->trim_for_commit(f, rel);
      const StagedAttr a = staged_->attr_of(f);
      FileEntryParams p;
      p.relpath = rel;
      p.size = a.size;
      p.mode = a.mode;
      p.uid = a.uid;
      p.gid = a.gid;
      p.fmap = fm;
      w.append(make_file_entry(p));
      done.emplace_back(f, rel);
    } catch (const Error& e) {
      spdlog::error("staged file /{} not committed, discarded (its space is free): {}",
                    rel.empty() ? staged_->name_of(f).second : rel, e.what());
      staged_->abandon(f);
    }
  }
  if (done.empty()) return;
  try {
    w.logplay();
  } catch (const std::exception& e) {
    spdlog::error("after committing {} staged file(s): {}", done.size(), e.what());
  }
  for (auto& [f, rel] : done) {
    std::optional<Ino> ino;
    {
      std::shared_lock tl(table_mu_);
      ino = ns_->resolve(rel);
    }
    if (!ino) spdlog::error("committed /{} but the replay does not show it", rel);
    staged_->committed(f, ino.value_or(0));
    spdlog::debug("committed /{}", rel);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the creating operations

// Answer the request with the refusal of today when this mount does not create (a client,
// a read-only mount, a master whose daemon does not own the writer). True when refused.
bool Daemon::create_refused(fuse_req_t req, const char* op, fuse_ino_t parent, const char* name,
                            const char* client_why) {
  if (!master_) return refuse(req, op, parent, name, EPERM, client_why), true;
  if (opt_.read_only) return (void)fuse_reply_err(req, EROFS), true;
  if (!staged_)
    return refuse(req, op, parent, name, EPERM,
                  "this daemon does not own the file system's writer; use 'famfs creat/cp/mkdir'"),
           true;
  return false;
}

// The relpath of a new name in directory `parent`, or an errno: the parent must be a
// directory of the log outside .meta, the name free in the log and among staged files, the
// path at most 79 bytes.
int Daemon::new_name_in(fuse_ino_t parent, const char* name, std::string* rel, bool check_staged) {
  {
    std::shared_lock tl(table_mu_);
    const Inode* p = ns_->get(parent);
    if (!p) return ENOENT;
    if (!p->is_dir) return ENOTDIR;
    if (parent == kMetaDirIno) return EPERM;
    if (ns_->lookup(parent, name)) return EEXIST;
    *rel = join_rel(ns_->path_of(parent), name);
  }
  if (rel->size() > omf::kRelpathMax) return ENAMETOOLONG;
  if (check_staged && staged_->lookup(parent, name)) return EEXIST;
  return 0;
}

void Daemon::fill_staged_stat(const StagedAttr& a, struct stat* st) const {
  std::memset(st, 0, sizeof *st);
  st->st_ino = a.ino;
  st->st_mode = S_IFREG | (a.mode & kPermBits);
  st->st_nlink = 1;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = off_t(a.size);
  st->st_blksize = kMaxIo;
  st->st_blocks = blkcnt_t(a.capacity / kStatBlock);
  st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = mount_time_;
}

// A staged entry: no caching of its attributes (its size changes) or of its name (it becomes
// a committed inode).
void Daemon::staged_entry(const StagedPtr& f, fuse_entry_param* e) {
  *e = fuse_entry_param{};
  fill_staged_stat(staged_->attr_of(f), &e->attr);
  e->ino = f->ino;
  e->generation = kGeneration;
  e->attr_timeout = e->entry_timeout = 0;
}

// ---------------------------------------------------------------------------------------------
// mkdir, create, mknod

void Daemon::op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  if (create_refused(req, "mkdir", parent, name, kClientMkdir)) return;
  std::string rel;
  if (int e = new_name_in(parent, name, &rel, true)) return (void)fuse_reply_err(req, e);
  const fuse_ctx* c = fuse_req_ctx(req);
  master::NewPath np;
  np.mount = writer()->mount();
  np.relpath = rel;
  np.abspath = opt_.mountpoint + "/" + rel;
  master::Attrs a{uint32_t(mode) & kPermBits, uint32_t(c->uid), uint32_t(c->gid)};
  LogEvents ev;
  try {
    master::make_dirs(*writer(), np, rel, false, a, ev);
  } catch (const Error& e) {
    spdlog::warn("mkdir /{}: {}", rel, e.what());
    return (void)fuse_reply_err(req, e.err());
  }
  fuse_entry_param e{};
  {
    std::shared_lock tl(table_mu_);
    auto ino = ns_->resolve(rel);
    if (!ino) {
      tl.unlock();
      spdlog::error("mkdir /{}: appended, but the replay does not show it", rel);
      return (void)fuse_reply_err(req, EIO);
    }
    fill_entry(*ino, &e);
  }
  e.generation = kGeneration;
  e.attr_timeout = e.entry_timeout = opt_.timeout;
  fuse_reply_entry(req, &e);
}

// A new staged file, or nullptr after answering the request with the error.
StagedPtr Daemon::make_staged(fuse_req_t req, const char* op, fuse_ino_t parent,
                              const char* name, mode_t mode) {
  if (create_refused(req, op, parent, name, kClientCreate)) return nullptr;
  if (!S_ISREG(mode)) {
    refuse(req, op, parent, name, EPERM, "famfs holds regular files and directories only");
    return nullptr;
  }
  std::string rel;
  if (int e = new_name_in(parent, name, &rel, false)) {
    fuse_reply_err(req, e);
    return nullptr;
  }
  const fuse_ctx* c = fuse_req_ctx(req);
  int err = 0;
  StagedPtr f = staged_->create(parent, name, uint32_t(mode) & kPermBits, uint32_t(c->uid),
                                uint32_t(c->gid), &err);
  if (!f) {
    if (err == ENOSPC) spdlog::warn("{} /{}: refused: the famfs log is full", op, rel);
    fuse_reply_err(req, err);
    return nullptr;
  }
  return f;
}

void Daemon::op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  StagedPtr f = make_staged(req, "mknod", parent, name, mode);
  if (!f) return;
  fuse_entry_param e;
  staged_entry(f, &e);
  staged_->add_lookup(f);
  staged_->release(f, mono_ms()); // never opened: due like a closed file
  wake_committer();
  fuse_reply_entry(req, &e);
}

void Daemon::op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
                       struct fuse_file_info* fi) {
  StagedPtr f = make_staged(req, "create", parent, name, mode | S_IFREG);
  if (!f) return;
  fuse_entry_param e;
  staged_entry(f, &e);
  staged_->add_lookup(f);
  auto of = std::make_unique<OpenFile>();
  of->ino = f->ino;
  of->writable = true;
  of->staged = f;
  fi->fh = reinterpret_cast<uint64_t>(of.release());
  fi->direct_io = use_direct_io_ ? 1 : 0;
  fi->keep_cache = 0;
  if (fuse_reply_create(req, &e, fi) == -ENOENT) { // interrupted: nobody will release it
    delete reinterpret_cast<OpenFile*>(fi->fh);
    staged_->release(f, mono_ms());
  }
}

// ---------------------------------------------------------------------------------------------
// unlink and rename

void Daemon::op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (staged_ && staged_->lookup(parent, name)) {
    const int e = staged_->unlink(parent, name);
    if (e == EBUSY)
      return refuse(req, "unlink", parent, name, EBUSY, "the file is being committed");
    return (void)fuse_reply_err(req, e);
  }
  remove_committed(req, parent, name, false); // a logged file: a DELETE (ops_remove.cpp)
}

void Daemon::op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                       const char* newname, unsigned flags) {
  StagedPtr f = staged_ ? staged_->lookup(parent, name) : nullptr;
  if (!f) return refuse(req, "rename", parent, name, EPERM, "famfs files cannot be renamed");
  if (flags & ~unsigned(RENAME_NOREPLACE))
    return refuse(req, "rename", parent, name, EINVAL, "only a plain rename of a staged file");
  std::string rel;
  if (int e = new_name_in(newparent, newname, &rel, false)) {
    if (e == EEXIST && !(flags & RENAME_NOREPLACE))
      return refuse(req, "rename", newparent, newname, EPERM,
                    "a committed famfs file cannot be replaced");
    return (void)fuse_reply_err(req, e);
  }
  const int e = staged_->rename(parent, name, newparent, newname, flags & RENAME_NOREPLACE);
  if (e == 0) staged_->touch(f, mono_ms());
  if (e == EBUSY)
    return refuse(req, "rename", parent, name, EBUSY, "the file or the one it replaces is busy");
  fuse_reply_err(req, e);
}

// ---------------------------------------------------------------------------------------------
// Names and attributes of staged inodes

bool Daemon::staged_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (!staged_) return false;
  StagedPtr f = staged_->lookup(parent, name);
  if (!f) return false;
  fuse_entry_param e;
  staged_entry(f, &e);
  staged_->add_lookup(f);
  fuse_reply_entry(req, &e);
  return true;
}

void Daemon::staged_forget(fuse_ino_t ino, uint64_t nlookup) {
  if (staged_) staged_->forget(ino, nlookup);
}

void Daemon::staged_getattr(fuse_req_t req, fuse_ino_t ino) {
  auto a = staged_ ? staged_->attr(ino) : std::nullopt;
  if (!a) return (void)fuse_reply_err(req, ENOENT);
  if (a->committed) return op_getattr(req, a->committed);
  struct stat st;
  fill_staged_stat(*a, &st);
  fuse_reply_attr(req, &st, 0);
}

void Daemon::staged_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set) {
  StagedPtr f = staged_ ? staged_->get(ino) : nullptr;
  if (!f) return (void)fuse_reply_err(req, ENOENT);
  if (auto a = staged_->attr(ino); a && a->committed)
    return op_setattr(req, a->committed, attr, to_set);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (attr->st_size < 0) return (void)fuse_reply_err(req, EINVAL);
    const std::string what = staged_relpath(f);
    if (int e = staged_->truncate(f, uint64_t(attr->st_size), what.empty() ? "?" : what))
      return (void)fuse_reply_err(req, e);
  }
  const uint32_t mode = uint32_t(attr->st_mode) & kPermBits, uid = attr->st_uid,
                 gid = attr->st_gid;
  staged_->set_attrs(f, (to_set & FUSE_SET_ATTR_MODE) ? &mode : nullptr,
                     (to_set & FUSE_SET_ATTR_UID) ? &uid : nullptr,
                     (to_set & FUSE_SET_ATTR_GID) ? &gid : nullptr);
  staged_->touch(f, mono_ms());
  // Timestamps are not stored (the log has none): accepted and ignored.
  struct stat st;
  fill_staged_stat(staged_->attr_of(f), &st);
  fuse_reply_attr(req, &st, 0);
}

// readdir: the staged children of `dir` after its logged ones, at offsets of their own
// (kStagedDirOff + inode number, so a listing resumes where it stopped). Caller holds
// table_mu_ shared. Returns the new end of the buffer's used part.
size_t Daemon::add_staged_dirents(fuse_req_t req, fuse_ino_t dir, char* buf, size_t pos,
                                  size_t size, off_t off, bool plus) {
  if (!staged_) return pos;
  for (const auto& [ino, name] : staged_->children(dir)) {
    const uint64_t next = kStagedDirOff + (ino - kStagedInoBase) + 1;
    if (off >= 0 && uint64_t(off) >= next) continue;
    size_t ent;
    if (plus) {
      StagedPtr f = staged_->get(ino);
      if (!f) continue;
      fuse_entry_param e;
      staged_entry(f, &e);
      ent = fuse_add_direntry_plus(req, buf + pos, size - pos, name.c_str(), &e, off_t(next));
      if (ent > size - pos) break;
      staged_->add_lookup(f);
    } else {
      struct stat st {};
      st.st_ino = ino;
      st.st_mode = S_IFREG;
      ent = fuse_add_direntry(req, buf + pos, size - pos, name.c_str(), &st, off_t(next));
      if (ent > size - pos) break;
    }
    pos += ent;
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Data of staged files

void Daemon::staged_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  StagedPtr f = staged_ ? staged_->get(ino) : nullptr;
  if (!f) return (void)fuse_reply_err(req, ENOENT);
  if (!staged_->open(f)) {
    // Being committed (or done): wait for the committed inode and open that.
    for (int waited = 0; waited < kOpenWaitMs; ++waited) {
      if (auto a = staged_->attr(ino); !a || a->committed) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto a = staged_->attr(ino);
    if (!a || !a->committed) return (void)fuse_reply_err(req, ENOENT);
    return op_open(req, a->committed, fi);
  }
  const int acc = fi->flags & O_ACCMODE;
  auto of = std::make_unique<OpenFile>();
  of->ino = ino;
  of->writable = acc == O_WRONLY || acc == O_RDWR;
  of->staged = f;
  fi->fh = reinterpret_cast<uint64_t>(of.release());
  fi->direct_io = use_direct_io_ ? 1 : 0;
  fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) == -ENOENT) {
    delete reinterpret_cast<OpenFile*>(fi->fh);
    staged_->release(f, mono_ms());
  }
}

void Daemon::staged_release(fuse_req_t req, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  staged_->release(of->staged, mono_ms());
  delete of;
  wake_committer();
  fuse_reply_err(req, 0);
}

void Daemon::staged_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info* fi) {
  const auto* of = reinterpret_cast<const OpenFile*>(fi->fh);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  std::vector<char> buf(std::min<size_t>(size, kMaxIo));
  const uint64_t n = staged_->read(of->staged, buf.data(), buf.size(), uint64_t(off));
  fuse_reply_buf(req, buf.data(), n);
}

void Daemon::staged_write(fuse_req_t req, const char* buf, size_t size, off_t off,
                          struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  if (!of->writable) return (void)fuse_reply_err(req, EBADF);
  int e = staged_->write(of->staged, buf, size, uint64_t(off), "?");
  if (e == ENOSPC || e == EFBIG) { // say which file (the table's line names none on this path)
    const std::string rel = staged_relpath(of->staged);
    spdlog::warn("write to staged file /{} at {} ({} bytes): {}", rel, off, size,
                 std::strerror(e));
  }
  if (e) return (void)fuse_reply_err(req, e);
  fuse_reply_write(req, size);
}

void Daemon::staged_fsync(fuse_req_t req, struct fuse_file_info* fi) {
  auto* of = reinterpret_cast<OpenFile*>(fi->fh);
  staged_->flush(of->staged);
  fuse_reply_err(req, 0);
}

void Daemon::op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                          struct fuse_file_info* fi) {
  auto* of = fi ? reinterpret_cast<OpenFile*>(fi->fh) : nullptr;
  if (!of || !of->staged)
    return refuse(req, "fallocate", ino, nullptr, EOPNOTSUPP,
                  "famfs files are allocated once, by the master");
  if (mode & ~FALLOC_FL_KEEP_SIZE)
    return refuse(req, "fallocate", ino, nullptr, EOPNOTSUPP,
                  "staged files take plain fallocate and FALLOC_FL_KEEP_SIZE only");
  if (off < 0 || len <= 0) return (void)fuse_reply_err(req, EINVAL);
  const std::string what = staged_relpath(of->staged);
  fuse_reply_err(req, staged_->fallocate(of->staged, uint64_t(off), uint64_t(len),
                                         mode & FALLOC_FL_KEEP_SIZE, what));
}

// ---------------------------------------------------------------------------------------------
// Extended attributes of staged inodes: the common ones; no fmap until committed (it grows).

void Daemon::staged_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto a = staged_ ? staged_->attr(ino) : std::nullopt;
  if (!a) return (void)fuse_reply_err(req, ENOENT);
  if (a->committed) return op_getxattr(req, a->committed, name, size);
  auto v = xattr_value(name);
  if (!v) return (void)fuse_reply_err(req, ENODATA);
  reply_xattr(req, *v, size);
}

void Daemon::staged_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto a = staged_ ? staged_->attr(ino) : std::nullopt;
  if (!a) return (void)fuse_reply_err(req, ENOENT);
  if (a->committed) return op_listxattr(req, a->committed, size);
  std::string v;
  for (const char* c : kXattrCommon) v.append(c).push_back('\0');
  reply_xattr(req, v, size);
}

} // namespace famfs::daemon
