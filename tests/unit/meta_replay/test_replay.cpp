// Incremental replay over a log in memory (spec B§8.1, Part A §3-§5).
#include <catch2/catch.hpp>

#include "fs_helpers.hpp"
#include "meta/replay.hpp"

using namespace famfs;
using namespace famfs::rtest;

TEST_CASE("replay is incremental: each call applies only the new entries", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  fs.file("a/f1", 100, {{0xA00000, kAU}});
  Namespace ns(fs.geo, true);
  int invalidations = 0;
  CacheOps cache;
  cache.invalidate = [&](const void*, std::size_t) { ++invalidations; };
  Replayer r(fs.cspan(), cache);
  CHECK(r.log_next_index() == 2);

  ReplayReport r1 = r.play(ns);
  CHECK(r1.from == 0);
  CHECK(r1.to == 2);
  CHECK(r1.new_dirs == 1);
  CHECK(r1.new_files == 1);
  CHECK(r1.created == std::vector<Ino>{5, 6});
  CHECK(r1.errors() == 0);
  CHECK(r.played() == 2);
  CHECK_FALSE(r.damaged());

  ReplayReport r2 = r.play(ns); // nothing new: nothing done
  CHECK(r2.from == 2);
  CHECK(r2.to == 2);
  CHECK(r2.created.empty());

  fs.file("a/f2", 100, {{0xC00000, kAU}});
  fs.mkdir("b");
  fs.file("b/f3", 100, {{0xE00000, kAU}});
  CHECK(r.log_next_index() == 5);
  // Make the old entries unreadable: an incremental replay must not look at them again.
  std::memset(fs.dev.data() + omf::log_slot_offset(0), 0xEE, 2 * omf::kLogEntrySize);
  invalidations = 0;
  ReplayReport r3 = r.play(ns);
  CHECK(r3.from == 2);
  CHECK(r3.to == 5);
  CHECK(r3.new_files == 2);
  CHECK(r3.new_dirs == 1);
  CHECK(r3.created == std::vector<Ino>{7, 8, 9});
  CHECK_FALSE(r3.damage);
  CHECK(invalidations == 1); // the header's line only: valid entries need no retry
  CHECK(ns.path_of(9) == "b/f3");
  CHECK(ns.file_count() == 3);
}

TEST_CASE("replay reports duplicates, skips and ignored entries and goes on", "[replay]") {
  TestFs fs;
  fs.mkdir("d");
  fs.file("d/f", 100, {{0xA00000, kAU}});
  fs.file("d/f", 200, {{0xC00000, kAU}});        // duplicate: first wins
  fs.file("nodir/g", 100, {{0xE00000, kAU}});    // missing parent
  fs.file("d", 100, {{0x1000000, kAU}});         // file over a directory
  fs.forge_append(raw_path_file("../../etc/x", 100, {{0x1200000, kAU}}));
  fs.forge_append(file_entry("zero", 100, {{0, kAU}}));
  omf::LogEntry dd{};
  dd.famfs_log_entry_type = omf::kLogAddDaxdev;
  dd.famfs_dd.dd_size = kGiB;
  dd.famfs_dd.dd_index = 1;
  fs.forge_append(dd);
  fs.file("d/h", 100, {{0x1400000, kAU}});

  Namespace ns(fs.geo, false);
  Replayer r(fs.cspan(), CacheOps{});
  ReplayReport rep = r.play(ns);
  CHECK(rep.to == 9);
  CHECK(rep.new_dirs == 1);
  CHECK(rep.new_files == 2);
  CHECK(rep.existed == 1);
  CHECK(rep.ignored == 1);
  REQUIRE(rep.skipped.size() == 4);
  CHECK(rep.skipped[0].index == 3);
  CHECK(rep.skipped[0].what.find("does not exist") != std::string::npos);
  CHECK(rep.skipped[1].index == 4);
  CHECK(rep.skipped[1].what.find("is a directory") != std::string::npos);
  CHECK(rep.skipped[2].index == 5);
  CHECK(rep.skipped[2].what.find("escapes") != std::string::npos);
  CHECK(rep.skipped[3].index == 6);
  CHECK(rep.skipped[3].what.find("offset 0") != std::string::npos);
  CHECK_FALSE(rep.damage);
  CHECK(rep.errors() == 4);
  CHECK(ns.get(*ns.resolve("d/f"))->size == 100);
  CHECK(ns.resolve("d/h"));
  CHECK(ns.get(kLogIno)->mode == 0400); // client
}

