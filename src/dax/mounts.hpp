// Finding famfs mounts on this host (/proc/mounts): fuse.famfs entries and their devices.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace famfs::dax {

inline constexpr const char* kFamfsFstype = "fuse.famfs";

struct MountEntry {
  std::string device;     // fsname (the device path given to the daemon)
  std::string mountpoint;
  std::string fstype;     // "fuse.famfs"
  std::string options;
};

// Parse /proc/mounts text (every line, any fstype), decoding the octal escapes the kernel
// uses for space, tab, newline and backslash (\040 \011 \012 \134). Malformed lines are skipped.
std::vector<MountEntry> parse_mounts(std::string_view text);
// The famfs mount among `mounts` whose mountpoint is the longest prefix (on a path-component
// boundary) of `abs_path`, which must already be absolute and canonical.
std::optional<MountEntry> mount_containing(const std::vector<MountEntry>& mounts,
                                           const std::string& abs_path);

std::vector<MountEntry> famfs_mounts(); // every fuse.famfs entry
// The famfs mount containing `path` (longest mountpoint prefix of its realpath), if any. The
// path need not exist yet (a file about to be created): its longest existing ancestor is
// resolved and the rest appended.
std::optional<MountEntry> famfs_mount_containing(const std::string& path);
// The famfs mounts on this host whose device (fsname) is `device`: the same DeviceId
// (device_id.hpp: any hard link, bind mount, symlink or second node), else the same realpath.
std::vector<MountEntry> famfs_mounts_of_device(const std::string& device);

// realpath() of an existing path; nullopt (and *err = errno) when it cannot be resolved.
std::optional<std::string> canonical_path(const std::string& path, int* err = nullptr);
// realpath() of the longest existing ancestor of `path`, with the remaining components
// appended (lexically: "." dropped, ".." pops). Relative paths are taken from the cwd.
std::string resolve_path(const std::string& path);

} // namespace famfs::dax
