#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "dax/mounts.hpp"
#include "helpers.hpp"

using namespace famfs::dax;

namespace {
const char* kSample =
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
    "/dev/vda / ext4 rw,relatime 0 0\n"
    "/dev/dax0.0 /mnt/famfs fuse.famfs rw,nosuid,nodev,relatime,user_id=0,group_id=0 0 0\n"
    "/dev/shm/my\\040image.img /mnt/with\\040space\\011tab fuse.famfs rw 0 0\n"
    "/dev/dax1.0 /mnt/famfs/inner fuse.famfs ro 0 0\n"
    "/dev/dax2.0 /mnt/famfs2 fuse.famfs rw 0 0\n"
    "/dev/dax3.0 /mnt/other fuse.sshfs rw 0 0\n"
    "\n"
    "garbage-line\n"
    "back\\134slash /mnt/bs fuse.famfs rw 0 0";
}

TEST_CASE("parse_mounts decodes the kernel's octal escapes", "[mounts]") {
  auto all = parse_mounts(kSample);
  REQUIRE(all.size() == 8);
  CHECK(all[0].device == "sysfs");
  CHECK(all[2].device == "/dev/dax0.0");
  CHECK(all[2].mountpoint == "/mnt/famfs");
  CHECK(all[2].fstype == "fuse.famfs");
  CHECK(all[2].options == "rw,nosuid,nodev,relatime,user_id=0,group_id=0");
  CHECK(all[3].device == "/dev/shm/my image.img");
  CHECK(all[3].mountpoint == "/mnt/with space\ttab");
  CHECK(all[7].device == "back\\slash"); // the last line has no newline
}

TEST_CASE("mount_containing picks the longest famfs mountpoint on a component boundary",
          "[mounts]") {
  auto all = parse_mounts(kSample);
  auto m = mount_containing(all, "/mnt/famfs/a/b");
  REQUIRE(m);
  CHECK(m->device == "/dev/dax0.0");
  CHECK(mount_containing(all, "/mnt/famfs")->device == "/dev/dax0.0");
  CHECK(mount_containing(all, "/mnt/famfs/inner")->device == "/dev/dax1.0");
  CHECK(mount_containing(all, "/mnt/famfs/inner/x")->device == "/dev/dax1.0");
  CHECK(mount_containing(all, "/mnt/famfs/innerx")->device == "/dev/dax0.0");
  CHECK(mount_containing(all, "/mnt/famfs2/f")->device == "/dev/dax2.0");
  CHECK(mount_containing(all, "/mnt/with space\ttab/f")->device == "/dev/shm/my image.img");
  CHECK_FALSE(mount_containing(all, "/mnt/fam"));
  CHECK_FALSE(mount_containing(all, "/mnt/other/f")); // not famfs
  CHECK_FALSE(mount_containing(all, "/"));
}

TEST_CASE("a later mount on the same mountpoint hides the earlier one", "[mounts]") {
  auto all = parse_mounts("/dev/dax0.0 /m fuse.famfs rw 0 0\n/dev/dax9.0 /m fuse.famfs rw 0 0\n");
  CHECK(mount_containing(all, "/m/x")->device == "/dev/dax9.0");
}

TEST_CASE("resolve_path resolves the existing part and appends the rest", "[mounts]") {
  famfs::test::TempDir d;
  std::string real = std::filesystem::canonical(d.path());
  std::filesystem::create_directory(d / "sub");
  std::filesystem::create_directory_symlink(d / "sub", d / "link");
  CHECK(resolve_path(d / "link") == real + "/sub");
  CHECK(resolve_path(d / "link/new/file") == real + "/sub/new/file");
  CHECK(resolve_path(d / "link/new/../other/./f") == real + "/sub/other/f");
  CHECK(resolve_path("/") == "/");
}

TEST_CASE("this host's /proc/mounts parses and famfs_mounts only returns fuse.famfs",
          "[mounts]") {
  for (const MountEntry& m : famfs_mounts()) CHECK(m.fstype == "fuse.famfs");
  CHECK_FALSE(famfs_mount_containing("/proc"));
}
