// Helpers for the replay/allocator/append/fsck tests: an in-memory famfs device (anonymous
// MAP_NORESERVE mapping: untouched pages cost nothing), formatted with format_device, plus
// ways to write entries through the real writer or to forge them at any slot.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "meta/append.hpp"
#include "meta/format.hpp"
#include "meta/geometry.hpp"
#include "meta/log.hpp"
#include "meta/superblock.hpp"

namespace famfs::rtest {

inline constexpr uint64_t kMiB = 1ull << 20;
inline constexpr uint64_t kGiB = 1ull << 30;
inline constexpr uint64_t kAU = 2 * kMiB;

class AnonDevice {
 public:
  explicit AnonDevice(std::size_t size) : size_(size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of the test device failed");
    p_ = static_cast<std::byte*>(p);
  }
  ~AnonDevice() { munmap(p_, size_); }
  AnonDevice(const AnonDevice&) = delete;
  AnonDevice& operator=(const AnonDevice&) = delete;
  std::span<std::byte> span() { return {p_, size_}; }
  std::span<const std::byte> cspan() const { return {p_, size_}; }
  std::byte* data() { return p_; }
  std::size_t size() const { return size_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t size_;
};

// A freshly formatted file system in memory.
struct TestFs {
  AnonDevice dev;
  Uuid master{};
  Geometry geo{};

  explicit TestFs(uint64_t size = 8 * kGiB, uint64_t log_len = 8 * kMiB) : dev(size) {
    SuperblockParams p;
    p.log_len = log_len;
    p.device_size = size;
    p.fs_uuid = uuid_random();
    p.dev_uuid = uuid_random();
    p.system_uuid = master = uuid_random();
    p.device_path = "/dev/test0.0";
    format_device(dev.span(), p, CacheOps{});
    geo = geometry_of(read_superblock(dev.cspan()), dev.cspan());
  }

  std::span<std::byte> span() { return dev.span(); }
  std::span<const std::byte> cspan() const { return dev.cspan(); }
  std::byte* log() { return dev.data() + omf::kLogOffset; }

  // Through the real writer.
  uint64_t mkdir(const std::string& rel, uint32_t mode = 0755) {
    LogWriter w(span(), geo, CacheOps{});
    return w.append(make_mkdir_entry(rel, mode, 0, 0));
  }
  uint64_t file(const std::string& rel, uint64_t size, std::vector<Extent> ext,
                uint32_t mode = 0644) {
    FileEntryParams fp;
    fp.relpath = rel;
    fp.size = size;
    fp.mode = mode;
    fp.fmap.kind = Fmap::Kind::Simple;
    fp.fmap.extents = std::move(ext);
    LogWriter w(span(), geo, CacheOps{});
    return w.append(make_file_entry(fp));
  }

  // Forging: put a sealed entry in any slot and set the header counters by hand.
  void put(uint64_t slot, omf::LogEntry e, bool seal = true) {
    if (seal) seal_log_entry(e, slot);
    std::memcpy(dev.data() + omf::log_slot_offset(slot), &e, sizeof(e));
  }
  void set_next(uint64_t n) {
    omf::LogHeader h = read_log_header(cspan());
    h.famfs_log_next_index = n;
    h.famfs_log_next_seqnum = n;
    std::memcpy(log(), &h, sizeof(h));
  }
  // Append at next_index without the writer (for entries the writer would refuse).
  void forge_append(const omf::LogEntry& e) {
    const uint64_t n = read_log_header(cspan()).famfs_log_next_index;
    put(n, e);
    set_next(n + 1);
  }

  omf::Superblock sb() const { return read_superblock(cspan()); }
  void write_sb(const omf::Superblock& s, bool fix_crc = true) {
    omf::Superblock c = s;
    if (fix_crc) c.ts_crc = superblock_crc(c);
    std::memcpy(dev.data(), &c, sizeof(c));
  }
};

inline omf::LogEntry file_entry(const std::string& rel, uint64_t size, std::vector<Extent> ext,
                                uint32_t mode = 0644) {
  FileEntryParams fp;
  fp.relpath = rel;
  fp.size = size;
  fp.mode = mode;
  fp.fmap.extents = std::move(ext);
  return make_file_entry(fp);
}

// A file entry whose relpath field is written raw (paths the writer would refuse).
inline omf::LogEntry raw_path_file(std::string_view raw, uint64_t size, std::vector<Extent> ext) {
  omf::LogEntry e = file_entry("x", size, std::move(ext));
  std::memset(e.famfs_fm.fm_relpath, 0, sizeof(e.famfs_fm.fm_relpath));
  std::memcpy(e.famfs_fm.fm_relpath, raw.data(), std::min(raw.size(), std::size_t{80}));
  return e;
}
inline omf::LogEntry raw_path_mkdir(std::string_view raw) {
  omf::LogEntry e = make_mkdir_entry("x", 0755, 0, 0);
  std::memset(e.famfs_md.md_relpath, 0, sizeof(e.famfs_md.md_relpath));
  std::memcpy(e.famfs_md.md_relpath, raw.data(), std::min(raw.size(), std::size_t{80}));
  return e;
}

} // namespace famfs::rtest
