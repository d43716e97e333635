#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

#include "helpers.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"

using namespace famfs;
using famfs::test::bytes_of;

TEST_CASE("log header CRC vectors (B§11)", "[log]") {
  struct V { uint64_t len, last; uint32_t crc; };
  const V vs[] = {{8ull << 20, 15419, 0xA5875078u},
                  {16ull << 20, 30839, 0x3514E0D7u},
                  {64ull << 20, 123360, 0xBC720E66u},
                  {256ull << 20, 493446, 0xE077F1D4u},
                  {1ull << 30, 1973789, 0xC59E0EBEu}};
  for (const V& v : vs) {
    INFO("log_len " << v.len);
    const omf::LogHeader h = make_log_header(v.len);
    CHECK(h.famfs_log_magic == 0xBADCAFEF00DULL);
    CHECK(h.famfs_log_len == v.len);
    CHECK(h.famfs_log_last_index == v.last);
    CHECK(h.famfs_log_crc == v.crc);
    CHECK(log_header_crc(h) == v.crc);
    CHECK(h.famfs_log_next_index == 0);
    CHECK(h.famfs_log_next_seqnum == 0);
    CHECK(check_log_header(h, v.len) == LogHeaderStatus::Ok);
    const auto b = bytes_of(h);
    const std::vector<uint8_t> magic = {0x0d, 0xf0, 0xfe, 0xca, 0xad, 0x0b, 0, 0};
    CHECK(std::vector<uint8_t>(b.begin(), b.begin() + 8) == magic);
  }
}

TEST_CASE("check_log_header statuses", "[log]") {
  const uint64_t len = 8ull << 20;
  omf::LogHeader h = make_log_header(len);
  SECTION("magic") {
    h.famfs_log_magic ^= 1;
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadMagic);
  }
  SECTION("crc covers magic, len, last_index only") {
    h.famfs_log_next_index = 5;
    h.famfs_log_next_seqnum = 5;
    CHECK(check_log_header(h, len) == LogHeaderStatus::Ok);
    h.famfs_log_last_index = 100;
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadCrc);
    h = make_log_header(len);
    h.famfs_log_crc |= 1ull << 40;
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadCrc);
  }
  SECTION("len vs superblock") {
    CHECK(check_log_header(h, 16ull << 20) == LogHeaderStatus::LenMismatch);
  }
  SECTION("last_index consistent with len") {
    h.famfs_log_last_index = 15418;
    h.famfs_log_crc = log_header_crc(h);
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadLastIndex);
  }
  SECTION("tiny len does not underflow") {
    omf::LogHeader t = h;
    t.famfs_log_len = 10;
    t.famfs_log_crc = log_header_crc(t);
    CHECK(check_log_header(t, 10) == LogHeaderStatus::BadLastIndex);
  }
  SECTION("next_index bounds and next_seqnum") {
    h.famfs_log_next_index = h.famfs_log_next_seqnum = 15420; // full: ok
    CHECK(check_log_header(h, len) == LogHeaderStatus::Ok);
    h.famfs_log_next_index = h.famfs_log_next_seqnum = 15421;
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadNextIndex);
    h.famfs_log_next_index = 3;
    h.famfs_log_next_seqnum = 4;
    CHECK(check_log_header(h, len) == LogHeaderStatus::BadNextIndex);
  }
  CHECK(std::string(log_header_status_text(LogHeaderStatus::BadCrc)).find("CRC") !=
        std::string::npos);
}

namespace {

omf::LogEntry mkdir_vector() {
  omf::LogEntry e = make_mkdir_entry("dir1", 0755, 0, 0);
  seal_log_entry(e, 0);
  return e;
}

omf::LogEntry file_simple_vector() {
  FileEntryParams p;
  p.relpath = "dir1/file1";
  p.size = 1048576;
  p.mode = 0644;
  p.fmap.extents = {{0xA00000, 0x200000}};
  omf::LogEntry e = make_file_entry(p);
  seal_log_entry(e, 1);
  return e;
}

omf::LogEntry file_interleave_vector() {
  FileEntryParams p;
  p.relpath = "ifile";
  p.size = 6291456;
  p.mode = 0644;
  p.fmap.kind = Fmap::Kind::Interleave;
  p.fmap.chunk_size = 0x200000;
  p.fmap.extents = {{0x40000000, 0x400000}, {0x80000000, 0x400000}};
  omf::LogEntry e = make_file_entry(p);
  seal_log_entry(e, 2);
  return e;
}

} // namespace

