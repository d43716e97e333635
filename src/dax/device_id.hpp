// A device known by what it is, not by the path that names it (issue 8 defects 2 and 9): the
// one-mount-per-host rule shared by `famfs mount` and famfs-fused, and who besides root can
// reach a device's bytes.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dax/mounts.hpp"

namespace famfs::dax {

// An image file is (st_dev, st_ino), a device-dax node its st_rdev (major:minor): the same
// for every hard link, bind-mounted path, symlink or second device node that names it.
struct DeviceId {
  bool char_device = false;
  uint64_t dev = 0; // st_rdev of a character device, else st_dev of the file
  uint64_t ino = 0; // 0 for a character device
  bool operator==(const DeviceId&) const = default;
};
std::optional<DeviceId> device_id(const struct stat& st); // nullopt: not a file or char device
std::optional<DeviceId> device_id_of_path(const std::string& path);
std::optional<DeviceId> device_id_of_fd(int fd);
std::string device_id_text(const DeviceId& id); // "device 252:0", "inode 12 on device 0:25"

// The uid of the user who made a FUSE mount (user_id= in its /proc/mounts options).
std::optional<uint32_t> mount_user_id(std::string_view options);

// The famfs mount on this host of one file system, if there is one. "This host" is the
// identity (system uuid) the daemons report: simulated hosts with their own identity files
// share a machine. A mount is of the same file system when the daemon's device (the absolute
// path it mapped, its fsname) is the same DeviceId and it serves the same fs UUID, or, when that
// path names nothing any more (renamed, removed), when it serves the same fs UUID. Only those
// mounts are asked (getxattr): a stuck daemon of another device never stalls the check.
// Mounts made by users other than root and `caller` are never asked (a user's daemon could
// hang the question or lie); mounts whose daemon does not answer are listed in `ignored`.
struct SameFsQuery {
  DeviceId id;
  std::string fs_uuid;
  std::string system_uuid; // this host's identity ("" when it has none)
  uid_t caller = 0;
};
struct SameFsMount {
  MountEntry mount;
  std::string device; // the path its daemon mapped
  std::string role;   // "master" or "client"
  std::optional<DeviceId> id; // nullopt: that path names nothing now (matched by fs UUID)
};
struct SameFsResult {
  std::optional<SameFsMount> found;
  std::vector<std::string> ignored; // "MPT does not answer (...)"
};
SameFsResult find_same_fs_mount(const SameFsQuery& q);
// The refusal of a second mount of `device` (fs `fs_uuid`): names the existing mount point
// and what to do.
std::string same_fs_refusal(const std::string& device, const std::string& fs_uuid,
                            const SameFsMount& m);

// Who besides root can read (or write) the device's bytes, by its mode and owner: e.g.
// "every user can read it (mode 0644)"; nullopt when only root can. Any such user reads
// every file's data straight from the device, whatever the files' modes say.
std::optional<std::string> device_exposure(const struct stat& st);

} // namespace famfs::dax
