// Devices by identity, the one-mount-per-host rule, and who can reach a device: device_id.hpp.
#include "dax/device_id.hpp"

#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "proto/xattr.h"

namespace famfs::dax {

namespace {

constexpr size_t kXattrMax = 4096;

// An xattr of a mount root, or nullopt with *err = errno.
std::optional<std::string> mount_xattr(const std::string& mpt, const char* name, int* err) {
  std::string buf(kXattrMax, '\0');
  ssize_t n = ::getxattr(mpt.c_str(), name, buf.data(), buf.size());
  if (n < 0) {
    *err = errno;
    return std::nullopt;
  }
  buf.resize(size_t(n));
  return buf;
}

// "read", "write" or "read and write" for the r (4) and w (2) bits of one class of a mode.
std::string access_words(unsigned rw) {
  if ((rw & 06) == 06) return "read and write";
  return rw & 04 ? "read" : "write";
}

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
  return buf;
}

} // namespace

std::optional<DeviceId> device_id(const struct stat& st) {
  if (S_ISCHR(st.st_mode)) return DeviceId{true, uint64_t(st.st_rdev), 0};
  if (S_ISREG(st.st_mode)) return DeviceId{false, uint64_t(st.st_dev), uint64_t(st.st_ino)};
  return std::nullopt;
}

std::optional<DeviceId> device_id_of_path(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return device_id(st);
}

std::optional<DeviceId> device_id_of_fd(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return device_id(st);
}

std::string device_id_text(const DeviceId& id) {
  const std::string mm =
      std::to_string(::major(dev_t(id.dev))) + ":" + std::to_string(::minor(dev_t(id.dev)));
  if (id.char_device) return "device " + mm;
  return "inode " + std::to_string(id.ino) + " on device " + mm;
}

std::optional<uint32_t> mount_user_id(std::string_view options) {
  constexpr std::string_view key = "user_id=";
  size_t pos = 0;
  while (pos <= options.size()) {
    size_t c = options.find(',', pos);
    if (c == std::string_view::npos) c = options.size();
    const std::string_view o = options.substr(pos, c - pos);
    if (o.substr(0, key.size()) == key && o.size() > key.size()) {
      uint64_t v = 0;
      bool ok = true;
      for (char ch : o.substr(key.size())) {
        if (ch < '0' || ch > '9' || (v = v * 10 + uint64_t(ch - '0')) > UINT32_MAX) ok = false;
        if (!ok) break;
      }
      if (ok) return uint32_t(v);
    }
    pos = c + 1;
  }
  return std::nullopt;
}

SameFsResult find_same_fs_mount(const SameFsQuery& q) {
  SameFsResult r;
  for (MountEntry& m : famfs_mounts()) {
    const auto maker = mount_user_id(m.options);
    if (!maker || (*maker != 0 && *maker != q.caller)) continue;
    // The fsname is the absolute path the daemon mapped: a mount of another device is never
    // asked anything (a stuck daemon elsewhere must not stall this mount).
    const auto fsname_id = device_id_of_path(m.device);
    if (fsname_id && *fsname_id != q.id) continue;
    int err = 0;
    const auto host = mount_xattr(m.mountpoint, FAMFS_XATTR_SYSTEM_UUID, &err);
    if (!host) {
      r.ignored.push_back(m.mountpoint + " (famfs, of " + m.device + ") does not answer (" +
                          std::strerror(err) + ")");
      continue;
    }
    if (*host != q.system_uuid) continue; // another (simulated) host's mount
    const auto fs = mount_xattr(m.mountpoint, FAMFS_XATTR_FS_UUID, &err);
    if (!fs || *fs != q.fs_uuid) continue;
    SameFsMount s;
    s.device = m.device;
    s.role = mount_xattr(m.mountpoint, FAMFS_XATTR_ROLE, &err).value_or("?");
    s.id = fsname_id;
    s.mount = std::move(m);
    r.found = std::move(s);
    return r;
  }
  return r;
}

std::string same_fs_refusal(const std::string& device, const std::string& fs_uuid,
                            const SameFsMount& m) {
  const std::string& mpt = m.mount.mountpoint;
  const std::string how =
      !m.id ? m.device + ", a path that names no device now; the same file system UUID"
            : m.device + ", the same " + (m.id->char_device ? "device" : "image file") + " (" +
                  device_id_text(*m.id) + ")";
  return device + " holds famfs file system " + fs_uuid + ", which is already mounted on " +
         "this host at " + mpt + " (role " + m.role + ", from " + how + "); a file system is " +
         "mounted once per host (a second master would hand out the space the first one " +
         "hands out; a second client adds nothing): use " + mpt + " (mount --bind " + mpt +
         " gives it a second path), or run 'famfs umount " + mpt + "' first";
}

std::optional<std::string> device_exposure(const struct stat& st) {
  // r and w of each class, as 2 bits; a class is named only for what every user cannot do.
  const unsigned oth = st.st_mode & 06, grp = (st.st_mode >> 3) & 06;
  const unsigned usr = st.st_uid != 0 ? (st.st_mode >> 6) & 06 : 0;
  std::vector<std::string> who;
  if (oth) who.push_back("every user can " + access_words(oth) + " it");
  if (grp & ~oth)
    who.push_back("the members of group " + std::to_string(st.st_gid) + " can " +
                  access_words(grp) + " it");
  if (usr & ~oth)
    who.push_back("its owner, uid " + std::to_string(st.st_uid) + ", can " + access_words(usr) +
                  " it");
  if (who.empty()) return std::nullopt;
  std::string out;
  for (const std::string& s : who) out += (out.empty() ? "" : "; ") + s;
  return out + " (mode " + octal_mode(st.st_mode) + ", owner uid " + std::to_string(st.st_uid) +
         ", group " + std::to_string(st.st_gid) + ")";
}

} // namespace famfs::dax
