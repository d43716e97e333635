// The allocation bitmap kept incrementally by replay (issue 10 item 5): the SpaceMap a
// Replayer keeps equals what build_bitmap computes over the same prefix, costs only the new
// entries, and is what a master writer can allocate from without reading the log again.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "fs_helpers.hpp"
#include "meta/append.hpp"
#include "meta/bitmap.hpp"
#include "meta/error.hpp"
#include "meta/replay.hpp"

using namespace famfs;
using namespace famfs::rtest;

namespace {

void check_same(const SpaceMap& inc, const BitmapBuild& full, const Geometry& g) {
  CHECK(inc.stats().files == full.stats.files);
  CHECK(inc.stats().directories == full.stats.directories);
  CHECK(inc.stats().collisions == full.stats.collisions);
  CHECK(inc.stats().out_of_bounds == full.stats.out_of_bounds);
  CHECK(inc.stats().alloc_bytes == full.stats.alloc_bytes);
  CHECK(inc.stats().sum_file_sizes == full.stats.sum_file_sizes);
  CHECK(inc.bitmap().count_set() == full.bitmap.count_set());
  Bitmap copy = full.bitmap;
  CHECK(inc.free_bytes() == Allocator(copy, g).free_bytes());
  for (uint64_t b = 0; b < full.bitmap.nbits(); ++b)
    if (inc.bitmap().test(b) != full.bitmap.test(b)) FAIL("bit " << b << " differs");
}

} // namespace

TEST_CASE("replay keeps the same bitmap as a full build, one play at a time", "[space]") {
  TestFs fs;
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  check_same(r.space(), build_bitmap(fs.cspan(), fs.geo, CacheOps{}), fs.geo);

  fs.mkdir("d");
  fs.file("d/a", 3 * kMiB, {{0xA00000, 0x400000}});
  r.play(ns);
  check_same(r.space(), build_bitmap(fs.cspan(), fs.geo, CacheOps{}), fs.geo);

  fs.file("d/b", 100, {{0xC00000, 0x200000}});                          // collides with a
  fs.forge_append(file_entry("zero", 100, {{0, 0x200000}}));             // over the superblock
  fs.forge_append(file_entry("oob", 100, {{8 * kGiB - kAU, 3 * kAU}}));  // past the device end
  fs.forge_append(file_entry("../up", 100, {{0x1000000, kAU}}));         // skipped by the path
  fs.file("d/c", 100, {{0x1200000, kAU}});
  const ReplayReport rep = r.play(ns);
  CHECK(rep.from == 2);
  CHECK(rep.skipped.size() >= 2); // zero, oob, ../up are rejected by the namespace...
  // ...but every valid entry claims its space, as build_bitmap does
  check_same(r.space(), build_bitmap(fs.cspan(), fs.geo, CacheOps{}), fs.geo);
  CHECK(r.space().stats().collisions == 2);
  CHECK(r.space().stats().entries_used == 7);
}

TEST_CASE("replay's bitmap covers the applied prefix only when the log is damaged", "[space]") {
  TestFs fs;
  fs.file("a", 100, {{0xA00000, kAU}});
  fs.file("b", 100, {{0xC00000, kAU}});
  fs.file("c", 100, {{0xE00000, kAU}});
  fs.dev.data()[omf::log_slot_offset(1) + 40] ^= std::byte{1};
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  CHECK(r.damaged());
  CHECK(r.space().stats().files == 1);
  CHECK(r.space().bitmap().test(0xA00000 / kAU));
  CHECK_FALSE(r.space().bitmap().test(0xE00000 / kAU));
  fs.dev.data()[omf::log_slot_offset(1) + 40] ^= std::byte{1}; // repaired
  r.play(ns);
  CHECK_FALSE(r.damaged());
  check_same(r.space(), build_bitmap(fs.cspan(), fs.geo, CacheOps{}), fs.geo);
}

TEST_CASE("a 4 KiB allocation unit: incremental free space matches the allocator", "[space]") {
  TestFs fs;
  omf::Superblock sb = fs.sb();
  sb.ts_alloc_unit = 4096;
  fs.write_sb(sb);
  const Geometry g = geometry_of(fs.sb(), fs.cspan());
  fs.forge_append(file_entry("small", 5000, {{10 * kMiB, 8192}}));
  fs.forge_append(file_entry("edge", 5000, {{8 * kGiB - 4096, 8192}})); // 1 AU past the end
  Namespace ns(g, true);
  Replayer r(fs.cspan(), g, CacheOps{});
  r.play(ns);
  check_same(r.space(), build_bitmap(fs.cspan(), g, CacheOps{}), g);
}

