#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

#include "helpers.hpp"
#include "meta/error.hpp"
#include "meta/format.hpp"
#include "meta/geometry.hpp"
#include "meta/log.hpp"

using namespace famfs;
using famfs::test::AnonMap;
using famfs::test::le32;
using famfs::test::le64;

namespace {

constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t GiB = 1ull << 30;

SuperblockParams params(uint64_t dev_size, uint64_t log_len = 8 * MiB) {
  SuperblockParams p;
  p.log_len = log_len;
  p.device_size = dev_size;
  for (int i = 0; i < 16; ++i) {
    p.fs_uuid[i] = static_cast<uint8_t>(i);
    p.dev_uuid[i] = static_cast<uint8_t>(0x10 + i);
    p.system_uuid[i] = static_cast<uint8_t>(0x20 + i);
  }
  p.device_path = "/dev/dax0.0";
  return p;
}

// First non-zero byte in [from, to), or `to`.
uint64_t first_nonzero(const std::byte* base, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; ++i)
    if (base[i] != std::byte{0}) return i;
  return to;
}

int errno_of(std::span<std::byte> dev, const SuperblockParams& p) {
  try {
    format_device(dev, p, CacheOps{});
  } catch (const Error& e) {
    return e.err();
  }
  return 0;
}

struct Recorder {
  std::vector<std::pair<uint64_t, uint64_t>> flushes; // (offset, len) relative to base
  int fences = 0;
  CacheOps ops(const std::byte* base) {
    CacheOps c;
    c.flush = [this, base](const void* p, std::size_t n) {
      flushes.emplace_back(static_cast<const std::byte*>(p) - base, n);
    };
    c.fence = [this] { ++fences; };
    return c;
  }
};

} // namespace

TEST_CASE("format_device writes exactly the upstream bytes", "[format]") {
  const uint64_t dev_size = 8 * GiB;
  AnonMap map(dev_size);
  std::byte* base = map.data();
  // Garbage where mkfs must zero, and beyond the log where it must not touch.
  std::memset(base, 0xEE, 4096);
  std::memset(base + 0x1FF000, 0xEE, 0x1000);
  std::memset(base + 0x200000 + 0x7FF000, 0xEE, 0x1000);
  base[0x200000 + 8 * MiB] = std::byte{0x5A};

  Recorder rec;
  format_device(map.span(), params(dev_size), rec.ops(base));

  const auto* b = reinterpret_cast<const uint8_t*>(base);
  // Superblock fields at their offsets.
  CHECK(le64(b, 0) == 0x87B282FFull);
  CHECK(le64(b, 8) == 48);
  CHECK(le64(b, 16) == 0x200000);
  CHECK(le64(b, 24) == 8 * MiB);
  CHECK(le64(b, 32) == 0x200000);
  CHECK(le32(b, 40) == 2);
  CHECK(le32(b, 44) == 2);
  for (int i = 0; i < 48; ++i) CHECK(b[48 + i] == i);
  CHECK(le64(b, 96) == 0x5EFF8A3Aull); // B§11 CRC: same inputs as the vector
  CHECK(le32(b, 104) == 1);            // PRIMARY
  CHECK(le32(b, 108) == 0);
  CHECK(le64(b, 112) == dev_size);
  for (int i = 0; i < 16; ++i) CHECK(b[120 + i] == 0x10 + i);
  CHECK(std::memcmp(b + 136, "/dev/dax0.0", 11) == 0);
  CHECK(first_nonzero(base, 136 + 11, 200) == 200);
  CHECK(first_nonzero(base, 200, 0x200000) == 0x200000);

  // Log header.
  const uint8_t* h = b + 0x200000;
  CHECK(le64(h, 0) == 0xBADCAFEF00Dull);
  CHECK(le64(h, 8) == 8 * MiB);
  CHECK(le64(h, 16) == 15419);
  CHECK(le64(h, 24) == 0xA5875078ull);
  CHECK(le64(h, 32) == 0);
  CHECK(le64(h, 40) == 0);
  CHECK(first_nonzero(base, 0x200000 + 48, 0x200000 + 8 * MiB) == 0x200000 + 8 * MiB);
  CHECK(base[0x200000 + 8 * MiB] == std::byte{0x5A}); // data area untouched

  // Readers agree.
  const omf::Superblock sb = read_superblock(map.cspan());
  CHECK(check_superblock(sb) == SbStatus::Valid);
  CHECK(check_log_header(read_log_header(map.cspan()), sb.ts_log_len) == LogHeaderStatus::Ok);
  const Geometry g = geometry_of(sb, map.cspan());
  CHECK(g.device_size == dev_size);
  CHECK(g.data_start() == 0xA00000);
  CHECK(g.slots() == 15420);

  // Durability: the whole log is flushed before the superblock, each followed by a fence.
  bool log_flushed = false, sb_after_log = false;
  for (auto [off, len] : rec.flushes) {
    if (off == 0x200000 && len == 8 * MiB) log_flushed = true;
    if (off == 0 && len >= 200 && log_flushed) sb_after_log = true;
  }
  CHECK(log_flushed);
  CHECK(sb_after_log);
  CHECK(rec.fences >= 2);
}

