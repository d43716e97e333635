// Randomised file contents (spec B§8.5, Part A §8): must match upstream bit for bit so a file
// written by either implementation verifies in the other.
//
// Speed matters (multi-GiB files), and one xoroshiro128+ stream is latency-bound: each output
// depends on the previous state through a chain of shifts and xors. The state transition is
// linear over GF(2), so a 128x128 bit matrix can jump a state ahead by any fixed number of
// steps. We split the output into blocks of kLanes segments, run kLanes independent copies of
// the generator (each jumped to the start of its segment) in one loop so the CPU overlaps
// their chains, and jump every lane past the other lanes' segments after each block. The bytes
// produced are exactly those of the single sequential stream.
#include "master/random_fill.hpp"

#include <array>
#include <bit>
#include <cstring>

namespace famfs {

static_assert(std::endian::native == std::endian::little,
              "random_fill stores little-endian words with plain 8-byte stores");

namespace {

struct State {
  uint64_t s0, s1;
};

inline uint64_t step(State& s) {
  const uint64_t s0 = s.s0;
  uint64_t s1 = s.s1;
  const uint64_t r = s0 + s1;
  s1 ^= s0;
  s.s0 = std::rotl(s0, 55) ^ s1 ^ (s1 << 14);
  s.s1 = std::rotl(s1, 36);
  return r;
}

uint64_t splitmix64(uint64_t& x) {
  x += 0x9E3779B97F4A7C15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

State seed_state(uint64_t seed) {
  uint64_t x = seed & 0xffffffffULL; // upstream passes the seed as unsigned int
  State s;
  s.s0 = splitmix64(x);
  s.s1 = splitmix64(x);
  return s;
}

// Two consecutive 32-bit words (the low halves of two outputs) as one LE 8-byte value.
inline uint64_t next_pair(State& s) {
  const uint64_t lo = step(s) & 0xffffffffULL;
  const uint64_t hi = step(s) & 0xffffffffULL;
  return lo | (hi << 32);
}

// A linear map on the 128-bit state: column j is the image of state bit j (s0 bits 0..63,
// then s1 bits 0..63).
using Matrix = std::array<State, 128>;

State apply(const Matrix& m, State v) {
  State r{0, 0};
  for (int j = 0; j < 64; ++j) {
    const uint64_t mask0 = 0 - ((v.s0 >> j) & 1); // branch-free select
    const uint64_t mask1 = 0 - ((v.s1 >> j) & 1);
    r.s0 ^= (m[j].s0 & mask0) ^ (m[64 + j].s0 & mask1);
    r.s1 ^= (m[j].s1 & mask0) ^ (m[64 + j].s1 & mask1);
  }
  return r;
}

Matrix compose(const Matrix& a, const Matrix& b) { // a after b
  Matrix c;
  for (int j = 0; j < 128; ++j) c[j] = apply(a, b[j]);
  return c;
}

Matrix step_power(uint64_t k) {
  Matrix base, result;
  for (int j = 0; j < 128; ++j) {
    State e{j < 64 ? 1ULL << j : 0, j >= 64 ? 1ULL << (j - 64) : 0};
    result[j] = e; // identity
    step(e);
    base[j] = e;
  }
  for (; k; k >>= 1) {
    if (k & 1) result = compose(base, result);
    base = compose(base, base);
  }
  return result;
}

constexpr std::size_t kLanes = 4; // the loops below are written out for 4
constexpr std::size_t kSegBytes = 16 * 1024;           // per lane per block
constexpr std::size_t kBlockBytes = kLanes * kSegBytes; // 64 KiB
constexpr uint64_t kSegSteps = kSegBytes / 4;          // one output per 4-byte word
static_assert(kSegBytes % 8 == 0);

struct Jumps {
  Matrix one_segment = step_power(kSegSteps);
  Matrix other_lanes = step_power((kLanes - 1) * kSegSteps);
};
const Jumps& jumps() {
  static const Jumps j; // built once, thread-safe
  return j;
}

// Lane i starts i segments after `s`.
std::array<State, kLanes> lane_states(State s) {
  std::array<State, kLanes> lanes;
  lanes[0] = s;
  for (std::size_t i = 1; i < kLanes; ++i) lanes[i] = apply(jumps().one_segment, lanes[i - 1]);
  return lanes;
}

// Sequential fill of any length (the tail, and short buffers).
void fill_seq(std::byte* p, std::size_t n, State& s) {
  for (; n >= 8; p += 8, n -= 8) {
    const uint64_t v = next_pair(s);
    std::memcpy(p, &v, 8);
  }
  if (n >= 4) {
    const uint32_t w = static_cast<uint32_t>(step(s));
    std::memcpy(p, &w, 4);
    p += 4;
    n -= 4;
  }
  if (n > 0) {
    const uint32_t w = static_cast<uint32_t>(step(s));
    std::memcpy(p, &w, n); // the low bytes of one more output
  }
}

// Sequential verify; offsets returned relative to p.
std::optional<uint64_t> verify_seq(const std::byte* p, std::size_t n, State& s) {
  const std::byte* const base = p;
  for (; n >= 8; p += 8, n -= 8) {
    const uint64_t want = next_pair(s);
    uint64_t got;
    std::memcpy(&got, p, 8);
    if (got != want) {
      const uint64_t off = static_cast<uint64_t>(p - base);
      // The low half is the earlier word in the file.
      return (got & 0xffffffffULL) != (want & 0xffffffffULL) ? off : off + 4;
    }
  }
  while (n > 0) {
    const std::size_t k = n >= 4 ? 4 : n;
    const uint32_t want = static_cast<uint32_t>(step(s));
    uint32_t got = 0;
    std::memcpy(&got, p, k);
    const uint32_t mask = k == 4 ? 0xffffffffU : ((1U << (8 * k)) - 1);
    if ((got & mask) != (want & mask)) return static_cast<uint64_t>(p - base);
    p += k;
    n -= k;
  }
  return std::nullopt;
}

// The fast paths: whole 64 KiB blocks with four lanes, then the rest sequentially. `s` is
// the stream position at out[0] and is left at the position after the last word.
void fill_from(std::byte* p, std::size_t n, State& s) {
  const std::size_t nblocks = n / kBlockBytes;
  if (nblocks > 0) {
    std::array<State, kLanes> lanes = lane_states(s);
    for (std::size_t b = 0; b < nblocks; ++b, p += kBlockBytes) {
      // Locals, not the array: stores through std::byte* may alias anything, which would
      // force the states through memory on every step.
      State l0 = lanes[0], l1 = lanes[1], l2 = lanes[2], l3 = lanes[3];
      for (std::size_t off = 0; off < kSegBytes; off += 8) {
        const uint64_t v0 = next_pair(l0), v1 = next_pair(l1), v2 = next_pair(l2),
                       v3 = next_pair(l3);
        std::memcpy(p + off, &v0, 8);
        std::memcpy(p + kSegBytes + off, &v1, 8);
        std::memcpy(p + 2 * kSegBytes + off, &v2, 8);
        std::memcpy(p + 3 * kSegBytes + off, &v3, 8);
      }
      lanes = {l0, l1, l2, l3};
      if (b + 1 < nblocks)
        for (State& l : lanes) l = apply(jumps().other_lanes, l);
    }
    s = lanes[kLanes - 1]; // the last lane ended where the stream continues
  }
  fill_seq(p, n - nblocks * kBlockBytes, s);
}

std::optional<uint64_t> verify_from(const std::byte* const in, std::size_t n, State& s) {
  const std::byte* p = in;
  const std::size_t nblocks = n / kBlockBytes;
  if (nblocks > 0) {
    std::array<State, kLanes> lanes = lane_states(s);
    for (std::size_t b = 0; b < nblocks; ++b, p += kBlockBytes) {
      const State block_start = lanes[0];
      uint64_t diff = 0;
      State l0 = lanes[0], l1 = lanes[1], l2 = lanes[2], l3 = lanes[3];
      for (std::size_t off = 0; off < kSegBytes; off += 8) {
        uint64_t g0, g1, g2, g3;
        std::memcpy(&g0, p + off, 8);
        std::memcpy(&g1, p + kSegBytes + off, 8);
        std::memcpy(&g2, p + 2 * kSegBytes + off, 8);
        std::memcpy(&g3, p + 3 * kSegBytes + off, 8);
        diff |= (g0 ^ next_pair(l0)) | (g1 ^ next_pair(l1)) | (g2 ^ next_pair(l2)) |
                (g3 ^ next_pair(l3));
      }
      lanes = {l0, l1, l2, l3};
      if (diff != 0) {
        // Somewhere in this block; blocks go in file order, so a sequential rescan of just
        // this block finds the first mismatch of the whole buffer.
        State r = block_start;
        const auto at = verify_seq(p, kBlockBytes, r);
        return static_cast<uint64_t>(p - in) + at.value_or(0);
      }
      if (b + 1 < nblocks)
        for (State& l : lanes) l = apply(jumps().other_lanes, l);
    }
    s = lanes[kLanes - 1];
  }
  const auto at = verify_seq(p, n - nblocks * kBlockBytes, s);
  if (!at) return std::nullopt;
  return static_cast<uint64_t>(p - in) + *at;
}

// step^(2^j) for j = 0..63, built on first use of discard().
const std::array<Matrix, 64>& power_of_two_jumps() {
  static const std::array<Matrix, 64> table = [] {
    std::array<Matrix, 64> t;
    t[0] = step_power(1);
    for (std::size_t j = 1; j < 64; ++j) t[j] = compose(t[j - 1], t[j - 1]);
    return t;
  }();
  return table;
}

} // namespace

RandomStream::RandomStream(uint64_t seed) {
  const State s = seed_state(seed);
  s0_ = s.s0;
  s1_ = s.s1;
}

uint64_t RandomStream::next() {
  State s{s0_, s1_};
  const uint64_t r = step(s);
  s0_ = s.s0;
  s1_ = s.s1;
  return r;
}

void RandomStream::discard(uint64_t n) {
  State s{s0_, s1_};
  if (n < 256) {
    while (n--) step(s); // cheaper than a matrix product
  } else {
    for (std::size_t j = 0; j < 64; ++j)
      if ((n >> j) & 1) s = apply(power_of_two_jumps()[j], s);
  }
  s0_ = s.s0;
  s1_ = s.s1;
}

void RandomStream::fill(std::span<std::byte> out) {
  State s{s0_, s1_};
  fill_from(out.data(), out.size(), s);
  s0_ = s.s0;
  s1_ = s.s1;
}

std::optional<uint64_t> RandomStream::verify(std::span<const std::byte> in) {
  State s{s0_, s1_};
  const auto r = verify_from(in.data(), in.size(), s);
  s0_ = s.s0;
  s1_ = s.s1;
  return r;
}

void random_fill(std::span<std::byte> out, uint64_t seed) { RandomStream(seed).fill(out); }

std::optional<uint64_t> random_verify(std::span<const std::byte> in, uint64_t seed) {
  return RandomStream(seed).verify(in);
}

} // namespace famfs
