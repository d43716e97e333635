// Creating files and directories in a famfs, as a library (what upstream exposes as
// famfs_mkfile / famfs_mkdir / famfs_clone). Each operation plans against the log first,
// reserves every log slot and all space before anything becomes visible (Part A §6), writes
// data, then appends; per-item failures go to Events::error and the batch goes on where it can.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "master/events.hpp"
#include "master/paths.hpp"
#include "master/writer.hpp"
#include "meta/bitmap.hpp"
#include "meta/fmap.hpp"

namespace famfs::master {

struct Attrs {
  uint32_t mode = 0, uid = 0, gid = 0;
};

// One file of a create_files batch.
struct FileItem {
  std::string arg;   // the path as given
  uint64_t size = 0; // 0 = not given (accepted for a file that exists)
  uint64_t seed = 0; // != 0: fill with the B§8.5 pattern of this seed
  // Filled in by resolve_files / create_files:
  NewPath np;
  bool ok = false;      // resolved and planned
  bool is_new = false;  // needs a log entry
  bool created = false; // its entry was appended
  Fmap fmap;
};

// Resolve every item's path (do this before taking the writer lock). Failures go to `ev`,
// mark the item and count in *errors. All items must be in one famfs: its mount, or nullopt
// when no item resolved.
std::optional<MountInfo> resolve_files(std::vector<FileItem>& items, Events& ev, uint64_t* errors);

struct CreateOptions {
  Attrs attrs;                                // of new files (the caller applies the umask)
  std::optional<InterleaveParams> interleave; // nullopt: contiguous
  unsigned threads = 1;                       // random-fill workers
  bool stop_on_error = true;                  // one failed item fails the batch (single file)
};
struct CreateResult {
  uint64_t errors = 0;  // items that failed (including those counted by resolve_files)
  bool stopped = false; // stop_on_error and an item failed: nothing was created
  std::vector<const FileItem*> filled; // items filled with their seed's pattern
};
// Create the resolved items (an existing file of the same size is a no-op, as upstream).
// Throws famfs::Error when the batch as a whole cannot go on (log full: ENOMEM; out of space).
CreateResult create_files(Writer& w, std::vector<FileItem>& items, const CreateOptions& o,
                          Events& ev, uint64_t errors_so_far = 0);

// mkdir, or mkdir -p with `parents` (np from resolve_new_path(arg, parents)). An existing
// directory is an error without `parents`. Returns how many directories were created.
uint64_t make_dirs(Writer& w, const NewPath& np, const std::string& arg, bool parents,
                   const Attrs& a, Events& ev);

// A new file at `dst` sharing the extents of the existing file `src_rel` (a cross-link, for
// tests). `src_arg`/`dst_arg` name them in messages.
void clone_file(Writer& w, const std::string& src_rel, const std::string& src_arg,
                const NewPath& dst, const std::string& dst_arg);

} // namespace famfs::master
