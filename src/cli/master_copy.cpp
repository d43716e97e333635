// famfs cp: copy files (and with -r directories) into famfs at memory speed.
//
// One lock session for the whole command: walk the sources, check everything against the log,
// reserve every log slot and allocate all space up front (nothing visible yet), append the
// directories (parents first), then copy file data straight into the device mapping on -t
// workers, appending each file's entry as soon as its data is durable. One logplay at the end
// (and about once a second during long copies).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"

namespace famfs::cli::master {

namespace {

const std::string kProg = "famfs cp";

struct CpItem {
  bool dir = false;
  std::string src;     // source path
  std::string rel;     // destination relpath (canonical)
  uint64_t size = 0;
  uint32_t mode = 0;
  // planning results
  bool skip = false;       // error or nothing to do
  bool is_new = false;     // needs a log entry
  bool overwrite = false;  // same-size existing file: data only
  Fmap fmap;
  int parent = -1;         // index of the planned parent directory item, if new
};

std::string basename_of(const std::string& p) {
  std::string t = p;
  while (t.size() > 1 && t.back() == '/') t.pop_back();
  auto s = t.find_last_of('/');
  return s == std::string::npos ? t : t.substr(s + 1);
}

std::string parent_of(const std::string& rel) {
  auto s = rel.find_last_of('/');
  return s == std::string::npos ? std::string() : rel.substr(0, s);
}

std::string join_rel(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "/" + b;
}

struct Planner {
  std::vector<CpItem> items;
  uint64_t errs = 0;
  bool recursive = false;
  bool mode_given = false;
  uint32_t mode = 0;
  std::string mpt;

  void error(const std::string& msg) {
    print_error(kProg, msg);
    ++errs;
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
              std::to_string(rel.size()) + " bytes long relative to the famfs root " + mpt +
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
    if (S_ISDIR(st.st_mode)) {
      if (!recursive) {
        error(quote(src) + " is a directory: use famfs cp -r to copy directories");
        return;
      }
      std::string rel = canon(rel_raw, src);
      if (rel.empty()) return;
      CpItem d;
      d.dir = true;
      d.src = src;
      d.rel = rel;
      d.mode = mode_given ? mode : (st.st_mode & 0777);
      items.push_back(std::move(d));
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
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      error("skipping " + quote(src) + ": famfs cp copies regular files and directories only");
      return;
    }
    if (st.st_size == 0) {
      error("skipping the empty file " + quote(src) + ": famfs files cannot be empty (they are "
            "allocated in 2 MiB units and sized at creation)");
      return;
    }
    int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      error("cannot read the source " + quote(src) + ": " + errno_text(e) + "; nothing was created for it");
      return;
    }
    ::close(fd);
    std::string rel = canon(rel_raw, src);
    if (rel.empty()) return;
    CpItem f;
    f.src = src;
    f.rel = rel;
    f.size = uint64_t(st.st_size);
    f.mode = mode_given ? mode : (st.st_mode & 0777);
    items.push_back(std::move(f));
  }
};

} // namespace

