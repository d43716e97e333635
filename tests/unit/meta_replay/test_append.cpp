// The append path (spec B§3.4, Part A §5-§6).
#include <catch2/catch.hpp>

#include <cerrno>
#include <vector>

#include "fs_helpers.hpp"
#include "meta/append.hpp"
#include "meta/error.hpp"

using namespace famfs;
using namespace famfs::rtest;

namespace {

std::vector<std::byte> snapshot(TestFs& fs) {
  return {fs.log(), fs.log() + fs.geo.log_len};
}

// Fill the log up to `used` entries through the writer (cheap: 544 bytes and a CRC each).
void fill(TestFs& fs, uint64_t used) {
  LogWriter w(fs.span(), fs.geo, CacheOps{});
  for (uint64_t i = w.next_index(); i < used; ++i)
    w.append(make_mkdir_entry("d" + std::to_string(i), 0755, 0, 0));
}

std::string error_of(auto&& fn, int* err = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (err) *err = e.err();
    return e.what();
  }
  return {};
}

} // namespace

TEST_CASE("append writes a sealed entry, then bumps the header, in flush order", "[append]") {
  TestFs fs;
  struct Op {
    char kind;
    const void* p;
    std::size_t n;
    uint64_t next_index_then;
  };
  std::vector<Op> ops;
  CacheOps rec;
  rec.flush = [&](const void* p, std::size_t n) {
    ops.push_back({'F', p, n, read_log_header(fs.cspan()).famfs_log_next_index});
  };
  rec.fence = [&] { ops.push_back({'S', nullptr, 0, read_log_header(fs.cspan()).famfs_log_next_index}); };

  LogWriter w(fs.span(), fs.geo, rec);
  ops.clear();
  CHECK(w.next_index() == 0);
  CHECK(w.append(make_mkdir_entry("dir1", 0755, 0, 0)) == 0);
  REQUIRE(ops.size() == 4);
  // Entry flushed and fenced while the header still says 0; then the header, then a fence.
  CHECK(ops[0].kind == 'F');
  CHECK(ops[0].p == fs.dev.data() + omf::log_slot_offset(0));
  CHECK(ops[0].n == 544);
  CHECK(ops[0].next_index_then == 0);
  CHECK(ops[1].kind == 'S');
  CHECK(ops[1].next_index_then == 0);
  CHECK(ops[2].kind == 'F');
  CHECK(ops[2].p == fs.log());
  CHECK(ops[2].next_index_then == 1);
  CHECK(ops[3].kind == 'S');

  const omf::LogEntry e = read_log_entry(fs.cspan(), 0);
  CHECK(log_entry_valid(e, 0));
  CHECK(e.famfs_log_entry_crc == 0xD6DB820Bu); // B§11 vector for this very entry
  const omf::LogHeader h = read_log_header(fs.cspan());
  CHECK(h.famfs_log_next_index == 1);
  CHECK(h.famfs_log_next_seqnum == 1);
  CHECK(check_log_header(h, fs.geo.log_len) == LogHeaderStatus::Ok);
  CHECK(w.append(make_mkdir_entry("dir2", 0755, 0, 0)) == 1);
  CHECK(log_entry_valid(read_log_entry(fs.cspan(), 1), 1));
}

TEST_CASE("reserve/unreserve and free slots", "[append]") {
  TestFs fs;
  LogWriter w(fs.span(), fs.geo, CacheOps{});
  CHECK(w.free_slots() == 15420);
  w.reserve(3);
  CHECK(w.free_slots() == 15417);
  w.append(make_mkdir_entry("a", 0755, 0, 0)); // consumes one reservation
  CHECK(w.free_slots() == 15417);
  w.unreserve(2);
  CHECK(w.free_slots() == 15419);
  w.unreserve(5); // more than held: clamps
  CHECK(w.free_slots() == 15419);
  int err = 0;
  const std::string msg = error_of([&] { w.reserve(15420); }, &err);
  CHECK(err == ENOMEM);
  CHECK(msg.find("log full") != std::string::npos);
  CHECK(w.free_slots() == 15419); // a failed reserve holds nothing
}