TEST_CASE("entry CRC vectors (B§11)", "[log]") {
  const omf::LogEntry md = mkdir_vector();
  CHECK(md.famfs_log_entry_crc == 0xD6DB820Bu);
  CHECK(file_simple_vector().famfs_log_entry_crc == 0xC9FFD50Eu);
  CHECK(file_interleave_vector().famfs_log_entry_crc == 0x4CE89A5Au);

  // ADD_DAXDEV built by hand in the struct: no builder exists because nothing writes it.
  omf::LogEntry dd;
  std::memset(&dd, 0, sizeof(dd));
  dd.famfs_log_entry_type = omf::kLogAddDaxdev;
  dd.famfs_dd.dd_size = 0x40000000;
  std::memset(dd.famfs_dd.dd_uuid, 0xAB, 16);
  dd.famfs_dd.dd_index = 1;
  seal_log_entry(dd, 3);
  CHECK(dd.famfs_log_entry_crc == 0x50C9DF40u);
  CHECK(log_entry_valid(dd, 3));

  omf::LogEntry zero;
  std::memset(&zero, 0, sizeof(zero));
  CHECK(log_entry_crc(zero) == 0x11E5C2A9u);
}

TEST_CASE("MKDIR reference bytes", "[log]") {
  const auto b = bytes_of(mkdir_vector());
  for (int i = 0; i < 8; ++i) CHECK(b[i] == 0); // seqnum 0
  CHECK(std::vector<uint8_t>(b.begin() + 8, b.begin() + 12) == std::vector<uint8_t>{1, 0, 0, 0});
  CHECK(std::vector<uint8_t>(b.begin() + 24, b.begin() + 28) ==
        std::vector<uint8_t>{0xed, 0x01, 0, 0});
  CHECK(std::vector<uint8_t>(b.begin() + 28, b.begin() + 33) ==
        std::vector<uint8_t>{'d', 'i', 'r', '1', 0});
  for (int i = 33; i < 536; ++i) CHECK(b[i] == 0);
  CHECK(famfs::test::le64(b.data(), 536) == 0xD6DB820Bu);
}

TEST_CASE("FILE entry layout", "[log]") {
  const auto b = bytes_of(file_interleave_vector());
  CHECK(famfs::test::le32(b.data(), 8) == 0);           // type FILE
  CHECK(famfs::test::le64(b.data(), 16) == 6291456);    // size
  CHECK(famfs::test::le32(b.data(), 24) == 2);          // flags RW
  CHECK(famfs::test::le32(b.data(), 36) == 0644);
  CHECK(std::memcmp(b.data() + 40, "ifile", 6) == 0);
  CHECK(famfs::test::le32(b.data(), 120) == 1);         // INTERLEAVE
  CHECK(famfs::test::le32(b.data(), 128) == 1);         // niext
  CHECK(famfs::test::le64(b.data(), 136) == 2);         // nstrips
  CHECK(famfs::test::le64(b.data(), 144) == 0x200000);  // chunk
  CHECK(famfs::test::le64(b.data(), 152 + 8) == 0x40000000);
  CHECK(famfs::test::le64(b.data(), 176 + 8) == 0x80000000);
  CHECK(famfs::test::le64(b.data(), 176 + 16) == 0x400000);
  for (int i = 200; i < 536; ++i) CHECK(b[i] == 0);
}

TEST_CASE("builders refuse paths a log entry cannot hold", "[log]") {
  CHECK_NOTHROW(make_mkdir_entry(std::string(79, 'a'), 0755, 0, 0));
  try {
    make_mkdir_entry(std::string(80, 'a'), 0755, 0, 0);
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.err() == ENAMETOOLONG);
  }
  FileEntryParams p;
  p.relpath = "f";
  p.size = 1;
  CHECK_THROWS_AS(make_file_entry(p), Error); // no extents
}

