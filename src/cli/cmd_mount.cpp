// famfs mount / umount / logplay: starting and stopping famfs-fused, forcing a replay.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/master_common.hpp"
#include "cli/app_common.hpp"
#include "cli/commands.hpp"
#include "cli/shadow.hpp"
#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "dax/device.hpp"
#include "dax/device_id.hpp"
#include "dax/identity.hpp"
#include "dax/mapping.hpp"
#include "dax/mounts.hpp"
#include "master/reports.hpp"
#include "meta/error.hpp"
#include "meta/namespace.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"
#include "proto/daemon_defaults.h"
#include "proto/xattr.h"

namespace famfs::cli {

namespace {

// ---- helpers ---------------------------------------------------------------------------------

std::optional<dax::MountEntry> famfs_mount_at(const std::string& abs) {
  for (auto& m : dax::famfs_mounts())
    if (m.mountpoint == abs) return m;
  return std::nullopt;
}

std::optional<std::string> get_xattr(const std::string& path, const char* name, int* err) {
  std::vector<char> buf(4096);
  for (int tries = 0; tries < 8; ++tries) {
    ssize_t n = ::getxattr(path.c_str(), name, buf.data(), buf.size());
    if (n >= 0) return std::string(buf.data(), size_t(n));
    if (errno != ERANGE) {
      if (err) *err = errno;
      return std::nullopt;
    }
    buf.resize(buf.size() * 4);
  }
  if (err) *err = ERANGE;
  return std::nullopt;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  buf[n] = 0;
  std::string s(buf);
  return s.substr(0, s.rfind('/'));
}

// famfs-fused next to famfs (installed), in the build tree (../daemon), or on PATH.
std::string find_fused() {
  if (const char* e = std::getenv("FAMFS_FUSED"); e && *e) return e;
  std::string d = self_dir();
  for (std::string c : {d + "/famfs-fused", d + "/../daemon/famfs-fused", d + "/../sbin/famfs-fused"})
    if (::access(c.c_str(), X_OK) == 0) return c;
  return "famfs-fused";
}

bool pid_alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  FILE* f = std::fopen(path, "r");
  if (!f) return false;
  char buf[512];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  return !(p && p[1] == ' ' && p[2] == 'Z');
}

// ---- mount -----------------------------------------------------------------------------------

struct MountOpts {
  std::string device, mpt;
  bool fuse = false, nofuse = false, debug = false, verbose = false, nouseraccess = false;
  bool nodefaultperm = false, read_only = false, remount = false, allow_other = false;
  bool mmap = false, read = false, dummy = false, load_module = false, set_daxmode = false;
  std::optional<double> timeout;
  std::string cache, shadow, uuid_file, log_file;
  std::optional<unsigned> refresh_ms;
  std::optional<unsigned> threads;
  bool nodirect = false;
  std::vector<std::string> options; // -o: famfs-fused and generic mount options, as given
};

// -o lists: ro and rw set read-only (the last one wins, as mount(8)); every option also goes
// to famfs-fused, which knows the rest and refuses unknown ones by name.
void apply_read_only(const std::vector<std::string>& lists, bool& read_only) {
  for (const std::string& list : lists)
    for (const std::string& opt : cli::master::split_commas(list)) {
      if (opt == "ro") read_only = true;
      else if (opt == "rw") read_only = false;
    }
}

// `mpt` is a famfs mount already: say what it is and what to do (a dead one is left for
// 'famfs umount', never detached here).
int refuse_existing_mount(const dax::MountEntry& m, const std::string& mpt) {
  const char* prog = "famfs mount";
  int err = 0;
  if (!get_xattr(mpt, FAMFS_XATTR_ROLE, &err) && err == ENOTCONN) {
    print_error(prog, mpt + " is a famfs mount (of " + m.device + ") whose daemon is not "
                      "running; run 'famfs umount " + mpt + "', then mount again");
  } else {
    print_error(prog, mpt + " is already a famfs mount (of " + m.device + "); run 'famfs umount " +
                      mpt + "' first (or 'famfs mount -R' to replay its log)");
  }
  return 1;
}

// The identity file the daemon will use: -o system_uuid_file= in the -o lists (they come after
// --system-uuid-file on its command line, so the last one wins), else --system-uuid-file.
std::string identity_file(const MountOpts& o) {
  std::string path = o.uuid_file;
  constexpr std::string_view key = "system_uuid_file=";
  for (const std::string& list : o.options)
    for (const std::string& opt : cli::master::split_commas(list))
      if (opt.compare(0, key.size(), key) == 0) path = opt.substr(key.size());
  return path;
}

// The fs UUID in the superblock of `dev`, or "" when there is no usable one (famfs-fused then
// says what is wrong).
std::string fs_uuid_of(const std::string& dev) {
  try {
    dax::Device d = dax::Device::open(dev, false);
    if (d.info().size < sizeof(omf::Superblock)) return {};
    dax::Mapping map = dax::Mapping::map(d, false);
    const omf::Superblock sb = read_superblock(map.cbytes());
    return sb_usable(check_superblock(sb)) ? uuid_to_string(sb.ts_uuid) : std::string();
  } catch (const Error&) {
    return {};
  }
}

// A file system is mounted once per host (issue 8 defect 2): the same image or device under
// any other name (hard link, bind-mounted path, symlink, second device node) is refused
// before a daemon starts, naming the mount that has it. famfs-fused checks the same at start.
int refuse_same_fs_mount(const std::string& dev, const MountOpts& o) {
  const auto id = dax::device_id_of_path(dev);
  const std::string fs_uuid = id ? fs_uuid_of(dev) : std::string();
  if (fs_uuid.empty()) return 0;
  const auto host = dax::read_system_uuid(dax::system_uuid_path(identity_file(o)));
  const dax::SameFsResult r = dax::find_same_fs_mount(
      {*id, fs_uuid, host ? uuid_to_string(*host) : std::string(), ::getuid()});
  if (!r.found) return 0;
  print_error("famfs mount", dax::same_fs_refusal(dev, fs_uuid, *r.found));
  return 1;
}

// Defect 9: a device others can read gives them every file's data, whatever the files' modes.
void warn_device_exposure(const std::string& dev) {
  struct stat st{};
  if (::stat(dev.c_str(), &st) != 0) return;
  if (auto w = device_exposure_warning(dev, st)) print_warning("famfs mount", *w);
}

int run_mount(const MountOpts& given) {
  const char* prog = "famfs mount";
  MountOpts o = given;
  if (o.mmap && o.read) return usage_error(prog, "-m/--mmap and -r/--read are mutually exclusive");
  apply_read_only(o.options, o.read_only);
  if (o.nofuse) {
    print_error(prog, "-F/--nofuse is not available: this famfs is FUSE only (there is no famfs "
                      "kernel module); mount without -F");
    return 1;
  }
  if (o.timeout && !o.cache.empty()) {
    print_error(prog, "-t/--timeout and -c/--cache exclude each other; give one");
    return 1;
  }
  if (!o.cache.empty() && o.cache != "always" && o.cache != "normal" && o.cache != "never") {
    print_error(prog, "-c/--cache takes always, normal or never");
    return 1;
  }
  if (o.nodefaultperm)
    print_warning(prog, "-p/--nodefaultperm ignored: default_permissions is always on");
  if (!o.shadow.empty())
    print_warning(prog, "-S/--shadow ignored: famfs-fused keeps its namespace in memory");

  std::string dev = dax::resolve_path(o.device);
  std::string mpt = dax::resolve_path(o.mpt);
  if (o.set_daxmode && dax::reconfigure_to_devdax(dev) && o.verbose)
    std::printf("famfs mount: reconfigured %s to devdax mode\n", dev.c_str());
  if (o.remount) {
    if (auto m = famfs_mount_at(mpt); m && m->device == dev) {
      int err = 0;
      auto rep = get_xattr(mpt, FAMFS_XATTR_LOGPLAY, &err);
      if (rep) {
        if (o.verbose) std::printf("famfs mount: %s already mounted on %s; replayed the log\n",
                                   dev.c_str(), mpt.c_str());
        return 0;
      }
      print_error(prog, mpt + " is mounted but its daemon does not answer (" +
                            std::strerror(err) + "); run 'famfs umount " + mpt + "' first");
      return 1;
    }
  }

  // A mount that is already there is never touched (issue 8 defect 1): refuse before starting
  // a daemon, so no clean-up of a failed start can reach it.
  if (auto m = famfs_mount_at(mpt)) return refuse_existing_mount(*m, mpt);
  if (int rc = refuse_same_fs_mount(dev, o)) return rc;
  warn_device_exposure(dev);

  std::vector<std::string> opts;
  if (!o.uuid_file.empty()) opts.push_back("system_uuid_file=" + o.uuid_file);
  if (o.refresh_ms) opts.push_back("refresh_ms=" + std::to_string(*o.refresh_ms));
  if (o.timeout) opts.push_back("timeout=" + std::to_string(*o.timeout));
  if (!o.cache.empty()) opts.push_back("cache=" + o.cache);
  if (o.read_only) opts.push_back("ro");
  if (o.allow_other) opts.push_back("allow_other");
  if (!o.log_file.empty()) opts.push_back("log_file=" + dax::resolve_path(o.log_file));
  if (o.threads) opts.push_back("threads=" + std::to_string(*o.threads));
  if (o.nodirect) opts.push_back("nodirect");

  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) {
    print_error(prog, std::string("pipe: ") + std::strerror(errno));
    return 1;
  }
  opts.push_back("ready_fd=" + std::to_string(pfd[1]));
  std::string optstr;
  for (auto& s : opts) {
    if (!optstr.empty()) optstr += ",";
    for (char c : s) {
      if (c == ',' || c == '\\') optstr += '\\';
      optstr += c;
    }
  }
  // -o lists go to famfs-fused as they are (already comma separated, escapes kept): it
  // refuses unknown options, naming them.
  for (const std::string& list : o.options)
    if (!list.empty()) optstr += "," + list;
  std::string fused = find_fused();
  std::vector<std::string> argv_s = {fused};
  if (o.debug) argv_s.push_back("-d");
  argv_s.push_back("-o");
  argv_s.push_back(optstr);
  argv_s.push_back(dev);
  argv_s.push_back(mpt);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    print_error(prog, std::string("fork: ") + std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    ::fcntl(pfd[1], F_SETFD, 0); // the daemon inherits the write end
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "famfs mount: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pfd[1]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    ::close(pfd[0]);
    // famfs-fused printed why; make sure nothing is left mounted.
    if (auto m = famfs_mount_at(mpt); m && m->device == dev) ::umount2(mpt.c_str(), MNT_DETACH);
    print_error(prog, "not mounted: famfs-fused failed (" +
                          (WIFEXITED(st) ? "exit " + std::to_string(WEXITSTATUS(st))
                                         : std::string("killed")) + ")");
    return 1;
  }
  struct pollfd p = {pfd[0], POLLIN, 0};
  char c = 0;
  ssize_t n = 0;
  int pr = ::poll(&p, 1, 30000);
  if (pr > 0) n = ::read(pfd[0], &c, 1);
  ::close(pfd[0]);
  if (pr <= 0 || n != 1) {
    if (auto m = famfs_mount_at(mpt); m && m->device == dev) ::umount2(mpt.c_str(), MNT_DETACH);
    print_error(prog, std::string("not mounted: famfs-fused ") +
                          (pr <= 0 ? "did not become ready within 30 s"
                                   : "exited before the mount was ready") +
                          "; see its log (--log-file, or syslog)");
    return 1;
  }
  if (o.verbose) {
    int err = 0;
    auto role = get_xattr(mpt, FAMFS_XATTR_ROLE, &err);
    std::printf("famfs mount: %s on %s (role %s)\n", dev.c_str(), mpt.c_str(),
                role ? role->c_str() : "?");
  }
  return 0;
}

