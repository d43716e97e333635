// famfs-fused [-f] [-d] [-o OPTS] DEVICE MOUNTPOINT: the per-host famfs FUSE daemon.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"
#include "daemon/mount_options.hpp"
#include "meta/error.hpp"
#include "proto/daemon_defaults.h"
#include "proto/version.hpp"

namespace famfs::daemon {

namespace {

#define DEFAULT_STR(x) #x
#define DEFAULT(x) DEFAULT_STR(x)
constexpr const char* kUsage =
    "usage: famfs-fused [-f] [-d] [-o OPTIONS] DEVICE MOUNTPOINT\n"
    "  -f                        stay in the foreground (log to stderr)\n"
    "  -d                        debug: log every FUSE request (and loglevel=debug)\n"
    "  --version                 print the version and exit\n"
    "  -o system_uuid_file=PATH  host identity file (also $FAMFS_SYSTEM_UUID_FILE)\n"
    "  -o refresh_ms=N           log poll interval in ms (default " DEFAULT(FAMFS_DEFAULT_REFRESH_MS) ")\n"
    "  -o timeout=SECONDS        entry/attribute cache timeout (default " DEFAULT(FAMFS_DEFAULT_TIMEOUT_S) ")\n"
    "  -o cache=always|normal|never  timeout 3600 / 1 / 0\n"
    "  -o ro                     read-only mount\n"
    "  -o allow_other            let other users use the mount\n"
    "  -o log_file=PATH          also log to PATH (default: stderr with -f, else syslog)\n"
    "  -o log=journal|syslog     log to the journal or syslog (also with -f)\n"
    "  -o loglevel=LEVEL         error, warn, info (default), debug or trace;\n"
    "                            SIGUSR1/SIGUSR2: one step more/less verbose\n"
    "  -o threads=N              maximum worker threads (default " DEFAULT(FAMFS_DEFAULT_THREADS) ")\n"
    "  -o nodirect               serve file data through the page cache, not direct I/O\n"
    "  -o owner                  (transitional) a root read-write master mount owns the file\n"
    "                            system's writes on this host (its writer lock, for life)\n"
    "  -o ready_fd=N             (internal) write one byte to fd N when the mount is ready\n"
    "  -o noexec,nosuid,nodev,noatime,sync,...  generic mount options, for the kernel mount\n"
    "  -o sloppy                 ignore unknown options (mount -s) instead of refusing them\n"
    "Always passed to FUSE: subtype=famfs,fsname=<device>,default_permissions.\n"
    "fstab words (defaults, noauto, nofail, _netdev, x-*, ...) are accepted and ignored.\n";

std::string absolute(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  if (!p.empty() && p[0] == '/') return p;
  char cwd[PATH_MAX];
  if (!::getcwd(cwd, sizeof cwd)) return p;
  return std::string(cwd) + "/" + p;
}

bool parse_uint(std::string_view s, unsigned long long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::string t(s);
  errno = 0;
  out = std::strtoull(t.c_str(), &end, 0);
  return errno == 0 && end && *end == 0;
}

// One -o option into o; unknown ones are collected (all are named in one message).
bool apply_opt(Options& o, std::string_view kv, std::string& err, bool& o_sloppy,
               std::vector<std::string>& unknown) {
  auto eq = kv.find('=');
  std::string_view k = kv.substr(0, eq);
  std::string_view v = eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
  unsigned long long n = 0;
  if (k == "system_uuid_file") {
    o.system_uuid_file = std::string(v);
  } else if (k == "refresh_ms") {
    if (!parse_uint(v, n) || n < 1 || n > FAMFS_MAX_REFRESH_MS)
      return err = "refresh_ms must be 1.." + std::to_string(FAMFS_MAX_REFRESH_MS), false;
    o.refresh_ms = unsigned(n);
  } else if (k == "timeout") {
    char* end = nullptr;
    std::string t(v);
    double d = std::strtod(t.c_str(), &end);
    if (t.empty() || *end || d < 0) return err = "timeout must be a number of seconds >= 0", false;
    o.timeout = d;
  } else if (k == "cache") {
    if (v == "always") o.timeout = FAMFS_DEFAULT_TIMEOUT_S;
    else if (v == "normal") o.timeout = 1;
    else if (v == "never") o.timeout = 0;
    else return err = "cache must be always, normal or never", false;
  } else if (k == "ro") {
    o.read_only = true;
  } else if (k == "rw") {
    o.read_only = false;
  } else if (k == "allow_other") {
    o.allow_other = true;
  } else if (k == "ready_fd") {
    if (!parse_uint(v, n) || n > 65535) return err = "bad ready_fd", false;
    o.ready_fd = int(n);
  } else if (k == "log_file") {
    o.log_file = std::string(v);
  } else if (k == "threads") {
    if (!parse_uint(v, n) || n < 1 || n > FAMFS_MAX_THREADS)
      return err = "threads must be 1.." + std::to_string(FAMFS_MAX_THREADS), false;
    o.threads = unsigned(n);
  } else if (k == "idle_threads") {
    if (!parse_uint(v, n) || n > FAMFS_MAX_THREADS)
      return err = "idle_threads must be 0.." + std::to_string(FAMFS_MAX_THREADS), false;
    o.idle_threads = int(n);
  } else if (k == "owner") {
    o.owner = true;
  } else if (k == "nodirect") {
    o.direct_io = false;
  } else if (k == "debug") {
    o.debug = true;
  } else if (k == "loglevel") {
    if (!parse_log_level(v)) return err = "loglevel must be error, warn, info, debug or trace", false;
    o.log_level = std::string(v);
  } else if (k == "log") {
    if (!valid_log_target(v)) return err = "log must be journal or syslog", false;
    o.log_target = std::string(v);
  } else if (k == "default_permissions" || k == "fsname" || k == "subtype" || k == "daxdev" ||
             k == "shadow") {
    // always set by us / upstream famfs_fused compatibility: accepted and ignored
  } else if (k == "sloppy") {
    o_sloppy = true;
  } else {
    switch (classify_generic_option(kv)) {
      case GenericOption::Kernel: o.kernel_options.emplace_back(kv); break;
      case GenericOption::Userland: break;
      case GenericOption::NotThroughFuse:
        return err = "mount option '" + std::string(kv) +
                     "' cannot be set on a FUSE mount (libfuse does not pass it to the "
                     "kernel); leave it out",
               false;
      case GenericOption::Unknown: unknown.emplace_back(k); break;
    }
  }
  return true;
}

} // namespace

std::optional<Options> parse_args(int argc, char** argv, int* exit_code) {
  Options o;
  std::vector<std::string> pos, unknown;
  bool sloppy = false;
  *exit_code = 1;
  auto fail = [&](const std::string& m) -> std::optional<Options> {
    std::fprintf(stderr, "famfs-fused: %s\n%s", m.c_str(), kUsage);
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-f") {
      o.foreground = true;
    } else if (a == "-d" || a == "--debug") {
      o.debug = true;
    } else if (a == "-s") {
      // single-threaded in upstream famfs_fused: accepted, we stay multithreaded
    } else if (a == "--version") {
      std::printf("%s\n", famfs::version_text("famfs-fused").c_str());
      *exit_code = 0;
      return std::nullopt;
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      *exit_code = 0;
      return std::nullopt;
    } else if (a.substr(0, 2) == "-o") {
      std::string_view list;
      if (a.size() > 2) {
        list = a.substr(2);
      } else {
        if (++i >= argc) return fail("-o needs an argument");
        list = argv[i];
      }
      // split on unescaped commas
      std::string cur;
      for (size_t j = 0; j <= list.size(); ++j) {
        if (j == list.size() || list[j] == ',') {
          if (!cur.empty()) {
            std::string err;
            if (!apply_opt(o, cur, err, sloppy, unknown)) return fail(err);
          }
          cur.clear();
        } else if (list[j] == '\\' && j + 1 < list.size()) {
          cur += list[++j];
        } else {
          cur += list[j];
        }
      }
    } else if (!a.empty() && a[0] == '-') {
      return fail("unknown option " + std::string(a));
    } else {
      pos.emplace_back(a);
    }
  }
  if (!unknown.empty()) {
    std::string names;
    for (const auto& u : unknown) names += (names.empty() ? "'" : ", '") + u + "'";
    if (!sloppy)
      return fail("unknown option" + std::string(unknown.size() > 1 ? "s " : " ") + names +
                  " (neither a famfs-fused option nor a generic mount option; -o sloppy "
                  "ignores them)");
    std::fprintf(stderr, "famfs-fused: ignoring unknown option%s %s (sloppy)\n",
                 unknown.size() > 1 ? "s" : "", names.c_str());
  }
  if (pos.size() != 2) return fail("need DEVICE and MOUNTPOINT");
  o.device = absolute(pos[0]);
  o.mountpoint = absolute(pos[1]);
  return o;
}

} // namespace famfs::daemon

int main(int argc, char** argv) {
  using namespace famfs::daemon;
  int code = 1;
  auto opt = parse_args(argc, argv, &code);
  if (!opt) return code;
  setup_logging(*opt);
  if (opt->ready_fd >= 0) {
    // Not inherited by anything we might start; closed once the mount is ready.
    (void)::fcntl(opt->ready_fd, F_SETFD, FD_CLOEXEC);
  }
  Daemon d(*opt);
  try {
    d.prepare();
  } catch (const famfs::Error& e) {
    spdlog::error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return d.run();
}
