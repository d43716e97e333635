// zlib crc32 wrappers (spec B§0): CRC-32/ISO-HDLC seeded with crc32(0, NULL, 0), as upstream.
#include "meta/crc.hpp"

#include <zlib.h>

#include <limits>

namespace famfs {

uint32_t crc32_of(const void* p, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(p);
  // zlib takes a uInt length; feed huge inputs in pieces so nothing is silently truncated.
  while (n > 0) {
    const std::size_t chunk = n > std::numeric_limits<uInt>::max()
                                  ? std::numeric_limits<uInt>::max()
                                  : n;
    crc = crc32(crc, bytes, static_cast<uInt>(chunk));
    bytes += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

uint32_t crc32_of(std::span<const std::byte> bytes) {
  return crc32_of(bytes.data(), bytes.size());
}

} // namespace famfs
