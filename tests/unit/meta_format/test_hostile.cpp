// Properties over many generated inputs: hostile bytes never crash or read outside a span, and
// resolve() agrees with a byte-by-byte reference model of the kernel's mapping.
#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <random>
#include <set>

#include "meta/fmap.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"
#include "meta/superblock.hpp"

using namespace famfs;

namespace {

// Reference: the device byte of file offset `off`, computed the slow way, or -1.
int64_t reference_dev(const Fmap& f, uint64_t off) {
  if (f.kind == Fmap::Kind::Simple) {
    for (const Extent& e : f.extents) {
      if (off < e.len) return static_cast<int64_t>(e.offset + off);
      off -= e.len;
    }
    return -1;
  }
  // Walk the file chunk by chunk in order, dealing chunks round-robin to the strips, and stop
  // at the first byte some strip cannot hold.
  const uint64_t n = f.extents.size();
  uint64_t file_pos = 0;
  for (uint64_t chunk = 0;; ++chunk) {
    const uint64_t strip = chunk % n, stripe = chunk / n;
    for (uint64_t b = 0; b < f.chunk_size; ++b, ++file_pos) {
      const uint64_t strip_off = stripe * f.chunk_size + b;
      uint64_t min_len = ~0ull;
      for (const Extent& e : f.extents) min_len = std::min(min_len, e.len);
      if (strip_off >= min_len) return -1;
      if (file_pos == off) return static_cast<int64_t>(f.extents[strip].offset + strip_off);
    }
  }
}

} // namespace

TEST_CASE("resolve agrees with a byte-level reference model", "[fmap][property]") {
  std::mt19937_64 rng(12345);
  for (int iter = 0; iter < 300; ++iter) {
    Fmap f;
    const bool inter = iter % 2;
    f.kind = inter ? Fmap::Kind::Interleave : Fmap::Kind::Simple;
    const int n = 1 + static_cast<int>(rng() % 5);
    f.chunk_size = inter ? 1u << (rng() % 4) : 0; // 1..8 bytes: small enough to enumerate
    const uint64_t equal_len = 1 + rng() % 20;
    for (int k = 0; k < n; ++k) {
      const uint64_t len = inter && rng() % 3 ? equal_len : rng() % 20;
      f.extents.push_back({1000 * static_cast<uint64_t>(k + 1), len});
    }
    const uint64_t cap = f.capacity();
    std::set<uint64_t> seen; // no device byte is used twice
    for (uint64_t off = 0; off < cap + 5; ++off) {
      INFO("iter " << iter << " off " << off);
      const int64_t want = reference_dev(f, off);
      const auto got = f.resolve(off);
      if (want < 0) {
        CHECK(off >= cap);
        CHECK_FALSE(got);
        continue;
      }
      REQUIRE(off < cap);
      REQUIRE(got);
      CHECK(got->dev_offset == static_cast<uint64_t>(want));
      CHECK(seen.insert(got->dev_offset).second);
      // Every byte of the run is the next device byte of the next file offset.
      REQUIRE(got->len >= 1);
      for (uint64_t j = 1; j < got->len; ++j)
        CHECK(reference_dev(f, off + j) == want + static_cast<int64_t>(j));
      // The run never crosses the end of an extent or chunk.
      if (inter) CHECK(got->len <= f.chunk_size - off % f.chunk_size);
    }
  }
}

TEST_CASE("hostile fmaps and entries never crash", "[fmap][log][property]") {
  std::mt19937_64 rng(777);
  for (int iter = 0; iter < 5000; ++iter) {
    omf::LogEntry e;
    auto* raw = reinterpret_cast<uint8_t*>(&e);
    for (std::size_t i = 0; i < sizeof(e); ++i) raw[i] = static_cast<uint8_t>(rng());
    // Bias towards the interesting cases: small counts and known types.
    if (iter % 2) e.famfs_fm.fm_fmap.fmap_ext_type = static_cast<uint32_t>(rng() % 3);
    if (iter % 3 == 0) e.famfs_fm.fm_fmap.fmap_nextents = static_cast<uint32_t>(rng() % 20);
    if (iter % 4 == 0) e.famfs_fm.fm_fmap.ie[0].ie_nstrips = rng() % 20;
    if (iter % 5 == 0) e.famfs_fm.fm_fmap.ie[0].ie_chunk_size = 1ull << (rng() % 64);

    const DecodedFmap d = fmap_from_log(e.famfs_fm.fm_fmap);
    CHECK(d.fmap.extents.size() <= 16);
    const auto why = validate_fmap(d, e.famfs_fm.fm_size, 8ull << 30, 8ull << 20, 0x200000);
    if (why) CHECK_FALSE(why->empty());
    for (int j = 0; j < 8; ++j) {
      const uint64_t cap = d.fmap.capacity();
      const uint64_t off = j < 4 || cap == ~0ull ? rng() : rng() % (cap + 1);
      if (auto r = d.fmap.resolve(off)) {
        CHECK(r->len > 0);
        CHECK(off < d.fmap.capacity());
      }
    }
    (void)relpath_field(e.famfs_fm.fm_relpath);
    (void)normalise_relpath(relpath_field(e.famfs_md.md_relpath));
    CHECK_FALSE(log_entry_valid(e, rng())); // random bytes essentially never validate
    omf::Superblock sb;
    std::memcpy(&sb, raw, sizeof(sb));
    (void)check_superblock(sb);
    omf::LogHeader h;
    std::memcpy(&h, raw, sizeof(h));
    (void)check_log_header(h, h.famfs_log_len);
  }
}

TEST_CASE("valid generated interleaved maps pass validation and cover the file", "[fmap][property]") {
  std::mt19937_64 rng(99);
  const uint64_t AU = 0x200000, dev = 64ull << 30, log = 8ull << 20;
  for (int iter = 0; iter < 200; ++iter) {
    Fmap f;
    f.kind = Fmap::Kind::Interleave;
    const uint64_t nstrips = 1 + rng() % 16;
    f.chunk_size = AU << (rng() % 4);
    const uint64_t size = 1 + rng() % (1ull << 30);
    // B§6.3 shapes.
    const uint64_t alloc_au = (size + AU - 1) / AU, chunk_au = f.chunk_size / AU;
    const uint64_t nstripes = (alloc_au + nstrips * chunk_au - 1) / (nstrips * chunk_au);
    const uint64_t strip_len = nstripes * f.chunk_size;
    for (uint64_t k = 0; k < nstrips; ++k) f.extents.push_back({(k + 1) * (2ull << 30), strip_len});
    const DecodedFmap d = fmap_from_log(fmap_to_log(f));
    INFO("nstrips " << nstrips << " chunk " << f.chunk_size << " size " << size);
    CHECK_FALSE(validate_fmap(d, size, dev, log, AU));
    CHECK(f.capacity() == nstrips * strip_len);
    // Walk the file by runs: runs tile [0, capacity) with no gaps.
    uint64_t off = 0, runs = 0;
    while (auto r = f.resolve(off)) {
      off += r->len;
      ++runs;
    }
    CHECK(off == f.capacity());
    CHECK(runs == nstripes * nstrips);
  }
}
