#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "master/random_fill.hpp"

using namespace famfs;

namespace {

std::vector<uint8_t> fill(uint64_t seed, std::size_t n) {
  std::vector<std::byte> b(n);
  random_fill(b, seed);
  std::vector<uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(b[i]);
  return out;
}

} // namespace

TEST_CASE("random fill vectors (B§8.5)", "[random]") {
  CHECK(fill(42, 23) == std::vector<uint8_t>{0x98, 0x5f, 0x52, 0xe2, 0x7a, 0xfb, 0x0c, 0x3d,
                                             0xf8, 0x8c, 0x82, 0x2b, 0x40, 0x22, 0x49, 0xe5,
                                             0xd5, 0x78, 0x1c, 0xc4, 0xcc, 0xe1, 0xaa});
  CHECK(fill(1, 16) == std::vector<uint8_t>{0x28, 0x49, 0x91, 0xee, 0x66, 0xb6, 0xfb, 0x34,
                                            0x3a, 0x87, 0xca, 0x18, 0xde, 0x44, 0x17, 0x78});
  CHECK(fill(0x12345678, 16) == std::vector<uint8_t>{0x86, 0x00, 0x6e, 0x08, 0x0b, 0xb8, 0x97,
                                                     0xf5, 0xf7, 0x54, 0xe4, 0xf0, 0x60, 0x62,
                                                     0x3a, 0xf5});
  // The seed is truncated to 32 bits, as upstream.
  CHECK(fill(0x100000000ull + 42, 23) == fill(42, 23));
  // Every length is a prefix of a longer fill (partial words take the low bytes).
  const auto longer = fill(42, 64);
  for (std::size_t n = 0; n <= 64; ++n)
    CHECK(fill(42, n) == std::vector<uint8_t>(longer.begin(), longer.begin() + n));
}

TEST_CASE("RandomStream words are the low halves of the outputs", "[random]") {
  RandomStream rs(42);
  const uint32_t w0 = static_cast<uint32_t>(rs.next());
  CHECK(w0 == 0xe2525f98u);
}

TEST_CASE("random_verify finds the first mismatch at its word offset", "[random]") {
  for (std::size_t n : {0u, 1u, 3u, 4u, 7u, 8u, 23u, 4096u, 4099u}) {
    std::vector<std::byte> b(n);
    random_fill(b, 7);
    CHECK_FALSE(random_verify(b, 7));
    if (n) CHECK(random_verify(b, 8).value() == 0);
    for (std::size_t i = 0; i < n; i += (n > 64 ? 333 : 1)) {
      std::vector<std::byte> c = b;
      c[i] ^= std::byte{0x10};
      INFO("n " << n << " flipped byte " << i);
      REQUIRE(random_verify(c, 7).has_value());
      CHECK(*random_verify(c, 7) == i / 4 * 4);
      c[n - 1] ^= std::byte{1}; // a later mismatch does not change the answer
      if (n - 1 >= i / 4 * 4 + 4) CHECK(*random_verify(c, 7) == i / 4 * 4);
    }
  }
}

namespace {

// The stream the slow, obvious way: one output per 4-byte word.
std::vector<std::byte> reference(uint64_t seed, std::size_t n) {
  RandomStream rs(seed);
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; i += 4) {
    const uint32_t w = static_cast<uint32_t>(rs.next());
    for (std::size_t k = 0; k < 4 && i + k < n; ++k)
      out[i + k] = static_cast<std::byte>((w >> (8 * k)) & 0xff);
  }
  return out;
}

} // namespace

TEST_CASE("large fills (the multi-lane path) equal the sequential stream", "[random]") {
  // Around and across the 64 KiB blocks the fast path works in, with odd tails.
  for (std::size_t n : {65535u, 65536u, 65541u, 131072u, 3u * 65536u + 7u, 300001u}) {
    INFO("n " << n);
    std::vector<std::byte> b(n, std::byte{0x77});
    random_fill(b, 0xdeadbeef);
    CHECK(b == reference(0xdeadbeef, n));
    CHECK_FALSE(random_verify(b, 0xdeadbeef));
  }
}