TEST_CASE("log_entry_valid and read_log_entry", "[log]") {
  const omf::LogEntry e = file_simple_vector();
  CHECK(log_entry_valid(e, 1));
  CHECK_FALSE(log_entry_valid(e, 2)); // seqnum != slot
  omf::LogEntry bad = e;
  bad.famfs_log_entry_pad = 1; // padding is CRC-covered
  CHECK_FALSE(log_entry_valid(bad, 1));

  const std::size_t size = omf::log_slot_offset(4);
  // Holds slots 0..3 exactly; a read of slot 4 would hit the guard page.
  famfs::test::GuardedBuffer guarded(size);
  const std::span<const std::byte> dev = guarded.span();
  std::memcpy(guarded.data() + omf::log_slot_offset(1), &e, sizeof(e));
  CHECK(bytes_of(read_log_entry(dev, 1)) == bytes_of(e));
  CHECK(log_entry_valid(read_log_entry(dev, 1), 1));
  CHECK_FALSE(log_entry_valid(read_log_entry(dev, 0), 0)); // zeroed slot
  // Outside the span: no read, fails validation, even for absurd slots.
  for (uint64_t slot : {4ull, 5ull, ~0ull, ~0ull / 544, 1ull << 60}) {
    CHECK_FALSE(log_entry_valid(read_log_entry(dev, slot), slot));
    CHECK_FALSE(read_valid_entry(dev, slot, CacheOps{}).has_value());
  }
  CHECK_FALSE(log_entry_valid(read_log_entry({}, 0), 0));
  // Partial last slot: one byte short.
  famfs::test::GuardedBuffer shorter_buf(size - 1);
  const std::span<const std::byte> shorter = shorter_buf.span();
  std::memcpy(shorter_buf.data() + omf::log_slot_offset(1), &e, sizeof(e));
  CHECK(log_entry_valid(read_log_entry(shorter, 1), 1));
  CHECK_FALSE(log_entry_valid(read_log_entry(shorter, 3), 3));
}

TEST_CASE("read_valid_entry invalidates and retries exactly once", "[log]") {
  const omf::LogEntry e = file_simple_vector();
  std::vector<std::byte> dev(omf::log_slot_offset(4));
  std::byte* slot1 = dev.data() + omf::log_slot_offset(1);

  int invalidations = 0;
  CacheOps ops;
  SECTION("valid at once: no invalidate") {
    ops.invalidate = [&](const void*, std::size_t) { ++invalidations; };
    std::memcpy(slot1, &e, sizeof(e));
    REQUIRE(read_valid_entry(dev, 1, ops).has_value());
    CHECK(invalidations == 0);
  }
  SECTION("stale first read, good after invalidate (another host's store arrives)") {
    ops.invalidate = [&](const void* p, std::size_t n) {
      ++invalidations;
      CHECK(p == slot1);
      CHECK(n == 544);
      std::memcpy(slot1, &e, sizeof(e));
    };
    const auto got = read_valid_entry(dev, 1, ops);
    REQUIRE(got.has_value());
    CHECK(bytes_of(*got) == bytes_of(e));
    CHECK(invalidations == 1);
  }
  SECTION("still bad after one retry: nullopt, one invalidate only") {
    ops.invalidate = [&](const void*, std::size_t) { ++invalidations; };
    omf::LogEntry bad = e;
    bad.famfs_log_entry_crc ^= 1;
    std::memcpy(slot1, &bad, sizeof(bad));
    CHECK_FALSE(read_valid_entry(dev, 1, ops).has_value());
    CHECK(invalidations == 1);
  }
}

TEST_CASE("read_log_header snapshots and tolerates short spans", "[log]") {
  std::vector<std::byte> dev(omf::kLogOffset + 48);
  const omf::LogHeader h = make_log_header(8ull << 20);
  std::memcpy(dev.data() + omf::kLogOffset, &h, sizeof(h));
  CHECK(bytes_of(read_log_header(dev)) == bytes_of(h));
  famfs::test::GuardedBuffer small(omf::kLogOffset + 47);
  CHECK(check_log_header(read_log_header(small.span()), 8ull << 20) == LogHeaderStatus::BadMagic);
}
