// fsck over clean and corrupted images (spec B§8.2, Part A §1, §3-§5): every corruption gives
// a clear error or a reported skip, never a crash.
#include <catch2/catch.hpp>

#include <random>

#include "fs_helpers.hpp"
#include "meta/fsck.hpp"

using namespace famfs;
using namespace famfs::rtest;

namespace {

// A small populated file system: 2 dirs, 3 files.
void populate(TestFs& fs) {
  fs.mkdir("d");
  fs.mkdir("d/e");
  fs.file("d/a", 100, {{0xA00000, kAU}});
  fs.file("d/e/b", 3 * kMiB, {{0xC00000, 2 * kAU}});
  fs.file("c", 5, {{0x1000000, kAU}});
}

bool mentions(const FsckReport& r, const std::string& needle) {
  for (const std::string& p : r.problems)
    if (p.find(needle) != std::string::npos) return true;
  return false;
}

std::string all(const FsckReport& r) {
  std::string s;
  for (const std::string& p : r.problems) s += p + "\n";
  return s;
}

} // namespace

TEST_CASE("fsck of a clean file system", "[fsck]") {
  TestFs fs;
  populate(fs);
  FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
  INFO(all(r));
  CHECK(r.clean());
  CHECK(r.problems.empty());
  CHECK(r.sb_status == SbStatus::Valid);
  CHECK(r.role == Role::Master);
  CHECK(r.log_status == LogHeaderStatus::Ok);
  CHECK(r.bitmap.entries_used == 5);
  CHECK(r.bitmap.files == 3);
  CHECK(r.bitmap.directories == 2);
  CHECK(r.bitmap.bad_entries == 0);
  CHECK(r.bitmap.collisions == 0);
  CHECK(r.bitmap.alloc_bytes == 4 * kAU);
  CHECK(r.bitmap.sum_file_sizes == 3 * kMiB + 105);
  CHECK(r.capacity_bytes == 8 * kGiB);
  CHECK(r.free_bytes == 8 * kGiB - 10 * kMiB - 4 * kAU);
  CHECK(r.replay.to == 5);
  CHECK(r.replay.new_files == 3);
  CHECK(r.geometry.log_len == 8 * kMiB);
  Uuid other = uuid_random();
  CHECK(run_fsck(fs.cspan(), &other, CacheOps{}).role == Role::Client);
  CHECK(run_fsck(fs.cspan(), nullptr, CacheOps{}).role == Role::Client);
}

TEST_CASE("fsck: superblock corruptions", "[fsck][corrupt]") {
  TestFs fs;
  populate(fs);
  omf::Superblock sb = fs.sb();

  SECTION("1 bad magic") {
    sb.ts_magic = 0x12345678;
    fs.write_sb(sb);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::NoMagic);
    CHECK(r.role == Role::NoSuper);
    CHECK_FALSE(r.clean());
    CHECK_FALSE(r.log_status);
    CHECK(mentions(r, "no famfs superblock"));
  }
  SECTION("2 bad superblock CRC") {
    sb.ts_uuid[3] ^= 1;
    fs.write_sb(sb, false);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::BadCrc);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "CRC"));
  }
  SECTION("3 wrong version (49)") {
    sb.ts_version = 49;
    fs.write_sb(sb);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::WrongVersion);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "version"));
    CHECK(r.bitmap.files == 0); // nothing analysed past an unusable superblock
  }
  SECTION("4 old version (47) is accepted") {
    sb.ts_version = 47;
    fs.write_sb(sb);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::ValidOldVersion);
    CHECK(r.clean());
    CHECK(r.replay.new_files == 3);
  }
  SECTION("5 log length not a power of two") {
    sb.ts_log_len = 12 * kMiB;
    fs.write_sb(sb);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::BadLogLen);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "log length"));
  }
  SECTION("6 superblock device size beyond the mapping") {
    sb.ts_daxdev.dd_size = 16 * kGiB; // not CRC-covered
    fs.write_sb(sb, false);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.sb_status == SbStatus::Valid);
    CHECK(r.capacity_bytes == 8 * kGiB);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "mapped"));
  }
}

