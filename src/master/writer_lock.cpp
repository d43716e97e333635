#include "master/writer_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "master/text.hpp"
#include "meta/error.hpp"

namespace famfs::master {

namespace {

constexpr std::chrono::milliseconds kPollInterval{20};
constexpr mode_t kRunDirMode = 0755;
constexpr mode_t kFsDirMode = 0700;
constexpr mode_t kLockFileMode = 0600;

// A directory we may keep the lock in: ours (or root's), not writable by anyone else; created
// with `mode` when missing.
void ensure_private_dir(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    int e = errno;
    throw Error(e, "cannot create " + dir + " for the famfs writer lock: " + errno_text(e) +
                       (e == EACCES || e == EPERM ? " (famfs master commands run as root)" : ""));
  }
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) {
    int e = errno;
    throw Error(e, "cannot inspect " + dir + ": " + errno_text(e));
  }
  bool owner_ok = st.st_uid == ::geteuid() || st.st_uid == 0;
  if (!S_ISDIR(st.st_mode) || !owner_ok || (st.st_mode & 0022))
    throw Error(EPERM, dir + " is not a directory owned by root (or by you) and closed to "
                           "others, so it cannot hold the famfs writer lock; remove it and retry");
}

std::string seconds_text(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(ms.count()) / 1000.0);
  return buf;
}

std::string holder_text(int fd) {
  auto pid = flock_holder(fd);
  return pid ? " (held by pid " + std::to_string(*pid) + ")" : "";
}

proto::UniqueFd open_lock_file(const std::string& path) {
  proto::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                            kLockFileMode));
  if (!fd) {
    int e = errno;
    throw Error(e, "cannot open the famfs writer lock " + path + ": " + errno_text(e) +
                       (e == EACCES ? " (famfs master commands run as root)" : ""));
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
    throw Error(EPERM, path + " is not a regular file of yours, so it cannot be the famfs writer "
                              "lock; remove it and retry");
  if ((st.st_mode & 07777) != kLockFileMode) ::fchmod(fd.get(), kLockFileMode);
  return fd;
}

// <run_dir>/<fs_uuid>/writer.lock, its directories made and checked.
std::string lock_file_path(const std::string& run_dir, const std::string& fs_uuid) {
  ensure_private_dir(run_dir, kRunDirMode);
  std::string dir = run_dir + "/" + fs_uuid;
  ensure_private_dir(dir, kFsDirMode);
  return dir + "/writer.lock";
}

} // namespace

std::chrono::milliseconds lock_timeout_from_env() {
  const char* v = std::getenv(kLockTimeoutEnv);
  if (v && *v) {
    char* end = nullptr;
    double s = std::strtod(v, &end);
    if (end && *end == '\0' && std::isfinite(s) && s >= 0 && s < 1e9)
      return std::chrono::milliseconds(int64_t(s * 1000));
  }
  return kLockTimeoutDefault;
}

namespace {

bool pid_alive(pid_t p) { return p > 0 && (::kill(p, 0) == 0 || errno == EPERM); }

constexpr std::size_t kPidTextMax = 24;

std::optional<pid_t> recorded_holder(int fd) {
  char buf[kPidTextMax] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return std::nullopt;
  char* end = nullptr;
  long p = std::strtol(buf, &end, 10);
  if (end == buf || p <= 0 || p == ::getpid() || !pid_alive(pid_t(p))) return std::nullopt;
  return pid_t(p);
}

} // namespace

std::optional<pid_t> flock_holder(int fd) {
  std::optional<pid_t> found;
  struct stat st{};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  char want[64];
  std::snprintf(want, sizeof want, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                (unsigned long long)st.st_ino);
  // Lines: "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
  std::ifstream f("/proc/locks");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string num, kind, adv, rw, pid, id;
    if (!(ls >> num >> kind)) continue;
    if (kind == "->") continue; // a waiter
    if (!(ls >> adv >> rw >> pid >> id) || kind != "FLOCK" || id != want) continue;
    char* end = nullptr;
    long p = std::strtol(pid.c_str(), &end, 10);
    if (end && *end == '\0' && p > 0 && p != ::getpid()) {
      found = pid_t(p);
      break;
    }
  }
  if (found && pid_alive(*found)) return found;
  return recorded_holder(fd);
}

void WriterLock::record_holder() const {
  if (!fd_) return;
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_.get(), 0) == 0)
    (void)!::pwrite(fd_.get(), text.data(), text.size(), 0);
}

std::optional<WriterLock> WriterLock::try_acquire(const std::string& fs_uuid,
                                                  const std::string& run_dir,
                                                  std::optional<pid_t>* holder) {
  WriterLock l;
  l.path_ = lock_file_path(run_dir, fs_uuid);
  l.fd_ = open_lock_file(l.path_);
  while (::flock(l.fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EINTR) continue;
    if (e != EWOULDBLOCK)
      throw Error(e, "cannot lock the famfs writer lock " + l.path_ + ": " + errno_text(e));
    if (holder) *holder = flock_holder(l.fd_.get());
    return std::nullopt;
  }
  l.record_holder();
  return l;
}

WriterLock WriterLock::acquire(const std::string& fs_uuid, const Options& o) {
  WriterLock l;
  l.path_ = lock_file_path(o.run_dir, fs_uuid);
  l.fd_ = open_lock_file(l.path_);

  const auto start = std::chrono::steady_clock::now();
  bool said = false;
  while (::flock(l.fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EINTR) continue;
    if (e != EWOULDBLOCK)
      throw Error(e, "cannot lock the famfs writer lock " + l.path_ + ": " + errno_text(e));
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited >= o.timeout)
      throw Error(ETIMEDOUT,
                  "gave up after " + seconds_text(o.timeout) +
                      " s waiting for the writer lock of file system " + fs_uuid + holder_text(l.fd_.get()) +
                      ": another famfs command is adding to it; retry when it is done (the wait "
                      "is set by " + kLockTimeoutEnv + ", default " +
                      std::to_string(kLockTimeoutDefault.count()) + " s; the lock is " + l.path_ + ")");
    if (!said && waited >= kLockSayWaitingAfter) {
      said = true;
      if (o.on_wait)
        o.on_wait("waiting for the writer lock of file system " + fs_uuid + holder_text(l.fd_.get()));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  l.record_holder();
  return l;
}

} // namespace famfs::master