TEST_CASE("a damaged entry stops replay; fixing it lets replay continue", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  fs.file("a/1", 100, {{0xA00000, kAU}});
  fs.file("a/2", 100, {{0xC00000, kAU}});
  fs.file("a/3", 100, {{0xE00000, kAU}});
  std::byte* slot2 = fs.dev.data() + omf::log_slot_offset(2);
  const std::byte saved = slot2[50];
  slot2[50] ^= std::byte{0x20};

  int invalidated_slot2 = 0;
  CacheOps cache;
  cache.invalidate = [&](const void* p, std::size_t n) {
    if (p == slot2 && n == omf::kLogEntrySize) ++invalidated_slot2;
  };
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), cache);
  ReplayReport rep = r.play(ns);
  CHECK(rep.to == 2); // the prefix is served
  REQUIRE(rep.damage);
  CHECK(rep.damage->index == 2);
  CHECK(rep.damage->what.find("CRC mismatch") == 0);
  CHECK(invalidated_slot2 == 1); // one retry after an invalidate
  CHECK(r.damaged());
  CHECK(ns.resolve("a/1"));
  CHECK_FALSE(ns.resolve("a/2"));
  CHECK_FALSE(ns.resolve("a/3")); // valid, but after the damage: never played

  ReplayReport again = r.play(ns); // still bad: re-checked, still stopped
  CHECK(again.from == 2);
  REQUIRE(again.damage);
  CHECK(again.damage->index == 2);
  CHECK(r.damaged());

  slot2[50] = saved; // e.g. a torn read that completed, or a repaired device
  ReplayReport healed = r.play(ns);
  CHECK_FALSE(healed.damage);
  CHECK_FALSE(r.damaged());
  CHECK(healed.new_files == 2);
  CHECK(ns.resolve("a/3"));
}

TEST_CASE("seqnum damage is named", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  fs.mkdir("b");
  omf::LogEntry e = make_mkdir_entry("c", 0755, 0, 0);
  seal_log_entry(e, 7); // valid CRC, wrong slot
  fs.put(2, e, false);
  fs.set_next(3);
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), CacheOps{});
  ReplayReport rep = r.play(ns);
  REQUIRE(rep.damage);
  CHECK(rep.damage->what == "seqnum 7 in slot 2");
  CHECK(ns.dir_count() == 2);
}

TEST_CASE("the header's next_index is bounded by the slots and the span", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  SECTION("beyond the slot count") {
    fs.set_next(1ull << 40);
    Namespace ns(fs.geo, true);
    Replayer r(fs.cspan(), CacheOps{});
    ReplayReport rep = r.play(ns);
    // Slot 1 is zeros: damage there, never a read past the log.
    REQUIRE(rep.damage);
    CHECK(rep.damage->index == 1);
    CHECK(ns.dir_count() == 1);
  }
  SECTION("a span that ends inside the log") {
    fs.set_next(2);
    const std::span<const std::byte> cut = fs.cspan().first(omf::log_slot_offset(1) + 100);
    Namespace ns(fs.geo, true);
    Replayer r(cut, CacheOps{});
    ReplayReport rep = r.play(ns);
    CHECK(rep.to == 1);
    CHECK_FALSE(rep.damage); // slot 1 is not in the span: bounded, not read
    CHECK(r.log_next_index() == 1);
  }
  SECTION("a header that went bad is reported and nothing is applied") {
    fs.log()[0] = std::byte{0};
    Namespace ns(fs.geo, true);
    Replayer r(fs.cspan(), CacheOps{});
    ReplayReport rep = r.play(ns);
    REQUIRE(rep.damage);
    CHECK(rep.damage->what.find("log header") == 0);
    CHECK(ns.dir_count() == 0);
  }
}

