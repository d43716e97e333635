// famfs creat, mkdir and clone: argv -> src/master -> output. Master-only commands that
// append to the log (src/master/create.hpp does the work).
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "master/create.hpp"
#include "master/writer.hpp"
#include "meta/error.hpp"

namespace famfs::cli::master {

namespace fm = famfs::master;

namespace {

unsigned cpu_count() {
  long ncpu = ::sysconf(_SC_NPROCESSORS_ONLN);
  return ncpu > 0 ? unsigned(ncpu) : 4;
}

fm::Attrs parse_attrs(const std::string& mode, const std::string& uid, const std::string& gid,
                      uint32_t default_mode) {
  fm::Attrs a;
  a.mode = mode.empty() ? default_mode : parse_mode_arg(mode, "-m/--mode");
  a.uid = uid.empty() ? uint32_t(::geteuid()) : parse_id_arg(uid, "-u/--uid");
  a.gid = gid.empty() ? uint32_t(::getegid()) : parse_id_arg(gid, "-g/--gid");
  return a;
}

// The files of a creat command: -M FILE,SIZE[,SEED]... or FILE -s SIZE [-r [-S SEED]].
std::vector<fm::FileItem> creat_items(const CreatOpts& o, uint64_t seed) {
  std::vector<fm::FileItem> items;
  if (o.multi.empty()) {
    if (o.file.empty()) throw Error(EINVAL, "no file given: famfs creat -s SIZE FILE");
    fm::FileItem it;
    it.arg = o.file;
    it.size = o.size.empty() ? 0 : parse_size_arg(o.size, "-s/--size");
    if (!o.size.empty() && it.size == 0)
      throw Error(EINVAL, "-s " + o.size + " asks for size 0 for " + quote(o.file) +
                              ": famfs files cannot be empty; give a size (e.g. -s 4m)");
    it.seed = o.randomize ? seed : 0;
    items.push_back(std::move(it));
    return items;
  }
  if (!o.file.empty() || !o.size.empty() || seed)
    throw Error(EINVAL, "--multi cannot be combined with a FILE argument, -s or -S; give each "
                        "file as -M FILE,SIZE[,SEED]");
  for (const auto& m : o.multi) {
    auto parts = split_commas(m);
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty())
      throw Error(EINVAL, "-M/--multi " + quote(m) + ": expected FILE,SIZE or FILE,SIZE,SEED");
    fm::FileItem it;
    it.arg = parts[0];
    it.size = parse_size_arg(parts[1], ("-M/--multi " + m).c_str());
    if (parts.size() == 3) it.seed = parse_u64_arg(parts[2], ("-M/--multi " + m).c_str());
    items.push_back(std::move(it));
  }
  return items;
}

} // namespace

// =============================================================================================
int run_creat(const CreatOpts& o) {
  CliEvents ev("famfs creat", o.verbose);
  try {
    fm::CreateOptions co;
    co.attrs = parse_attrs(o.mode, o.uid, o.gid, 0644);
    co.attrs.mode &= ~current_umask();
    uint64_t seed = o.seed.empty() ? 0 : parse_u64_arg(o.seed, "-S/--seed");
    co.threads = parse_threads_arg(o.threads, cpu_count());
    if (seed && !o.randomize)
      throw Error(EINVAL, "-S/--seed " + o.seed + " given without -r/--randomize; add -r to fill "
                          "the file with the seeded pattern");
    const bool multi = !o.multi.empty();
    co.stop_on_error = !multi;
    std::vector<fm::FileItem> items = creat_items(o, seed);

    uint64_t errs = 0;
    auto mount = fm::resolve_files(items, ev, &errs); // before taking the lock
    if (!mount) return multi ? count_rc(errs) : 1;
    if (!multi && errs) return 1;

    auto w = fm::Writer::open(*mount, {o.uuid_file, "create files", {}}, ev);
    co.interleave = parse_interleave(o.il, &w->geometry());
    fm::CreateResult r = fm::create_files(*w, items, co, ev, errs);
    if (r.stopped) return 1;
    for (const auto* it : r.filled)
      std::printf("randomized %llu bytes: %s\n", (unsigned long long)it->size, it->arg.c_str());
    if (!multi) return 0;
    uint64_t ncreated = 0;
    for (const auto& it : items) ncreated += it.created;
    std::printf("Create complete for %llu of %zu files with %llu errs\n",
                (unsigned long long)ncreated, items.size(), (unsigned long long)r.errors);
    return count_rc(r.errors);
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

// =============================================================================================
int run_mkdir(const MkdirOpts& o) {
  CliEvents ev("famfs mkdir", o.verbose);
  try {
    if (o.dirs.empty()) throw Error(EINVAL, "no directory given: famfs mkdir [-p] DIR");
    // B§5: 0755 by default, stored as given (the log is not subject to the umask).
    fm::Attrs a = parse_attrs(o.mode, o.uid, o.gid, 0755);
    int rc = 0;
    for (const auto& dir : o.dirs) {
      try {
        if (o.parents) {
          if (auto m = fm::existing_famfs_dir(dir)) {
            ev.note(dir + " exists in the famfs at " + m->mpt + ": nothing to create");
            continue;
          }
        }
        fm::NewPath np = fm::resolve_new_path(dir, o.parents);
        auto w = fm::Writer::open(np.mount, {o.uuid_file, "create directories", {}}, ev);
        fm::make_dirs(*w, np, dir, o.parents, a, ev);
      } catch (const Error& e) {
        ev.error(e.what());
        rc = 1;
      }
    }
    return rc;
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

// =============================================================================================
int run_clone(const CloneOpts& o) {
  CliEvents ev("famfs clone", o.verbose);
  try {
    MountInfo sm = fm::mount_of_existing(o.src);
    std::string srel = fm::relpath_in_mount(sm, o.src);
    fm::NewPath np = fm::resolve_new_path(o.dst, false);
    if (np.mount.mpt != sm.mpt)
      throw Error(EXDEV, quote(o.src) + " and " + quote(o.dst) + " are in different famfs mounts");
    auto w = fm::Writer::open(np.mount, {o.uuid_file, "clone files", {}}, ev);
    fm::clone_file(*w, srel, o.src, np, o.dst);
    ev.warning(quote(o.dst) + " shares its extents with " + quote(o.src) +
               ": this is a cross-link for testing, and famfs fsck will report it");
    return 0;
  } catch (const Error& e) {
    ev.error(e.what());
    return 1;
  }
}

} // namespace famfs::cli::master
