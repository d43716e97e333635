// The file-map rule vectors (tests/vectors/fmap_rules.txt) against the core: the same table
// src/lib/test_core.c checks against the C library (issue 8 defect 7: one rule, two sides).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "meta/fmap.hpp"

extern "C" {
#include "fmap_rules.h"
}

using namespace famfs;

namespace {

constexpr uint64_t kAU = 2ull << 20;
constexpr uint64_t kLogLen = 8ull << 20;
constexpr uint64_t kDevice = 1ull << 30;

DecodedFmap decoded(const rule_vec& v) {
  Fmap f;
  f.kind = v.interleave ? Fmap::Kind::Interleave : Fmap::Kind::Simple;
  f.chunk_size = v.interleave ? v.chunk : 0;
  for (unsigned i = 0; i < v.n; ++i) f.extents.push_back({v.off[i], v.len[i]});
  return fmap_from_log(fmap_to_log(f));
}

} // namespace

TEST_CASE("fmap rule vectors: validation, capacity and resolution", "[fmap][vectors]") {
  std::vector<rule_vec> vs(64);
  const int n = rule_vectors_load(FAMFS_VECTORS_DIR "/fmap_rules.txt", vs.data(), 64);
  REQUIRE(n > 0);
  for (int i = 0; i < n; ++i) {
    const rule_vec& v = vs[size_t(i)];
    INFO("vector " << v.name);
    const DecodedFmap d = decoded(v);
    const auto why = validate_fmap(d, v.size, kDevice, kLogLen, kAU);
    if (!v.valid) {
      CHECK(why.has_value());
      continue;
    }
    INFO("reason: " << why.value_or("none"));
    CHECK_FALSE(why.has_value());
    CHECK(d.fmap.capacity() == v.capacity);
    for (unsigned k = 0; k < v.nat; ++k) {
      const rv_at& a = v.at[k];
      INFO("offset " << a.off);
      const auto r = d.fmap.resolve(a.off);
      if (a.none) {
        CHECK_FALSE(r.has_value());
      } else {
        REQUIRE(r.has_value());
        CHECK(r->dev_offset == a.dev);
        CHECK(r->len == a.run);
      }
    }
  }
}