TEST_CASE("fsck: log corruptions", "[fsck][corrupt]") {
  TestFs fs;
  populate(fs);

  SECTION("7 next_index beyond last_index + 1") {
    fs.set_next(20000);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.log_status == LogHeaderStatus::BadNextIndex);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "next_index 20000"));
    CHECK(r.bitmap.entries_used == 15420); // bounded by the slot count
    REQUIRE(r.replay.damage);
    CHECK(r.replay.damage->index == 5); // the first never-written slot
    CHECK(r.replay.new_files == 3);     // the prefix is still served
  }
  SECTION("8 seqnum mismatch") {
    omf::LogEntry e = read_log_entry(fs.cspan(), 3);
    seal_log_entry(e, 33);
    fs.put(3, e, false);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    REQUIRE(r.replay.damage);
    CHECK(r.replay.damage->index == 3);
    CHECK(r.replay.damage->what == "seqnum 33 in slot 3");
    CHECK(r.bitmap.bad_entries == 1);
    CHECK(r.bitmap.first_bad_index == 3u);
    CHECK(r.bitmap.files == 2); // fsck skips the bad entry and goes on, as upstream
    CHECK(mentions(r, "log entry 3 is damaged (seqnum 33 in slot 3); the file system serves "
                      "the 3 entries before it"));
    CHECK(mentions(r, "famfs logplay"));
  }
  SECTION("9 extent out of bounds") {
    fs.forge_append(file_entry("far", 100, {{8 * kGiB, kAU}}));
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    CHECK(r.bitmap.out_of_bounds == 1);
    REQUIRE(r.replay.skipped.size() == 1);
    CHECK(r.replay.skipped[0].index == 5);
    CHECK(r.replay.skipped[0].what.find("beyond the device end") != std::string::npos);
    CHECK(mentions(r, "beyond the device end"));
  }
  SECTION("10 extent at offset 0") {
    fs.forge_append(file_entry("sbfile", 100, {{0, kAU}}));
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    CHECK(r.bitmap.collisions == 1); // collides with the superblock (B§8.2)
    REQUIRE(r.replay.skipped.size() == 1);
    CHECK(r.replay.skipped[0].what.find("offset 0") != std::string::npos);
    CHECK(mentions(r, "cross-links"));
  }
  SECTION("11 relpath with ..") {
    fs.forge_append(raw_path_file("d/../../outside", 100, {{0x1200000, kAU}}));
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    REQUIRE(r.replay.skipped.size() == 1);
    CHECK(r.replay.skipped[0].what.find("escapes the root") != std::string::npos);
    CHECK(mentions(r, "log entry 5 is skipped"));
    CHECK(r.bitmap.collisions == 0);
  }
  SECTION("12 overlapping files (cross-link)") {
    // 4 MiB over two allocated AUs, plus one at offset 0: upstream's verified figure is 3.
    fs.forge_append(file_entry("x", 100, {{0xA00000, 2 * kAU}}));
    fs.forge_append(file_entry("y", 100, {{0, kAU}}));
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.bitmap.collisions == 3);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "3 allocation units are claimed by more than one file"));
    CHECK(r.replay.new_files == 4); // cross-links are served
    CHECK(r.replay.skipped.size() == 1); // offset 0 is not
  }
  SECTION("13 bad log header CRC") {
    fs.log()[16] ^= std::byte{4};
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK(r.log_status == LogHeaderStatus::BadCrc);
    CHECK_FALSE(r.clean());
    CHECK(mentions(r, "log header"));
  }
  SECTION("14 random garbage in the log entries") {
    std::mt19937_64 rng(1234);
    for (uint64_t i = 0; i < 200 * omf::kLogEntrySize; i += 8) {
      const uint64_t v = rng();
      std::memcpy(fs.dev.data() + omf::log_slot_offset(0) + i, &v, 8);
    }
    fs.set_next(200);
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    REQUIRE(r.replay.damage);
    CHECK(r.replay.damage->index == 0);
    CHECK(r.bitmap.bad_entries == 200);
    CHECK(mentions(r, "serves the 0 entries before it"));
    CHECK(mentions(r, "199 more log entries fail"));
  }
}

TEST_CASE("fsck: truncated spans and garbage never crash", "[fsck][corrupt]") {
  TestFs fs;
  populate(fs);
  for (std::size_t n : {std::size_t{0}, std::size_t{100}, std::size_t{200},
                        std::size_t{2 * kMiB + 10}, std::size_t{6 * kMiB},
                        std::size_t{10 * kMiB + 5}, std::size_t{64 * kMiB}}) {
    INFO(n);
    FsckReport r = run_fsck(fs.cspan().first(n), &fs.master, CacheOps{});
    CHECK_FALSE(r.clean());
    CHECK_FALSE(r.problems.empty());
  }
  // Random bytes everywhere that matters, with and without a valid superblock and header.
  std::mt19937_64 rng(99);
  const omf::Superblock good_sb = fs.sb();
  const omf::LogHeader good_h = read_log_header(fs.cspan());
  for (int round = 0; round < 40; ++round) {
    for (uint64_t i = 0; i < 64 * omf::kLogEntrySize; i += 8) {
      uint64_t v = rng();
      if (round % 3 == 0) v &= 0x00000000FFFF00FFull; // small numbers: plausible fields
      std::memcpy(fs.dev.data() + omf::log_slot_offset(0) + i, &v, 8);
    }
    // Some rounds: entries that pass the CRC (garbage payloads reach apply()).
    if (round % 2 == 0)
      for (uint64_t s = 0; s < 64; ++s) {
        omf::LogEntry e = read_log_entry(fs.cspan(), s);
        e.famfs_log_entry_type = static_cast<uint32_t>(rng() % 5);
        fs.put(s, e);
      }
    omf::LogHeader h = good_h;
    h.famfs_log_next_index = h.famfs_log_next_seqnum = rng() % 100;
    std::memcpy(fs.log(), &h, sizeof(h));
    if (round % 5 == 4) {
      for (int k = 0; k < 6; ++k) {
        const uint64_t v = rng();
        std::memcpy(fs.dev.data() + (rng() % 200), &v, 1);
      }
    } else {
      std::memcpy(fs.dev.data(), &good_sb, sizeof(good_sb));
    }
    FsckReport r = run_fsck(fs.cspan(), &fs.master, CacheOps{});
    CHECK((r.clean() || !r.problems.empty()));
    if (r.log_status && h.famfs_log_next_index > 0 && round % 2 == 1) {
      CHECK_FALSE(r.clean()); // raw random entries never pass the CRC
    }
  }
}
