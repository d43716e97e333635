#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstring>

#include "helpers.hpp"
#include "meta/crc.hpp"
#include "meta/superblock.hpp"

using namespace famfs;
using famfs::test::bytes_of;

namespace {

Uuid seq_uuid(uint8_t first) {
  Uuid u;
  for (int i = 0; i < 16; ++i) u[i] = static_cast<uint8_t>(first + i);
  return u;
}

SuperblockParams vector_params() {
  SuperblockParams p;
  p.log_len = 0x800000;
  p.device_size = 8ull << 30;
  p.fs_uuid = seq_uuid(0x00);
  p.dev_uuid = seq_uuid(0x10);
  p.system_uuid = seq_uuid(0x20);
  p.device_path = "/dev/dax0.0";
  return p;
}

omf::Superblock resealed(omf::Superblock sb) {
  sb.ts_crc = superblock_crc(sb);
  return sb;
}

} // namespace

TEST_CASE("crc32 check value and zero block", "[crc]") {
  const char* s = "123456789";
  CHECK(crc32_of(s, 9) == 0xCBF43926u);
  std::vector<std::byte> zeros(536);
  CHECK(crc32_of(zeros) == 0x11E5C2A9u);
  CHECK(crc32_of(nullptr, 0) == 0u);
}

// crc32_of is computed by libdeflate; the format's CRC is zlib's crc32. Same value for every
// length up to a few folding blocks, every start alignment, and a whole log entry.
TEST_CASE("crc32_of equals zlib crc32 for every length and alignment", "[crc]") {
  std::vector<unsigned char> buf(4096 + 64);
  uint32_t x = 0x9E3779B9u;
  for (unsigned char& b : buf) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
  for (std::size_t align = 0; align < 16; ++align) {
    for (std::size_t n = 0; n <= 1100; ++n) {
      const unsigned char* p = buf.data() + align;
      const uint32_t want = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), p, static_cast<uInt>(n)));
      if (crc32_of(p, n) != want) FAIL("length " << n << " at alignment " << align);
    }
  }
  const unsigned char* p = buf.data() + 3;
  CHECK(crc32_of(p, 4096) == static_cast<uint32_t>(crc32(0L, p, 4096)));
}

