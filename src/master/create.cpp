#include "master/create.hpp"

#include <cerrno>
#include <cstdio>
#include <limits>
#include <set>

#include "master/copy_engine.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"

namespace famfs::master {

namespace {

// st_size is an off_t.
constexpr uint64_t kMaxFileSize = uint64_t(std::numeric_limits<int64_t>::max());

std::string hex_text(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

// Check one item against the log: sets is_new / fmap, or throws the reason it cannot be made.
void plan_file(Writer& w, FileItem& it, Events& ev) {
  const std::string& rel = it.np.relpath;
  const Inode* n = w.lookup(rel);
  if (n && n->is_dir) throw Error(EISDIR, quote(it.arg) + " exists and is a directory");
  if (n) {
    if (it.size && it.size != n->size)
      throw Error(EEXIST, quote(it.arg) + " already exists with size " + std::to_string(n->size) +
                              " bytes, not " + std::to_string(it.size) +
                              ": famfs files cannot be resized; pick another name");
    it.size = n->size; // re-creating at the same size is a no-op (as upstream)
    it.fmap = n->fmap;
    ev.note(it.arg + " exists with that size: nothing to create");
    return;
  }
  if (it.size > kMaxFileSize)
    throw Error(EFBIG, "the size " + std::to_string(it.size) + " of " + quote(it.arg) +
                           " is too large: a file holds at most " + std::to_string(kMaxFileSize) +
                           " bytes (and no more than the device)");
  if (it.size == 0)
    throw Error(EINVAL, "no size for the new file " + quote(it.arg) +
                            ": famfs files cannot be empty; give -s SIZE (e.g. -s 4m)");
  const Inode* parent = w.lookup(parent_relpath(rel));
  if (!parent || !parent->is_dir)
    throw Error(ENOENT, "the parent directory of " + quote(it.arg) +
                            " is not in the famfs log; create it with famfs mkdir");
  it.is_new = true;
}

// Plan every item; returns how many need a log entry.
uint64_t plan_files(Writer& w, std::vector<FileItem>& items, Events& ev, CreateResult& r) {
  std::set<std::string> planned;
  uint64_t nnew = 0;
  for (auto& it : items) {
    if (!it.ok) continue;
    try {
      if (planned.count(it.np.relpath))
        throw Error(EEXIST, quote(it.arg) + " is named twice in this command");
      plan_file(w, it, ev);
      nnew += it.is_new;
      planned.insert(it.np.relpath);
    } catch (const Error& e) {
      ev.error(e.what());
      it.ok = false;
      ++r.errors;
    }
  }
  return nnew;
}

void reserve_for_files(Writer& w, uint64_t nnew) {
  try {
    w.reserve(nnew);
  } catch (const Error& e) {
    throw Error(ENOMEM, "log full: " + std::to_string(nnew) + " new " +
                            (nnew == 1 ? "file needs" : "files need") + " " +
                            count_of(nnew, "log entry", "log entries") + " but only " +
                            std::to_string(w.free_slots()) + " of " +
                            std::to_string(w.geometry().slots()) +
                            " are free; nothing was created (the famfs log cannot be compacted: "
                            "make a new file system with a larger log, mkfs.famfs -l)");
  }
}

// Space for every new item, all or nothing (the reservations are given back on failure).
void allocate_files(Writer& w, std::vector<FileItem>& items, const CreateOptions& o, uint64_t nnew) {
  std::vector<FileItem*> allocated;
  try {
    for (auto& it : items) {
      if (!it.ok || !it.is_new) continue;
      it.fmap = w.allocate(it.size, o.interleave, it.np.relpath);
      allocated.push_back(&it);
    }
  } catch (...) {
    for (auto* it : allocated) w.release(it->fmap);
    w.unreserve(nnew);
    throw;
  }
}

// Randomise the seeded items in parallel (as upstream, only those).
void fill_files(Writer& w, std::vector<FileItem>& items, unsigned threads, Events& ev,
                CreateResult& r) {
  uint64_t fill_bytes = 0;
  for (auto& it : items)
    if (it.ok && it.seed) {
      r.filled.push_back(&it);
      fill_bytes += it.size;
    }
  auto bar = ev.progress(fill_bytes, r.filled.size());
  parallel_for(r.filled.size(), threads, [&](std::size_t i) {
    const FileItem& it = *r.filled[i];
    random_fill_fmap(w.device(), it.fmap, it.size, it.seed, bar.get());
    zero_tail(w.device(), it.fmap, it.size);
    if (bar) bar->add_file();
  });
}

} // namespace

std::optional<MountInfo> resolve_files(std::vector<FileItem>& items, Events& ev, uint64_t* errors) {
  std::optional<MountInfo> mount;
  for (auto& it : items) {
    try {
      it.np = resolve_new_path(it.arg, false);
      if (mount && mount->mpt != it.np.mount.mpt)
        throw Error(EXDEV, quote(it.arg) + " is in the famfs at " + it.np.mount.mpt +
                               ", but earlier files are in " + mount->mpt +
                               "; create them with separate commands");
      if (!mount) mount = it.np.mount;
      it.ok = true;
    } catch (const Error& e) {
      ev.error(e.what());
      ++*errors;
    }
  }
  return mount;
}

CreateResult create_files(Writer& w, std::vector<FileItem>& items, const CreateOptions& o,
                          Events& ev, uint64_t errors_so_far) {
  CreateResult r;
  r.errors = errors_so_far;
  uint64_t nnew = plan_files(w, items, ev, r);
  if (o.stop_on_error && r.errors) {
    r.stopped = true;
    return r;
  }
  if (nnew) {
    reserve_for_files(w, nnew);
    allocate_files(w, items, o, nnew);
  }
  fill_files(w, items, o.threads, ev, r);
  for (auto& it : items) {
    if (!it.ok || !it.is_new) continue;
    FileEntryParams p;
    p.relpath = it.np.relpath;
    p.size = it.size;
    p.mode = o.attrs.mode;
    p.uid = o.attrs.uid;
    p.gid = o.attrs.gid;
    p.fmap = it.fmap;
    w.append(make_file_entry(p));
    it.created = true;
    auto run = it.fmap.resolve(0);
    ev.note("created " + it.np.abspath + " (" + std::to_string(it.size) +
            " bytes at device offset " + hex_text(run ? run->dev_offset : 0) + ")");
  }
  if (w.appended()) w.logplay();
  return r;
}

uint64_t make_dirs(Writer& w, const NewPath& np, const std::string& arg, bool parents,
                   const Attrs& a, Events& ev) {
  std::vector<std::string> todo = np.missing_dirs;
  todo.push_back(np.relpath);
  std::vector<std::string> create;
  for (const auto& rel : todo) {
    const Inode* n = w.lookup(rel);
    if (n && !n->is_dir)
      throw Error(ENOTDIR, quote(rel) + " exists in the famfs at " + np.mount.mpt +
                               " and is a file, not a directory");
    if (n && rel == np.relpath && !parents)
      throw Error(EEXIST, quote(arg) + " already exists (use -p to accept an existing directory)");
    if (!n) create.push_back(rel);
  }
  if (create.empty()) return 0;
  // mkdir -p reserves all of its slots up front (Part A §6).
  try {
    w.reserve(create.size());
  } catch (const Error& e) {
    throw Error(e.err(), "log full: creating " + quote(arg) + " needs " +
                             count_of(create.size(), "log entry", "log entries") + " but only " +
                             std::to_string(w.free_slots()) + " are free; nothing was created");
  }
  for (const auto& rel : create) {
    w.append(make_mkdir_entry(rel, a.mode, a.uid, a.gid));
    ev.note("created " + np.mount.mpt + "/" + rel);
  }
  w.logplay();
  return create.size();
}

void clone_file(Writer& w, const std::string& src_rel, const std::string& src_arg,
                const NewPath& dst, const std::string& dst_arg) {
  const Inode* src = w.lookup(src_rel);
  if (!src) throw Error(ENOENT, quote(src_arg) + " is not in the famfs log");
  if (src->is_dir) throw Error(EISDIR, quote(src_arg) + " is a directory; clone copies file maps only");
  if (src->log_index == kNoLogIndex)
    throw Error(EPERM, quote(src_arg) + " is a famfs metadata file; only data files can be cloned");
  if (w.lookup(dst.relpath)) throw Error(EEXIST, quote(dst_arg) + " already exists");
  const Inode* parent = w.lookup(parent_relpath(dst.relpath));
  if (!parent || !parent->is_dir)
    throw Error(ENOENT, "the parent directory of " + quote(dst_arg) + " is not in the famfs log");
  try {
    w.reserve(1);
  } catch (const Error& e) {
    throw Error(e.err(), std::string("log full: ") + e.what() + "; nothing was created");
  }
  FileEntryParams p;
  p.relpath = dst.relpath;
  p.size = src->size;
  p.mode = src->mode;
  p.uid = src->uid;
  p.gid = src->gid;
  p.fmap = src->fmap;
  w.append(make_file_entry(p));
  w.logplay();
}

} // namespace famfs::master
