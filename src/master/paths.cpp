// Mounts and paths of the master library: see paths.hpp.
#include "master/paths.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "dax/device.hpp"
#include "dax/device_id.hpp"
#include "dax/mapping.hpp"
#include "dax/mounts.hpp"
#include "master/text.hpp"
#include "meta/error.hpp"
#include "meta/path.hpp"
#include "meta/superblock.hpp"
#include "proto/unique_fd.hpp"
#include "proto/xattr.h"

namespace famfs::master {

namespace {

bool is_inside(const std::string& mpt, const std::string& abs) {
  if (mpt == "/") return !abs.empty() && abs[0] == '/';
  return abs.size() >= mpt.size() && abs.compare(0, mpt.size(), mpt) == 0 &&
         (abs.size() == mpt.size() || abs[mpt.size()] == '/');
}

std::string rel_of(const std::string& mpt, const std::string& abs) {
  if (abs.size() <= mpt.size()) return {};
  return abs.substr(mpt == "/" ? 1 : mpt.size() + 1);
}

// realpath of an existing path, or "" with *err = errno.
std::string existing_realpath(const std::string& p, int* err = nullptr) {
  auto r = dax::canonical_path(p, err);
  return r ? *r : std::string();
}

} // namespace

void throw_daemon_gone(const std::string& mpt) {
  throw Error(ENOTCONN, "the famfs daemon of " + mpt + " is not running; famfs umount " + mpt +
                            ", then mount again");
}

void check_daemon_alive(const std::string& mpt) {
  int err = 0;
  if (!get_xattr(mpt, FAMFS_XATTR_ROLE, &err) && err == ENOTCONN) throw_daemon_gone(mpt);
}

std::string parent_relpath(const std::string& rel) {
  auto s = rel.find_last_of('/');
  return s == std::string::npos ? std::string() : rel.substr(0, s);
}

std::optional<std::string> get_xattr(const std::string& path, const char* name, int* err) {
  std::string buf(4096, '\0');
  for (int attempt = 0; attempt < 6; ++attempt) {
    ssize_t n = ::getxattr(path.c_str(), name, buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(size_t(n));
      return buf;
    }
    if (errno != ERANGE) {
      if (err) *err = errno;
      return std::nullopt;
    }
    ssize_t want = ::getxattr(path.c_str(), name, nullptr, 0);
    buf.assign(want > 0 ? size_t(want) + 4096 : buf.size() * 4, '\0');
  }
  if (err) *err = ERANGE;
  return std::nullopt;
}

std::optional<uint32_t> mounter_uid(const std::string& options) {
  return dax::mount_user_id(options);
}

void check_trusted_mount(const std::string& mpt, const std::string& options, uid_t caller) {
  auto uid = mounter_uid(options);
  if (uid && (*uid == 0 || *uid == caller)) return;
  throw Error(EPERM, "the famfs mount at " + mpt + " was made by " +
                         (uid ? "uid " + std::to_string(*uid) : std::string("an unknown user")) +
                         ", not by root" + (caller ? " or by you" : "") +
                         ": famfs commands trust only mounts made by root or by the caller (another "
                         "user's mount could name any device); unmount it, or mount the file "
                         "system as root");
}

namespace {

MountInfo info_from_entry(const dax::MountEntry& e) {
  check_trusted_mount(e.mountpoint, e.options, ::geteuid());
  MountInfo m;
  m.mpt = e.mountpoint;
  int err = 0;
  auto dev = get_xattr(m.mpt, FAMFS_XATTR_DEVICE, &err);
  m.device = dev && !dev->empty() ? *dev : e.device;
  size_t pos = 0;
  while (pos <= e.options.size()) {
    size_t c = e.options.find(',', pos);
    if (c == std::string::npos) c = e.options.size();
    if (e.options.compare(pos, c - pos, "ro") == 0) m.read_only = true;
    pos = c + 1;
  }
  return m;
}

// A path error: ENOTCONN means the famfs daemon of the mount holding `path` is gone.
[[noreturn]] void throw_path_error(int err, const std::string& path, const std::string& what) {
  if (err == ENOTCONN)
    if (auto m = dax::famfs_mount_containing(path)) throw_daemon_gone(m->mountpoint);
  throw Error(err, what + " " + quote(path) + ": " + errno_text(err));
}

// The parent directory of a new path, resolved: its realpath, and (make_parents) the
// components below it that do not exist yet, deepest first.
struct Parent {
  std::string real;
  std::vector<std::string> missing;
};

Parent resolve_parent(const std::string& dir, bool make_parents, const std::string& user_path) {
  Parent out;
  std::string head = dir;
  while (true) {
    int err = 0;
    out.real = existing_realpath(head, &err);
    if (!out.real.empty()) break;
    if (err != ENOENT || !make_parents) {
      if (err == ENOENT)
        throw Error(ENOENT, "the directory " + quote(dir) + " does not exist; create it first "
                                "(famfs mkdir -p " + dir + ")");
      throw_path_error(err, dir, "cannot resolve");
    }
    std::string h = head;
    while (h.size() > 1 && h.back() == '/') h.pop_back();
    auto s = h.find_last_of('/');
    std::string comp = s == std::string::npos ? h : h.substr(s + 1);
    if (comp == "..")
      throw Error(EINVAL, quote(user_path) + ": cannot create a path containing '..' below a "
                                             "directory that does not exist");
    if (!comp.empty() && comp != ".") out.missing.push_back(comp);
    if (s == std::string::npos) head = ".";
    else head = s == 0 ? "/" : h.substr(0, s);
  }
  struct stat st{};
  if (::stat(out.real.c_str(), &st) != 0) throw_path_error(errno, dir, "cannot resolve");
  if (!S_ISDIR(st.st_mode)) throw Error(ENOTDIR, quote(dir) + " is not a directory");
  return out;
}

// The canonical form of the relpath `r` of a new object (named `user_path` by the user) in the
// famfs at `mpt`; refuses .meta and names over 79 bytes.
std::string canonical_new_relpath(const std::string& r, const std::string& user_path,
                                  const std::string& mpt) {
  std::string c;
  try {
    c = canonical_relpath_for_write(r);
  } catch (const Error& ex) {
    if (ex.err() == ENAMETOOLONG)
      throw Error(ENAMETOOLONG, "the path " + quote(r) + " is " + std::to_string(r.size()) +
                                    " bytes long relative to the famfs root " + mpt +
                                    "; famfs log entries hold at most 79 bytes: use a shorter "
                                    "name or a shallower directory");
    throw Error(ex.err(), quote(user_path) + ": " + ex.what());
  }
  if (c == ".meta" || c.rfind(".meta/", 0) == 0)
    throw Error(EPERM, quote(user_path) + " is inside .meta, which famfs reserves for its "
                                          "superblock and log");
  return c;
}

[[noreturn]] void throw_outside(const std::string& user_path, const std::string& resolved) {
  throw Error(EXDEV, quote(user_path) + " is not inside a famfs file system (" + resolved +
                         " is on no fuse.famfs mount); famfs commands work only on paths under "
                         "a mounted famfs (see 'famfs mount' and 'famfs status MOUNTPOINT')");
}

} // namespace

MountInfo mount_of_existing(const std::string& path) {
  int err = 0;
  std::string r = existing_realpath(path, &err);
  if (r.empty()) throw_path_error(err, path, "cannot find");
  auto e = dax::mount_containing(dax::famfs_mounts(), r);
  if (!e) throw_outside(path, r);
  return info_from_entry(*e);
}

std::optional<MountInfo> existing_famfs_dir(const std::string& path) {
  struct stat st{};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (!S_ISDIR(st.st_mode))
    throw Error(ENOTDIR, quote(path) + " exists and is not a directory; remove it or choose another name");
  return mount_of_existing(path);
}

std::string relpath_in_mount(const MountInfo& m, const std::string& existing_path) {
  int err = 0;
  std::string r = existing_realpath(existing_path, &err);
  if (r.empty()) throw_path_error(err, existing_path, "cannot find");
  if (!is_inside(m.mpt, r))
    throw Error(EXDEV, quote(existing_path) + " is not in the famfs mounted at " + m.mpt);
  return rel_of(m.mpt, r);
}

NewPath resolve_new_path(const std::string& user_path, bool make_parents) {
  if (user_path.empty()) throw Error(EINVAL, "empty path");
  std::string p = user_path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();

  // Refuse the mount root itself (and anything that resolves to a famfs mount point).
  {
    std::string r = existing_realpath(p);
    if (!r.empty()) {
      for (const auto& e : dax::famfs_mounts())
        if (e.mountpoint == r)
          throw Error(EEXIST, quote(user_path) + " is the root of the famfs file system mounted "
                                                 "at " + r + "; name a file or directory inside it");
    }
  }

  std::string dir, base;
  auto slash = p.find_last_of('/');
  if (slash == std::string::npos) {
    dir = ".";
    base = p;
  } else {
    dir = slash == 0 ? "/" : p.substr(0, slash);
    base = p.substr(slash + 1);
  }
  if (base.empty() || base == "." || base == "..")
    throw Error(EINVAL, quote(user_path) + " does not name a new file or directory (its last "
                                           "component is '" + base + "')");

  Parent par = resolve_parent(dir, make_parents, user_path);
  const std::string& real = par.real;
  const std::vector<std::string>& missing = par.missing;

  auto e = dax::mount_containing(dax::famfs_mounts(), real);
  if (!e) throw_outside(user_path, real);

  NewPath np;
  np.mount = info_from_entry(*e);
  std::string rel = rel_of(np.mount.mpt, real);
  auto join = [](const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; };
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    rel = join(rel, *it);
    np.missing_dirs.push_back(rel);
  }
  rel = join(rel, base);

  for (auto& d : np.missing_dirs) d = canonical_new_relpath(d, user_path, np.mount.mpt);
  np.relpath = canonical_new_relpath(rel, user_path, np.mount.mpt);
  np.abspath = np.mount.mpt == "/" ? "/" + np.relpath : np.mount.mpt + "/" + np.relpath;
  return np;
}

omf::Superblock read_mount_superblock(const MountInfo& m) {
  omf::Superblock sb{};
  std::string path = m.mpt + "/.meta/.superblock";
  proto::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd && ::pread(fd.get(), &sb, sizeof sb, 0) == ssize_t(sizeof sb)) return sb;
  // Fall back to the device itself (read-only).
  dax::Device d = dax::Device::open(m.device, false);
  dax::Mapping map = dax::Mapping::map(d, false);
  if (map.size() < sizeof sb) throw Error(EIO, "device " + m.device + " is too small");
  return read_superblock(map.cbytes());
}

} // namespace famfs::master