TEST_CASE("superblock B§11 vector: bytes 0..103 and CRC", "[superblock]") {
  const omf::Superblock sb = make_superblock(vector_params());
  const std::vector<uint8_t> expect_head = {
      0xff, 0x82, 0xb2, 0x87, 0, 0, 0, 0, 0x30, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0,
      0, 0, 0x20, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
  std::vector<uint8_t> expect = expect_head;
  for (int i = 0; i < 48; ++i) expect.push_back(static_cast<uint8_t>(i));
  for (uint8_t b : {0x3a, 0x8a, 0xff, 0x5e, 0, 0, 0, 0}) expect.push_back(b);
  REQUIRE(expect.size() == 104);

  const auto got = bytes_of(sb);
  CHECK(std::vector<uint8_t>(got.begin(), got.begin() + 104) == expect);
  CHECK(sb.ts_crc == 0x5EFF8A3Au);
  CHECK(superblock_crc(sb) == 0x5EFF8A3Au);
  CHECK(check_superblock(sb) == SbStatus::Valid);
}

TEST_CASE("make_superblock fills the uncovered fields as Part A says", "[superblock]") {
  SuperblockParams p = vector_params();
  const omf::Superblock sb = make_superblock(p);
  const auto b = bytes_of(sb);
  CHECK(famfs::test::le32(b.data(), 104) == 1u); // ts_sb_flags PRIMARY
  CHECK(famfs::test::le32(b.data(), 108) == 0u); // pad
  CHECK(famfs::test::le64(b.data(), 112) == (8ull << 30));
  for (int i = 0; i < 16; ++i) CHECK(b[120 + i] == 0x10 + i); // dd_uuid = dev uuid
  CHECK(std::memcmp(b.data() + 136, "/dev/dax0.0", 11) == 0);
  for (int i = 136 + 11; i < 200; ++i) CHECK(b[i] == 0);

  SECTION("a 64-byte path is stored without terminator, longer ones truncated") {
    p.device_path = std::string(70, 'x');
    const auto b2 = bytes_of(make_superblock(p));
    for (int i = 136; i < 200; ++i) CHECK(b2[i] == 'x');
  }
  SECTION("strncpy stops at an embedded NUL") {
    p.device_path = std::string("/dev/a\0bc", 9);
    const auto b2 = bytes_of(make_superblock(p));
    CHECK(std::memcmp(b2.data() + 136, "/dev/a", 6) == 0);
    for (int i = 136 + 6; i < 200; ++i) CHECK(b2[i] == 0);
  }
  SECTION("exactly 64 bytes") {
    p.device_path = std::string(63, 'y') + "z";
    const auto b2 = bytes_of(make_superblock(p));
    CHECK(b2[199] == 'z');
    CHECK(b2[135] == 0x1f); // dd_uuid's last byte: the copy stays inside dd_daxdev
  }
  SECTION("the uncovered fields do not change the CRC") {
    p.device_path = "/dev/dax9.9";
    p.device_size = 12345;
    CHECK(make_superblock(p).ts_crc == 0x5EFF8A3Au);
  }
}

TEST_CASE("check_superblock statuses in upstream order", "[superblock]") {
  const omf::Superblock good = make_superblock(vector_params());
  REQUIRE(check_superblock(good) == SbStatus::Valid);
  REQUIRE(sb_usable(SbStatus::Valid));

  omf::Superblock sb = good;
  SECTION("no magic") {
    sb.ts_magic = 0;
    CHECK(check_superblock(sb) == SbStatus::NoMagic);
    CHECK(check_superblock(resealed(sb)) == SbStatus::NoMagic);
  }
  SECTION("version 47 is usable with a warning") {
    sb.ts_version = 47;
    CHECK(check_superblock(resealed(sb)) == SbStatus::ValidOldVersion);
    CHECK(sb_usable(SbStatus::ValidOldVersion));
    CHECK(check_superblock(sb) == SbStatus::BadCrc); // still CRC-checked
  }
  SECTION("other versions are rejected before the CRC check") {
    sb.ts_version = 49;
    CHECK(check_superblock(sb) == SbStatus::WrongVersion);
    CHECK(!sb_usable(SbStatus::WrongVersion));
  }
  SECTION("bad CRC") {
    sb.ts_uuid[3] ^= 1;
    CHECK(check_superblock(sb) == SbStatus::BadCrc);
    sb = good;
    sb.ts_crc |= 1ull << 32; // upper half must be zero
    CHECK(check_superblock(sb) == SbStatus::BadCrc);
  }
  SECTION("alloc unit") {
    sb.ts_alloc_unit = 4096;
    CHECK(check_superblock(resealed(sb)) == SbStatus::Valid);
    sb.ts_alloc_unit = 8192;
    CHECK(check_superblock(resealed(sb)) == SbStatus::BadAllocUnit);
    CHECK(check_superblock(sb) == SbStatus::BadCrc); // CRC first
  }
  SECTION("log offset") {
    sb.ts_log_offset = 0x400000;
    CHECK(check_superblock(resealed(sb)) == SbStatus::BadLogOffset);
  }
  SECTION("log length") {
    sb.ts_log_len = 0x400000;
    CHECK(check_superblock(resealed(sb)) == SbStatus::BadLogLen);
    sb.ts_log_len = 0x900000;
    CHECK(check_superblock(resealed(sb)) == SbStatus::BadLogLen);
    sb.ts_log_len = 0;
    CHECK(check_superblock(resealed(sb)) == SbStatus::BadLogLen);
    sb.ts_log_len = 1ull << 30;
    CHECK(check_superblock(resealed(sb)) == SbStatus::Valid);
  }
  SECTION("sb_flags and daxdev are not covered") {
    sb.ts_sb_flags = 7;
    sb.ts_daxdev.dd_size = 1;
    sb.ts_daxdev.dd_daxdev[0] = 'z';
    CHECK(check_superblock(sb) == SbStatus::Valid);
  }
  for (SbStatus s : {SbStatus::Valid, SbStatus::ValidOldVersion, SbStatus::NoMagic,
                     SbStatus::WrongVersion, SbStatus::BadCrc, SbStatus::BadAllocUnit,
                     SbStatus::BadLogOffset, SbStatus::BadLogLen})
    CHECK(std::string(sb_status_text(s)).size() > 5);
  CHECK(std::string(sb_status_text(SbStatus::BadCrc)).find("CRC") != std::string::npos);
}

TEST_CASE("read_superblock copies; short spans read as no magic", "[superblock]") {
  const omf::Superblock good = make_superblock(vector_params());
  std::vector<std::byte> dev(4096);
  std::memcpy(dev.data(), &good, sizeof(good));
  const omf::Superblock sb = read_superblock(dev);
  CHECK(bytes_of(sb) == bytes_of(good));
  std::memset(dev.data(), 0, 8); // the copy is independent of the span
  CHECK(sb.ts_magic == omf::kSuperblockMagic);

  famfs::test::GuardedBuffer small(199);
  std::memcpy(small.data(), &good, 199);
  CHECK(check_superblock(read_superblock(small.span())) == SbStatus::NoMagic);
  CHECK(check_superblock(read_superblock({})) == SbStatus::NoMagic);
}

TEST_CASE("role_of and role_name", "[superblock]") {
  const omf::Superblock sb = make_superblock(vector_params());
  const Uuid me = seq_uuid(0x20);
  const Uuid other = seq_uuid(0x21);
  CHECK(role_of(sb, &me) == Role::Master);
  CHECK(role_of(sb, &other) == Role::Client);
  CHECK(role_of(sb, nullptr) == Role::Client);
  omf::Superblock bad = sb;
  bad.ts_crc ^= 1;
  CHECK(role_of(bad, &me) == Role::NoSuper);
  CHECK(std::string(role_name(Role::Master)) == "master");
  CHECK(std::string(role_name(Role::Client)) == "client");
  CHECK(std::string(role_name(Role::NoSuper)) == "nosuper");
  CHECK(std::string(role_name(Role::NoDev)) == "nodev");
  CHECK(static_cast<int>(Role::Master) == 1);
  CHECK(static_cast<int>(Role::NoDev) == 4);
}

TEST_CASE("uuid helpers", "[superblock]") {
  const Uuid u = seq_uuid(0);
  CHECK(uuid_to_string(u) == "00010203-0405-0607-0809-0a0b0c0d0e0f");
  Uuid back{};
  REQUIRE(uuid_from_string("00010203-0405-0607-0809-0A0B0C0D0E0F", back));
  CHECK(back == u);
  CHECK_FALSE(uuid_from_string("00010203-0405-0607-0809-0a0b0c0d0e0", back));
  CHECK_FALSE(uuid_from_string("00010203-0405-0607-0809-0a0b0c0d0e0g", back));
  CHECK_FALSE(uuid_from_string("", back));
  const Uuid a = uuid_random(), b = uuid_random();
  CHECK(a != b);
  CHECK((a[6] >> 4) == 4); // version 4
  const omf::Superblock sb = make_superblock(vector_params());
  CHECK(uuid_to_string(sb.ts_system_uuid) == "20212223-2425-2627-2829-2a2b2c2d2e2f");
}
