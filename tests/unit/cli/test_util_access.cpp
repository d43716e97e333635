// cli/util: who may use a FUSE mount (the messages of non-root famfs commands).
#include <unistd.h>

#include <cerrno>

#include <catch2/catch.hpp>

#include "cli/util.hpp"

using famfs::cli::fuse_access_denied;
using famfs::cli::fuse_mount_user;

TEST_CASE("fuse_mount_user reads user_id= from the mount options", "[util]") {
  CHECK(fuse_mount_user("rw,nosuid,user_id=0,group_id=0") == 0u);
  CHECK(fuse_mount_user("rw,user_id=1000,group_id=1000,allow_other") == 1000u);
  CHECK_FALSE(fuse_mount_user("rw,nosuid"));
  CHECK_FALSE(fuse_mount_user("rw,xuser_id=5"));
  CHECK_FALSE(fuse_mount_user("user_id="));
  CHECK_FALSE(fuse_mount_user("user_id=99999999999"));
}

TEST_CASE("fuse_access_denied blames a mount without allow_other only when that is why",
          "[util]") {
  CHECK_FALSE(fuse_access_denied("/m", "rw,user_id=0", ENOENT));
  CHECK_FALSE(fuse_access_denied("/m", "rw,user_id=0,allow_other", EACCES));
  if (::geteuid() == 0) {
    CHECK_FALSE(fuse_access_denied("/m", "rw,user_id=0", EACCES)); // root gets in anyway
  } else {
    auto why = fuse_access_denied("/m", "rw,user_id=0", EACCES);
    REQUIRE(why);
    CHECK(why->find("without allow_other") != std::string::npos);
  }
}
