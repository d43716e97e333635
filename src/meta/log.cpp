// Log header and entries (spec B§3, Part A §5).
//
// Everything here works on copies: the log lives in shared memory that another host may be
// writing, so a struct is copied out of the span once (a snapshot) and only the copy is
// validated and used.
#include "meta/log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "meta/crc.hpp"
#include "meta/error.hpp"
#include "meta/numeric.hpp"

namespace famfs {

namespace {

constexpr std::size_t kHeaderCrcBytes = offsetof(omf::LogHeader, famfs_log_crc);     // 24
constexpr std::size_t kEntryCrcBytes = offsetof(omf::LogEntry, famfs_log_entry_crc); // 536
static_assert(kHeaderCrcBytes == 24 && kEntryCrcBytes == 536);

// Pointer to slot `slot` inside the span, or nullptr when any of its 544 bytes lie outside.
// Written to avoid overflow for hostile slot numbers.
const std::byte* slot_ptr(std::span<const std::byte> device, uint64_t slot) {
  const uint64_t first = omf::log_slot_offset(0);
  if (device.size() < first) return nullptr;
  const uint64_t whole_slots = (device.size() - first) / omf::kLogEntrySize;
  if (slot >= whole_slots) return nullptr;
  return device.data() + first + slot * omf::kLogEntrySize;
}

} // namespace

void copy_relpath_field(char (&field)[omf::kRelpathField], std::string_view relpath) {
  if (relpath.size() > omf::kRelpathMax)
    throw Error(ENAMETOOLONG, "relative path '" + std::string(relpath) + "' is " +
                                  std::to_string(relpath.size()) +
                                  " bytes; a log entry holds at most 79");
  if (relpath.find('\0') != std::string_view::npos)
    throw Error(EINVAL, "relative path contains a NUL byte");
  std::memset(field, 0, sizeof(field));
  std::memcpy(field, relpath.data(), relpath.size());
}

omf::LogEntry zeroed_log_entry() {
  omf::LogEntry e;
  std::memset(&e, 0, sizeof(e)); // padding and the whole union, not just members
  return e;
}

omf::LogHeader make_log_header(uint64_t log_len) {
  omf::LogHeader h;
  std::memset(&h, 0, sizeof(h));
  h.famfs_log_magic = omf::kLogMagic;
  h.famfs_log_len = log_len;
  h.famfs_log_last_index = omf::log_last_index(log_len);
  h.famfs_log_next_seqnum = 0;
  h.famfs_log_next_index = 0;
  h.famfs_log_crc = log_header_crc(h);
  return h;
}

uint64_t log_header_crc(const omf::LogHeader& h) { return crc32_of(&h, kHeaderCrcBytes); }

const char* log_header_status_text(LogHeaderStatus s) {
  switch (s) {
    case LogHeaderStatus::Ok: return "log header valid";
    case LogHeaderStatus::BadMagic: return "bad log header magic (no famfs log at 0x200000)";
    case LogHeaderStatus::BadCrc: return "bad log header CRC (log header corrupt)";
    case LogHeaderStatus::LenMismatch:
      return "log header length differs from the superblock's log length";
    case LogHeaderStatus::BadLastIndex:
      return "log header last_index does not match the log length";
    case LogHeaderStatus::BadNextIndex:
      return "log header next_index/next_seqnum inconsistent (beyond the log, or unequal)";
  }
  return "unknown log header status";
}

LogHeaderStatus check_log_header(const omf::LogHeader& h, uint64_t expected_log_len) {
  if (h.famfs_log_magic != omf::kLogMagic) return LogHeaderStatus::BadMagic;
  // All 64 bits are compared: the upper half of the stored CRC must be zero (B§0).
  if (h.famfs_log_crc != log_header_crc(h)) return LogHeaderStatus::BadCrc;
  if (h.famfs_log_len != expected_log_len) return LogHeaderStatus::LenMismatch;
  // A length below one header + one slot would make log_last_index underflow.
  if (h.famfs_log_len < omf::kLogHeaderSize + omf::kLogEntrySize ||
      h.famfs_log_last_index != omf::log_last_index(h.famfs_log_len))
    return LogHeaderStatus::BadLastIndex;
  if (h.famfs_log_next_index > h.famfs_log_last_index + 1 ||
      h.famfs_log_next_seqnum != h.famfs_log_next_index)
    return LogHeaderStatus::BadNextIndex;
  return LogHeaderStatus::Ok;
}

omf::LogHeader read_log_header(std::span<const std::byte> device) {
  // Too short a span reads as zeros: bad magic, never an out-of-bounds read.
  omf::LogHeader h;
  std::memset(&h, 0, sizeof(h));
  if (device.size() >= omf::kLogOffset + sizeof(h))
    std::memcpy(&h, device.data() + omf::kLogOffset, sizeof(h));
  return h;
}

namespace {

// Copies slot `slot` into `e` (all 544 bytes, padding included: one snapshot, no zeroing
// first); outside the span, an entry whose seqnum can never match the slot, so it fails
// validation.
void copy_slot(std::span<const std::byte> device, uint64_t slot, omf::LogEntry& e) {
  if (const std::byte* p = slot_ptr(device, slot)) {
    std::memcpy(&e, p, sizeof(e));
    return;
  }
  e = zeroed_log_entry();
  e.famfs_log_entry_seqnum = ~slot;
  e.famfs_log_entry_type = omf::kLogInvalid;
}

} // namespace

omf::LogEntry read_log_entry(std::span<const std::byte> device, uint64_t slot) {
  omf::LogEntry e;
  copy_slot(device, slot, e);
  return e;
}

uint64_t log_entry_crc(const omf::LogEntry& e) { return crc32_of(&e, kEntryCrcBytes); }

bool log_entry_valid(const omf::LogEntry& e, uint64_t slot) {
  return e.famfs_log_entry_seqnum == slot && e.famfs_log_entry_crc == log_entry_crc(e);
}

std::optional<omf::LogEntry> read_valid_entry(std::span<const std::byte> device, uint64_t slot,
                                              const CacheOps& cache) {
  omf::LogEntry e; // filled whole by copy_slot: no zeroing first
  copy_slot(device, slot, e);
  if (log_entry_valid(e, slot)) return e;
  const std::byte* p = slot_ptr(device, slot);
  if (p == nullptr) return std::nullopt; // nothing to re-read
  // The lines may hold a stale copy of an entry another host just wrote: drop them, retry once.
  cache.invalidate(p, omf::kLogEntrySize);
  copy_slot(device, slot, e);
  if (log_entry_valid(e, slot)) return e;
  return std::nullopt;
}

std::string log_slot_problem(std::span<const std::byte> device, uint64_t slot) {
  if (slot_ptr(device, slot) == nullptr) return "slot lies outside the mapped device";
  const omf::LogEntry e = read_log_entry(device, slot);
  if (e.famfs_log_entry_seqnum != slot)
    return "seqnum " + std::to_string(e.famfs_log_entry_seqnum) + " in slot " +
           std::to_string(slot);
  const uint64_t crc = log_entry_crc(e);
  if (crc != e.famfs_log_entry_crc)
    return "CRC mismatch: stored " + hex(e.famfs_log_entry_crc) + ", computed " + hex(crc);
  return "entry changed while being read (torn read of an append in progress)";
}

omf::LogEntry make_file_entry(const FileEntryParams& p) {
  omf::LogEntry e = zeroed_log_entry();
  e.famfs_log_entry_type = omf::kLogFile;
  omf::FileMeta& fm = e.famfs_fm;
  fm.fm_size = p.size;
  fm.fm_flags = p.flags;
  fm.fm_uid = p.uid;
  fm.fm_gid = p.gid;
  fm.fm_mode = p.mode;
  copy_relpath_field(fm.fm_relpath, p.relpath);
  fm.fm_fmap = fmap_to_log(p.fmap);
  return e;
}

omf::LogEntry make_mkdir_entry(std::string_view relpath, uint32_t mode, uint32_t uid,
                               uint32_t gid) {
  omf::LogEntry e = zeroed_log_entry();
  e.famfs_log_entry_type = omf::kLogMkdir;
  omf::MkdirMeta& md = e.famfs_md;
  md.md_uid = uid;
  md.md_gid = gid;
  md.md_mode = mode;
  copy_relpath_field(md.md_relpath, relpath);
  return e;
}

void seal_log_entry(omf::LogEntry& e, uint64_t seqnum) {
  e.famfs_log_entry_seqnum = seqnum;
  e.famfs_log_entry_crc = log_entry_crc(e); // after seqnum: the CRC covers it
}

uint64_t log_slots_in_span(std::span<const std::byte> device) {
  const uint64_t first = omf::log_slot_offset(0);
  if (device.size() < first) return 0;
  return (device.size() - first) / omf::kLogEntrySize;
}

uint64_t log_entries_used(uint64_t next_index, uint64_t slots, std::span<const std::byte> device) {
  return std::min({next_index, slots, log_slots_in_span(device)});
}

} // namespace famfs
