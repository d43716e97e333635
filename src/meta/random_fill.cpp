// Randomised file contents (spec B§8.5, Part A §8): must match upstream bit for bit so a file
// written by either implementation verifies in the other.
//
// Speed matters (multi-GiB files): the inner loops pack two outputs into one 8-byte store or
// compare, and do no per-byte work.
#include "meta/random_fill.hpp"

#include <bit>
#include <cstring>

namespace famfs {

static_assert(std::endian::native == std::endian::little,
              "random_fill stores little-endian words with plain 8-byte stores");

namespace {

uint64_t splitmix64(uint64_t& x) {
  x += 0x9E3779B97F4A7C15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Two consecutive 32-bit words as one little-endian 8-byte value.
inline uint64_t next_pair(RandomStream& rs) {
  const uint64_t lo = rs.next() & 0xffffffffULL;
  const uint64_t hi = rs.next() & 0xffffffffULL;
  return lo | (hi << 32);
}

} // namespace

RandomStream::RandomStream(uint64_t seed) {
  uint64_t x = seed & 0xffffffffULL; // upstream passes the seed as unsigned int
  s0_ = splitmix64(x);
  s1_ = splitmix64(x);
}

uint64_t RandomStream::next() {
  const uint64_t s0 = s0_;
  uint64_t s1 = s1_;
  const uint64_t r = s0 + s1;
  s1 ^= s0;
  s0_ = std::rotl(s0, 55) ^ s1 ^ (s1 << 14);
  s1_ = std::rotl(s1, 36);
  return r;
}

void random_fill(std::span<std::byte> out, uint64_t seed) {
  RandomStream rs(seed);
  std::byte* p = out.data();
  std::size_t n = out.size();
  while (n >= 8) {
    const uint64_t v = next_pair(rs);
    std::memcpy(p, &v, 8);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    const uint32_t w = static_cast<uint32_t>(rs.next());
    std::memcpy(p, &w, 4);
    p += 4;
    n -= 4;
  }
  if (n > 0) {
    const uint32_t w = static_cast<uint32_t>(rs.next());
    std::memcpy(p, &w, n); // the low bytes of one more output
  }
}

std::optional<uint64_t> random_verify(std::span<const std::byte> in, uint64_t seed) {
  RandomStream rs(seed);
  const std::byte* const base = in.data();
  const std::byte* p = base;
  std::size_t n = in.size();
  while (n >= 8) {
    const uint64_t want = next_pair(rs);
    uint64_t got;
    std::memcpy(&got, p, 8);
    if (got != want) {
      const uint64_t off = static_cast<uint64_t>(p - base);
      // The low word is the earlier one in the file.
      return (got & 0xffffffffULL) != (want & 0xffffffffULL) ? off : off + 4;
    }
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    const std::size_t k = n >= 4 ? 4 : n;
    const uint32_t want = static_cast<uint32_t>(rs.next());
    uint32_t got = 0;
    std::memcpy(&got, p, k);
    const uint32_t mask = k == 4 ? 0xffffffffU : ((1U << (8 * k)) - 1);
    if ((got & mask) != (want & mask)) return static_cast<uint64_t>(p - base);
    p += k;
    n -= k;
  }
  return std::nullopt;
}

} // namespace famfs
