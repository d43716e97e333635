// dax/device_id: devices by identity, who besides root can reach one, FUSE's user_id=.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "dax/device_id.hpp"

using namespace famfs::dax;

namespace {
struct stat with_mode(mode_t mode, uid_t uid = 0, gid_t gid = 0) {
  struct stat st{};
  st.st_mode = mode;
  st.st_uid = uid;
  st.st_gid = gid;
  return st;
}
} // namespace

TEST_CASE("device_id: an image by dev/ino, a device node by rdev", "[device_id]") {
  struct stat f = with_mode(S_IFREG | 0600);
  f.st_dev = makedev(0, 25);
  f.st_ino = 77;
  struct stat c = with_mode(S_IFCHR | 0600);
  c.st_dev = makedev(0, 5);
  c.st_ino = 300;
  c.st_rdev = makedev(252, 0);
  struct stat c2 = c; // a second node (mknod) elsewhere: other inode, same major:minor
  c2.st_dev = makedev(0, 44);
  c2.st_ino = 9;
  REQUIRE(device_id(f));
  REQUIRE(device_id(c));
  CHECK(*device_id(c) == *device_id(c2));
  CHECK_FALSE(*device_id(c) == *device_id(f));
  CHECK(device_id_text(*device_id(f)) == "inode 77 on device 0:25");
  CHECK(device_id_text(*device_id(c)) == "device 252:0");
  CHECK_FALSE(device_id(with_mode(S_IFDIR | 0755)));
  CHECK_FALSE(device_id(with_mode(S_IFBLK | 0600)));
}

TEST_CASE("device_id_of_path: a hard link and a symlink are the same device", "[device_id]") {
  char tmpl[] = "/tmp/famfs-wt-trust-devid-XXXXXX";
  int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  const std::string path = tmpl, link = path + ".link", sym = path + ".sym";
  REQUIRE(::link(path.c_str(), link.c_str()) == 0);
  REQUIRE(::symlink(path.c_str(), sym.c_str()) == 0);
  CHECK(device_id_of_path(link) == device_id_of_path(path));
  CHECK(device_id_of_path(sym) == device_id_of_path(path));
  CHECK(device_id_of_fd(fd) == device_id_of_path(path));
  CHECK_FALSE(device_id_of_path(path + ".none"));
  ::close(fd);
  ::unlink(sym.c_str());
  ::unlink(link.c_str());
  ::unlink(path.c_str());
}

TEST_CASE("device_exposure: mode bits and owner", "[device_id]") {
  CHECK_FALSE(device_exposure(with_mode(S_IFREG | 0600)));
  CHECK_FALSE(device_exposure(with_mode(S_IFCHR | 0600)));
  CHECK_FALSE(device_exposure(with_mode(S_IFREG | 0000, 1000))); // its owner cannot either
  CHECK(device_exposure(with_mode(S_IFREG | 0644)) ==
        "every user can read it (mode 0644, owner uid 0, group 0)");
  CHECK(device_exposure(with_mode(S_IFREG | 0602)) ==
        "every user can write it (mode 0602, owner uid 0, group 0)");
  CHECK(device_exposure(with_mode(S_IFCHR | 0660, 0, 6)) ==
        "the members of group 6 can read and write it (mode 0660, owner uid 0, group 6)");
  CHECK(device_exposure(with_mode(S_IFREG | 0600, 1000, 1000)) ==
        "its owner, uid 1000, can read and write it (mode 0600, owner uid 1000, group 1000)");
  CHECK(device_exposure(with_mode(S_IFREG | 0666, 1000, 1000)) ==
        "every user can read and write it (mode 0666, owner uid 1000, group 1000)");
  CHECK(device_exposure(with_mode(S_IFREG | 0664, 1000, 50)) ==
        "every user can read it; the members of group 50 can read and write it; its owner, "
        "uid 1000, can read and write it (mode 0664, owner uid 1000, group 50)");
}

TEST_CASE("mount_user_id: user_id= of FUSE mount options", "[device_id]") {
  CHECK(mount_user_id("rw,nosuid,nodev,relatime,user_id=0,group_id=0") == 0u);
  CHECK(mount_user_id("user_id=1000") == 1000u);
  CHECK(mount_user_id("rw,user_id=4294967295") == 4294967295u);
  CHECK_FALSE(mount_user_id(""));
  CHECK_FALSE(mount_user_id("rw,user_id=4294967296"));
  CHECK_FALSE(mount_user_id("rw,user_id=1x"));
  CHECK_FALSE(mount_user_id("rw,xuser_id=0"));
  CHECK_FALSE(mount_user_id("rw,user_id="));
}
