#include <catch2/catch.hpp>

#include <cstring>

#include "helpers.hpp"
#include "meta/fmap.hpp"

using namespace famfs;

namespace {

constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t AU = 2 * MiB;
constexpr uint64_t kLog = 8 * MiB;
constexpr uint64_t kDev = 8ull << 30;

Fmap worked_example() {
  Fmap f;
  f.kind = Fmap::Kind::Interleave;
  f.chunk_size = 2 * MiB;
  f.extents = {{0x140000000, 4 * MiB}, {0x180000000, 4 * MiB}, {0x1200000, 4 * MiB},
               {0x1c0000000, 4 * MiB}};
  return f;
}

DecodedFmap simple(std::vector<Extent> ext) {
  Fmap f;
  f.extents = std::move(ext);
  return fmap_from_log(fmap_to_log(f));
}

std::optional<std::string> check(const DecodedFmap& d, uint64_t size) {
  return validate_fmap(d, size, kDev, kLog, AU);
}

// The reason must exist and mention `word`.
void require_reason(const std::optional<std::string>& r, const std::string& word) {
  REQUIRE(r.has_value());
  INFO("reason: " << *r);
  CHECK(r->find(word) != std::string::npos);
}

} // namespace

TEST_CASE("interleave worked example (B§4.2)", "[fmap]") {
  const Fmap f = worked_example();
  CHECK(f.capacity() == 16 * MiB);
  auto r = f.resolve(5 * MiB);
  REQUIRE(r);
  CHECK(r->dev_offset == 0x1300000);
  CHECK(r->len == 1 * MiB); // to the end of the chunk
  r = f.resolve(9 * MiB);
  REQUIRE(r);
  CHECK(r->dev_offset == 0x140300000);
  CHECK(r->len == 1 * MiB);
  r = f.resolve(0);
  REQUIRE(r);
  CHECK(r->dev_offset == 0x140000000);
  CHECK(r->len == 2 * MiB);
  r = f.resolve(16 * MiB - 1); // last byte: chunk 7 -> stripe 1, strip 3
  REQUIRE(r);
  CHECK(r->dev_offset == 0x1c0000000 + 4 * MiB - 1);
  CHECK(r->len == 1);
  CHECK_FALSE(f.resolve(16 * MiB));
  CHECK_FALSE(f.resolve(~0ull));
}

TEST_CASE("simple multi-extent resolve", "[fmap]") {
  Fmap f;
  f.extents = {{0xA00000, 2 * MiB}, {0x2000000, 4 * MiB}, {0x1000000, 2 * MiB}};
  CHECK(f.capacity() == 8 * MiB);
  auto r = f.resolve(0);
  REQUIRE(r);
  CHECK(r->dev_offset == 0xA00000);
  CHECK(r->len == 2 * MiB);
  r = f.resolve(2 * MiB - 1);
  REQUIRE(r);
  CHECK(r->dev_offset == 0xA00000 + 2 * MiB - 1);
  CHECK(r->len == 1);
  r = f.resolve(2 * MiB);
  REQUIRE(r);
  CHECK(r->dev_offset == 0x2000000);
  CHECK(r->len == 4 * MiB);
  r = f.resolve(7 * MiB);
  REQUIRE(r);
  CHECK(r->dev_offset == 0x1000000 + MiB);
  CHECK(r->len == MiB);
  CHECK_FALSE(f.resolve(8 * MiB));
  CHECK_FALSE(Fmap{}.resolve(0));
  Fmap no_chunk = worked_example();
  no_chunk.chunk_size = 0; // hostile: no division by zero
  CHECK_FALSE(no_chunk.resolve(0));
  CHECK(no_chunk.capacity() == 0);
}

TEST_CASE("capacity saturates instead of wrapping", "[fmap]") {
  Fmap f;
  f.extents = {{AU, ~0ull - 5}, {AU, 100}};
  CHECK(f.capacity() == ~0ull);
}

TEST_CASE("fmap log round trip and hostile counts", "[fmap]") {
  const Fmap f = worked_example();
  const omf::LogFmap lf = fmap_to_log(f);
  CHECK(lf.fmap_ext_type == omf::kInterleavedExtent);
  CHECK(lf.fmap_nextents == 1);
  const DecodedFmap d = fmap_from_log(lf);
  CHECK(d.fmap == f);
  CHECK(d.declared_count == 4);
  CHECK(d.niext == 1);
  CHECK_FALSE(d.nonzero_devindex);
  CHECK_FALSE(check(d, 10 * MiB));

  omf::LogFmap hostile = fmap_to_log(Fmap{Fmap::Kind::Simple, {{0xA00000, AU}}, 0});
  hostile.fmap_nextents = 0xffffffffu;
  const DecodedFmap h = fmap_from_log(hostile);
  CHECK(h.declared_count == 0xffffffffu);
  CHECK(h.fmap.extents.size() == 16);
  require_reason(check(h, 1), "4294967295");

  omf::LogFmap hi = fmap_to_log(f);
  hi.ie[0].ie_nstrips = 1000;
  const DecodedFmap hd = fmap_from_log(hi);
  CHECK(hd.fmap.extents.size() == 16);
  require_reason(check(hd, 1), "1000");
  CHECK_THROWS(fmap_to_log(Fmap{}));
}

