// famfs fsck (spec B§8.2, B§10): check a famfs device, image file, or the file system mounted
// at a path. Exit status as upstream: the number of allocation collisions (capped at 127) when
// there are any, 1 when anything else is wrong, 16 (EBUSY) for a mounted device, 0 when clean.
#include <sys/stat.h>
#include <sys/xattr.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "cli/app_common.hpp"
#include "cli/commands.hpp"
#include "cli/fsck_report.hpp"
#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/identity.hpp"
#include "dax/mapping.hpp"
#include "dax/mounts.hpp"
#include "master/paths.hpp"
#include "meta/error.hpp"
#include "meta/fsck.hpp"
#include "meta/omf.hpp"
#include "proto/xattr.h"

namespace famfs::cli {

namespace {

constexpr const char* kProg = "famfs fsck";
constexpr int kExitError = 1;
constexpr int kExitBusy = EBUSY; // 16, as upstream

struct FsckOptions {
  std::string target;
  bool human = false;
  bool verbose = false;
  bool json = false;
  uint32_t nbuckets = 0;
  bool mmap = false, read = false; // upstream's log access method: accepted, no effect
  bool set_daxmode = false;
  bool compat = false; // -f, -L, -F, --fuse, -D: accepted, no effect
  std::string uuid_file;
};

// The device a famfs mount serves: the daemon's user.famfs.device xattr on the mount root,
// else the fsname /proc/mounts shows (the daemon passes the absolute device path as fsname).
std::string device_of_mount(const dax::MountEntry& m) {
  char buf[4096];
  ssize_t n = ::getxattr(m.mountpoint.c_str(), FAMFS_XATTR_DEVICE, buf, sizeof buf);
  if (n > 0) return std::string(buf, size_t(n));
  return m.device;
}

// The famfs mount whose mount point is `path` or an ancestor of it, by name only (for a user
// who cannot look at the path itself).
std::optional<dax::MountEntry> mount_by_name(const std::string& path) {
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[PATH_MAX];
    if (!::getcwd(cwd, sizeof cwd)) return std::nullopt;
    abs = std::string(cwd) + "/" + abs;
  }
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  std::optional<dax::MountEntry> best;
  for (auto& m : dax::famfs_mounts()) {
    const std::string& mp = m.mountpoint;
    const bool under = abs == mp || (abs.size() > mp.size() && abs.compare(0, mp.size(), mp) == 0 &&
                                     (mp == "/" || abs[mp.size()] == '/'));
    if (under && (!best || mp.size() > best->mountpoint.size())) best = m;
  }
  return best;
}

// What fsck checks: the device, and the mount it came from; or why there is nothing to check
// (rc != 0).
struct Target {
  std::string device;
  std::optional<dax::MountEntry> mount;
  int rc = 0;
  std::string why;
};

// The device behind the famfs mount `m`, when the mount is one famfs commands trust (made by
// root or the caller: another user's mount could name any device, issue 8 defect 3).
Target mount_target(const dax::MountEntry& m) {
  Target t;
  t.mount = m;
  try {
    famfs::master::check_trusted_mount(m.mountpoint, m.options, ::geteuid());
  } catch (const Error& e) {
    t.device = m.device;
    t.rc = kExitError;
    t.why = e.what();
    return t;
  }
  t.device = device_of_mount(m);
  return t;
}

Target resolve_target(const FsckOptions& o) {
  Target t;
  struct stat st {};
  if (::stat(o.target.c_str(), &st) != 0) {
    const int err = errno;
    // A non-root user cannot even stat a mount made without allow_other: check its device.
    if (err == EACCES || err == EPERM)
      if (auto m = mount_by_name(o.target)) return mount_target(*m);
    // probe_device explains a missing /dev/daxX.Y (e.g. a device in system-ram mode).
    t.device = o.target;
    t.rc = kExitError;
    try {
      dax::probe_device(o.target);
      t.why = o.target + ": " + std::strerror(err) +
              "; give a famfs device, an image file, or a path inside a famfs mount";
    } catch (const Error& e) {
      t.why = e.what();
    }
    return t;
  }
  // A path inside a mounted famfs: check the device behind it (read-only, no lock: fsck is
  // a reader, as upstream).
  if (auto m = dax::famfs_mount_containing(o.target)) return mount_target(*m);
  t.device = o.target;
  if (S_ISDIR(st.st_mode)) {
    t.rc = kExitError;
    t.why = o.target + ": is a directory outside any famfs mount; give a famfs device, an "
                       "image file, or a path inside a famfs mount";
    return t;
  }
  if (o.set_daxmode && dax::reconfigure_to_devdax(t.device) && o.verbose)
    std::printf("%s: reconfigured %s to devdax mode\n", kProg, t.device.c_str());
  if (auto mounted = dax::famfs_mounts_of_device(t.device); !mounted.empty()) {
    t.rc = kExitBusy;
    t.why = t.device + " is mounted at " + mounted.front().mountpoint + "; run 'famfs fsck " +
            mounted.front().mountpoint + "' on the mount point instead";
  }
  return t;
}

int run_fsck_command(const FsckOptions& o) {
  if (o.mmap && o.read) return usage_error(kProg, "-m/--mmap and -r/--read are mutually exclusive");
  // A check that cannot run: the message on stderr and, with --json, still exactly one JSON
  // object on stdout so that scripts always have something to parse.
  auto fail = [&o](int rc, const std::string& device, const std::string& why) {
    print_error(kProg, why);
    if (o.json) std::printf("%s\n", fsck_error_json(device, why, rc).c_str());
    return rc;
  };

  Target t = resolve_target(o);
  if (t.rc) return fail(t.rc, t.device, t.why);
  const std::string& device = t.device;
  const std::optional<dax::MountEntry>& mount = t.mount;

  std::optional<dax::Device> dev;
  std::optional<dax::Mapping> map;
  try {
    dev.emplace(dax::Device::open(device, false));
    if (dev->info().size < sizeof(omf::Superblock)) {
      return fail(kExitError, device,
                  device + ": is " + std::to_string(dev->info().size) +
                      " bytes, too small to hold a famfs superblock; nothing to check");
    }
    map.emplace(dax::Mapping::map(*dev, false));
  } catch (const Error& e) {
    return fail(kExitError, device,
                std::string(e.what()) +
                    (mount ? " (the device of the famfs mount at " + mount->mountpoint + ")"
                           : std::string()));
  }

  const std::optional<Uuid> host = dax::read_system_uuid(dax::system_uuid_path(o.uuid_file));
  FsckReport r = run_fsck(map->cbytes(), host ? &*host : nullptr, dax::cpu_cache_ops());

  if (o.json) {
    std::printf("%s\n", fsck_json(r, device, host).c_str());
  } else {
    FsckPrintOptions po;
    po.device = device;
    po.human = o.human;
    po.verbose = o.verbose;
    po.nbuckets = o.nbuckets;
    print_fsck_human(stdout, r, map->cbytes(), po);
  }
  std::fflush(stdout);
  return fsck_exit_code(r);
}


// famfs mkmeta DEVICE (upstream legacy): the meta files are made by every mount here
// (famfs-fused serves .meta/.superblock and .meta/.log), so there is nothing to create; as
// upstream, it succeeds when the device exists.
int run_mkmeta(const std::string& device, bool verbose) {
  const char* prog = "famfs mkmeta";
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) {
    print_error(prog, device + ": " + std::strerror(errno) + "; give the famfs device (/dev/daxX.Y) "
                      "or image file");
    return 1;
  }
  if (verbose)
    std::printf("%s: nothing to do: every famfs mount serves .meta/.superblock and .meta/.log\n",
                prog);
  return 0;
}

} // namespace

