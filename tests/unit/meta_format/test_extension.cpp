// Format extensions v1 (docs/format-extensions.md): layouts at their documented offsets, CRC
// coverage, what reads as absent, the DELETE payload, and the reuse rule of docs/delete.md.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "helpers.hpp"
#include "meta/crc.hpp"
#include "meta/error.hpp"
#include "meta/extension.hpp"
#include "meta/log.hpp"

using namespace famfs;
using famfs::test::le32;
using famfs::test::le64;

namespace {

Uuid fs_uuid() {
  Uuid u;
  for (int i = 0; i < 16; ++i) u[i] = uint8_t(0xa0 + i);
  return u;
}

std::vector<std::byte> region() { return std::vector<std::byte>(omf::kSuperblockRegion); }

} // namespace

TEST_CASE("extension header: bytes at their documented offsets, CRC over [0, 60)") {
  auto dev = region();
  ext::write_header(dev, ext::make_header(fs_uuid(), ext::kFeatureDelete));
  const std::byte* h = dev.data() + 0x1000;
  CHECK(le64(h, 0) == 0x31545845534d4146ull);
  CHECK(std::memcmp(h, "FAMSEXT1", 8) == 0);
  CHECK(le32(h, 8) == 1);
  CHECK(le32(h, 12) == 1);
  CHECK(le32(h, 16) == 64);
  CHECK(le32(h, 20) == 256);
  CHECK(le32(h, 24) == 10000);
  CHECK(le32(h, 28) == 100);
  CHECK(std::memcmp(h + 32, fs_uuid().data(), 16) == 0);
  CHECK(le32(h, 60) == crc32_of(h, 60));
  auto r = ext::read_header(dev, fs_uuid());
  REQUIRE(r.status == ext::HeaderStatus::Valid);
  CHECK(r.header.ex_features == ext::kFeatureDelete);
}

TEST_CASE("extension header: zeroes, stale bytes, a flipped bit, another fs, another version") {
  auto dev = region();
  CHECK(ext::read_header(dev, fs_uuid()).status == ext::HeaderStatus::Absent);
  std::memset(dev.data() + 0x1000, 0x5a, 64); // stale bytes (upstream mkfs leaves them)
  CHECK(ext::read_header(dev, fs_uuid()).status == ext::HeaderStatus::Absent);

  ext::write_header(dev, ext::make_header(fs_uuid(), ext::kFeatureDelete));
  dev[0x1000 + 12] ^= std::byte{2};
  CHECK(ext::read_header(dev, fs_uuid()).status == ext::HeaderStatus::BadCrc);

  Uuid other = fs_uuid();
  other[0] ^= 1;
  ext::write_header(dev, ext::make_header(other, 0));
  CHECK(ext::read_header(dev, fs_uuid()).status == ext::HeaderStatus::OtherFs);

  auto h = ext::make_header(fs_uuid(), 0);
  h.ex_version = 2;
  ext::seal(h);
  ext::write_header(dev, h);
  CHECK(ext::read_header(dev, fs_uuid()).status == ext::HeaderStatus::UnknownVersion);

  h = ext::make_header(fs_uuid(), 0);
  h.ex_host_slots = 65;
  ext::seal(h);
  ext::write_header(dev, h);
  auto r = ext::read_header(dev, fs_uuid());
  CHECK(r.status == ext::HeaderStatus::BadGeometry);
  CHECK(r.header.ex_host_slots == 0); // nothing of an invalid header leaks out
}

TEST_CASE("extension area: a device too small to hold it reads absent and refuses writes") {
  std::vector<std::byte> tiny(0x1010);
  CHECK(ext::read_header(tiny, fs_uuid()).status == ext::HeaderStatus::Absent);
  CHECK(ext::read_slot(tiny, 0).status == ext::SlotStatus::Free);
  CHECK_FALSE(ext::read_evictions(tiny).valid);
  CHECK_THROWS_AS(ext::write_header(tiny, ext::make_header(fs_uuid(), 0)), Error);
}

