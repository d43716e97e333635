// On-media format of famfs OMF 2.2 (superblock version 48), byte for byte.
//
// These structs reproduce upstream's C structs on x86_64 so that a device written by either
// implementation is readable by the other (docs/format.md; the project's format contract, Part B §1-§4).
// They are never accessed in place: shared memory may change under us (another host), so code
// copies a struct out of the device span (snapshot), validates the copy, and only then uses it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace famfs::omf {

inline constexpr uint64_t kSuperblockMagic = 0x87B282FF;
inline constexpr uint64_t kVersion = 48;        // written
inline constexpr uint64_t kVersionPrevious = 47; // accepted when reading, with a warning
inline constexpr uint32_t kOmfMajor = 2;
inline constexpr uint32_t kOmfMinor = 2;
inline constexpr uint32_t kSbFlagPrimary = 1;

inline constexpr uint64_t kSuperblockRegion = 0x200000; // [0, 2 MiB)
inline constexpr uint64_t kLogOffset = 0x200000;
inline constexpr uint64_t kAllocUnit = 0x200000;        // what mkfs writes
inline constexpr uint64_t kSmallAllocUnit = 4096;       // also accepted by readers
inline constexpr uint64_t kMinLogLen = 0x800000;        // 8 MiB
inline constexpr uint64_t kMinDeviceSize = 4ull << 30;  // 4 GiB, as upstream mkfs

inline constexpr uint64_t kLogMagic = 0x00000BADCAFEF00DULL;

inline constexpr std::size_t kRelpathField = 80; // NUL-terminated, so 79 meaningful bytes
inline constexpr std::size_t kRelpathMax = kRelpathField - 1;
inline constexpr std::size_t kMaxExtents = 16;
inline constexpr std::size_t kMaxStrips = 16;

enum EntryType : uint32_t {
  kLogFile = 0,
  kLogMkdir = 1,
  kLogDelete = 2,    // reserved, never written, ignored
  kLogAddDaxdev = 3, // parsed and ignored
  kLogInvalid = 4,
};

enum ExtentType : uint32_t {
  kSimpleExtent = 0,
  kInterleavedExtent = 1,
};

inline constexpr uint32_t kFileFlagAllHostsRO = 1;
inline constexpr uint32_t kFileFlagAllHostsRW = 2; // what the CLI always writes

struct DaxDev {
  uint64_t dd_size;       // device size in bytes (size_t upstream)
  uint8_t dd_uuid[16];    // upstream never writes it; our mkfs writes ts_dev_uuid here
  char dd_daxdev[64];     // path given to mkfs, strncpy'd: not NUL-terminated at 64 bytes
};

struct Superblock {
  uint64_t ts_magic;
  uint64_t ts_version;
  uint64_t ts_log_offset;
  uint64_t ts_log_len;
  uint64_t ts_alloc_unit;
  uint32_t ts_omf_ver_major;
  uint32_t ts_omf_ver_minor;
  uint8_t ts_uuid[16];
  uint8_t ts_dev_uuid[16];
  uint8_t ts_system_uuid[16];
  uint64_t ts_crc;        // crc32 of bytes [0, 96), zero-extended
  uint32_t ts_sb_flags;   // not CRC-covered; we write kSbFlagPrimary
  uint32_t ts_pad;
  DaxDev ts_daxdev;       // not CRC-covered
};

struct LogHeader {
  uint64_t famfs_log_magic;
  uint64_t famfs_log_len;
  uint64_t famfs_log_last_index; // last usable slot, inclusive
  uint64_t famfs_log_crc;        // crc32 of bytes [0, 24)
  uint64_t famfs_log_next_seqnum; // not CRC-covered
  uint64_t famfs_log_next_index;  // not CRC-covered; number of valid entries
};

struct SimpleExtent {
  uint64_t se_devindex;
  uint64_t se_offset;
  uint64_t se_len;
};

struct InterleavedExtent {
  uint64_t ie_nstrips;
  uint64_t ie_chunk_size;
  SimpleExtent ie_strips[kMaxStrips];
};

