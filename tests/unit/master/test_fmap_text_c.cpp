// The fmap text written by proto/fmap_text (the daemon's side) read by both parsers: the
// CLI's C++ parser and libfamfs's C parser (src/lib/famfs_core.c), from one table of vectors.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "proto/fmap_text.hpp"

extern "C" {
#include "lib/famfs_core.h"
}

using namespace famfs;

namespace {

struct Vector {
  uint64_t size;
  Fmap fmap;
};

Fmap make(Fmap::Kind k, std::vector<Extent> e, uint64_t chunk = 0) {
  Fmap f;
  f.kind = k;
  f.extents = std::move(e);
  f.chunk_size = chunk;
  return f;
}

std::vector<Vector> vectors() {
  constexpr uint64_t M = 1ull << 20;
  std::vector<Vector> v = {
      {4096, make(Fmap::Kind::Simple, {{10 * M, 2 * M}})},
      {5 * M + 3, make(Fmap::Kind::Simple, {{10 * M, 6 * M}})},
      {7 * M, make(Fmap::Kind::Simple, {{10 * M, 2 * M}, {40 * M, 4 * M}, {90 * M, 2 * M}})},
      {16 * M, make(Fmap::Kind::Interleave, {{1024 * M, 8 * M}, {2048 * M, 8 * M}}, 4 * M)},
      {64 * M, make(Fmap::Kind::Interleave, {{1024 * M, 16 * M}, {2048 * M, 16 * M},
                                             {3072 * M, 16 * M}, {4096 * M, 16 * M}}, 2 * M)},
  };
  Fmap many = make(Fmap::Kind::Simple, {});
  for (uint64_t i = 0; i < 16; ++i) many.extents.push_back({(10 + 4 * i) * M, 2 * M});
  v.push_back({32 * M, many});
  return v;
}

} // namespace

static void check_both(const Vector& v) {
  std::string text = proto::format_fmap_text(v.size, v.fmap);
  CAPTURE(text);
  auto cxx = proto::parse_fmap_text(text);
  REQUIRE(cxx);
  CHECK(cxx->size == v.size);
  CHECK(cxx->fmap == v.fmap);
  struct fc_map m;
  std::memset(&m, 0, sizeof m);
  REQUIRE(fc_parse_fmap(text.data(), text.size(), &m) == 0);
  CHECK(m.size == v.size);
  CHECK(m.kind == (v.fmap.kind == Fmap::Kind::Simple ? FC_SIMPLE : FC_INTERLEAVE));
  REQUIRE(m.n == v.fmap.extents.size());
  if (v.fmap.kind == Fmap::Kind::Interleave) CHECK(m.chunk == v.fmap.chunk_size);
  for (unsigned i = 0; i < m.n; ++i) {
    CHECK(m.off[i] == v.fmap.extents[i].offset);
    CHECK(m.len[i] == v.fmap.extents[i].len);
  }
}

TEST_CASE("fmap text: the C++ and the C parser read the daemon's text alike", "[fmap_text]") {
  for (const auto& v : vectors()) check_both(v);
}

// Issue 8 defect 7 (src/lib): libfamfs refused an interleaved map whose strip length is not a
// multiple of the chunk, which the core accepts and the daemon serves (the shared rule:
// src/proto/fmap_rule.h; its vectors: tests/vectors/fmap_rules.txt).
TEST_CASE("fmap text: C parser takes strips that are not a multiple of the chunk",
          "[fmap_text]") {
  constexpr uint64_t M = 1ull << 20;
  check_both({10 * M, make(Fmap::Kind::Interleave, {{1024 * M, 6 * M}, {2048 * M, 6 * M}}, 4 * M)});
}
