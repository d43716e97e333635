// proto/fmap_text: the user.famfs.fmap text the daemon writes and the CLI parses.
#include <catch2/catch.hpp>

#include <string>

#include "proto/fmap_text.hpp"

using namespace famfs;
using famfs::proto::format_fmap_text;
using famfs::proto::parse_fmap_text;

namespace {

Fmap simple(std::vector<Extent> e) {
  Fmap f;
  f.kind = Fmap::Kind::Simple;
  f.extents = std::move(e);
  return f;
}

Fmap interleave(std::vector<Extent> e, uint64_t chunk) {
  Fmap f;
  f.kind = Fmap::Kind::Interleave;
  f.extents = std::move(e);
  f.chunk_size = chunk;
  return f;
}

} // namespace

TEST_CASE("fmap text: the exact format the daemon serves", "[fmap_text]") {
  CHECK(format_fmap_text(0x300000, simple({{0xa00000, 0x400000}})) ==
        "famfs-fmap 1\nsize 0x300000\nsimple 1\n0xa00000 0x400000\n");
  CHECK(format_fmap_text(10 << 20, interleave({{0x1000000, 0x600000}, {0x2000000, 0x600000}}, 4 << 20)) ==
        "famfs-fmap 1\nsize 0xa00000\ninterleave 2 0x400000\n0x1000000 0x600000\n0x2000000 0x600000\n");
}

TEST_CASE("fmap text: what is formatted parses back to the same map", "[fmap_text]") {
  const proto::FmapText vectors[] = {
      {1, simple({{0xa00000, 0x200000}})},
      {5 * (1ull << 20) + 3, simple({{0xa00000, 0x200000}, {0x1000000, 0x400000}})},
      {~0ull, simple({{~0ull - 0x1fffff, 0x200000}})},
      {10ull << 20, interleave({{0x1000000, 0x600000}, {0x2000000, 0x600000}}, 4 << 20)},
  };
  for (const auto& v : vectors) {
    std::string t = format_fmap_text(v.size, v.fmap);
    CAPTURE(t);
    auto back = parse_fmap_text(t);
    REQUIRE(back);
    CHECK(*back == v);
  }
  // 16 extents (the most a valid map has).
  Fmap many;
  for (uint64_t i = 0; i < 16; ++i) many.extents.push_back({(i + 5) << 21, 1 << 21});
  auto back = parse_fmap_text(format_fmap_text(32 << 20, many));
  REQUIRE(back);
  CHECK(back->fmap == many);
}

TEST_CASE("fmap text: lenient where the CLI always was", "[fmap_text]") {
  // Decimal numbers, CRLF, blank lines.
  auto x = parse_fmap_text("famfs-fmap 1\r\n\r\nsize 4096\r\nsimple 1\r\n10485760 2097152\r\n");
  REQUIRE(x);
  CHECK(x->size == 4096);
  CHECK(x->fmap.extents == std::vector<Extent>{{10485760, 2097152}});
}

TEST_CASE("fmap text: malformed text is refused with a reason", "[fmap_text]") {
  const char* bad[] = {
      "",
      "famfs-fmap 1\n",
      "famfs-fmap 1\nsize 0x10\n",
      "fmap 1\nsize 0x10\nsimple 1\n0x0 0x200000\n",
      "famfs-fmap 1\nsize -1\nsimple 1\n0x0 0x200000\n",
      "famfs-fmap 1\nsize 0x10\nsimple 2\n0x0 0x200000\n",          // a line missing
      "famfs-fmap 1\nsize 0x10\nsimple 1\n0x0\n",                     // half a line
      "famfs-fmap 1\nsize 0x10\nsimple 1\n0x0 0x200000 junk\n",       // trailing junk
      "famfs-fmap 1\nsize 0x10\nstriped 1\n0x0 0x200000\n",           // unknown kind
      "famfs-fmap 1\nsize 0x10\ninterleave 1\n0x0 0x200000\n",        // no chunk
      "famfs-fmap 1\nsize 0x10\nsimple 65\n0x0 0x200000\n",           // too many
      "famfs-fmap 1\nsize 0x10\nsimple 1\n0x0 0x1ffffffffffffffff\n", // overflow
      "famfs-fmap 1\nsize 0x10\nsimple 1\nzz 0x200000\n",
  };
  for (const char* t : bad) {
    CAPTURE(t);
    std::string why;
    CHECK_FALSE(parse_fmap_text(t, &why));
    CHECK_FALSE(why.empty());
  }
}
