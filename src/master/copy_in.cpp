#include "master/copy_in.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "master/text.hpp"
#include "master/verify.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"
#include "proto/unique_fd.hpp"

namespace famfs::master {

namespace {

std::string basename_of(const std::string& p) {
  std::string t = p;
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  auto s = t.find_last_of('/');
  return s == std::string::npos ? t : t.substr(s + 1);
}

std::string join_rel(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }

// The walk over the sources.
struct Planner {
  Events& ev;
  CopyPlan& plan;
  bool recursive = false;
  std::optional<uint32_t> mode;

  void error(const std::string& msg) {
    ev.error(msg);
    ++plan.errors;
  }

  // Canonical relpath for a destination, or "" after reporting why not.
  std::string canon(const std::string& rel, const std::string& src) {
    try {
      std::string c = canonical_relpath_for_write(rel);
      if (c == ".meta" || c.rfind(".meta/", 0) == 0) {
        error("cannot copy " + quote(src) + " into .meta, which famfs reserves for its superblock and log");
        return {};
      }
      return c;
    } catch (const Error& e) {
      if (e.err() == ENAMETOOLONG)
        error("cannot copy " + quote(src) + ": the destination path " + quote(rel) + " is " +
              std::to_string(rel.size()) + " bytes long relative to the famfs root " +
              plan.dest.mount.mpt +
              "; famfs log entries hold at most 79 bytes: use a shorter name or a shallower directory");
      else
        error("cannot copy " + quote(src) + ": " + e.what());
      return {};
    }
  }

  void add(const std::string& src, const std::string& rel_raw, bool top) {
    struct stat st{};
    if (!top) {
      // Inside a tree, a symlink to a directory is not followed (no cycles); links to files are.
      struct stat lst{};
      if (::lstat(src.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode) && ::stat(src.c_str(), &st) == 0 &&
          S_ISDIR(st.st_mode)) {
        error("skipping " + quote(src) + ": a symbolic link to a directory (famfs has no links; "
              "copy the directory itself)");
        return;
      }
    }
    if (::stat(src.c_str(), &st) != 0) {
      int e = errno;
      error("cannot read the source " + quote(src) + ": " + errno_text(e));
      return;
    }
    if (S_ISDIR(st.st_mode)) return add_dir(src, rel_raw, st);
    if (!S_ISREG(st.st_mode)) {
      error("skipping " + quote(src) + ": famfs cp copies regular files and directories only");
      return;
    }
    add_file(src, rel_raw, st);
  }

  void add_dir(const std::string& src, const std::string& rel_raw, const struct stat& st) {
    if (!recursive) {
      error(quote(src) + " is a directory: use famfs cp -r to copy directories");
      return;
    }
    std::string rel = canon(rel_raw, src);
    if (rel.empty()) return;
    CopyItem d;
    d.dir = true;
    d.src = src;
    d.rel = rel;
    d.mode = mode ? *mode : (st.st_mode & 0777);
    plan.items.push_back(std::move(d));
    DIR* dp = ::opendir(src.c_str());
    if (!dp) {
      int e = errno;
      error("cannot read the source directory " + quote(src) + ": " + errno_text(e));
      return;
    }
    std::vector<std::string> names;
    while (struct dirent* de = ::readdir(dp)) {
      if (!std::strcmp(de->d_name, ".") || !std::strcmp(de->d_name, "..")) continue;
      names.emplace_back(de->d_name);
    }
    ::closedir(dp);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) add(src + "/" + n, rel + "/" + n, false);
  }

  void add_file(const std::string& src, const std::string& rel_raw, const struct stat& st) {
    if (st.st_size == 0) {
      error("skipping the empty file " + quote(src) + ": famfs files cannot be empty (they are "
            "allocated in 2 MiB units and sized at creation)");
      return;
    }
    if (!proto::UniqueFd(::open(src.c_str(), O_RDONLY | O_CLOEXEC))) {
      int e = errno;
      error("cannot read the source " + quote(src) + ": " + errno_text(e) + "; nothing was created for it");
      return;
    }
    std::string rel = canon(rel_raw, src);
    if (rel.empty()) return;
    CopyItem f;
    f.src = src;
    f.rel = rel;
    f.size = uint64_t(st.st_size);
    f.mode = mode ? *mode : (st.st_mode & 0777);
    plan.items.push_back(std::move(f));
  }
};

// The check of every item against the log and against the rest of the plan.
class Checker {
 public:
  Checker(Writer& w, CopyPlan& plan, Events& ev) : w_(w), plan_(plan), ev_(ev) {}

  // Marks what cannot be done (skip), what is new; returns how many need a log entry.
  uint64_t run() {
    for (size_t i = 0; i < plan_.items.size(); ++i) check(i);
    return nnew_;
  }

 private:
  void fail(CopyItem& it, const std::string& m) {
    ev_.error(m);
    ++plan_.errors;
    it.skip = true;
  }
  std::string dest_of(const CopyItem& it) const { return plan_.dest.mount.mpt + "/" + it.rel; }