TEST_CASE("a replay costs the new entries only: old slots are never read again", "[space]") {
  TestFs fs;
  for (int i = 0; i < 50; ++i) fs.file("f" + std::to_string(i), 100, {{0xA00000 + i * kAU, kAU}});
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  const uint64_t free_before = r.space().free_bytes();
  // Wreck the applied prefix: a play that looked at it again would see damage.
  std::memset(fs.dev.data() + omf::log_slot_offset(0), 0xEE, 50 * omf::kLogEntrySize);
  omf::LogEntry e = file_entry("new", 100, {{0xA00000 + 60 * kAU, kAU}});
  fs.put(50, e);
  fs.set_next(51);
  const ReplayReport rep = r.play(ns);
  CHECK_FALSE(rep.damage);
  CHECK(rep.new_files == 1);
  CHECK(r.space().free_bytes() == free_before - kAU);
}

TEST_CASE("a master writer allocates from the replayer's bitmap, not from the log", "[space]") {
  TestFs fs;
  fs.mkdir("d");
  fs.file("d/a", 100, {{0xA00000, kAU}});
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  Bitmap bm = r.space().bitmap();
  Allocator a(bm, fs.geo);
  const std::optional<Fmap> f = a.alloc_contiguous(100);
  REQUIRE(f);
  CHECK(f->extents[0].offset != 0xA00000);
  CHECK(a.free_bytes() == r.space().free_bytes() - kAU);

  int checks = 0;
  CacheOps counting;
  counting.invalidate = [&](const void*, std::size_t n) { checks += int(n / omf::kLogEntrySize); };
  // Told that [0, played) is checked, the writer looks at the header and the next slot only.
  LogWriter w(fs.span(), fs.geo, counting, r.played());
  CHECK(checks <= 1);
  FileEntryParams fp;
  fp.relpath = "d/new";
  fp.size = 100;
  fp.fmap = *f;
  CHECK(w.append(make_file_entry(fp)) == 2);
  r.play(ns);
  CHECK(r.space().stats().collisions == 0);
  CHECK(r.space().free_bytes() == a.free_bytes());
}

TEST_CASE("the writer still checks the slots above its checked prefix", "[space][append]") {
  TestFs fs;
  fs.mkdir("a");
  fs.mkdir("b");
  fs.mkdir("c");
  fs.dev.data()[omf::log_slot_offset(2) + 40] ^= std::byte{1};
  int err = 0;
  try {
    LogWriter w(fs.span(), fs.geo, CacheOps{}, 2);
  } catch (const Error& e) {
    err = e.err();
    CHECK(std::string(e.what()).find("entry 2 is damaged (CRC mismatch") != std::string::npos);
  }
  CHECK(err == EUCLEAN);
  CHECK_NOTHROW(LogWriter(fs.span(), fs.geo, CacheOps{}, 3)); // the caller vouches for 0..2
}

TEST_CASE("entries used: one clamp of next_index by slots and span", "[space][log]") {
  TestFs fs;
  CHECK(log_entries_used(5, fs.geo, fs.cspan()) == 5);
  CHECK(log_entries_used(~0ULL, fs.geo, fs.cspan()) == fs.geo.slots());
  CHECK(log_entries_used(100, fs.geo, fs.cspan().first(omf::log_slot_offset(3) + 1)) == 3);
  CHECK(log_slot_problem(fs.cspan().first(omf::log_slot_offset(2)), 5) ==
        "slot lies outside the mapped device");
  omf::LogEntry e = make_mkdir_entry("x", 0755, 0, 0);
  fs.put(0, e);
  fs.dev.data()[omf::log_slot_offset(0) + 100] ^= std::byte{1};
  CHECK(log_slot_problem(fs.cspan(), 0).rfind("CRC mismatch: stored 0x", 0) == 0);
  fs.put(1, e);
  seal_log_entry(e, 9);
  std::memcpy(fs.dev.data() + omf::log_slot_offset(1), &e, sizeof e);
  CHECK(log_slot_problem(fs.cspan(), 1) == "seqnum 9 in slot 1");
}
