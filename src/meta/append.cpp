// The master's append path (spec B§3.4, Part A §5-§6).
//
// Crash safety comes from ordering: the entry (with its CRC) is made durable before the header
// counts it, so a crash leaves either no entry or a whole one. The header is re-read for every
// append instead of cached: it is tiny, and the device is the only truth.
#include "meta/append.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "meta/error.hpp"
#include "meta/log.hpp"

namespace famfs {

namespace {

constexpr std::size_t kNextSeqnumOffset = offsetof(omf::LogHeader, famfs_log_next_seqnum);
static_assert(offsetof(omf::LogHeader, famfs_log_next_index) == kNextSeqnumOffset + 8);
static_assert(kNextSeqnumOffset % 16 == 0 && omf::kLogOffset % 64 == 0);

std::string log_full_message(uint64_t used, uint64_t slots) {
  return "famfs log full: " + std::to_string(used) + " of " + std::to_string(slots) +
         " entries used; no more files or directories can be created on this file system "
         "(famfs logs never shrink; a larger log needs a new file system, mkfs.famfs -l)";
}

} // namespace

LogWriter::LogWriter(std::span<std::byte> device, const Geometry& g, CacheOps cache,
                     uint64_t checked_prefix)
    : device_(device), geo_(g), cache_(std::move(cache)) {
  if (device_.size() < omf::kLogOffset || geo_.log_len > device_.size() - omf::kLogOffset)
    throw Error(EINVAL, "the mapped device (" + std::to_string(device_.size()) +
                            " bytes) does not cover the log; cannot append");
  std::byte* const log = device_.data() + omf::kLogOffset;
  // Another writer (an earlier master session) may have left lines we hold stale copies of:
  // the header, then every slot not checked yet and the one the next append writes (its first
  // line holds the tail of the last entry). Slots past that are only ever written.
  cache_.invalidate(log, omf::kLogHeaderSize);
  const omf::LogHeader h = read_log_header(device_);
  const LogHeaderStatus hs = check_log_header(h, geo_.log_len);
  if (hs != LogHeaderStatus::Ok)
    throw Error(EUCLEAN, std::string("famfs log header is invalid (") +
                             log_header_status_text(hs) +
                             "); refusing to append. Run `famfs fsck` on the device");
  const uint64_t from = std::min(checked_prefix, h.famfs_log_next_index);
  const uint64_t upto = std::min(h.famfs_log_next_index + 1, geo_.slots());
  if (from < upto)
    cache_.invalidate(device_.data() + omf::log_slot_offset(from),
                      (upto - from) * omf::kLogEntrySize);

  // Part A §5: never append after damage; the new entry would be unreachable by replay.
  for (uint64_t i = from; i < h.famfs_log_next_index; ++i) {
    if (read_valid_entry(device_, i, cache_)) continue;
    throw Error(EUCLEAN, "famfs log entry " + std::to_string(i) + " is damaged (" +
                             log_slot_problem(device_, i) +
                             "); refusing to append to a damaged log. Run `famfs fsck` on "
                             "the device");
  }
}

uint64_t LogWriter::next_index() const { return read_log_header(device_).famfs_log_next_index; }

uint64_t LogWriter::free_slots() const {
  const uint64_t used = next_index();
  const uint64_t slots = geo_.slots();
  const uint64_t unused = used < slots ? slots - used : 0;
  return unused > reserved_ ? unused - reserved_ : 0;
}

void LogWriter::reserve(uint64_t n) {
  const uint64_t free = free_slots();
  if (n > free) {
    const uint64_t used = next_index();
    throw Error(ENOMEM, log_full_message(used, geo_.slots()) + " (" + std::to_string(n) +
                            " needed, " + std::to_string(free) + " free" +
                            (reserved_ ? ", " + std::to_string(reserved_) + " already reserved"
                                       : std::string()) +
                            ")");
  }
  reserved_ += n;
}

void LogWriter::unreserve(uint64_t n) { reserved_ -= n < reserved_ ? n : reserved_; }

uint64_t LogWriter::append(omf::LogEntry e) {
  std::byte* const hdr = device_.data() + omf::kLogOffset;
  const omf::LogHeader h = read_log_header(device_);
  const uint64_t idx = h.famfs_log_next_index;
  const uint64_t slots = geo_.slots();
  // A reservation promised this slot, but the header is the truth: check it anyway.
  if (idx >= slots) throw Error(ENOMEM, log_full_message(slots, slots));
  if (h.famfs_log_next_seqnum != idx)
    throw Error(EUCLEAN, "famfs log header has next_seqnum " +
                             std::to_string(h.famfs_log_next_seqnum) + " but next_index " +
                             std::to_string(idx) + "; refusing to append. Run `famfs fsck`");

  seal_log_entry(e, h.famfs_log_next_seqnum);
  std::byte* const slot = device_.data() + omf::log_slot_offset(idx);
  std::memcpy(slot, &e, sizeof(e));
  cache_.flush(slot, sizeof(e));
  cache_.fence(); // the whole entry is durable before the header counts it

  // next_seqnum and next_index are adjacent (bytes 32..47 of the header, 16-byte aligned, one
  // cache line): one 16-byte copy lets the compiler use a single store, so a crash cannot
  // persist one counter without the other.
  const uint64_t next[2] = {idx + 1, idx + 1};
  std::memcpy(hdr + kNextSeqnumOffset, next, sizeof(next));
  cache_.flush(hdr, omf::kLogHeaderSize);
  cache_.fence();

  if (reserved_ > 0) --reserved_;
  return idx;
}

} // namespace famfs