// ---- umount ----------------------------------------------------------------------------------

// Run a program with its stderr discarded; its exit status, or -1.
int run_quietly(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, STDERR_FILENO);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct UmountOpts {
  std::string mpt;
  bool lazy = false, verbose = false;
};

int run_umount(const UmountOpts& o) {
  const char* prog = "famfs umount";
  const bool lazy = o.lazy, verbose = o.verbose;
  std::string mpt = dax::resolve_path(o.mpt);
  auto m = famfs_mount_at(mpt);
  if (!m) {
    print_error(prog, mpt + " is not a famfs mount point (see /proc/mounts)");
    return 1;
  }
  pid_t pid = 0;
  int err = 0;
  if (auto s = get_xattr(mpt, FAMFS_XATTR_STATUS, &err)) {
    if (auto j = famfs::master::JsonReport::parse(*s)) pid = pid_t(j->u64("pid"));
  }
  bool detached = false;
  if (::umount2(mpt.c_str(), 0) != 0) {
    int e = errno;
    if (e == EBUSY && lazy) {
      if (::umount2(mpt.c_str(), MNT_DETACH) != 0) {
        e = errno;
      } else {
        e = 0;
        detached = true; // the daemon serves open files until they are closed
      }
    } else if (e == EPERM && ::geteuid() != 0) {
      // Only root or the mounting user (through fusermount3, as FUSE does) may unmount.
      const auto owner = fuse_mount_user(m->options);
      if (!owner || *owner != ::getuid()) {
        print_error(prog, mpt + ": only root" +
                              (owner && *owner ? " or the user who mounted it (uid " +
                                                     std::to_string(*owner) + ")"
                                               : std::string()) +
                              " can unmount it; run 'sudo famfs umount " + mpt + "'");
        return 1;
      }
      e = run_quietly({"fusermount3", "-u", mpt}) == 0 ? 0 : EPERM;
    }
    if (e) {
      print_error(prog, mpt + ": " + std::strerror(e) +
                            (e == EBUSY ? " (files are open or a process has its cwd there; "
                                          "close them, or use 'famfs umount -l')"
                                        : ""));
      return 1;
    }
  }
  if (pid > 0 && !detached) {
    for (int i = 0; i < 1000 && pid_alive(pid); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (pid_alive(pid)) print_warning(prog, "famfs-fused (pid " + std::to_string(pid) +
                                                ") is still running after 10 s");
  }
  if (verbose) std::printf("famfs umount: unmounted %s (%s)\n", mpt.c_str(), m->device.c_str());
  return 0;
}

// ---- logplay ---------------------------------------------------------------------------------

int logplay_dryrun(const std::string& mpt, const std::string& device, bool verbose,
                   bool client) {
  const char* prog = "famfs logplay";
  dax::Device dev = dax::Device::open(device, false);
  dax::Mapping map = dax::Mapping::map(dev, false);
  omf::Superblock sb = read_superblock(map.cbytes());
  if (const SbStatus st = check_superblock(sb); !sb_usable(st)) {
    print_error(prog, device + ": " + sb_status_text(st));
    return 1;
  }
  Geometry g = geometry_of(sb, map.cbytes());
  auto id = dax::read_system_uuid(dax::system_uuid_path());
  bool master = !client && role_of(sb, id ? &*id : nullptr) == Role::Master;
  Namespace ns(g, master);
  Replayer rp(map.cbytes(), dax::cpu_cache_ops());
  ReplayReport r = rp.play(ns);
  uint64_t new_files = 0, new_dirs = 0;
  for (Ino ino : r.created) {
    const Inode* n = ns.get(ino);
    std::string path = mpt + "/" + ns.path_of(ino);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      (n->is_dir ? new_dirs : new_files)++;
      if (verbose) std::printf("  would add %s %s\n", n->is_dir ? "directory" : "file",
                               ns.path_of(ino).c_str());
    }
  }
  std::printf("famfs_logplay: %llu log entries; %llu new files; %llu new directories "
              "(dry run: nothing applied)\n",
              static_cast<unsigned long long>(rp.played()),
              static_cast<unsigned long long>(new_files),
              static_cast<unsigned long long>(new_dirs));
  for (auto& s : r.skipped)
    std::printf("famfs_logplay: skipped entry %llu: %s\n",
                static_cast<unsigned long long>(s.index), s.what.c_str());
  if (r.damage)
    std::printf("famfs_logplay: log damaged at entry %llu: %s (entries after it are not "
                "played)\n",
                static_cast<unsigned long long>(r.damage->index), r.damage->what.c_str());
  return int(r.errors());
}