int run_cp(const CpOpts& o) {
  bool log_full = false;
  try {
    if (o.args.size() < 2)
      throw Error(EINVAL, "give at least one source and a destination: famfs cp [-r] SRC... DEST");
    unsigned threads = parse_threads_arg(o.threads, 1);
    Planner pl;
    pl.recursive = o.recursive;
    if (!o.mode.empty()) {
      pl.mode_given = true;
      pl.mode = parse_mode_arg(o.mode, "-m/--mode") & ~current_umask();
    }
    uint32_t uid = o.uid.empty() ? uint32_t(::getuid()) : parse_id_arg(o.uid, "-u/--uid");
    uint32_t gid = o.gid.empty() ? uint32_t(::getgid()) : parse_id_arg(o.gid, "-g/--gid");

    const std::string& dest = o.args.back();
    std::vector<std::string> srcs(o.args.begin(), o.args.end() - 1);

    // Where do things go?
    struct stat dst{};
    bool dest_exists = ::stat(dest.c_str(), &dst) == 0;
    bool dest_is_dir = dest_exists && S_ISDIR(dst.st_mode);
    MountInfo mount;
    std::string dest_rel; // the directory to copy into (dest_is_dir), or the new name
    if (dest_is_dir) {
      mount = mount_of_existing(dest);
      dest_rel = relpath_in_mount(mount, dest);
    } else {
      if (srcs.size() > 1)
        throw Error(ENOTDIR, "the destination " + quote(dest) + " is not an existing directory, "
                             "which copying several sources needs");
      if (dest_exists) {
        mount = mount_of_existing(dest);
        dest_rel = relpath_in_mount(mount, dest);
        if (dest_rel.empty()) throw Error(EINVAL, quote(dest) + " is the famfs root");
      } else {
        NewPath np = resolve_new_path(dest, false);
        mount = np.mount;
        dest_rel = np.relpath;
      }
    }
    pl.mpt = mount.mpt;
    for (const auto& src : srcs) {
      std::string rel = dest_is_dir ? join_rel(dest_rel, basename_of(src)) : dest_rel;
      pl.add(src, rel, true);
    }
    std::vector<CpItem>& items = pl.items;

    if (items.empty()) return 1;
    Session s(mount, o.uuid_file, "copy files");
    auto ip = parse_interleave(o.il, &s.geometry());
    Namespace& ns = s.ns();

    // Check every item against the log and against the plan.
    std::unordered_map<std::string, size_t> planned; // rel -> item index (dirs and files)
    uint64_t nnew = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      CpItem& it = items[i];
      auto fail = [&](const std::string& m) {
        pl.error(m);
        it.skip = true;
      };
      if (planned.count(it.rel)) {
        const CpItem& other = items[planned[it.rel]];
        if (it.dir && other.dir) {
          it.skip = true; // merging two source trees into one directory
          continue;
        }
        fail("cannot copy " + quote(it.src) + ": " + quote(other.src) + " is copied to the same "
             "destination " + it.rel + " in this command");
        continue;
      }
      // The parent must be a directory in the log or one this command creates.
      std::string par = parent_of(it.rel);
      if (!par.empty()) {
        auto pp = planned.find(par);
        if (pp != planned.end()) {
          if (!items[pp->second].dir || items[pp->second].skip) {
            fail("cannot copy " + quote(it.src) + ": its destination directory " + par +
                 " could not be created");
            continue;
          }
        } else {
          auto pino = ns.resolve(par);
          const Inode* pn = pino ? ns.get(*pino) : nullptr;
          if (!pn || !pn->is_dir) {
            fail("cannot copy " + quote(it.src) + ": the destination directory " + mount.mpt + "/" +
                 par + (pn ? " is a file" : " does not exist"));
            continue;
          }
        }
      }
      auto ino = ns.resolve(it.rel);
      const Inode* n = ino ? ns.get(*ino) : nullptr;
      if (it.dir) {
        if (n && !n->is_dir) {
          fail("cannot copy the directory " + quote(it.src) + ": " + mount.mpt + "/" + it.rel +
               " exists and is a file");
          continue;
        }
        if (!n) {
          it.is_new = true;
          ++nnew;
        }
        planned[it.rel] = i;
        continue;
      }
      if (n && n->is_dir) {
        fail("cannot copy " + quote(it.src) + ": " + mount.mpt + "/" + it.rel + " is a directory");
        continue;
      }
      if (n) {
        if (n->size != it.size) {
          fail("cannot copy " + quote(it.src) + " (" + std::to_string(it.size) + " bytes): " +
               mount.mpt + "/" + it.rel + " already exists with size " + std::to_string(n->size) +
               "; famfs cp overwrites only a file of the same size (to restart an interrupted "
               "copy). Copy to another name");
          continue;
        }
        if (n->log_index == kNoLogIndex) {
          fail("cannot overwrite the famfs metadata file " + mount.mpt + "/" + it.rel);
          continue;
        }
        it.overwrite = true;
        it.fmap = n->fmap;
      } else {
        it.is_new = true;
        ++nnew;
      }
      planned[it.rel] = i;
    }

    // Reserve every log slot, then all the space, before anything becomes visible.
    if (nnew) {
      try {
        s.writer().reserve(nnew);
      } catch (const Error& e) {
        log_full = true;
        throw Error(e.err(), "log full: this copy needs " + std::to_string(nnew) +
                                 " log entries but only " + std::to_string(s.writer().free_slots()) +
                                 " of " + std::to_string(s.geometry().slots()) +
                                 " are free; nothing was copied (the famfs log cannot be compacted: "
                                 "make a new file system with a larger log, mkfs.famfs -l)");
      }
    }
    std::vector<CpItem*> files;
    uint64_t total = 0;
    {
      std::vector<CpItem*> allocated;
      try {
        for (auto& it : items) {
          if (it.skip || it.dir) continue;
          if (it.is_new) {
            it.fmap = allocate_file(s, it.size, ip, it.rel);
            allocated.push_back(&it);
          }
          files.push_back(&it);
          total += it.size;
        }
      } catch (const Error& e) {
        for (auto* it : allocated) s.allocator().release(it->fmap);
        if (nnew) s.unreserve(nnew);
        uint64_t need = 0, au = s.geometry().alloc_unit;
        for (auto& it : items)
          if (!it.skip && !it.dir && it.is_new) need += (it.size + au - 1) / au * au;
        throw Error(e.err(), std::string(e.what()) + " (the whole copy needs " + human_bytes(need) +
                                 "; nothing was copied)");
      }
    }

    // Directories first, parents before children (plan order).
    for (auto& it : items) {
      if (it.skip || !it.dir || !it.is_new) continue;
      s.append(make_mkdir_entry(it.rel, it.mode, uid, gid));
      if (o.verbose) std::printf("famfs cp: mkdir %s/%s\n", mount.mpt.c_str(), it.rel.c_str());
    }

    // Data, then each file's entry as soon as its data is durable.
    CopyMethod method = copy_method_from_env();
    // -t N: N files at a time; a single file is split into pieces over the N threads instead.
    unsigned inner_threads = files.size() == 1 ? threads : 1;
    std::atomic<uint64_t> copy_errs{0};
    std::mutex out_mu;
    {
      Progress bar(total, files.size(), "famfs cp");
      parallel_for(files.size(), threads, [&](std::size_t i) {
        CpItem& it = *files[i];
        try {
          int fd = ::open(it.src.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0)
            throw Error(errno, "cannot read the source " + quote(it.src) + ": " + errno_text(errno));
          struct Closer {
            int fd;
            ~Closer() { ::close(fd); }
          } closer{fd};
          struct stat st{};
          if (::fstat(fd, &st) != 0 || uint64_t(st.st_size) != it.size)
            throw Error(EAGAIN, "the source " + quote(it.src) + " changed size during the copy");
          ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
          copy_fd_to_fmap(s.device(), it.fmap, fd, it.size, it.src, &bar, method, inner_threads);
          zero_tail(s.device(), it.fmap, it.size);
          if (it.is_new) {
            FileEntryParams p;
            p.relpath = it.rel;
            p.size = it.size;
            p.mode = it.mode;
            p.uid = uid;
            p.gid = gid;
            p.fmap = it.fmap;
            s.append(make_file_entry(p));
          }
          bar.add_file();
          if (o.verbose) {
            std::lock_guard<std::mutex> g(out_mu);
            std::printf("famfs cp: %s -> %s/%s%s\n", it.src.c_str(), mount.mpt.c_str(),
                        it.rel.c_str(), it.overwrite ? " (overwritten, same size)" : "");
          }
        } catch (const Error& e) {
          if (it.is_new) s.unreserve(1);
          std::lock_guard<std::mutex> g(out_mu);
          print_error(kProg, std::string(e.what()) + "; it was not created");
          copy_errs.fetch_add(1);
        }
      });
    }
    pl.errs += copy_errs.load();
    if (s.appended()) {
      auto rep = s.logplay();
      if (rep && rep->flag("damaged"))
        print_warning(kProg, "the famfs daemon reports a damaged log; run famfs fsck " + mount.mpt);
    }
    return pl.errs ? 1 : 0;
  } catch (const Error& e) {
    print_error(kProg, e.what());
    if (log_full || e.err() == ENOMEM) return ENOMEM; // exit 12, as upstream
    return 1;
  }
}

} // namespace famfs::cli::master
