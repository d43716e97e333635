// Registration of the master-side commands (creat, cp, mkdir, clone) and the file-level
// helpers (verify, getmap, check, chkread, flush, status). Options follow upstream's CLI (spec B§10);
// the work is in master_*.cpp.
#include <memory>

#include "cli/commands.hpp"
#include "cli/master_ops.hpp"

namespace famfs::cli {

namespace {

using namespace famfs::cli::master;

void add_interleave(CLI::App* c, InterleaveArgs& il) {
  c->add_option("-N,--nstrips", il.nstrips, "Interleave: strips per file (1..16)");
  c->add_option("-B,--nbuckets", il.nbuckets, "Interleave: buckets the device is divided into (1..64)");
  c->add_option("-C,--chunksize", il.chunk, "Interleave: chunk size N[kmg] (default 2M)");
}

// A repeatable option taking exactly one value per occurrence.
CLI::Option* add_repeatable(CLI::App* c, const std::string& name, std::vector<std::string>& v,
                            const std::string& help) {
  return c->add_option(name, v, help)
      ->type_size(1)
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
}

} // namespace

void register_master_commands(Commands& app) {
  // ---- creat
  {
    auto o = std::make_shared<CreatOpts>();
    auto* c = add_command(app, "creat", "Create a file (allocated, optionally filled with a seeded pattern)",
                          [o] { return run_creat(*o); });
    c->add_option("file", o->file, "File to create inside a famfs mount");
    c->add_option("-s,--size", o->size, "File size N[kmg] (required for a new file)");
    c->add_flag("-r,--randomize", o->randomize, "Fill the file with the pattern of --seed");
    c->add_option("-S,--seed", o->seed, "Seed of the pattern (with -r)");
    c->add_option("-m,--mode", o->mode, "Octal mode (default 0644, masked by the umask)");
    c->add_option("-u,--uid", o->uid, "Owner uid (default: effective uid)");
    c->add_option("-g,--gid", o->gid, "Owner gid (default: effective gid)");
    add_repeatable(c, "-M,--multi", o->multi, "FILE,SIZE[,SEED]: create several files (repeatable)");
    c->add_option("-t,--threadct", o->threads, "Threads filling --multi files (default: CPUs)");
    add_interleave(c, o->il);
    c->add_flag("-v,--verbose", o->verbose, "Say what was created");
    add_identity_option(c, o->uuid_file);
  }
  // ---- verify
  {
    auto o = std::make_shared<VerifyOpts>();
    auto* c = add_command(app, "verify", "Check a file's contents against a seeded pattern (any host)",
                          [o] { return run_verify(*o); });
    c->add_option("-f,--filename", o->file, "File to verify");
    c->add_option("-S,--seed", o->seed, "Seed the file was created with");
    add_repeatable(c, "-m,--multi", o->multi, "FILE,SEED: verify several files (repeatable)");
    c->add_option("-t,--threadct", o->threads, "Threads for --multi (default: CPUs)");
    c->add_flag("-q,--quiet", o->quiet, "Print only failures");
  }
  // ---- mkdir
  {
    auto o = std::make_shared<MkdirOpts>();
    auto* c = add_command(app, "mkdir", "Create a directory", [o] { return run_mkdir(*o); });
    c->add_option("dir", o->dirs, "Directory to create inside a famfs mount")->required();
    c->add_flag("-p,--parents", o->parents, "Create missing parents; an existing directory is fine");
    c->add_option("-m,--mode", o->mode, "Octal mode (default 0755)");
    c->add_option("-u,--uid", o->uid, "Owner uid (default: effective uid)");
    c->add_option("-g,--gid", o->gid, "Owner gid (default: effective gid)");
    c->add_flag("-v,--verbose", o->verbose, "Say what was created");
    add_identity_option(c, o->uuid_file);
  }
  // ---- cp
  {
    auto o = std::make_shared<CpOpts>();
    auto* c = add_command(app, "cp", "Copy files (and with -r directories) into famfs",
                          [o] { return run_cp(*o); });
    c->add_option("args", o->args, "SRC... DEST")->required();
    c->add_flag("-r,--recursive", o->recursive, "Copy directories recursively");
    c->add_option("-t,--threadct", o->threads, "Copy threads (default 1)");
    c->add_flag("-c,--compare", o->compare,
                "After copying, read each copy back and compare it with its source (exit 1 on a difference)");
    c->add_option("-m,--mode", o->mode, "Octal mode for the copies (default: the source's; masked by the umask)");
    c->add_option("-u,--uid", o->uid, "Owner uid (default: real uid)");
    c->add_option("-g,--gid", o->gid, "Owner gid (default: real gid)");
    add_interleave(c, o->il);
    c->add_flag("-v,--verbose", o->verbose, "List each file copied");
    add_identity_option(c, o->uuid_file);
  }
  // ---- getmap
  {
    auto o = std::make_shared<GetmapOpts>();
    auto* c = add_command(app, "getmap", "Print the extent map of famfs files",
                          [o] { return run_getmap(*o); });
    c->add_option("file", o->files, "Files");
    c->add_flag("-q,--quiet", o->quiet, "Only the exit code (and 'good file' lines)");
    c->add_flag("-c,--continue", o->cont, "Continue after an error");
    c->add_flag("--json", o->json, "Print the maps as a JSON array, one object per file");
  }
  // ---- check
  {
    auto o = std::make_shared<CheckOpts>();
    auto* c = add_command(app, "check",
                          "Check every file's served map against the log (exit: 1 unmapped or "
                          "differing file, 2 bad superblock, 4 bad log, or-ed)",
                          [o] { return run_check(*o); });
    c->add_option("mountpoint", o->path, "A famfs mount point (or any path inside it)");
    c->add_flag("-v,--verbose", o->verbose, "Name every good file too");
    c->add_flag("-q,--quiet", o->quiet, "No summary line");
  }
  // ---- clone
  {
    auto o = std::make_shared<CloneOpts>();
    auto* c = add_command(app, "clone", "TEST ONLY: a new file sharing SRC's extents (a cross-link)",
                          [o] { return run_clone(*o); });
    c->add_option("src", o->src, "Existing famfs file")->required();
    c->add_option("dst", o->dst, "New file")->required();
    c->add_flag("-v,--verbose", o->verbose, "Verbose");
    add_identity_option(c, o->uuid_file);
  }
  // ---- chkread
  {
    auto o = std::make_shared<ChkreadOpts>();
    auto* c = add_command(app, "chkread", "Check that read() and mmap views of a file agree",
                          [o] { return run_chkread(*o); });
    c->add_option("file", o->file, "File")->required();
    c->add_flag("-s", o->superblock, "The file is the superblock: dump it");
    c->add_flag("-l", o->log, "The file is the log: dump its header");
  }
  // ---- flush
  {
    auto o = std::make_shared<FlushOpts>();
    auto* c = add_command(app, "flush", "Write back and drop the CPU cache lines of files' memory",
                          [o] { return run_flush(*o); });
    c->add_option("file", o->files, "Files");
    c->add_flag("-v,--verbose", o->verbose, "Verbose");
  }
  // ---- rm
  {
    auto o = std::make_shared<RmOpts>();
    auto* c = add_command(app, "rm",
                          "Remove files and (with -r) directories; the space is reused once "
                          "every host is past the delete (needs 'famfs feature enable delete')",
                          [o] { return run_rm(*o); });
    c->add_option("path", o->paths, "Files or directories inside a famfs mount");
    c->add_flag("-r,-R,--recursive", o->recursive, "Remove directories and everything in them");
    c->add_flag("-f,--force", o->force, "A path that does not exist is not an error");
    c->add_flag("-v,--verbose", o->verbose, "Say what was removed");
    add_identity_option(c, o->uuid_file);
  }
  // ---- feature
  {
    auto o = std::make_shared<FeatureOpts>();
    auto* c = add_command(app, "feature",
                          "Enable a feature of a famfs file system (master only): 'famfs feature "
                          "enable delete MOUNTPOINT'",
                          [o] { return run_feature(*o); });
    c->add_option("args", o->args, "enable delete MOUNTPOINT");
    c->add_option("--lease-ms", o->lease_ms,
                  "With enable delete: a host silent this long is considered gone (default 10000)");
    add_identity_option(c, o->uuid_file);
  }
  // ---- hosts
  {
    auto o = std::make_shared<HostsOpts>();
    auto* c = add_command(app, "hosts",
                          "The hosts registered in a famfs with delete enabled (--evict UUID on "
                          "the master: stop waiting for a host that is gone)",
                          [o] { return run_hosts(*o); });
    c->add_option("mountpoint", o->path, "A famfs mount point (or any path inside it)");
    c->add_flag("--json", o->json, "Print the hosts as JSON");
    c->add_option("--evict", o->evict, "UUID: declare this host gone (master only)");
    add_identity_option(c, o->uuid_file);
  }
  // ---- status
  {
    auto o = std::make_shared<StatusOpts>();
    auto* c = add_command(app, "status",
                          "Role, space, log use and replay state of a famfs mount (no argument: "
                          "every famfs mount and famfs-formatted dax device of this host)",
                          [o] { return run_status(*o); });
    c->add_option("mountpoint", o->path, "A famfs mount point (or any path inside it)");
    auto* js = c->add_flag("--json", o->json, "Print the status as JSON (no argument: an array)");
    auto* pr = c->add_flag("--prometheus", o->prometheus,
                           "Print the metrics of the mount(s) in the Prometheus text format");
    js->excludes(pr);
    add_identity_option(c, o->uuid_file);
  }
}

} // namespace famfs::cli
