// Finding famfs mounts on this host (/proc/mounts): fuse.famfs entries and their devices.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace famfs::dax {

struct MountEntry {
  std::string device;     // fsname (the device path given to the daemon)
  std::string mountpoint;
  std::string fstype;     // "fuse.famfs"
  std::string options;
};

std::vector<MountEntry> famfs_mounts(); // every fuse.famfs entry
// The famfs mount containing `path` (longest mountpoint prefix of its realpath), if any.
std::optional<MountEntry> famfs_mount_containing(const std::string& path);

} // namespace famfs::dax
