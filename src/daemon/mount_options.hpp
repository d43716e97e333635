// Generic mount options (mount(8), fstab) as famfs-fused sees them: the ones the kernel mount
// takes (passed through libfuse, as every FUSE file system does), the fstab and mount(8) words
// that ask nothing of a file system, and everything else (refused). docs/daemon.md.
#pragma once

#include <string>
#include <string_view>

namespace famfs::daemon {

struct Options;

enum class GenericOption {
  Kernel,   // noexec, nosuid, nodev, noatime, sync, ...: a flag of the kernel mount
  Userland, // defaults, noauto, nofail, _netdev, x-*, ...: for fstab or mount(8), not us
  NotThroughFuse, // nodiratime, strictatime, ...: a mount flag libfuse cannot pass (refused)
  Unknown,
};
GenericOption classify_generic_option(std::string_view opt);

// The -o string famfs-fused gives libfuse for the mount: subtype=famfs, fsname=<device>,
// default_permissions, then allow_other, ro and the kernel options asked for.
std::string fuse_mount_options(const Options& o);

} // namespace famfs::daemon