TEST_CASE("host slots: layout, CRC, states, out-of-range slots") {
  auto dev = region();
  ext::HostSlot s{};
  s.hs_system_uuid[0] = 7;
  s.hs_generation = 3;
  s.hs_replayed = 42;
  s.hs_oldest_open = ext::kNothingOpen;
  s.hs_heartbeat = 99;
  s.hs_state = ext::kHostActive;
  s.hs_pid = 1234;
  std::memset(s.hs_hostname, 'h', sizeof(s.hs_hostname)); // seal NUL-terminates it
  ext::write_slot(dev, 5, s);
  const std::byte* p = dev.data() + 0x2000 + 5 * 256;
  CHECK(le32(p, 0) == 0x54534f48);
  CHECK(le64(p, 24) == 3);
  CHECK(le64(p, 32) == 42);
  CHECK(le64(p, 40) == ~0ull);
  CHECK(le64(p, 48) == 99);
  CHECK(le32(p, 56) == 1);
  CHECK(le32(p, 60) == 1234);
  CHECK(char(p[64 + 63]) == '\0');
  CHECK(le32(p, 252) == crc32_of(p, 252));

  auto r = ext::read_slot(dev, 5);
  REQUIRE(r.status == ext::SlotStatus::Valid);
  CHECK(r.slot.hs_replayed == 42);
  CHECK(ext::read_slot(dev, 4).status == ext::SlotStatus::Free);
  CHECK(ext::read_slot(dev, 64).status == ext::SlotStatus::Free);
  CHECK_THROWS_AS(ext::write_slot(dev, 64, s), Error);

  dev[0x2000 + 5 * 256 + 33] ^= std::byte{1};
  CHECK(ext::read_slot(dev, 5).status == ext::SlotStatus::BadCrc);

  s.hs_state = ext::kHostFree;
  ext::write_slot(dev, 5, s);
  CHECK(ext::read_slot(dev, 5).status == ext::SlotStatus::Free);
}

TEST_CASE("eviction table: CRC-protected; an invalid table evicts nobody") {
  auto dev = region();
  CHECK_FALSE(ext::read_evictions(dev).valid); // all zero: CRC of zeroes is not 0
  ext::EvictionTable t{};
  t.ev_gen[3] = 9;
  ext::write_evictions(dev, t);
  auto r = ext::read_evictions(dev);
  REQUIRE(r.valid);
  CHECK(r.table.ev_gen[3] == 9);
  dev[0x1400 + 3 * 8] ^= std::byte{1};
  r = ext::read_evictions(dev);
  CHECK_FALSE(r.valid);
  CHECK(r.table.ev_gen[3] == 0);
}

TEST_CASE("DELETE entry: payload v1 at its offsets, sealed like every entry, parsed back") {
  omf::LogEntry e = ext::make_delete_entry(17, "a/b", false);
  seal_log_entry(e, 20);
  const auto* b = reinterpret_cast<const std::byte*>(&e);
  CHECK(le32(b, 8) == 2);
  CHECK(le32(b, 16) == 1);
  CHECK(le32(b, 20) == 0);
  CHECK(le64(b, 24) == 17);
  CHECK(std::strcmp(reinterpret_cast<const char*>(b + 32), "a/b") == 0);
  CHECK(le64(b, 536) == crc32_of(b, 536));

  ext::DeleteMeta dm;
  REQUIRE(ext::parse_delete(e, dm) == ext::DeleteCheck::Ok);
  CHECK(dm.dl_target == 17);
  CHECK(ext::make_delete_entry(3, "d", true).raw[4] == 1);

  CHECK_THROWS_AS(ext::make_delete_entry(1, std::string(80, 'x'), false), Error);

  omf::LogEntry bad = e;
  bad.raw[0] = 2; // version 2
  CHECK(ext::parse_delete(bad, dm) == ext::DeleteCheck::UnknownVersion);
  bad = e;
  bad.raw[4] = 4;
  CHECK(ext::parse_delete(bad, dm) == ext::DeleteCheck::BadFlags);
  bad = e;
  std::memset(bad.raw + 16, 'x', 80);
  CHECK(ext::parse_delete(bad, dm) == ext::DeleteCheck::NoNul);
  bad = e;
  bad.raw[200] = 1;
  CHECK(ext::parse_delete(bad, dm) == ext::DeleteCheck::BadPadding);
}

TEST_CASE("reuse rule: every counting host has replayed past the DELETE and holds nothing older") {
  const uint64_t target = 10, del = 50;
  std::vector<ext::HostView> hosts(3);
  for (auto& h : hosts) h.replayed = 51;
  CHECK(ext::reusable(del, target, hosts));

  hosts[1].replayed = 50; // has not applied the DELETE yet (it is entry 50)
  CHECK_FALSE(ext::reusable(del, target, hosts));
  CHECK(ext::holder(del, target, hosts) == std::optional<std::size_t>(1));
  hosts[1].counts = false; // evicted, left, or past its lease
  CHECK(ext::reusable(del, target, hosts));

  hosts[2].oldest_open = 10; // the deleted file itself is open there
  CHECK_FALSE(ext::reusable(del, target, hosts));
  hosts[2].oldest_open = 9; // an older file open: conservative, still held
  CHECK_FALSE(ext::reusable(del, target, hosts));
  hosts[2].oldest_open = 11; // only newer files open
  CHECK(ext::reusable(del, target, hosts));

  CHECK(ext::reusable(del, target, {})); // no registered host at all
}