void register_device_commands(Commands& app) {
  {
    auto o = std::make_shared<FsckOptions>();
    CLI::App* cmd = add_command(app, "fsck",
                                "Check a famfs device, image file, or the file system mounted at "
                                "a path (exit: collisions count, 1 other problems, 16 mounted "
                                "device)",
                                [o] { return run_fsck_command(*o); });
    cmd->set_help_flag("-?,--help", "Print this help and exit (-h is --human here, as upstream)");
    cmd->add_flag("-h,--human", o->human, "Sizes in GiB");
    cmd->add_flag("-v,--verbose", o->verbose, "Add upstream's verbose block (log_offset, log_len, "
                                              "struct sizes)");
    cmd->add_flag("--json", o->json, "Print one JSON object instead of the report");
    cmd->add_option("-B,--nbuckets", o->nbuckets, "Show free space in N stripe buckets (1..64)")
        ->check(CLI::Range(1u, 64u).description(""));
    cmd->add_flag("-M,--set-daxmode", o->set_daxmode,
                  "Unmounted device-dax device in system-ram mode: reconfigure it to devdax first");
    cmd->add_flag("-m,--mmap", o->mmap, "Read the device through a mapping (the default)");
    cmd->add_flag("-r,--read", o->read, "Upstream: read with read(); accepted, no effect (excludes "
                                        "-m)");
    cmd->add_flag("-f,--force,-L,--load-module,-F,--nofuse,--fuse,-D,--nodax", o->compat,
                  "Accepted for compatibility with upstream famfs; no effect");
    add_identity_option(cmd, o->uuid_file);
    cmd->add_option("target", o->target, "Device, image file, or path inside a famfs mount")
        ->required();
  }
  {
    auto device = std::make_shared<std::string>();
    auto verbose = std::make_shared<bool>(false);
    CLI::App* cmd = add_command(app, "mkmeta",
                                "Legacy (upstream): succeeds when DEVICE exists; every mount "
                                "already serves the meta files",
                                [device, verbose] { return run_mkmeta(*device, *verbose); });
    cmd->add_flag("-v,--verbose", *verbose, "Say that there is nothing to do");
    cmd->add_option("device", *device, "famfs device or image file")->required();
  }
}

} // namespace famfs::cli