  // The parent must be a directory in the log or one this command creates.
  bool parent_ok(CopyItem& it) {
    std::string par = parent_relpath(it.rel);
    if (par.empty()) return true;
    auto pp = planned_.find(par);
    if (pp != planned_.end()) {
      const CopyItem& p = plan_.items[pp->second];
      if (p.dir && !p.skip) return true;
      fail(it, "cannot copy " + quote(it.src) + ": its destination directory " + par +
                   " could not be created");
      return false;
    }
    const Inode* pn = w_.lookup(par);
    if (pn && pn->is_dir) return true;
    fail(it, "cannot copy " + quote(it.src) + ": the destination directory " +
                 plan_.dest.mount.mpt + "/" + par + (pn ? " is a file" : " does not exist"));
    return false;
  }

  bool file_ok(CopyItem& it, const Inode* n) {
    if (n && n->is_dir) {
      fail(it, "cannot copy " + quote(it.src) + ": " + dest_of(it) + " is a directory");
      return false;
    }
    if (!n) return true;
    if (n->size != it.size) {
      fail(it, "cannot copy " + quote(it.src) + " (" + std::to_string(it.size) + " bytes): " +
                   dest_of(it) + " already exists with size " + std::to_string(n->size) +
                   "; famfs cp overwrites only a file of the same size (to restart an interrupted "
                   "copy). Copy to another name");
      return false;
    }
    if (n->log_index == kNoLogIndex) {
      fail(it, "cannot overwrite the famfs metadata file " + dest_of(it));
      return false;
    }
    it.overwrite = true;
    it.fmap = n->fmap;
    return true;
  }

  void check(size_t i) {
    CopyItem& it = plan_.items[i];
    if (auto dup = planned_.find(it.rel); dup != planned_.end()) {
      const CopyItem& other = plan_.items[dup->second];
      if (it.dir && other.dir) {
        it.skip = true; // merging two source trees into one directory
        return;
      }
      fail(it, "cannot copy " + quote(it.src) + ": " + quote(other.src) + " is copied to the same "
               "destination " + it.rel + " in this command");
      return;
    }
    if (!parent_ok(it)) return;
    const Inode* n = w_.lookup(it.rel);
    if (it.dir && n && !n->is_dir) {
      fail(it, "cannot copy the directory " + quote(it.src) + ": " + dest_of(it) + " exists and is a file");
      return;
    }
    if (!it.dir && !file_ok(it, n)) return;
    if (!n) {
      it.is_new = true;
      ++nnew_;
    }
    planned_[it.rel] = i;
  }

