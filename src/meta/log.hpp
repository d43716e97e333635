// Log header and entries (spec B§3): building, snapshotting and validating.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "meta/cacheops.hpp"
#include "meta/fmap.hpp"
#include "meta/omf.hpp"

namespace famfs {

// The header mkfs writes: magic, len, last_index, CRC over [0,24), next_* = 0.
omf::LogHeader make_log_header(uint64_t log_len);
uint64_t log_header_crc(const omf::LogHeader& h);

enum class LogHeaderStatus {
  Ok,
  BadMagic,
  BadCrc,
  LenMismatch,     // famfs_log_len != superblock ts_log_len
  BadLastIndex,    // last_index != log_last_index(len)
  BadNextIndex,    // next_index > last_index + 1, or next_seqnum != next_index
};
const char* log_header_status_text(LogHeaderStatus s);
LogHeaderStatus check_log_header(const omf::LogHeader& h, uint64_t expected_log_len);

// Copies out of a device span (which starts at device offset 0).
omf::LogHeader read_log_header(std::span<const std::byte> device);
omf::LogEntry read_log_entry(std::span<const std::byte> device, uint64_t slot);
// Log slots whose 544 bytes lie entirely inside the span (a hostile next_index is bounded by it).
uint64_t log_slots_in_span(std::span<const std::byte> device);

uint64_t log_entry_crc(const omf::LogEntry& e); // crc32 of [0, 536)
bool log_entry_valid(const omf::LogEntry& e, uint64_t slot); // seqnum == slot && crc matches

// Snapshot slot `slot` and validate it; on failure invalidate the cache lines and try exactly
// once more (B§3.3, Part A §5). nullopt when still bad.
std::optional<omf::LogEntry> read_valid_entry(std::span<const std::byte> device, uint64_t slot,
                                              const CacheOps& cache);

// Entries as the writer builds them: zeroed, payload filled, seqnum and CRC left for the
// append path (LogWriter::append sets both). relpath must already be canonical and <= 79 bytes.
struct FileEntryParams {
  std::string relpath;
  uint64_t size = 0;
  uint32_t mode = 0644;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t flags = omf::kFileFlagAllHostsRW;
  Fmap fmap;
};
omf::LogEntry make_file_entry(const FileEntryParams& p);
omf::LogEntry make_mkdir_entry(std::string_view relpath, uint32_t mode, uint32_t uid, uint32_t gid);
// Sets seqnum and the CRC (used by the writer and by tests that forge logs).
void seal_log_entry(omf::LogEntry& e, uint64_t seqnum);
// Building blocks of the make_*_entry functions (also for the extension entries):
// an entry with every byte zero, and a relpath copied into an 80-byte field (throws
// famfs::Error ENAMETOOLONG over 79 bytes, EINVAL on a NUL byte).
omf::LogEntry zeroed_log_entry();
void copy_relpath_field(char (&field)[omf::kRelpathField], std::string_view relpath);

} // namespace famfs