struct LogplayOpts {
  std::string mpt, shadow, daxdev;
  bool dry = false, verbose = false, client = false, mmap = false, read = false;
  bool shadowtest = false, set_daxmode = false;
};

// --shadow DIR: the log of `device` (read-only) into upstream's shadow tree.
int logplay_shadow(const LogplayOpts& o, const std::string& device) {
  if (o.set_daxmode && dax::reconfigure_to_devdax(device) && o.verbose)
    std::printf("famfs logplay: reconfigured %s to devdax mode\n", device.c_str());
  dax::Device dev = dax::Device::open(device, false);
  dax::Mapping map = dax::Mapping::map(dev, false);
  ShadowOptions so;
  so.dir = o.shadow;
  so.dry_run = o.dry;
  so.client = o.client;
  so.test = o.shadowtest;
  so.verbose = o.verbose;
  return shadow_logplay(map.cbytes(), dax::read_system_uuid(dax::system_uuid_path()), so);
}

int run_logplay(const LogplayOpts& o) {
  const char* prog = "famfs logplay";
  if (o.mmap && o.read) return usage_error(prog, "-m/--mmap and -r/--read are mutually exclusive");
  if (!o.daxdev.empty() && o.shadow.empty())
    return usage_error(prog, "-d/--daxdev is only used with -S/--shadow DIR");
  if (o.daxdev.empty() && o.mpt.empty())
    return usage_error(prog, "give a famfs mount point (or any path in one), or --shadow DIR "
                             "--daxdev DEVICE");
  const bool dryrun = o.dry, verbose = o.verbose, client = o.client;
  if (!o.shadow.empty() && !o.daxdev.empty()) return logplay_shadow(o, o.daxdev);
  auto m = dax::famfs_mount_containing(o.mpt);
  if (!m) {
    print_error(prog, dax::resolve_path(o.mpt) + " is not in a famfs mount (see /proc/mounts)");
    return 1;
  }
  const std::string mpt = m->mountpoint;
  int err = 0;
  if (!o.shadow.empty()) {
    auto dev = get_xattr(mpt, FAMFS_XATTR_DEVICE, &err);
    return logplay_shadow(o, dev ? *dev : m->device);
  }
  if (dryrun) {
    auto dev = get_xattr(mpt, FAMFS_XATTR_DEVICE, &err);
    return logplay_dryrun(mpt, dev ? *dev : m->device, verbose, client);
  }
  auto rep = get_xattr(mpt, FAMFS_XATTR_LOGPLAY, &err);
  if (!rep) {
    if (auto why = fuse_access_denied(mpt, m->options, err)) {
      print_error(prog, *why);
      return 1;
    }
    print_error(prog, mpt + ": cannot read user.famfs.logplay: " + std::strerror(err));
    return 1;
  }
  auto j = famfs::master::parse_logplay_report(*rep);
  if (!j) {
    print_error(prog, "unexpected report from famfs-fused: " + *rep);
    return 1;
  }
  std::printf("famfs_logplay: %llu log entries; %llu new files; %llu new directories\n",
              static_cast<unsigned long long>(j->entries.value_or(0)),
              static_cast<unsigned long long>(j->new_files),
              static_cast<unsigned long long>(j->new_dirs));
  if (verbose && j->existed)
    std::printf("famfs_logplay: %llu entries named existing objects (first one wins)\n",
                static_cast<unsigned long long>(j->existed));
  int errors = 0;
  for (const auto& s : j->skipped) {
    std::printf("famfs_logplay: skipped entry %llu: %s\n",
                static_cast<unsigned long long>(s.index.value_or(0)), s.what.value_or("?").c_str());
    ++errors;
  }
  if (j->damaged) {
    const auto& why = j->damage_reason;
    std::printf("famfs_logplay: log damaged at entry %llu%s%s (entries after it are not "
                "played; 'famfs fsck' reports the damage but cannot repair a log)\n",
                static_cast<unsigned long long>(j->damage_index), why ? ": " : "",
                why ? why->c_str() : "");
    ++errors;
  }
  return errors;
}

} // namespace

