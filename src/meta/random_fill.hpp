// Randomised file contents of creat -r / verify (spec B§8.5): xoroshiro128+ seeded by two
// SplitMix64 steps from the low 32 bits of the seed; little-endian 32-bit words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace famfs {

class RandomStream {
 public:
  explicit RandomStream(uint64_t seed); // seed is truncated to 32 bits as upstream
  uint64_t next();

 private:
  uint64_t s0_, s1_;
};

// Fill `out` with the stream for `seed` starting at file offset 0.
void random_fill(std::span<std::byte> out, uint64_t seed);
// Compare `in` against the stream; returns the word-aligned offset of the first mismatch.
std::optional<uint64_t> random_verify(std::span<const std::byte> in, uint64_t seed);

} // namespace famfs
