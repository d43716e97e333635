#include "daemon/mount_options.hpp"

#include <algorithm>
#include <array>

#include "daemon/daemon.hpp"

namespace famfs::daemon {

namespace {

// What libfuse 3.14 passes on as flags of mount(2) (MS_NOEXEC, MS_NOATIME, ...). libfuse
// mounts with nosuid,nodev unless suid / dev are given (root only).
constexpr std::array<std::string_view, 11> kKernel = {
    "exec", "noexec", "suid",    "nosuid", "dev",     "nodev",
    "sync", "async",  "dirsync", "atime",  "noatime",
};

// Mount flags the kernel knows but libfuse 3.14 refuses ("unknown option"): named as such.
constexpr std::array<std::string_view, 10> kNotThroughFuse = {
    "diratime",    "nodiratime",    "norelatime", "strictatime", "nostrictatime",
    "nosymfollow", "symfollow",     "lazytime",   "nolazytime",  "mand",
};

// mount(8) and fstab words with nothing for the file system to do.
// relatime is what every mount gets anyway.
constexpr std::array<std::string_view, 13> kUserland = {
    "defaults", "auto",  "noauto", "nofail", "_netdev", "user",     "nouser",
    "users",    "owner", "group",  "loud",   "silent",  "relatime",
};
constexpr std::array<std::string_view, 3> kUserlandPrefixes = {"x-", "comment=", "helper="};

std::string escape_opt(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == ',' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

} // namespace

GenericOption classify_generic_option(std::string_view opt) {
  auto in = [&](const auto& list) {
    return std::find(list.begin(), list.end(), opt) != list.end();
  };
  if (in(kKernel)) return GenericOption::Kernel;
  if (in(kNotThroughFuse)) return GenericOption::NotThroughFuse;
  if (in(kUserland)) return GenericOption::Userland;
  for (std::string_view p : kUserlandPrefixes)
    if (opt.substr(0, p.size()) == p) return GenericOption::Userland;
  return GenericOption::Unknown;
}

std::string fuse_mount_options(const Options& o) {
  std::string s = "subtype=famfs,fsname=" + escape_opt(o.device) + ",default_permissions";
  if (o.allow_other) s += ",allow_other";
  if (o.read_only) s += ",ro";
  for (const std::string& k : o.kernel_options) s += "," + k;
  return s;
}

} // namespace famfs::daemon
