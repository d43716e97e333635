#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace famfs {

// zlib crc32 (CRC-32/ISO-HDLC) of the bytes, seeded with crc32(0, NULL, 0) as upstream.
uint32_t crc32_of(std::span<const std::byte> bytes);
uint32_t crc32_of(const void* p, std::size_t n);

} // namespace famfs
