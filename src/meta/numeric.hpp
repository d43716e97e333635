// Overflow-safe arithmetic and number formatting shared by the core. Values on the medium are
// hostile until validated, so sums and products of them saturate instead of wrapping.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace famfs {

inline constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

inline uint64_t sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? kU64Max : r;
}

inline uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kU64Max : r;
}

inline constexpr uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

inline constexpr bool is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// "0x1a2b", as the messages and upstream's tools print offsets.
inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

} // namespace famfs
