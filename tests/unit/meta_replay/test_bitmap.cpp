// Bitmap rebuild and allocators (spec B§6, Part A §7).
#include <catch2/catch.hpp>

#include <cerrno>
#include <set>

#include "fs_helpers.hpp"
#include "meta/bitmap.hpp"
#include "meta/error.hpp"
#include "meta/replay.hpp"

using namespace famfs;
using namespace famfs::rtest;

TEST_CASE("Bitmap set/clear/count with collisions and out-of-bounds bits", "[bitmap]") {
  Bitmap b(130);
  CHECK(b.nbits() == 130);
  uint64_t oob = 0;
  CHECK(b.set_range(60, 10, &oob) == 0); // crosses a word boundary
  CHECK(oob == 0);
  CHECK(b.count_set() == 10);
  CHECK(b.test(60));
  CHECK(b.test(69));
  CHECK_FALSE(b.test(70));
  CHECK(b.set_range(65, 10, &oob) == 5); // 65..69 already set
  CHECK(b.count_set() == 15);
  CHECK(b.set_range(125, 10, &oob) == 0);
  CHECK(oob == 5); // 130..134 rejected
  CHECK(b.count_set() == 20);
  CHECK_FALSE(b.test(130));
  CHECK(b.set_range(1000, 3, &oob) == 0);
  CHECK(oob == 8);
  CHECK(b.set_range(~0ull - 2, 100, &oob) == 0); // saturating, no wrap
  CHECK(b.count_set() == 20);
  b.clear_range(62, 1000);
  CHECK(b.count_set() == 2);
  CHECK(b.count_set_below(61) == 1);
  CHECK(b.find_clear_run(0, 130, 60) == 0u);
  CHECK(b.find_clear_run(0, 130, 61) == 62u);
  CHECK(b.find_clear_run(100, 130, 31) == std::nullopt);
  CHECK(b.find_clear_run(100, 130, 30) == 100u);
  CHECK(b.find_clear_run(0, 130, 0) == std::nullopt);
}

TEST_CASE("build_bitmap on a fresh file system presets superblock and log", "[bitmap]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  CHECK(bb.bitmap.nbits() == 4096);
  CHECK(bb.bitmap.count_set() == 5); // 2 MiB superblock + 8 MiB log
  CHECK(bb.stats.entries_used == 0);
  CHECK(bb.stats.files == 0);
  CHECK(bb.stats.alloc_bytes == 0);
  Allocator a(bb.bitmap, fs.geo);
  CHECK(a.free_bytes() == 8 * kGiB - 10 * kMiB);
}

TEST_CASE("contiguous allocation: upstream's first-fit sequence and rounding", "[alloc]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(bb.bitmap, fs.geo);
  auto f1 = a.alloc_contiguous(1 * kMiB);
  REQUIRE(f1);
  CHECK(f1->kind == Fmap::Kind::Simple);
  REQUIRE(f1->extents.size() == 1);
  CHECK(f1->extents[0] == Extent{0xA00000, 0x200000});
  auto f2 = a.alloc_contiguous(5 * kMiB + 3);
  REQUIRE(f2);
  CHECK(f2->extents[0] == Extent{0xC00000, 0x600000});
  auto f3 = a.alloc_contiguous(2 * kMiB);
  CHECK(f3->extents[0] == Extent{0x1200000, 0x200000});
  auto f4 = a.alloc_contiguous(2 * kMiB + 1);
  CHECK(f4->extents[0] == Extent{0x1400000, 0x400000});
  auto f5 = a.alloc_contiguous(1);
  CHECK(f5->extents[0] == Extent{0x1800000, 0x200000});
  CHECK(a.free_bytes() == 8 * kGiB - 10 * kMiB - 16 * kMiB);
  CHECK_THROWS_AS(a.alloc_contiguous(0), Error);
}

TEST_CASE("contiguous allocation: after a rebuild the log's files are skipped", "[alloc]") {
  TestFs fs;
  fs.file("a", 100, {{0xA00000, 0x200000}});
  fs.file("b", 100, {{0xE00000, 0x200000}});
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(bb.bitmap, fs.geo);
  CHECK(a.alloc_contiguous(1)->extents[0].offset == 0xC00000);   // the hole between them
  CHECK(a.alloc_contiguous(4 * kMiB)->extents[0].offset == 0x1000000); // hole too small
}

