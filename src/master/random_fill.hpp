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

  // Skip n outputs (n 4-byte words of the file) in O(log n) time, e.g. to start a thread at
  // file offset 4*n.
  void discard(uint64_t n);
  // Continue the stream into `out` at full speed: one output per 4-byte word; a final partial
  // word takes the low bytes of one more output (so only the end of a file may be partial).
  // Equivalent to calling next() per word, but several times faster.
  void fill(std::span<std::byte> out);
  // Compare `in` against the continuation of the stream. Returns the word-aligned offset
  // within `in` of the first mismatch (the stream's position is then unspecified), or nullopt
  // with the stream advanced past `in`.
  std::optional<uint64_t> verify(std::span<const std::byte> in);

 private:
  uint64_t s0_, s1_;
};

// Fill `out` with the stream for `seed` starting at file offset 0.
void random_fill(std::span<std::byte> out, uint64_t seed);
// Compare `in` against the stream; returns the word-aligned offset of the first mismatch.
std::optional<uint64_t> random_verify(std::span<const std::byte> in, uint64_t seed);

} // namespace famfs