void register_mount_commands(Commands& app) {
  {
    auto o = std::make_shared<MountOpts>();
    auto* c = add_command(app, "mount", "Mount a famfs device (starts famfs-fused)",
                          [o] { return run_mount(*o); });
    c->add_option("device", o->device, "famfs device (/dev/daxX.Y) or image file")->required();
    c->add_option("mountpoint", o->mpt, "Empty directory to mount on")->required();
    c->add_flag("-f,--fuse", o->fuse, "Use famfs-fused (the default; the only mode)");
    c->add_flag("-F,--nofuse", o->nofuse, "Standalone kernel famfs: not available here");
    c->add_option("-t,--timeout", o->timeout, "Entry/attribute cache timeout in seconds");
    c->add_flag("-d,--debug", o->debug, "Log every FUSE request");
    c->add_flag("-v,--verbose", o->verbose, "Say what was mounted");
    c->add_flag("-u,--nouseraccess", o->nouseraccess, "No allow_other (the default)");
    c->add_flag("-p,--nodefaultperm", o->nodefaultperm,
                "Ignored: default_permissions is always on");
    c->add_option("-S,--shadow", o->shadow, "Ignored: famfs-fused keeps no shadow tree");
    c->add_flag("-M,--set-daxmode", o->set_daxmode,
                "Reconfigure a device-dax device found in system-ram mode to devdax first");
    c->add_flag("-L,--load-module", o->load_module, "Ignored (no famfs kernel module)");
    c->add_flag("-D,--dummy", o->dummy, "Ignored (upstream compatibility)");
    c->add_flag("-b", o->dummy, "Ignored (in upstream's option string, with no meaning there)");
    c->add_flag("-m,--mmap", o->mmap, "Play the log through a mapping (the default; the only way)");
    c->add_flag("-r,--read", o->read, "Upstream: play the log with read(); accepted, no effect "
                                       "(excludes -m)");
    c->add_flag("--read-only", o->read_only, "Mount read-only (also -o ro)");
    c->add_flag("-R,--remount", o->remount,
                "If DEVICE is already mounted on MOUNTPOINT, just replay its log");
    c->add_option("-c,--cache", o->cache, "Metadata caching: always|normal|never");
    add_identity_option(c, o->uuid_file);
    c->add_option("--refresh-ms", o->refresh_ms, "Log poll interval in ms (default " +
                  std::to_string(FAMFS_DEFAULT_REFRESH_MS) + ")");
    c->add_flag("--allow-other", o->allow_other, "Let other users access the mount");
    c->add_option("--log-file", o->log_file, "famfs-fused log file (default: syslog)");
    c->add_option("--threads", o->threads, "famfs-fused worker threads (default " +
                  std::to_string(FAMFS_DEFAULT_THREADS) + ")");
    c->add_flag("--nodirect", o->nodirect, "Serve file data through the page cache");
    c->add_option("-o,--options", o->options,
                  "famfs-fused -o options and generic mount options (noexec, nosuid, nodev, "
                  "noatime, ...), comma separated; may be repeated")
        ->allow_extra_args(false);   // one list per -o, however many -o
  }
  {
    auto o = std::make_shared<UmountOpts>();
    auto* c = add_command(app, "umount", "Unmount a famfs mount and stop its famfs-fused",
                          [o] { return run_umount(*o); });
    c->add_option("mountpoint", o->mpt, "famfs mount point")->required();
    c->add_flag("-l,--lazy", o->lazy, "Detach now even if busy");
    c->add_flag("-v,--verbose", o->verbose, "Say what was unmounted");
  }
  {
    auto o = std::make_shared<LogplayOpts>();
    auto* c = add_command(app, "logplay",
                          "Replay the log into a mount now and report (or, with --shadow, write "
                          "upstream's shadow YAML tree)",
                          [o] { return run_logplay(*o); });
    c->add_option("mountpoint", o->mpt,
                  "famfs mount point, or any path in it (not needed with --daxdev)");
    c->add_flag("-n,--dryrun", o->dry, "Count what a replay would add; change nothing");
    c->add_flag("-v,--verbose", o->verbose, "More detail");
    c->add_flag("-c,--client", o->client,
                "Play as a client (dry run and --shadow only; a mount keeps its role)");
    c->add_flag("-m,--mmap", o->mmap, "Read the log through a mapping (the default)");
    c->add_flag("-r,--read", o->read, "Upstream: read the log with read(); accepted, no effect "
                                       "(excludes -m)");
    c->add_option("-S,--shadow", o->shadow,
                  "Write upstream's shadow tree (per-file YAML under DIR/root) instead");
    c->add_option("-d,--daxdev", o->daxdev,
                  "With --shadow: read the log from this device instead of a mount");
    c->add_flag("-s,--shadowtest", o->shadowtest,
                "With --shadow: check existing shadow files against the log (else no effect)");
    c->add_flag("-M,--set-daxmode", o->set_daxmode,
                "With --daxdev: reconfigure a device in system-ram mode to devdax first");
  }
}

} // namespace famfs::cli