TEST_CASE("contiguous allocation: no wrap within a session, clamp at the device end",
          "[alloc]") {
  // 4 GiB + 1 MiB: the last AU is partial and must never be handed out.
  TestFs fs(4 * kGiB + kMiB);
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  CHECK(bb.bitmap.nbits() == 2049);
  Allocator a(bb.bitmap, fs.geo);
  const uint64_t usable = 4 * kGiB - 10 * kMiB;
  CHECK(a.free_bytes() == usable);
  CHECK_FALSE(a.alloc_contiguous(usable + 1)); // would need the partial AU
  auto first = a.alloc_contiguous(kMiB);
  auto rest = a.alloc_contiguous(usable - kAU);
  REQUIRE(rest);
  CHECK(rest->extents[0].offset + rest->extents[0].len == 4 * kGiB);
  CHECK(a.free_bytes() == 0);
  CHECK_FALSE(a.alloc_contiguous(1)); // out of space
  a.release(*first);
  CHECK(a.free_bytes() == kAU);
  CHECK_FALSE(a.alloc_contiguous(1)); // the cursor is past it: no wrap in a session
  Allocator next_session(bb.bitmap, fs.geo);
  CHECK(next_session.alloc_contiguous(1)->extents[0].offset == 0xA00000);
}

TEST_CASE("contiguous allocation: out of space leaves the bitmap alone", "[alloc]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(bb.bitmap, fs.geo);
  CHECK_FALSE(a.alloc_contiguous(8 * kGiB));
  CHECK(bb.bitmap.count_set() == 5);
  CHECK(a.alloc_contiguous(8 * kGiB - 10 * kMiB)); // exactly what is left
  CHECK(a.free_bytes() == 0);
}

TEST_CASE("interleaved allocation: B§6.3 example and reproducible order", "[alloc]") {
  TestFs fs;
  const InterleaveParams p{8, 4, 2 * kMiB};
  auto alloc = [&](uint64_t seed) {
    BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
    Allocator a(bb.bitmap, fs.geo);
    auto f = a.alloc_interleaved(10 * kMiB, p, seed);
    REQUIRE(f);
    CHECK(bb.bitmap.count_set() == 5 + 4 * 2);
    return *f;
  };
  const Fmap f = alloc(42);
  CHECK(f.kind == Fmap::Kind::Interleave);
  CHECK(f.chunk_size == 2 * kMiB);
  REQUIRE(f.extents.size() == 4);
  std::set<uint64_t> buckets;
  for (const Extent& e : f.extents) {
    CHECK(e.len == 4 * kMiB);
    CHECK(e.offset % kAU == 0);
    CHECK(e.offset >= 10 * kMiB);
    buckets.insert(e.offset / kGiB); // bucket = 1 GiB on 8 GiB with 8 buckets
  }
  CHECK(buckets.size() == 4);
  CHECK(f.capacity() >= 10 * kMiB);
  CHECK(alloc(42) == f);  // same seed, same strips
  CHECK(alloc(43) != f);  // another seed, another order
  CHECK(alloc(7) != alloc(8));
}

TEST_CASE("interleaved allocation: parameter validation", "[alloc]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(bb.bitmap, fs.geo);
  auto bad = [&](InterleaveParams p) {
    try {
      a.alloc_interleaved(64 * kMiB, p, 1);
    } catch (const Error& e) {
      CHECK(e.err() == EINVAL);
      CHECK(std::string(e.what()).size() > 10);
      return true;
    }
    return false;
  };
  CHECK(bad({8, 4, 3 * kMiB}));   // not a power of 2
  CHECK(bad({8, 4, 1 * kMiB}));   // not a multiple of the AU
  CHECK(bad({4, 8, 2 * kMiB}));   // more strips than buckets
  CHECK(bad({0, 0, 2 * kMiB}));   // no buckets
  CHECK(bad({65, 4, 2 * kMiB}));  // too many buckets
  CHECK(bad({16, 4, 2 * kMiB}));  // 8 GiB / 16 = 512 MiB buckets
  CHECK(bad({8, 0, 2 * kMiB}));   // no strips
  CHECK(bb.bitmap.count_set() == 5);
  CHECK_FALSE(bad({8, 4, 0}));    // chunk 0 means 2 MiB
  TestFs big(40 * kGiB);
  BitmapBuild bb2 = build_bitmap(big.cspan(), big.geo, CacheOps{});
  Allocator a2(bb2.bitmap, big.geo);
  CHECK_THROWS_AS(a2.alloc_interleaved(64 * kMiB, {32, 17, 2 * kMiB}, 1), Error); // > 16
  auto f = a2.alloc_interleaved(64 * kMiB, {32, 16, 2 * kMiB}, 1);
  REQUIRE(f);
  CHECK(f->extents.size() == 16);
}

TEST_CASE("interleaved allocation: small files fall back to contiguous from 0", "[alloc]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  Allocator a(bb.bitmap, fs.geo);
  auto f1 = a.alloc_contiguous(1);
  auto f2 = a.alloc_contiguous(1);
  a.release(*f1);
  auto small = a.alloc_interleaved(kMiB, {8, 4, 4 * kMiB}, 9);
  REQUIRE(small);
  CHECK(small->kind == Fmap::Kind::Simple);
  CHECK(small->extents[0] == Extent{0xA00000, 0x200000}); // cursor reset to 0
}