TEST_CASE("verify finds the first mismatch in the multi-lane path", "[random]") {
  const std::size_t n = 5 * 65536 + 13;
  std::vector<std::byte> good(n);
  random_fill(good, 5);
  // Every lane of several blocks, segment edges, and the tail.
  for (std::size_t pos : {0u, 7u, 16383u, 16384u, 40000u, 65535u, 65536u, 2u * 65536u + 49155u,
                          4u * 65536u + 65535u, 5u * 65536u, 5u * 65536u + 12u}) {
    INFO("pos " << pos);
    std::vector<std::byte> c = good;
    c[pos] ^= std::byte{0x80};
    REQUIRE(random_verify(c, 5).has_value());
    CHECK(*random_verify(c, 5) == pos / 4 * 4);
  }
  // Two mismatches in one block: the later lane's is met first in the loop, but the earlier
  // lane's is first in the file.
  std::vector<std::byte> c = good;
  c[65536 + 3 * 16384 + 8] ^= std::byte{1};  // lane 3, early
  c[65536 + 0 * 16384 + 16000] ^= std::byte{1}; // lane 0, late
  CHECK(random_verify(c, 5) == std::optional<uint64_t>(65536 + 16000));
  // A mismatch in block 3 and a later one in block 4 lane 0.
  c = good;
  c[4 * 65536 + 1] ^= std::byte{1};
  c[3 * 65536 + 3 * 16384 + 100] ^= std::byte{1};
  CHECK(random_verify(c, 5) == std::optional<uint64_t>(3 * 65536 + 3 * 16384 + 100));
}

TEST_CASE("random fill runs near memory speed", "[random][speed]") {
  std::vector<std::byte> b(64u << 20);
  const auto t0 = std::chrono::steady_clock::now();
  random_fill(b, 3);
  const auto t1 = std::chrono::steady_clock::now();
  CHECK_FALSE(random_verify(b, 3));
  const auto t2 = std::chrono::steady_clock::now();
  const double fill_s = std::chrono::duration<double>(t1 - t0).count();
  const double verify_s = std::chrono::duration<double>(t2 - t1).count();
  // Generous bound for a shared 2-core machine: 64 MiB in under 1 s each (>= 64 MB/s);
  // a per-byte implementation in a debug build is far slower.
  CHECK(fill_s < 1.0);
  CHECK(verify_s < 1.0);
}

TEST_CASE("RandomStream::discard jumps exactly n outputs", "[random]") {
  for (uint64_t n : {0ull, 1ull, 255ull, 256ull, 257ull, 4096ull, 123457ull, 1000000ull}) {
    INFO("n " << n);
    RandomStream a(99), b(99);
    for (uint64_t i = 0; i < n; ++i) a.next();
    b.discard(n);
    CHECK(a.next() == b.next());
    CHECK(a.next() == b.next());
  }
  // Huge jumps compose: 2^40 + 12345 in one go equals three smaller jumps.
  RandomStream a(7), b(7);
  a.discard((1ull << 40) + 12345);
  b.discard(1ull << 39);
  b.discard(12345);
  b.discard(1ull << 39);
  CHECK(a.next() == b.next());
  RandomStream c(7);
  CHECK(c.next() != RandomStream(7).next() + 1); // sanity: values are real
}

TEST_CASE("streaming fill and verify in pieces equal the one-shot stream", "[random]") {
  const std::size_t n = 3 * 65536 + 1000 + 3;
  std::vector<std::byte> whole(n);
  random_fill(whole, 11);
  // Pieces of word-multiple sizes (only the last may be partial), some crossing blocks.
  const std::size_t pieces[] = {4, 65536, 12, 70000, 4096, 40000}; // sum < n
  std::vector<std::byte> parts(n);
  RandomStream rs(11);
  std::size_t off = 0;
  for (std::size_t k : pieces) {
    rs.fill(std::span(parts).subspan(off, k));
    off += k;
  }
  rs.fill(std::span(parts).subspan(off));
  CHECK(parts == whole);

  RandomStream v(11);
  off = 0;
  for (std::size_t k : pieces) {
    CHECK_FALSE(v.verify(std::span<const std::byte>(whole).subspan(off, k)));
    off += k;
  }
  std::vector<std::byte> bad = whole;
  bad[n - 2] ^= std::byte{4};
  const auto at = v.verify(std::span<const std::byte>(bad).subspan(off));
  REQUIRE(at);
  CHECK(off + *at == (n - 2) / 4 * 4);

  // A thread starting mid-file: discard, then fill, gives the file's suffix.
  RandomStream mid(11);
  mid.discard(100000 / 4);
  std::vector<std::byte> suffix(n - 100000);
  mid.fill(suffix);
  CHECK(std::equal(suffix.begin(), suffix.end(), whole.begin() + 100000));
}
