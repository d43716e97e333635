// famfs creat, mkdir and clone: master-only commands that append to the log.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"

namespace famfs::cli::master {

namespace {

std::string parent_of(const std::string& rel) {
  auto s = rel.find_last_of('/');
  return s == std::string::npos ? std::string() : rel.substr(0, s);
}

// Whatever is at `rel` in the session's inode table.
const Inode* lookup(Session& s, const std::string& rel) {
  auto ino = s.ns().resolve(rel);
  return ino ? s.ns().get(*ino) : nullptr;
}


struct CreatItem {
  std::string arg;     // as given
  uint64_t size = 0;   // 0 = not given
  uint64_t seed = 0;
  NewPath np;
  bool ok = false;     // resolved and planned
  bool is_new = false; // needs an entry
  Fmap fmap;
  bool created = false;
  int rc = 0;
};

} // namespace

// =============================================================================================
int run_creat(const CreatOpts& o) {
  const std::string prog = "famfs creat";
  try {
    uint32_t mode = o.mode.empty() ? 0644 : parse_mode_arg(o.mode, "-m/--mode");
    mode &= ~current_umask();
    uint32_t uid = o.uid.empty() ? uint32_t(::geteuid()) : parse_id_arg(o.uid, "-u/--uid");
    uint32_t gid = o.gid.empty() ? uint32_t(::getegid()) : parse_id_arg(o.gid, "-g/--gid");
    uint64_t seed = o.seed.empty() ? 0 : parse_u64_arg(o.seed, "-S/--seed");
    long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = parse_threads_arg(o.threads, ncpu > 0 ? unsigned(ncpu) : 4);
    if (seed && !o.randomize)
      throw Error(EINVAL, "-S/--seed " + o.seed + " given without -r/--randomize; add -r to fill "
                          "the file with the seeded pattern");
    bool multi = !o.multi.empty();

    std::vector<CreatItem> items;
    if (multi) {
      if (!o.file.empty() || !o.size.empty() || seed)
        throw Error(EINVAL, "--multi cannot be combined with a FILE argument, -s or -S; give each "
                            "file as -M FILE,SIZE[,SEED]");
      for (const auto& m : o.multi) {
        auto parts = split_commas(m);
        if (parts.size() < 2 || parts.size() > 3 || parts[0].empty())
          throw Error(EINVAL, "-M/--multi " + quote(m) + ": expected FILE,SIZE or FILE,SIZE,SEED");
        CreatItem it;
        it.arg = parts[0];
        it.size = parse_size_arg(parts[1], ("-M/--multi " + m).c_str());
        if (parts.size() == 3) it.seed = parse_u64_arg(parts[2], ("-M/--multi " + m).c_str());
        items.push_back(std::move(it));
      }
    } else {
      if (o.file.empty()) throw Error(EINVAL, "no file given: famfs creat -s SIZE FILE");
      CreatItem it;
      it.arg = o.file;
      it.size = o.size.empty() ? 0 : parse_size_arg(o.size, "-s/--size");
      it.seed = o.randomize ? seed : 0;
      items.push_back(std::move(it));
    }

    // Resolve every path (before taking the lock); all in one famfs.
    uint64_t errs = 0;
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
        print_error(prog, e.what());
        it.rc = 1;
        ++errs;
      }
    }
    if (!mount) return multi ? count_rc(errs) : 1;
    if (!multi && errs) return 1;

    Session s(*mount, o.uuid_file, "create files");
    auto ip = parse_interleave(o.il, &s.geometry());

