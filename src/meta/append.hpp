// The master's append path (spec B§3.4 with Part A §6). The caller holds the host-local log
// lock for the whole session and has checked that this host is the master.
#pragma once

#include <cstdint>
#include <span>

#include "meta/cacheops.hpp"
#include "meta/geometry.hpp"
#include "meta/omf.hpp"

namespace famfs {

class LogWriter {
 public:
  // Throws famfs::Error: EUCLEAN if the log header is invalid or any entry below next_index is
  // damaged (Part A §5: the master refuses to append to a damaged log).
  // `checked_prefix`: slots [0, checked_prefix) were already validated by the caller's replay
  // (Replayer::played() of an undamaged replay over this device): only the slots above it are
  // read, so a writer that follows the log pays O(new entries), not O(log).
  LogWriter(std::span<std::byte> device, const Geometry& g, CacheOps cache,
            uint64_t checked_prefix = 0);

  uint64_t next_index() const;
  uint64_t free_slots() const;

  // Part A §6: reserve before side effects. Throws famfs::Error(ENOMEM, "log full ...") when
  // fewer than n slots are free. Reservations are released by append (one slot each) or
  // by unreserve.
  void reserve(uint64_t n);
  void unreserve(uint64_t n);

  // Write the entry into slot next_index with seqnum = next_seqnum and its CRC; flush it and
  // fence; then bump next_seqnum and next_index; then flush the header. Consumes one
  // reservation if any exists, else checks for a free slot (ENOMEM). Returns the slot used.
  uint64_t append(omf::LogEntry e);

 private:
  std::span<std::byte> device_;
  Geometry geo_;
  CacheOps cache_;
  uint64_t reserved_ = 0;
};

} // namespace famfs
