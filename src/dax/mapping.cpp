// Whole-device MAP_SHARED mappings placed at a 2 MiB (or device-alignment) boundary.
//
// mmap() only promises page alignment. Device-dax refuses (or falls back to 4 KiB pages for)
// a mapping whose virtual address is not aligned like the device, so we first reserve the
// length plus one alignment unit of inaccessible address space, then map the device with
// MAP_FIXED at the first aligned address inside it, and give the slack back.
#include "dax/mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "meta/error.hpp"

namespace famfs::dax {

namespace {

constexpr uint64_t kMinVirtAlign = 2ull << 20;

uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t page_size() {
  static const uint64_t p = uint64_t(::sysconf(_SC_PAGESIZE));
  return p;
}

// The bytes actually given to mmap/munmap for a mapping of `len` bytes.
uint64_t mapped_length(uint64_t len) { return round_up(len, page_size()); }

} // namespace

Mapping Mapping::map(const Device& dev, bool writable, uint64_t offset, uint64_t len) {
  const DeviceInfo& info = dev.info();
  const uint64_t align = std::max<uint64_t>(info.align, kMinVirtAlign);
  if (writable && !dev.writable())
    throw Error(EBADF, info.path + ": opened read-only, cannot map it read-write (internal "
                                   "error: open the device writable first)");
  if (offset > info.size)
    throw Error(EINVAL, info.path + ": mapping offset " + std::to_string(offset) +
                            " is beyond the device size " + std::to_string(info.size));
  if (len == 0) len = info.size - offset;
  if (len == 0) throw Error(EINVAL, info.path + ": is empty; there is nothing to map");
  if (offset % (info.align ? info.align : page_size()) != 0 || len > info.size - offset)
    throw Error(EINVAL, info.path + ": cannot map [" + std::to_string(offset) + ", +" +
                            std::to_string(len) + "): not aligned to the device or past its end");

  const uint64_t maplen = mapped_length(len);
  // Step 1: reserve address space (no memory, no access) with room to slide to alignment.
  void* res = ::mmap(nullptr, maplen + align, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (res == MAP_FAILED)
    throw Error(errno, info.path + ": cannot reserve " + std::to_string(maplen + align) +
                           " bytes of address space to map it: " + std::strerror(errno));
  auto base = reinterpret_cast<uintptr_t>(res);
  uintptr_t aligned = round_up(base, align);

  // Step 2: put the device over the aligned part of the reservation.
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* p = ::mmap(reinterpret_cast<void*>(aligned), maplen, prot, MAP_SHARED | MAP_FIXED,
                   dev.fd(), off_t(offset));
  if (p == MAP_FAILED) {
    int err = errno;
    ::munmap(res, maplen + align);
    throw Error(err, info.path + ": cannot map " + std::to_string(len) + " bytes " +
                         (writable ? "read-write" : "read-only") + ": " + std::strerror(err) +
                         (err == ENODEV || err == EINVAL
                              ? " (is the device in devdax mode and its align a divisor of "
                                "the mapping?)"
                              : ""));
  }

  // Step 3: release the slack before and after the mapping.
  if (aligned > base) ::munmap(res, aligned - base);
  uintptr_t tail = aligned + maplen;
  uintptr_t res_end = base + maplen + align;
  if (res_end > tail) ::munmap(reinterpret_cast<void*>(tail), res_end - tail);

  Mapping m;
  m.base_ = static_cast<std::byte*>(p);
  m.len_ = len;
  return m;
}

Mapping::Mapping(Mapping&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), len_(std::exchange(o.len_, 0)) {}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, mapped_length(len_));
    base_ = std::exchange(o.base_, nullptr);
    len_ = std::exchange(o.len_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (base_) ::munmap(base_, mapped_length(len_));
}

} // namespace famfs::dax
