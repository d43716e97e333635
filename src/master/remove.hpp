// famfs rm, unlink(2) and rmdir(2) on the master (docs/delete.md): each removal is one DELETE
// log entry (type 2, payload v1) naming the FILE or MKDIR entry it deletes. The space is not
// freed here: every host keeps it as "pending reuse" until the reuse rule (master/reuse.hpp)
// says no host can still reach it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "master/events.hpp"
#include "master/writer.hpp"

namespace famfs::master {

struct RemoveItem {
  std::string arg; // as given (messages)
  std::string rel; // relpath inside the writer's mount ("" = its root)
};

struct RemoveOptions {
  bool recursive = false; // -r: directories and everything under them
  bool force = false;     // -f: a missing path is not an error
  // The names in the directory at relpath `rel` (the caller's view: readdir of the mount, or
  // the daemon's own table). Used with `recursive` and to check that a directory is empty.
  std::function<std::vector<std::string>(const std::string& rel)> list;
};

// Remove the items (all in w's mount). Refuses, with EPERM and the command that enables it,
// when delete is not enabled. Per item: refusals as rm(1) words them ("cannot remove 'x': No
// such file or directory", "Is a directory", "Directory not empty") go to ev.error and the
// batch goes on. A tree (-r) is removed children first, all its log slots reserved before the
// first entry (log full: nothing of it is removed). Returns the number of items that failed.
uint64_t remove_paths(Writer& w, const std::vector<RemoveItem>& items, const RemoveOptions& o,
                      Events& ev);

// One object for unlink(2) (want_dir false) or rmdir(2) (true): 0, or the errno to reply
// (ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EPERM; ENOSPC when the log is full). `list` as above.
int remove_one(Writer& w, const std::string& rel, bool want_dir,
               const std::function<std::vector<std::string>(const std::string&)>& list);

} // namespace famfs::master