TEST_CASE("log_extents: the stored extents fmap_from_log decodes, without a copy", "[fmap]") {
  const omf::LogFmap il = fmap_to_log(worked_example());
  const LogExtents x = log_extents(il);
  const DecodedFmap d = fmap_from_log(il);
  REQUIRE(x.stored.size() == d.fmap.extents.size());
  for (std::size_t k = 0; k < x.stored.size(); ++k) {
    CHECK(x.stored[k].se_offset == d.fmap.extents[k].offset);
    CHECK(x.stored[k].se_len == d.fmap.extents[k].len);
  }
  CHECK(x.ext_type == omf::kInterleavedExtent);
  CHECK(x.chunk_size == d.fmap.chunk_size);
  CHECK(x.declared_count == 4);
  CHECK(x.stored.data() == il.ie[0].ie_strips); // read where it is stored

  omf::LogFmap hostile = fmap_to_log(Fmap{Fmap::Kind::Simple, {{0xA00000, AU}, {0xE00000, AU}}, 0});
  hostile.se[1].se_devindex = 3;
  hostile.fmap_nextents = 0xffffffffu;
  const LogExtents h = log_extents(hostile);
  CHECK(h.stored.size() == 16);
  CHECK(h.declared_count == 0xffffffffu);
  CHECK(h.nonzero_devindex);
  CHECK(fmap_from_log(hostile).nonzero_devindex);
}

TEST_CASE("validate_fmap: each rule has a reason", "[fmap]") {
  const uint64_t data = 0x200000 + kLog; // 0xa00000
  CHECK_FALSE(check(simple({{data, AU}}), AU));
  CHECK_FALSE(check(simple({{kDev - AU, AU}}), 1)); // touching the device end is fine

  SECTION("0 extents") { require_reason(check(fmap_from_log(omf::LogFmap{}), 0), "no extents"); }
  SECTION("17 extents") {
    omf::LogFmap lf = fmap_to_log(Fmap{Fmap::Kind::Simple, {{data, AU}}, 0});
    lf.fmap_nextents = 17;
    require_reason(check(fmap_from_log(lf), 1), "17");
  }
  SECTION("16 extents are fine") {
    std::vector<Extent> ext;
    for (uint64_t k = 0; k < 16; ++k) ext.push_back({data + k * AU, AU});
    CHECK_FALSE(check(simple(ext), 16 * AU));
  }
  SECTION("devindex 1") {
    omf::LogFmap lf = fmap_to_log(Fmap{Fmap::Kind::Simple, {{data, AU}}, 0});
    lf.se[0].se_devindex = 1;
    const DecodedFmap d = fmap_from_log(lf);
    CHECK(d.nonzero_devindex);
    require_reason(check(d, 1), "device index");
  }
  SECTION("unaligned offset") {
    require_reason(check(simple({{data + 4096, AU}}), 1), "offset 0xa01000 is not a multiple");
  }
  SECTION("unaligned length") {
    require_reason(check(simple({{data, AU + 4096}}), 1), "length 0x201000 is not a multiple");
  }
  SECTION("offset 0") { require_reason(check(simple({{data, AU}, {0, AU}}), 1), "extent 1 has offset 0"); }
  SECTION("inside the log") {
    require_reason(check(simple({{data - AU, AU}}), 1), "inside the superblock and log");
  }
  SECTION("past the device end") {
    require_reason(check(simple({{data, AU}, {data + AU, AU}, {kDev - AU, 2 * AU}}), 1),
                   "extent 2 ends at 0x200200000 beyond the device end 0x200000000");
  }
  SECTION("wrapping offset+len") {
    require_reason(check(simple({{0xFFFFFFFFFFE00000ull, 0x400000}}), 1), "wraps");
  }
  SECTION("capacity < size") {
    require_reason(check(simple({{data, AU}}), AU + 1), "file size is 0x200001");
  }
  SECTION("zero length") { require_reason(check(simple({{data, 0}}), 0), "length 0"); }
  SECTION("interleave: bad chunk") {
    Fmap f = worked_example();
    f.chunk_size = 3 * MiB;
    require_reason(check(fmap_from_log(fmap_to_log(f)), 1), "not a power of 2");
    f.chunk_size = 4096;
    require_reason(check(fmap_from_log(fmap_to_log(f)), 1), "not a multiple of the alloc unit");
    f.chunk_size = 0;
    require_reason(check(fmap_from_log(fmap_to_log(f)), 1), "chunk");
  }
  SECTION("interleave: unequal strips") {
    Fmap f = worked_example();
    f.extents[2].len = 6 * MiB;
    require_reason(check(fmap_from_log(fmap_to_log(f)), 1), "strip 2 has length 0x600000");
  }
  SECTION("interleave: niext 2") {
    omf::LogFmap lf = fmap_to_log(worked_example());
    lf.fmap_nextents = 2;
    require_reason(check(fmap_from_log(lf), 1), "2 interleaved extents");
  }
  SECTION("interleave: 0 and 17 strips") {
    omf::LogFmap lf = fmap_to_log(worked_example());
    lf.ie[0].ie_nstrips = 0;
    require_reason(check(fmap_from_log(lf), 0), "no strips");
    lf.ie[0].ie_nstrips = 17;
    require_reason(check(fmap_from_log(lf), 0), "17 strips");
  }
  SECTION("interleave: strip checks name the strip") {
    Fmap f = worked_example();
    f.extents[2].offset = 0; // offset 0 on a strip
    require_reason(check(fmap_from_log(fmap_to_log(f)), 1), "strip 2 has offset 0");
    REQUIRE_FALSE(check(fmap_from_log(fmap_to_log(worked_example())), 16 * MiB));
    require_reason(check(fmap_from_log(fmap_to_log(worked_example())), 16 * MiB + 1), "file size");
  }
  SECTION("unknown extent type") {
    omf::LogFmap lf = fmap_to_log(worked_example());
    lf.fmap_ext_type = 7;
    require_reason(check(fmap_from_log(lf), 1), "unknown extent type 7");
  }
  SECTION("4 KiB alloc unit") {
    CHECK_FALSE(validate_fmap(simple({{data + 4096, 4096}}), 4096, kDev, kLog, 4096));
  }
}
