// famfs cp: argv -> src/master/copy_in.hpp -> output. Copies files (and with -r directories)
// into famfs at memory speed.
#include <unistd.h>

#include <cerrno>

#include "cli/master_common.hpp"
#include "cli/master_ops.hpp"
#include "cli/util.hpp"
#include "master/copy_in.hpp"
#include "master/writer.hpp"
#include "meta/error.hpp"

namespace famfs::cli::master {

namespace fm = famfs::master;

int run_cp(const CpOpts& o) {
  CliEvents ev("famfs cp", o.verbose);
  try {
    if (o.args.size() < 2)
      throw Error(EINVAL, "give at least one source and a destination: famfs cp [-r] SRC... DEST");
    fm::CopyOptions co;
    co.threads = parse_threads_arg(o.threads, 1);
    std::optional<uint32_t> mode;
    if (!o.mode.empty()) mode = parse_mode_arg(o.mode, "-m/--mode") & ~current_umask();
    co.uid = o.uid.empty() ? uint32_t(::getuid()) : parse_id_arg(o.uid, "-u/--uid");
    co.gid = o.gid.empty() ? uint32_t(::getgid()) : parse_id_arg(o.gid, "-g/--gid");
    co.method = fm::copy_method_from_env();

    std::vector<std::string> srcs(o.args.begin(), o.args.end() - 1);
    fm::CopyDest dest = fm::resolve_copy_dest(o.args.back(), srcs.size());
    fm::CopyPlan plan = fm::plan_copy(srcs, dest, o.recursive, mode, ev);
    if (plan.items.empty()) return 1;

    auto w = fm::Writer::open(dest.mount, {o.uuid_file, "copy files", {}}, ev);
    co.interleave = parse_interleave(o.il, &w->geometry());
    uint64_t errs = fm::copy_in(*w, plan, co, ev);
    if (o.compare) errs += fm::compare_copies(plan, co.threads, ev);
    return errs ? 1 : 0;
  } catch (const Error& e) {
    ev.error(e.what());
    return e.err() == ENOMEM ? ENOMEM : 1; // log full: exit 12, as upstream
  }
}

} // namespace famfs::cli::master
