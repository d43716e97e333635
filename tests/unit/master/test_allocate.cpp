// master/allocate: space for new files over a real allocator, and its refusals.
#include <catch2/catch.hpp>

#include <cerrno>

#include "../meta_replay/fs_helpers.hpp"
#include "master/allocate.hpp"
#include "meta/error.hpp"

using namespace famfs;
using namespace famfs::master;
using famfs::rtest::kAU;
using famfs::rtest::kGiB;
using famfs::rtest::kMiB;
using famfs::rtest::TestFs;

TEST_CASE("allocate_file: contiguous, rounded up to the allocation unit", "[allocate]") {
  TestFs fs(8 * kGiB);
  BitmapBuild b = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(b.bitmap, fs.geo);
  uint64_t before = a.free_bytes();
  Fmap f = allocate_file(a, fs.geo, "/dev/test0.0", 5 * kMiB + 3, std::nullopt, "f");
  REQUIRE(f.kind == Fmap::Kind::Simple);
  REQUIRE(f.extents.size() == 1);
  CHECK(f.extents[0].len == 6 * kMiB);
  CHECK(f.extents[0].offset >= kAU + fs.geo.log_len);
  CHECK(a.free_bytes() == before - 6 * kMiB);
  a.release(f);
  CHECK(a.free_bytes() == before);
}

TEST_CASE("allocate_file: out of space names the file, the need and the free space", "[allocate]") {
  TestFs fs(8 * kGiB);
  BitmapBuild b = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(b.bitmap, fs.geo);
  try {
    allocate_file(a, fs.geo, "/dev/test0.0", 9 * kGiB, std::nullopt, "big");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.err() == ENOSPC);
    CHECK_THAT(e.what(), Catch::Contains("'big' needs 9.00 GiB") && Catch::Contains("/dev/test0.0") &&
                             Catch::Contains("nothing was created"));
  }
  // A size that overflows when rounded up is still a clear refusal, not "needs 0 bytes".
  try {
    allocate_file(a, fs.geo, "/dev/test0.0", ~0ull, std::nullopt, "huge");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.err() == ENOSPC);
    CHECK_THAT(e.what(), !Catch::Contains("needs 0 bytes"));
  }
}

TEST_CASE("allocate_file: interleaved strips in separate buckets, reproducible", "[allocate]") {
  InterleaveParams ip;
  ip.nbuckets = 4;
  ip.nstrips = 2;
  ip.chunk_size = kAU;
  auto run = [&] {
    TestFs fs(8 * kGiB);
    BitmapBuild b = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
    Allocator a(b.bitmap, fs.geo);
    return allocate_file(a, fs.geo, "/dev/test0.0", 16 * kMiB, ip, "dir/file");
  };
  Fmap f = run();
  REQUIRE(f.kind == Fmap::Kind::Interleave);
  REQUIRE(f.extents.size() == 2);
  CHECK(f.extents[0].offset / (2 * kGiB) != f.extents[1].offset / (2 * kGiB));
  CHECK(run() == f); // the bucket order comes from the path
  CHECK(alloc_seed_for("dir/file") == alloc_seed_for("dir/file"));
  CHECK(alloc_seed_for("dir/file") != alloc_seed_for("dir/other"));
}