TEST_CASE("format_device with a larger log and a device smaller than the span", "[format]") {
  AnonMap map(2 * GiB);
  format_device(map.span(), params(1 * GiB, 64 * MiB), CacheOps{});
  const omf::Superblock sb = read_superblock(map.cspan());
  CHECK(check_superblock(sb) == SbStatus::Valid);
  CHECK(sb.ts_log_len == 64 * MiB);
  CHECK(sb.ts_daxdev.dd_size == 1 * GiB);
  const omf::LogHeader h = read_log_header(map.cspan());
  CHECK(h.famfs_log_last_index == 123360);
  CHECK(h.famfs_log_crc == 0xBC720E66u);
  CHECK(geometry_of(sb, map.cspan()).device_size == 1 * GiB);
  // The daemon maps less than dd_size: geometry trusts the mapping.
  CHECK(geometry_of(sb, map.cspan().first(512 * MiB)).device_size == 512 * MiB);
}

TEST_CASE("format_device log length rules", "[format]") {
  CHECK(log_len_valid(8 * MiB));
  CHECK(log_len_valid(1 * GiB));
  CHECK(log_len_valid(1ull << 63));
  CHECK_FALSE(log_len_valid(4 * MiB));
  CHECK_FALSE(log_len_valid(12 * MiB));
  CHECK_FALSE(log_len_valid(0));

  AnonMap map(64 * MiB);
  std::memset(map.data(), 0xEE, 64); // must survive every refusal
  CHECK(errno_of(map.span(), params(64 * MiB, 12 * MiB)) == EINVAL); // not a power of 2
  CHECK(errno_of(map.span(), params(64 * MiB, 4 * MiB)) == EINVAL);  // < 8 MiB
  CHECK(errno_of(map.span(), params(64 * MiB, 64 * MiB)) == EINVAL); // does not fit
  CHECK(errno_of(map.span(), params(64 * MiB, 1ull << 63)) == EINVAL); // huge, no wrap
  CHECK(errno_of(map.span(), params(128 * MiB)) == EINVAL); // more than mapped
  CHECK(errno_of(map.span(), params(0)) == EINVAL);
  // 0x200000 + log_len must be strictly below the device size.
  CHECK(errno_of(map.span().first(10 * MiB), params(10 * MiB)) == EINVAL);
  CHECK(map.data()[0] == std::byte{0xEE});
  CHECK(errno_of(map.span().first(10 * MiB + 4096), params(10 * MiB + 4096)) == 0);
  CHECK(check_superblock(read_superblock(map.cspan())) == SbStatus::Valid);
  try {
    format_device(map.span(), params(64 * MiB, 12 * MiB), CacheOps{});
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("power of 2") != std::string::npos);
  }
}

TEST_CASE("kill_superblock zeroes only the magic", "[format]") {
  AnonMap map(64 * MiB);
  format_device(map.span(), params(64 * MiB), CacheOps{});
  std::vector<std::byte> before(map.data(), map.data() + 0x200000 + 4096);
  Recorder rec;
  kill_superblock(map.span(), rec.ops(map.data()));
  CHECK(le64(map.data(), 0) == 0);
  CHECK(std::memcmp(map.data() + 8, before.data() + 8, before.size() - 8) == 0);
  CHECK(check_superblock(read_superblock(map.cspan())) == SbStatus::NoMagic);
  REQUIRE(rec.flushes.size() == 1);
  CHECK(rec.flushes[0] == std::pair<uint64_t, uint64_t>{0, 8});
  CHECK(rec.fences == 1);
  std::vector<std::byte> tiny(100);
  CHECK_THROWS_AS(kill_superblock(tiny, CacheOps{}), Error);
}

TEST_CASE("geometry_of refuses what does not fit", "[geometry]") {
  AnonMap map(64 * MiB);
  format_device(map.span(), params(64 * MiB), CacheOps{});
  omf::Superblock sb = read_superblock(map.cspan());
  CHECK(geometry_of(sb, map.cspan()).log_len == 8 * MiB);
  CHECK_THROWS_AS(geometry_of(sb, map.cspan().first(10 * MiB - 1)), Error);
  CHECK_NOTHROW(geometry_of(sb, map.cspan().first(10 * MiB)));
  omf::Superblock s2 = sb;
  s2.ts_daxdev.dd_size = 4 * MiB; // superblock claims less than the log needs
  CHECK_THROWS_AS(geometry_of(s2, map.cspan()), Error);
  s2 = sb;
  s2.ts_alloc_unit = 12345;
  CHECK_THROWS_AS(geometry_of(s2, map.cspan()), Error);
  s2 = sb;
  s2.ts_log_len = 1ull << 63;
  try {
    geometry_of(s2, map.cspan());
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(e.err() == EINVAL);
    CHECK(std::string(e.what()).find("does not fit") != std::string::npos);
  }
  s2.ts_daxdev.dd_size = 4096;
  CHECK_THROWS_AS(geometry_of(s2, map.cspan()), Error);
}