    // Plan: what exists, what is new.
    std::set<std::string> planned;
    uint64_t nnew = 0;
    for (auto& it : items) {
      if (!it.ok) continue;
      try {
        const std::string& rel = it.np.relpath;
        if (planned.count(rel))
          throw Error(EEXIST, quote(it.arg) + " is named twice in this command");
        const Inode* n = lookup(s, rel);
        if (n && n->is_dir)
          throw Error(EISDIR, quote(it.arg) + " exists and is a directory");
        if (n) {
          if (it.size && it.size != n->size)
            throw Error(EEXIST, quote(it.arg) + " already exists with size " +
                                    std::to_string(n->size) + " bytes, not " +
                                    std::to_string(it.size) +
                                    ": famfs files cannot be resized; pick another name");
          it.size = n->size; // re-creating at the same size is a no-op (as upstream)
          it.fmap = n->fmap;
          if (o.verbose) std::printf("%s: %s exists with that size: nothing to create\n",
                                     prog.c_str(), it.arg.c_str());
        } else {
          if (it.size == 0)
            throw Error(EINVAL, "no size for the new file " + quote(it.arg) +
                                    ": famfs files cannot be empty; give -s SIZE (e.g. -s 4m)");
          const Inode* parent = lookup(s, parent_of(rel));
          if (!parent || !parent->is_dir)
            throw Error(ENOENT, "the parent directory of " + quote(it.arg) +
                                    " is not in the famfs log; create it with famfs mkdir");
          it.is_new = true;
          ++nnew;
        }
        planned.insert(rel);
      } catch (const Error& e) {
        print_error(prog, e.what());
        it.ok = false;
        it.rc = 1;
        ++errs;
      }
    }
    if (!multi && errs) return 1;

    // Reserve log slots, then space, before anything becomes visible (Part A §6).
    if (nnew) {
      try {
        s.writer().reserve(nnew);
      } catch (const Error& e) {
        throw Error(e.err(), "log full: " + std::to_string(nnew) + " new " +
                                 (nnew == 1 ? "file needs" : "files need") + " " +
                                 std::to_string(nnew) + " log entries but only " +
                                 std::to_string(s.writer().free_slots()) + " of " +
                                 std::to_string(s.geometry().slots()) +
                                 " are free; nothing was created (the famfs log cannot be "
                                 "compacted: make a new file system with a larger log, mkfs.famfs -l)");
      }
      std::vector<CreatItem*> allocated;
      try {
        for (auto& it : items) {
          if (!it.ok || !it.is_new) continue;
          it.fmap = allocate_file(s, it.size, ip, it.np.relpath);
          allocated.push_back(&it);
        }
      } catch (...) {
        for (auto* it : allocated) s.allocator().release(it->fmap);
        s.unreserve(nnew);
        throw;
      }
    }

    // Data: randomise in parallel (seeded files only, as upstream), then append the entries.
    std::vector<CreatItem*> to_fill;
    uint64_t fill_bytes = 0;
    for (auto& it : items)
      if (it.ok && it.seed) {
        to_fill.push_back(&it);
        fill_bytes += it.size;
      }
    {
      Progress prog_bar(fill_bytes, to_fill.size(), "famfs creat");
      parallel_for(to_fill.size(), threads, [&](std::size_t i) {
        CreatItem& it = *to_fill[i];
        random_fill_fmap(s.device(), it.fmap, it.size, it.seed, &prog_bar);
        zero_tail(s.device(), it.fmap, it.size);
        prog_bar.add_file();
      });
    }
    for (auto& it : items) {
      if (!it.ok || !it.is_new) continue;
      FileEntryParams p;
      p.relpath = it.np.relpath;
      p.size = it.size;
      p.mode = mode;
      p.uid = uid;
      p.gid = gid;
      p.fmap = it.fmap;
      s.append(make_file_entry(p));
      it.created = true;
      if (o.verbose) {
        auto run = it.fmap.resolve(0);
        std::printf("%s: created %s (%llu bytes at device offset 0x%llx)\n", prog.c_str(),
                    it.np.abspath.c_str(), (unsigned long long)it.size,
                    (unsigned long long)(run ? run->dev_offset : 0));
      }
    }
    if (s.appended()) s.logplay();
    for (auto* it : to_fill)
      std::printf("randomized %llu bytes: %s\n", (unsigned long long)it->size, it->arg.c_str());
    if (multi) {
      uint64_t ncreated = 0;
      for (auto& it : items) ncreated += it.created;
      std::printf("Create complete for %llu of %zu files with %llu errs\n",
                  (unsigned long long)ncreated, items.size(), (unsigned long long)errs);
      return count_rc(errs);
    }
    return 0;
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}

