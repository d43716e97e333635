// mkfs.famfs: make a famfs file system on a device-dax device or an image file (spec B§9,
// Part A §1). Exit codes as upstream: 0 success, 2 any mkfs failure, 1 a missing device
// argument, a device that does not exist, or a caller who is not root.
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>

#include "cli/app_common.hpp"
#include "cli/fsck_report.hpp"
#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/identity.hpp"
#include "dax/mapping.hpp"
#include "dax/mounts.hpp"
#include "master/feature.hpp"
#include "meta/error.hpp"
#include "meta/format.hpp"
#include "meta/fsck.hpp"
#include "meta/omf.hpp"
#include "meta/superblock.hpp"

namespace {

constexpr const char* kProg = "mkfs.famfs";
constexpr int kExitFail = 2;
constexpr int kExitUsage = famfs::cli::kExitUsage; // also: no device, not root

struct Options {
  std::string device;
  bool force = false;
  bool kill = false;
  bool enable_delete = false; // --enable-delete (docs/delete.md)
  std::string loglen;
  bool nodax = false;
  bool set_daxmode = false;
  bool nofuse = false;
  bool fuse = false;
  bool verbose = false;
  std::string uuid_file;
};

int fail(const std::string& msg, int rc = kExitFail) {
  famfs::cli::print_error(kProg, msg);
  return rc;
}

// What is on the device now decides whether mkfs may overwrite it without -f.
std::optional<std::string> refusal(const std::string& dev, std::span<const std::byte> bytes,
                                   const std::optional<famfs::Uuid>& host) {
  using namespace famfs;
  const omf::Superblock sb = read_superblock(bytes);
  const SbStatus st = check_superblock(sb);
  if (st == SbStatus::WrongVersion)
    return dev + " holds a famfs superblock of version " + std::to_string(sb.ts_version) +
           " (this mkfs writes " + std::to_string(omf::kVersion) +
           "); use -f to overwrite it, which destroys all files";
  // Upstream's check_super accepts these (it checks neither field), so upstream tools may be
  // using this file system: refuse like a valid one.
  if (st == SbStatus::BadLogOffset || st == SbStatus::BadLogLen)
    return dev + " holds a famfs superblock (UUID " + uuid_to_string(sb.ts_uuid) + ") with a " +
           sb_status_text(st) + "; use -f to overwrite it, which destroys all files";
  if (!sb_usable(st)) return std::nullopt;
  const std::string ids =
      "UUID " + uuid_to_string(sb.ts_uuid) + ", master " + uuid_to_string(sb.ts_system_uuid);
  const Uuid* me = host ? &*host : nullptr;
  if (role_of(sb, me) == Role::Client)
    return dev + " holds a famfs file system owned by another host (" + ids + "; this host is " +
           (host ? uuid_to_string(*host) : std::string("unidentified")) +
           "); run mkfs on its master, or use -f to overwrite it, which destroys all files";
  return dev + " already holds a famfs file system (" + ids +
         "); use -f to overwrite it, which destroys all files";
}

int run(const Options& o) {
  using namespace famfs;
  if (::geteuid() != 0)
    return fail("must be run as root (it writes the superblock and /opt/famfs/system_uuid)",
                kExitUsage);

  if (o.kill && !o.force)
    cli::print_warning(kProg, "--kill is ignored without --force; making a new file system");

  uint64_t log_len = omf::kMinLogLen;
  if (!o.loglen.empty()) {
    std::string why;
    auto v = cli::parse_size(o.loglen, &why);
    if (!v) return fail("invalid log length: " + why);
    log_len = *v;
  }
  if (!log_len_valid(log_len))
    return fail("log length " + std::to_string(log_len) +
                " is invalid: it must be a power of 2 and at least 8 MiB (e.g. -l 8m, -l 64m)");

  if (o.set_daxmode) {
    try {
      if (dax::reconfigure_to_devdax(o.device) && o.verbose)
        std::printf("%s: reconfigured %s to devdax mode\n", kProg, o.device.c_str());
    } catch (const Error& e) {
      return fail(e.what());
    }
  }

  std::optional<dax::Device> dev;
  try {
    dev.emplace(dax::Device::open(o.device, true));
  } catch (const Error& e) {
    return fail(e.what(), e.err() == ENOENT ? kExitUsage : kExitFail);
  }
  const dax::DeviceInfo& info = dev->info();

  // A mounted file system must never be reformatted or killed under its daemon, -f or not.
  if (auto mounted = dax::famfs_mounts_of_device(o.device); !mounted.empty())
    return fail(o.device + " is mounted at " + mounted.front().mountpoint +
                "; unmount it first (famfs umount " + mounted.front().mountpoint + ")");

  // Two mkfs runs on one device at once would interleave their writes; the lock goes away
  // with the fd.
  if (::flock(dev->fd(), LOCK_EX | LOCK_NB) != 0)
    return fail(o.device + " is locked by another process (another mkfs.famfs?); wait for it to "
                           "finish and try again");

  std::optional<dax::Mapping> map;
  try {
    map.emplace(dax::Mapping::map(*dev, true));
  } catch (const Error& e) {
    return fail(e.what());
  }
  const CacheOps cache = dax::cpu_cache_ops();

  // Defect 9 of issue 8: not an error (upstream makes images with truncate), but said.
  if (struct stat st{}; ::fstat(dev->fd(), &st) == 0)
    if (auto w = cli::device_exposure_warning(o.device, st)) cli::print_warning(kProg, *w);

  if (o.kill && o.force) {
    kill_superblock(map->bytes(), cache);
    std::printf("%s: killed the famfs superblock on %s (magic zeroed; the log is untouched)\n",
                kProg, o.device.c_str());
    return 0;
  }

  if (info.size < omf::kMinDeviceSize)
    return fail(o.device + " is " + std::to_string(info.size) + " bytes (" +
                cli::human_bytes(info.size) + "); famfs needs at least 4 GiB" +
                (info.kind == dax::DeviceKind::ImageFile ? " (grow the image: truncate -s 4G " +
                                                               o.device + ")"
                                                         : std::string()));
  if (omf::kLogOffset + log_len >= info.size)
    return fail("log length " + cli::human_bytes(log_len) + " does not fit on " + o.device +
                " (" + cli::human_bytes(info.size) +
                "): 2 MiB superblock + log must be smaller than the device; use a smaller -l");

  const std::string uuid_path = dax::system_uuid_path(o.uuid_file);
  if (!o.force) {
    if (auto why = refusal(o.device, map->cbytes(), dax::read_system_uuid(uuid_path)))
      return fail(*why);
  }

  try {
    SuperblockParams p;
    p.log_len = log_len;
    p.device_size = info.size;
    p.fs_uuid = uuid_random();
    p.dev_uuid = uuid_random();
    p.system_uuid = dax::get_or_create_system_uuid(uuid_path);
    p.device_path = o.device;
    if (o.verbose)
      std::printf("%s: %s: %s, %llu bytes, log %llu bytes, cache flush with %s\n", kProg,
                  o.device.c_str(),
                  info.kind == dax::DeviceKind::DaxChar ? "device-dax" : "image file",
                  static_cast<unsigned long long>(info.size),
                  static_cast<unsigned long long>(log_len), dax::flush_instruction_name());
    format_device(map->bytes(), p, cache);
    if (o.enable_delete) famfs::master::enable_delete(map->bytes(), cache);
  } catch (const Error& e) {
    return fail(e.what());
  }

  // Upstream prints the fsck summary of the new file system.
  const std::optional<Uuid> host = dax::read_system_uuid(uuid_path);
  FsckReport r = run_fsck(map->cbytes(), host ? &*host : nullptr, cache);
  cli::FsckPrintOptions po;
  po.device = o.device;
  po.human = true;
  po.verbose = o.verbose;
  po.problems = false;
  print_fsck_human(stdout, r, map->cbytes(), po);
  if (!r.clean()) {
    for (const std::string& s : r.problems) cli::print_error(kProg, s);
    return fail("the new file system on " + o.device + " does not check clean (see above)");
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"mkfs.famfs: make a famfs file system on a device-dax device or an image file",
               kProg};
  app.set_help_flag("-h,-?,--help", "Print this help and exit");
  app.add_flag("-f,--force", o.force, "Overwrite an existing famfs file system (destroys all files)");
  app.add_flag("-k,--kill", o.kill, "With --force: zero the superblock magic only, then stop");
  app.add_option("-l,--loglen", o.loglen, "Log length N[kmg] (power of 2, >= 8M; default 8M)");
  app.add_flag("-D,--nodax", o.nodax, "Accepted for compatibility (the device is always mapped directly)");
  app.add_flag("-M,--set-daxmode", o.set_daxmode,
               "Reconfigure a device-dax device found in system-ram mode to devdax first");
  app.add_flag("-F,--nofuse", o.nofuse, "Accepted for compatibility");
  app.add_flag("--fuse", o.fuse, "Accepted for compatibility");
  app.add_flag("--verbose", o.verbose, "Say more about what is done");
  app.add_flag("--enable-delete", o.enable_delete,
               "Enable delete (famfs rm; every host must run this famfs: see famfs(8))");
  app.add_option("--system-uuid-file", o.uuid_file,
                 "Host identity file (default $FAMFS_SYSTEM_UUID_FILE or /opt/famfs/system_uuid)");
  app.add_option("device", o.device, "Device (/dev/daxX.Y) or image file (>= 4 GiB)");
  famfs::cli::add_version_flag(app, kProg);
  famfs::cli::name_value_types(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e); // --help, --version
    return famfs::cli::usage_error(kProg, e.what());
  }
  if (o.device.empty()) {
    return famfs::cli::usage_error(kProg, "no device given (usage: mkfs.famfs [options] DEVICE)");
  }
  try {
    return run(o);
  } catch (const famfs::Error& e) {
    return fail(e.what());
  } catch (const std::exception& e) {
    return fail(std::string("unexpected failure: ") + e.what());
  }
}
