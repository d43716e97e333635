// A MAP_SHARED mapping of (part of) a device, 2 MiB aligned in virtual memory so device-dax
// can use PMD mappings. Move-only; unmaps itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dax/device.hpp"

namespace famfs::dax {

class Mapping {
 public:
  // Map [offset, offset+len) of the device (offset and len multiples of the device alignment;
  // len 0 = the whole device). Throws famfs::Error on failure.
  static Mapping map(const Device& dev, bool writable, uint64_t offset = 0, uint64_t len = 0);
  Mapping() = default;
  Mapping(Mapping&&) noexcept;
  Mapping& operator=(Mapping&&) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  std::span<std::byte> bytes() const { return {base_, len_}; }
  std::span<const std::byte> cbytes() const { return {base_, len_}; }
  std::byte* data() const { return base_; }
  std::size_t size() const { return len_; }

 private:
  std::byte* base_ = nullptr;
  std::size_t len_ = 0;
};

} // namespace famfs::dax