TEST_CASE("a stale cached entry heals on the one retry after invalidate", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  fs.mkdir("b");
  std::byte* slot1 = fs.dev.data() + omf::log_slot_offset(1);
  std::vector<std::byte> good(slot1, slot1 + omf::kLogEntrySize);
  std::memset(slot1, 0, omf::kLogEntrySize); // what a stale cache line would show
  int invalidations = 0;
  CacheOps cache;
  cache.invalidate = [&](const void* p, std::size_t n) {
    if (p == slot1 && n == omf::kLogEntrySize) {
      ++invalidations;
      std::memcpy(slot1, good.data(), good.size()); // memory had the entry all along
    }
  };
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), cache);
  ReplayReport rep = r.play(ns);
  CHECK(invalidations == 1);
  CHECK_FALSE(rep.damage);
  CHECK(rep.new_dirs == 2);
}

TEST_CASE("log_next_index drops the header's cache line and reads next_index", "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  const void* seen = nullptr;
  CacheOps cache;
  cache.invalidate = [&](const void* p, std::size_t) { seen = p; };
  Replayer r(fs.cspan(), cache);
  CHECK(r.log_next_index() == 1);
  REQUIRE(seen != nullptr);
  const auto* line = static_cast<const std::byte*>(seen);
  CHECK(line >= fs.log());
  CHECK(line < fs.log() + 64); // the header's line (next_index is at byte 40)
  fs.mkdir("b");
  CHECK(r.log_next_index() == 2);
  Replayer tiny(fs.cspan().first(100), CacheOps{});
  CHECK(tiny.log_next_index() == 0);
  Namespace ns(fs.geo, true);
  ReplayReport rep = tiny.play(ns); // no header in the span: reported, nothing read
  CHECK(rep.damage);
  CHECK(ns.dir_count() == 0);
}

TEST_CASE("damage is re-evaluated when the header stops counting the bad slot (issue 8 defect 6)",
          "[replay]") {
  TestFs fs;
  fs.mkdir("a");
  fs.mkdir("b");
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  fs.set_next(3); // one past the last written entry: slot 2 holds zeros
  ReplayReport bad = r.play(ns);
  REQUIRE(bad.damage);
  CHECK(bad.damage->index == 2);
  CHECK(r.damaged());
  fs.set_next(2); // restored, and nothing appended
  ReplayReport whole = r.play(ns);
  CHECK_FALSE(whole.damage);
  CHECK_FALSE(r.damaged());
  CHECK(r.played() == 2);
  fs.mkdir("c"); // and the log goes on normally
  CHECK(r.play(ns).new_dirs == 1);
}

TEST_CASE("a changed applied entry is found by the rolling re-check (issue 8 defect 12)",
          "[replay]") {
  TestFs fs;
  for (int i = 0; i < 10; ++i) fs.mkdir("d" + std::to_string(i));
  Namespace ns(fs.geo, true);
  Replayer r(fs.cspan(), fs.geo, CacheOps{});
  r.play(ns);
  CHECK_FALSE(r.recheck_applied(10)); // a whole pass: nothing changed
  std::vector<std::byte> saved(fs.dev.data() + omf::log_slot_offset(7),
                               fs.dev.data() + omf::log_slot_offset(8));
  fs.put(7, make_mkdir_entry("other", 0777, 0, 0)); // rewritten and re-sealed: CRC valid
  std::optional<ReplayIssue> c;
  for (int k = 0; k < 10 && !c; ++k) c = r.recheck_applied(1); // a few slots per poll
  REQUIRE(c);
  CHECK(c->index == 7);
  CHECK(c->what.find("changed after it was applied") != std::string::npos);
  CHECK(r.recheck_applied(1)); // sticky while the slot differs
  CHECK(ns.resolve("d7"));     // the table keeps what was applied
  std::memcpy(fs.dev.data() + omf::log_slot_offset(7), saved.data(), saved.size());
  CHECK_FALSE(r.recheck_applied(0)); // restored: cleared
  fs.dev.data()[omf::log_slot_offset(3) + 100] ^= std::byte{1}; // CRC now fails
  c.reset();
  for (int k = 0; k < 10 && !c; ++k) c = r.recheck_applied(1);
  REQUIRE(c);
  CHECK(c->index == 3);
  CHECK(c->what.find("CRC mismatch") != std::string::npos);
}
