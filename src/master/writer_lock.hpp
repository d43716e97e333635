// The one host-local writer lock of a famfs file system (docs/design.md "One writer per host").
//
// Every writer on a host (a master CLI command today, the master's daemon when it creates files
// itself) holds this lock for as long as it may allocate or append, so no two writers on a host
// ever append at once, whatever mount point or device path they came through. It belongs to the
// file system (its UUID), not to a mount: /run/famfs/<fs-uuid>/writer.lock, the directory 0700
// and the file 0600, owned by the writer's user (root), taken with flock(LOCK_EX). No
// unprivileged user can open it, so none can hold it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "proto/unique_fd.hpp"

namespace famfs::master {

inline constexpr const char* kRunDir = "/run/famfs";
inline constexpr std::chrono::seconds kLockTimeoutDefault{30};
inline constexpr const char* kLockTimeoutEnv = "FAMFS_LOCK_TIMEOUT_S";
inline constexpr std::chrono::milliseconds kLockSayWaitingAfter{1000};

// $FAMFS_LOCK_TIMEOUT_S (seconds, fractions allowed) if it is a valid number >= 0, else 30 s.
std::chrono::milliseconds lock_timeout_from_env();

class WriterLock {
 public:
  struct Options {
    std::string run_dir = kRunDir;                       // tests point this elsewhere
    std::chrono::milliseconds timeout = lock_timeout_from_env();
    // Called once when the lock has not been had within kLockSayWaitingAfter.
    std::function<void(const std::string&)> on_wait;
  };

  // Take the lock of file system `fs_uuid` (text form), waiting up to o.timeout. Throws
  // famfs::Error: ETIMEDOUT naming the file system, the lock and its holder when it is not
  // had in time; EPERM/EACCES when the lock directory or file cannot be made or is not safe
  // (not ours, or open to others).
  static WriterLock acquire(const std::string& fs_uuid, const Options& o);
  static WriterLock acquire(const std::string& fs_uuid) { return acquire(fs_uuid, Options{}); }
  // Take it without waiting (the master's daemon at start): nullopt when another holds it,
  // with *holder its pid when one can be found. Throws as acquire() for an unsafe lock.
  static std::optional<WriterLock> try_acquire(const std::string& fs_uuid,
                                               const std::string& run_dir,
                                               std::optional<pid_t>* holder);

  // Record the calling process as the holder in the lock file (a daemon calls it again after
  // fuse_daemonize: /proc/locks keeps naming the parent that took the lock and exited).
  void record_holder() const;

  WriterLock() = default;
  WriterLock(WriterLock&&) noexcept = default;
  WriterLock& operator=(WriterLock&&) noexcept = default;
  ~WriterLock() = default; // closing the fd drops the flock

  bool held() const { return bool(fd_); }
  const std::string& path() const { return path_; }

 private:
  proto::UniqueFd fd_;
  std::string path_;
};

// The pid holding a flock on the file open as `fd`: from /proc/locks when that process is
// alive, else the pid the holder recorded in the file (record_holder), if it is alive.
std::optional<pid_t> flock_holder(int fd);

} // namespace famfs::master
