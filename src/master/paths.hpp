// Finding the famfs mount of a path and naming paths inside it (spec B§5, Part A §3).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meta/omf.hpp"

namespace famfs::master {

// Extended attributes. nullopt and *err = errno on failure (ENODATA, ENOTSUP, ...).
std::optional<std::string> get_xattr(const std::string& path, const char* name, int* err = nullptr);

struct MountInfo {
  std::string mpt;    // mount point as in /proc/mounts (canonical)
  std::string device; // user.famfs.device of the root (what the daemon mapped), else fsname
  bool read_only = false; // mounted with -r/ro: master commands refuse to add to it
};

// The trust rule of libfamfs (FAMFS_EUNTRUSTED in src/lib/famfs_core.c), for every command:
// a fuse.famfs mount is trusted only when root or the caller made it (FUSE records the mounter
// as user_id= in the mount options). Throws famfs::Error(EPERM) naming the mount and its maker.
// Every MountInfo below comes from a trusted mount.
void check_trusted_mount(const std::string& mpt, const std::string& options, uid_t caller);
std::optional<uint32_t> mounter_uid(const std::string& options); // user_id= of the options

// The famfs mount that holds the existing path `path` (file or directory). Throws
// famfs::Error(EXDEV) naming the path when it is not inside a famfs mount.
MountInfo mount_of_existing(const std::string& path);

// mkdir -p (as mkdir(1)): the famfs mount holding `path` when it already is a directory there
// (the mount root included); nullopt when nothing exists at `path`. Throws ENOTDIR naming it
// when it exists and is not a directory, EXDEV when it is a directory outside famfs.
std::optional<MountInfo> existing_famfs_dir(const std::string& path);

// A path about to be created (file or directory) in a famfs mount.
struct NewPath {
  MountInfo mount;
  std::string relpath;                    // canonical, <= 79 bytes
  std::string abspath;                    // mpt + "/" + relpath
  std::vector<std::string> missing_dirs;  // make_parents: relpaths of missing ancestors,
                                          // parent first (all <= 79 bytes)
};
// realpath of the parent + basename, relative to the mount root. Refuses: the mount root
// itself, anything outside a famfs mount, '.'/'..' as the last component, `.meta`, relpaths
// over 79 bytes. `make_parents`: missing ancestors are allowed and listed (mkdir -p);
// otherwise the parent must exist.
NewPath resolve_new_path(const std::string& user_path, bool make_parents);

// The relpath of an existing object inside `m` ("" for the root). Throws EXDEV when it is
// elsewhere.
std::string relpath_in_mount(const MountInfo& m, const std::string& existing_path);

// Read the superblock of a mount through <mpt>/.meta/.superblock (works on clients), else
// from the device read-only.
omf::Superblock read_mount_superblock(const MountInfo& m);

// ENOTCONN "the famfs daemon of MPT is not running; famfs umount MPT, then mount again".
[[noreturn]] void throw_daemon_gone(const std::string& mpt);
// Throws that when the daemon of the mount at `mpt` does not answer (ENOTCONN).
void check_daemon_alive(const std::string& mpt);

// The parent of a relpath ("" for a top-level name).
std::string parent_relpath(const std::string& rel);

} // namespace famfs::master
