#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace famfs {

// CRC-32/ISO-HDLC of the bytes, seeded as upstream's zlib crc32(0, NULL, 0): the same values as
// zlib's crc32, computed by libdeflate (crc.cpp says why).
uint32_t crc32_of(std::span<const std::byte> bytes);
uint32_t crc32_of(const void* p, std::size_t n);

} // namespace famfs