  Writer& w_;
  CopyPlan& plan_;
  Events& ev_;
  std::unordered_map<std::string, size_t> planned_; // rel -> item index (dirs and files)
  uint64_t nnew_ = 0;
};

void reserve_for_copy(Writer& w, uint64_t nnew) {
  if (!nnew) return;
  try {
    w.reserve(nnew);
  } catch (const Error& e) {
    throw Error(ENOMEM, "log full: this copy needs " + count_of(nnew, "log entry", "log entries") +
                            " but only " + std::to_string(w.free_slots()) + " of " +
                            std::to_string(w.geometry().slots()) +
                            " are free; nothing was copied (the famfs log cannot be compacted: "
                            "make a new file system with a larger log, mkfs.famfs -l)");
  }
}

// Space for every new file, all or nothing. Returns the files to copy.
std::vector<CopyItem*> allocate_copies(Writer& w, CopyPlan& plan, const CopyOptions& o, uint64_t nnew) {
  std::vector<CopyItem*> files, allocated;
  try {
    for (auto& it : plan.items) {
      if (it.skip || it.dir) continue;
      if (it.is_new) {
        it.fmap = w.allocate(it.size, o.interleave, it.rel);
        allocated.push_back(&it);
      }
      files.push_back(&it);
    }
  } catch (const Error& e) {
    for (auto* it : allocated) w.release(it->fmap);
    if (nnew) w.unreserve(nnew);
    uint64_t need = 0, au = w.geometry().alloc_unit;
    for (auto& it : plan.items)
      if (!it.skip && !it.dir && it.is_new) need += (it.size + au - 1) / au * au;
    throw Error(e.err(), std::string(e.what()) + " (the whole copy needs " + human_bytes(need) +
                             "; nothing was copied)");
  }
  return files;
}

// Copy one file's data, then append its entry. Throws famfs::Error naming the source.
void copy_one(Writer& w, const CopyItem& it, const CopyOptions& o, unsigned inner_threads,
              ProgressSink* bar) {
  proto::UniqueFd fd(::open(it.src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Error(errno, "cannot read the source " + quote(it.src) + ": " + errno_text(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || uint64_t(st.st_size) != it.size)
    throw Error(EAGAIN, "the source " + quote(it.src) + " changed size during the copy");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  copy_fd_to_fmap(w.device(), it.fmap, fd.get(), it.size, it.src, bar, o.method, inner_threads);
  zero_tail(w.device(), it.fmap, it.size);
  if (it.is_new) {
    FileEntryParams p;
    p.relpath = it.rel;
    p.size = it.size;
    p.mode = it.mode;
    p.uid = o.uid;
    p.gid = o.gid;
    p.fmap = it.fmap;
    w.append(make_file_entry(p));
  }
}

uint64_t copy_files(Writer& w, const std::vector<CopyItem*>& files, const CopyOptions& o,
                    const std::string& mpt, Events& ev) {
  uint64_t total = 0;
  for (auto* f : files) total += f->size;
  unsigned inner_threads = files.size() == 1 ? o.threads : 1;
  std::atomic<uint64_t> errs{0};
  std::mutex ev_mu; // events from the workers, one at a time
  auto bar = ev.progress(total, files.size());
  parallel_for(files.size(), o.threads, [&](std::size_t i) {
    CopyItem& it = *files[i];
    try {
      copy_one(w, it, o, inner_threads, bar.get());
      if (bar) bar->add_file();
      std::lock_guard<std::mutex> g(ev_mu);
      ev.note(it.src + " -> " + mpt + "/" + it.rel + (it.overwrite ? " (overwritten, same size)" : ""));
    } catch (const Error& e) {
      if (it.is_new) w.unreserve(1);
      it.skip = true; // not copied (each worker owns its item)
      std::lock_guard<std::mutex> g(ev_mu);
      ev.error(std::string(e.what()) + "; it was not created");
      errs.fetch_add(1);
    }
  });
  return errs.load();
}

} // namespace

CopyDest resolve_copy_dest(const std::string& dest, std::size_t nsources) {
  struct stat dst{};
  bool exists = ::stat(dest.c_str(), &dst) == 0;
  CopyDest d;
  d.into_dir = exists && S_ISDIR(dst.st_mode);
  if (d.into_dir) {
    d.mount = mount_of_existing(dest);
    d.rel = relpath_in_mount(d.mount, dest);
    return d;
  }
  if (nsources > 1)
    throw Error(ENOTDIR, "the destination " + quote(dest) + " is not an existing directory, "
                         "which copying several sources needs");
  if (exists) {
    d.mount = mount_of_existing(dest);
    d.rel = relpath_in_mount(d.mount, dest);
    if (d.rel.empty()) throw Error(EINVAL, quote(dest) + " is the famfs root");
    return d;
  }
  NewPath np = resolve_new_path(dest, false);
  d.mount = np.mount;
  d.rel = np.relpath;
  return d;
}

CopyPlan plan_copy(const std::vector<std::string>& sources, const CopyDest& dest, bool recursive,
                   std::optional<uint32_t> mode, Events& ev) {
  CopyPlan plan;
  plan.dest = dest;
  Planner pl{ev, plan, recursive, mode};
  for (const auto& src : sources)
    pl.add(src, dest.into_dir ? join_rel(dest.rel, basename_of(src)) : dest.rel, true);
  return plan;
}

uint64_t copy_in(Writer& w, CopyPlan& plan, const CopyOptions& o, Events& ev) {
  uint64_t nnew = Checker(w, plan, ev).run();
  reserve_for_copy(w, nnew);
  std::vector<CopyItem*> files = allocate_copies(w, plan, o, nnew);
  const std::string& mpt = plan.dest.mount.mpt;
  // Directories first, parents before children (plan order).
  for (auto& it : plan.items) {
    if (it.skip || !it.dir || !it.is_new) continue;
    w.append(make_mkdir_entry(it.rel, it.mode, o.uid, o.gid));
    ev.note("mkdir " + mpt + "/" + it.rel);
  }
  uint64_t errs = plan.errors + copy_files(w, files, o, mpt, ev);
  if (w.appended()) {
    auto rep = w.logplay();
    if (rep && rep->damaged)
      ev.warning("the famfs daemon reports a damaged log; run famfs fsck " + mpt);
  }
  return errs;
}

uint64_t compare_copies(const CopyPlan& plan, unsigned threads, Events& ev) {
  std::vector<const CopyItem*> files;
  for (const auto& it : plan.items)
    if (!it.skip && !it.dir) files.push_back(&it);
  const std::string& mpt = plan.dest.mount.mpt;
  std::atomic<uint64_t> bad{0};
  std::mutex ev_mu;
  parallel_for(files.size(), threads, [&](std::size_t i) {
    const CopyItem& it = *files[i];
    std::string copy = mpt + "/" + it.rel;
    VerifyResult r = compare_files(it.src, copy);
    std::lock_guard<std::mutex> g(ev_mu);
    switch (r.status) {
      case VerifyResult::Status::Ok:
        ev.note("compared " + copy + " with " + it.src + ": identical");
        return;
      case VerifyResult::Status::Error:
        ev.error("compare of " + quote(copy) + " failed: " + r.message);
        break;
      case VerifyResult::Status::Mismatch:
        ev.error("compare failed: " + quote(copy) + " differs from its source " + quote(it.src) +
                 " at byte " + std::to_string(r.offset) + " (the source may have changed during "
                 "the copy; copy it again)");
        break;
    }
    bad.fetch_add(1);
  });
  return bad.load();
}

} // namespace famfs::master
