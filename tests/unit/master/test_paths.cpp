// master/paths: the trust rule for fuse.famfs mounts (the same as libfamfs's).
#include <catch2/catch.hpp>

#include <cerrno>

#include "master/paths.hpp"
#include "meta/error.hpp"

using namespace famfs;
using namespace famfs::master;

TEST_CASE("mounter_uid: user_id= of the mount options", "[paths]") {
  CHECK(mounter_uid("rw,nosuid,nodev,relatime,user_id=0,group_id=0") == 0u);
  CHECK(mounter_uid("rw,user_id=1000,group_id=1000,allow_other") == 1000u);
  CHECK_FALSE(mounter_uid("rw,nosuid"));
  CHECK_FALSE(mounter_uid("rw,user_id=,group_id=0"));
  CHECK_FALSE(mounter_uid("rw,user_id=12x"));
  CHECK_FALSE(mounter_uid("rw,user_id=99999999999"));
  CHECK_FALSE(mounter_uid("rw,xuser_id=0"));
}

TEST_CASE("check_trusted_mount: root's and the caller's own mounts only", "[paths]") {
  CHECK_NOTHROW(check_trusted_mount("/m", "rw,user_id=0,group_id=0", 0));
  CHECK_NOTHROW(check_trusted_mount("/m", "rw,user_id=0,group_id=0", 1000));
  CHECK_NOTHROW(check_trusted_mount("/m", "rw,user_id=1000,group_id=1000", 1000));
  try {
    check_trusted_mount("/m", "rw,user_id=1000,group_id=1000", 0);
    FAIL("root trusted a user's mount");
  } catch (const Error& e) {
    CHECK(e.err() == EPERM);
    CHECK_THAT(e.what(), Catch::Contains("/m was made by uid 1000, not by root:"));
  }
  CHECK_THROWS_AS(check_trusted_mount("/m", "rw,user_id=1001", 1000), Error);
  CHECK_THROWS_AS(check_trusted_mount("/m", "rw", 0), Error);
}
