// Copying files (and with -r directory trees) into famfs, as a library (upstream's
// famfs_cp_multi). One writer for the whole copy: walk the sources, check everything against
// the log, reserve every slot and all space up front (nothing visible yet), append the
// directories (parents first), then copy file data straight into the device on worker
// threads, appending each file's entry as soon as its data is durable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "master/copy_engine.hpp"
#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/writer.hpp"
#include "meta/bitmap.hpp"
#include "meta/fmap.hpp"

namespace famfs::master {

// Where a copy goes.
struct CopyDest {
  MountInfo mount;
  std::string rel;      // the directory to copy into (into_dir), or the new file's relpath
  bool into_dir = false;
};
// `dest` as given: an existing directory (copy into it), an existing file (same-size
// overwrite) or a new name (one source only). Throws famfs::Error naming it.
CopyDest resolve_copy_dest(const std::string& dest, std::size_t nsources);

struct CopyItem {
  bool dir = false;
  std::string src;   // source path
  std::string rel;   // destination relpath (canonical)
  uint64_t size = 0;
  uint32_t mode = 0;
  // planning results
  bool skip = false;      // error or nothing to do
  bool is_new = false;    // needs a log entry
  bool overwrite = false; // same-size existing file: data only
  Fmap fmap;
};

struct CopyPlan {
  CopyDest dest;
  std::vector<CopyItem> items; // directories before their contents
  uint64_t errors = 0;         // sources refused (reported through Events)
};
// Walk the sources (no writer needed). `mode`: the mode of every copy, else each source's.
CopyPlan plan_copy(const std::vector<std::string>& sources, const CopyDest& dest, bool recursive,
                   std::optional<uint32_t> mode, Events& ev);

struct CopyOptions {
  uint32_t uid = 0, gid = 0;
  std::optional<InterleaveParams> interleave;
  unsigned threads = 1; // files at a time; a single file is split over the threads instead
  CopyMethod method = CopyMethod::Auto;
};
// Check the plan against the log, then copy. Returns the number of errors (planning and
// copying). Throws famfs::Error when nothing can be copied: ENOMEM when the log is full,
// ENOSPC when the space is not there.
uint64_t copy_in(Writer& w, CopyPlan& plan, const CopyOptions& o, Events& ev);

// famfs cp -c/--compare, after copy_in: every file copied, read back through the mount and
// compared with its source (items copy_in could not copy are marked skip). Returns the
// number of files that differ or cannot be read (each reported through Events).
uint64_t compare_copies(const CopyPlan& plan, unsigned threads, Events& ev);

} // namespace famfs::master
