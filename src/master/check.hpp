// famfs check (upstream's per-file map check, done our way): every file the log creates,
// its served map (the user.famfs.fmap xattr the daemon gives) against the log's FILE entry.
// Works on every host (reads the device read-only and the mount).
#pragma once

#include <cstdint>

#include "master/events.hpp"
#include "master/paths.hpp"

namespace famfs::master {

struct CheckReport {
  uint64_t files = 0;       // files of the log checked
  uint64_t good = 0;        // served with the log's size and map
  uint64_t unmapped = 0;    // not served, or served without a readable map
  uint64_t mismatched = 0;  // served with another size or map than the log's
  bool superblock_bad = false;
  bool log_bad = false;     // header invalid, or the log is damaged (replay stops early)
  // Upstream's exit code: the bitwise or of 1 (a file not properly mapped), 2 (superblock
  // missing or corrupt), 4 (log missing or corrupt); 0 when every file is good.
  int exit_code() const {
    return ((unmapped || mismatched) ? 1 : 0) | (superblock_bad ? 2 : 0) | (log_bad ? 4 : 0);
  }
};

// Asks the daemon to replay first, then checks the files of the entries it has replayed.
// Each problem goes to ev.error (naming the file), each good file to ev.note. Throws
// famfs::Error when the daemon is gone (ENOTCONN) or the device cannot be read at all.
CheckReport check_mount(const MountInfo& m, Events& ev);

} // namespace famfs::master
