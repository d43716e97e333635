// Small helpers shared by the meta_format tests.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace famfs::test {

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

inline uint64_t le64(const void* base, std::size_t off) {
  uint64_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(base) + off, 8);
  return v;
}
inline uint32_t le32(const void* base, std::size_t off) {
  uint32_t v;
  std::memcpy(&v, static_cast<const uint8_t*>(base) + off, 4);
  return v;
}

// An anonymous private mapping: untouched pages cost nothing, so a "device" of several GiB is
// cheap as long as the test touches only a little of it.
class AnonMap {
 public:
  explicit AnonMap(std::size_t size) : size_(size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    p_ = static_cast<std::byte*>(p);
  }
  ~AnonMap() { munmap(p_, size_); }
  AnonMap(const AnonMap&) = delete;
  AnonMap& operator=(const AnonMap&) = delete;
  std::span<std::byte> span() { return {p_, size_}; }
  std::span<const std::byte> cspan() const { return {p_, size_}; }
  std::byte* data() { return p_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t size_;
};

// A zeroed buffer whose last byte is followed by an inaccessible page, so any read past the
// end faults at once, in every build (not only under AddressSanitizer).
class GuardedBuffer {
 public:
  explicit GuardedBuffer(std::size_t size) : size_(size) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    data_pages_ = (size + page - 1) / page * page;
    total_ = data_pages_ + page;
    void* p = mmap(nullptr, total_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<std::byte*>(p);
    if (mprotect(base_ + data_pages_, page, PROT_NONE) != 0) throw std::runtime_error("mprotect");
  }
  ~GuardedBuffer() { munmap(base_, total_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  std::byte* data() { return base_ + data_pages_ - size_; }
  std::span<std::byte> span() { return {data(), size_}; }

 private:
  std::byte* base_ = nullptr;
  std::size_t size_, data_pages_ = 0, total_ = 0;
};

} // namespace famfs::test