// =============================================================================================
int run_mkdir(const MkdirOpts& o) {
  const std::string prog = "famfs mkdir";
  try {
    if (o.dirs.empty()) throw Error(EINVAL, "no directory given: famfs mkdir [-p] DIR");
    // B§5: 0755 by default, stored as given (the log is not subject to the umask).
    uint32_t mode = o.mode.empty() ? 0755 : parse_mode_arg(o.mode, "-m/--mode");
    uint32_t uid = o.uid.empty() ? uint32_t(::geteuid()) : parse_id_arg(o.uid, "-u/--uid");
    uint32_t gid = o.gid.empty() ? uint32_t(::getegid()) : parse_id_arg(o.gid, "-g/--gid");

    int rc = 0;
    for (const auto& dir : o.dirs) {
      try {
        NewPath np = resolve_new_path(dir, o.parents);
        Session s(np.mount, o.uuid_file, "create directories");
        std::vector<std::string> todo = np.missing_dirs;
        todo.push_back(np.relpath);
        std::vector<std::string> create;
        for (const auto& rel : todo) {
          const Inode* n = lookup(s, rel);
          if (n && !n->is_dir)
            throw Error(ENOTDIR, quote(rel) + " exists in the famfs at " + np.mount.mpt +
                                     " and is a file, not a directory");
          if (n && rel == np.relpath && !o.parents)
            throw Error(EEXIST, quote(dir) + " already exists (use -p to accept an existing "
                                             "directory)");
          if (!n) create.push_back(rel);
        }
        if (create.empty()) continue;
        // mkdir -p reserves all of its slots up front (Part A §6).
        try {
          s.writer().reserve(create.size());
        } catch (const Error& e) {
          throw Error(e.err(), "log full: creating " + quote(dir) + " needs " +
                                   std::to_string(create.size()) + " log entries but only " +
                                   std::to_string(s.writer().free_slots()) +
                                   " are free; nothing was created");
        }
        for (const auto& rel : create) {
          s.append(make_mkdir_entry(rel, mode, uid, gid));
          if (o.verbose) std::printf("%s: created %s/%s\n", prog.c_str(), np.mount.mpt.c_str(), rel.c_str());
        }
        s.logplay();
      } catch (const Error& e) {
        print_error(prog, e.what());
        rc = 1;
      }
    }
    return rc;
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}

// =============================================================================================
int run_clone(const CloneOpts& o) {
  const std::string prog = "famfs clone";
  try {
    MountInfo sm = mount_of_existing(o.src);
    std::string srel = relpath_in_mount(sm, o.src);
    NewPath np = resolve_new_path(o.dst, false);
    if (np.mount.mpt != sm.mpt)
      throw Error(EXDEV, quote(o.src) + " and " + quote(o.dst) + " are in different famfs mounts");
    Session s(np.mount, o.uuid_file, "clone files");
    const Inode* src = lookup(s, srel);
    if (!src) throw Error(ENOENT, quote(o.src) + " is not in the famfs log");
    if (src->is_dir) throw Error(EISDIR, quote(o.src) + " is a directory; clone copies file maps only");
    if (src->log_index == kNoLogIndex)
      throw Error(EPERM, quote(o.src) + " is a famfs metadata file; only data files can be cloned");
    if (lookup(s, np.relpath)) throw Error(EEXIST, quote(o.dst) + " already exists");
    const Inode* parent = lookup(s, parent_of(np.relpath));
    if (!parent || !parent->is_dir)
      throw Error(ENOENT, "the parent directory of " + quote(o.dst) + " is not in the famfs log");
    try {
      s.writer().reserve(1);
    } catch (const Error& e) {
      throw Error(e.err(), std::string("log full: ") + e.what() + "; nothing was created");
    }
    FileEntryParams p;
    p.relpath = np.relpath;
    p.size = src->size;
    p.mode = src->mode;
    p.uid = src->uid;
    p.gid = src->gid;
    p.fmap = src->fmap;
    s.append(make_file_entry(p));
    s.logplay();
    print_warning(prog, quote(o.dst) + " shares its extents with " + quote(o.src) +
                            ": this is a cross-link for testing, and famfs fsck will report it");
    return 0;
  } catch (const Error& e) {
    print_error(prog, e.what());
    return 1;
  }
}

} // namespace famfs::cli::master