TEST_CASE("interleaved allocation: too few buckets with room frees what it took", "[alloc]") {
  TestFs fs;
  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  // Fill buckets 3..7 (1 GiB each) so only 3 buckets have room.
  bb.bitmap.set_range(3 * 512, 5 * 512);
  const uint64_t before = bb.bitmap.count_set();
  Allocator a(bb.bitmap, fs.geo);
  CHECK_FALSE(a.alloc_interleaved(10 * kMiB, {8, 4, 2 * kMiB}, 5));
  CHECK(bb.bitmap.count_set() == before);
  auto f = a.alloc_interleaved(10 * kMiB, {8, 3, 2 * kMiB}, 5);
  REQUIRE(f);
  CHECK(f->extents.size() == 3);
  for (const Extent& e : f->extents) CHECK(e.offset < 3 * kGiB);
  a.release(*f);
  CHECK(bb.bitmap.count_set() == before);
}

TEST_CASE("build_bitmap counts files, dirs, collisions, bad entries, out of bounds",
          "[bitmap]") {
  TestFs fs;
  fs.mkdir("d");
  fs.file("d/a", 3 * kMiB, {{0xA00000, 0x400000}});                 // 2 AUs
  fs.file("d/b", 100, {{0xC00000, 0x200000}});                        // collides with a: 1
  fs.file("zero", 100, {{0, 0x200000}});                              // collides with sb: 1
  fs.forge_append(file_entry("oob", 100, {{8 * kGiB - kAU, 3 * kAU}})); // 2 AUs out of bounds
  fs.forge_append(make_mkdir_entry("e", 0755, 0, 0));
  omf::LogEntry bad = make_mkdir_entry("f", 0755, 0, 0);
  fs.forge_append(bad);
  std::memset(fs.dev.data() + omf::log_slot_offset(6) + 30, 0x55, 4); // CRC now wrong
  fs.forge_append(file_entry("g", 100, {{0x1000000, 0x200000}}));

  BitmapBuild bb = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  const BitmapStats& s = bb.stats;
  CHECK(s.entries_used == 8);
  CHECK(s.files == 5);
  CHECK(s.directories == 2);
  CHECK(s.bad_entries == 1);
  CHECK(s.first_bad_index == 6u);
  CHECK(s.collisions == 2);
  CHECK(s.out_of_bounds == 2);
  CHECK(s.alloc_bytes == (2 + 1 + 1) * kAU); // a's 2, oob's 1 in bounds, g's 1
  CHECK(s.sum_file_sizes == 3 * kMiB + 400);
  CHECK(bb.bitmap.count_set() == 5 + 4);
}

TEST_CASE("build_bitmap on truncated spans and a bad header reads nothing outside", "[bitmap]") {
  TestFs fs;
  fs.file("a", 100, {{0xA00000, kAU}});
  fs.file("b", 100, {{0xC00000, kAU}});
  // The span ends inside slot 1: only slot 0 is looked at.
  BitmapBuild cut = build_bitmap(fs.cspan().first(omf::log_slot_offset(1) + 10), fs.geo,
                                 CacheOps{});
  CHECK(cut.stats.entries_used == 1);
  CHECK(cut.stats.files == 1);
  fs.log()[3] ^= std::byte{1}; // header magic gone: only the reserved range is set
  BitmapBuild bad = build_bitmap(fs.cspan(), fs.geo, CacheOps{});
  CHECK(bad.stats.entries_used == 0);
  CHECK(bad.bitmap.count_set() == 5);
}

TEST_CASE("a 4 KiB allocation unit (accepted by readers) is honoured throughout", "[alloc]") {
  TestFs fs;
  omf::Superblock sb = fs.sb();
  sb.ts_alloc_unit = 4096;
  fs.write_sb(sb);
  const Geometry g = geometry_of(fs.sb(), fs.cspan());
  REQUIRE(g.alloc_unit == 4096);
  fs.forge_append(file_entry("small", 5000, {{10 * kMiB, 8192}}));
  BitmapBuild bb = build_bitmap(fs.cspan(), g, CacheOps{});
  CHECK(bb.bitmap.nbits() == 8 * kGiB / 4096);
  CHECK(bb.bitmap.count_set() == 10 * kMiB / 4096 + 2);
  CHECK(bb.stats.alloc_bytes == 8192);
  Allocator a(bb.bitmap, g);
  auto f = a.alloc_contiguous(1);
  REQUIRE(f);
  CHECK(f->extents[0] == Extent{10 * kMiB + 8192, 4096});
  Namespace ns(g, true);
  Replayer r(fs.cspan(), CacheOps{});
  const ReplayReport rep = r.play(ns);
  CHECK(rep.new_files == 1);
  CHECK(rep.errors() == 0);
}