struct LogFmap {
  uint32_t fmap_ext_type;  // ExtentType
  uint32_t fmap_pad0;
  uint32_t fmap_nextents;  // SIMPLE: number of se[]; INTERLEAVE: niext (always 1)
  uint32_t fmap_pad1;
  union {
    SimpleExtent se[kMaxExtents];
    InterleavedExtent ie[1];
  };
};

struct FileMeta {
  uint64_t fm_size;
  uint32_t fm_flags;
  uint32_t fm_uid;
  uint32_t fm_gid;
  uint32_t fm_mode; // permission bits only
  char fm_relpath[kRelpathField];
  LogFmap fm_fmap;
};

struct MkdirMeta {
  uint32_t md_uid;
  uint32_t md_gid;
  uint32_t md_mode;
  char md_relpath[kRelpathField];
};

struct AddDaxdevMeta {
  uint64_t dd_size;
  uint8_t dd_uuid[16];
  uint32_t dd_index;
  uint32_t dd_pad;
};

struct LogEntry {
  uint64_t famfs_log_entry_seqnum; // must equal the slot index
  uint32_t famfs_log_entry_type;   // EntryType
  uint32_t famfs_log_entry_pad;
  union {
    FileMeta famfs_fm;
    MkdirMeta famfs_md;
    AddDaxdevMeta famfs_dd;
    uint8_t raw[520];
  };
  uint64_t famfs_log_entry_crc; // crc32 of bytes [0, 536)
};

// Layout checks against spec Part B (x86_64).
static_assert(sizeof(DaxDev) == 88);
static_assert(sizeof(Superblock) == 200);
static_assert(offsetof(Superblock, ts_omf_ver_major) == 40);
static_assert(offsetof(Superblock, ts_uuid) == 48);
static_assert(offsetof(Superblock, ts_dev_uuid) == 64);
static_assert(offsetof(Superblock, ts_system_uuid) == 80);
static_assert(offsetof(Superblock, ts_crc) == 96);
static_assert(offsetof(Superblock, ts_sb_flags) == 104);
static_assert(offsetof(Superblock, ts_daxdev) == 112);
static_assert(offsetof(Superblock, ts_daxdev) + offsetof(DaxDev, dd_uuid) == 120);
static_assert(offsetof(Superblock, ts_daxdev) + offsetof(DaxDev, dd_daxdev) == 136);
static_assert(sizeof(LogHeader) == 48);
static_assert(offsetof(LogHeader, famfs_log_crc) == 24);
static_assert(sizeof(SimpleExtent) == 24);
static_assert(sizeof(InterleavedExtent) == 400);
static_assert(sizeof(LogFmap) == 416);
static_assert(sizeof(FileMeta) == 520);
static_assert(sizeof(MkdirMeta) == 92);
static_assert(sizeof(AddDaxdevMeta) == 32);
static_assert(sizeof(LogEntry) == 544);
static_assert(offsetof(LogEntry, famfs_fm) == 16);
static_assert(offsetof(LogEntry, famfs_fm) + offsetof(FileMeta, fm_relpath) == 40);
static_assert(offsetof(LogEntry, famfs_fm) + offsetof(FileMeta, fm_fmap) == 120);
static_assert(offsetof(LogEntry, famfs_fm) + offsetof(FileMeta, fm_fmap) + offsetof(LogFmap, se) == 136);
static_assert(offsetof(LogEntry, famfs_md) + offsetof(MkdirMeta, md_relpath) == 28);
static_assert(offsetof(LogEntry, famfs_log_entry_crc) == 536);

inline constexpr std::size_t kLogHeaderSize = sizeof(LogHeader);
inline constexpr std::size_t kLogEntrySize = sizeof(LogEntry);

// Last usable slot index for a log of log_len bytes: floor((log_len - 48) / 544) - 1.
constexpr uint64_t log_last_index(uint64_t log_len) {
  return (log_len - kLogHeaderSize) / kLogEntrySize - 1;
}
static_assert(log_last_index(8ull << 20) == 15419);
static_assert(log_last_index(1ull << 30) == 1973789);

// Device offset of log slot i.
constexpr uint64_t log_slot_offset(uint64_t slot) {
  return kLogOffset + kLogHeaderSize + slot * kLogEntrySize;
}

} // namespace famfs::omf