TEST_CASE("log full: clear error and not one byte written", "[append]") {
  TestFs fs;
  fill(fs, 15420);
  LogWriter w(fs.span(), fs.geo, CacheOps{});
  CHECK(w.next_index() == 15420);
  CHECK(w.free_slots() == 0);
  const std::vector<std::byte> before = snapshot(fs);
  int err = 0;
  const std::string msg = error_of([&] { w.append(make_mkdir_entry("more", 0755, 0, 0)); }, &err);
  CHECK(err == ENOMEM);
  CHECK(msg.find("famfs log full: 15420 of 15420 entries used") == 0);
  err = 0;
  CHECK(!error_of([&] { w.reserve(1); }, &err).empty());
  CHECK(err == ENOMEM);
  CHECK(snapshot(fs) == before);
}

TEST_CASE("mkdir -p style reservation fails up front and writes nothing", "[append]") {
  TestFs fs;
  fill(fs, 15418); // two slots left
  LogWriter w(fs.span(), fs.geo, CacheOps{});
  const std::vector<std::byte> before = snapshot(fs);
  int err = 0;
  const std::string msg = error_of([&] { w.reserve(3); }, &err); // a/b/c needs three
  CHECK(err == ENOMEM);
  CHECK(msg.find("3 needed, 2 free") != std::string::npos);
  CHECK(snapshot(fs) == before);
  w.reserve(2); // a/b fits
  w.append(make_mkdir_entry("a", 0755, 0, 0));
  w.append(make_mkdir_entry("a/b", 0755, 0, 0));
  CHECK(w.free_slots() == 0);
  CHECK(w.next_index() == 15420);
}

TEST_CASE("the writer refuses a damaged log or header", "[append]") {
  TestFs fs;
  fs.mkdir("a");
  fs.mkdir("b");
  fs.mkdir("c");
  SECTION("CRC damage in slot 1") {
    fs.dev.data()[omf::log_slot_offset(1) + 40] ^= std::byte{1};
    int err = 0;
    const std::string msg = error_of([&] { LogWriter w(fs.span(), fs.geo, CacheOps{}); }, &err);
    CHECK(err == EUCLEAN);
    CHECK(msg.find("entry 1 is damaged (CRC mismatch: stored ") != std::string::npos);
    CHECK(msg.find("famfs fsck") != std::string::npos);
  }
  SECTION("seqnum damage in slot 2") {
    omf::LogEntry e = make_mkdir_entry("c", 0755, 0, 0);
    seal_log_entry(e, 7);
    std::memcpy(fs.dev.data() + omf::log_slot_offset(2), &e, sizeof(e));
    const std::string msg = error_of([&] { LogWriter w(fs.span(), fs.geo, CacheOps{}); });
    CHECK(msg.find("entry 2 is damaged (seqnum 7 in slot 2)") != std::string::npos);
  }
  SECTION("bad header CRC") {
    fs.log()[8] ^= std::byte{1};
    int err = 0;
    const std::string msg = error_of([&] { LogWriter w(fs.span(), fs.geo, CacheOps{}); }, &err);
    CHECK(err == EUCLEAN);
    CHECK(msg.find("log header") != std::string::npos);
  }
  SECTION("next_index beyond the log") {
    fs.set_next(20000);
    int err = 0;
    error_of([&] { LogWriter w(fs.span(), fs.geo, CacheOps{}); }, &err);
    CHECK(err == EUCLEAN);
  }
}

TEST_CASE("the writer refuses a span that does not cover the log", "[append]") {
  TestFs fs;
  int err = 0;
  error_of([&] { LogWriter w(fs.span().first(4 * kMiB), fs.geo, CacheOps{}); }, &err);
  CHECK(err == EINVAL);
}
