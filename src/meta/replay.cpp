// Incremental log replay (spec B§8.1, Part A §3-§5).
//
// The header's next_index is a snapshot of a value another host keeps raising; it is bounded
// by the slot count and by the span so a hostile header cannot send us past the log. Each
// call costs O(new entries): entries below played() are never looked at again.
#include "meta/numeric.hpp"
#include "meta/replay.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "meta/log.hpp"

namespace famfs {

namespace {

constexpr std::size_t kNextIndexOffset =
    omf::kLogOffset + offsetof(omf::LogHeader, famfs_log_next_index);



// Why slot `slot` is not valid, from one more snapshot (read_valid_entry only says "bad").
std::string damage_reason(std::span<const std::byte> device, uint64_t slot) {
  if (slot >= log_slots_in_span(device)) return "slot lies outside the mapped device";
  const omf::LogEntry e = read_log_entry(device, slot);
  if (e.famfs_log_entry_seqnum != slot)
    return "seqnum " + std::to_string(e.famfs_log_entry_seqnum) + " in slot " +
           std::to_string(slot);
  const uint64_t crc = log_entry_crc(e);
  if (crc != e.famfs_log_entry_crc)
    return "CRC mismatch: stored " + hex(e.famfs_log_entry_crc) + ", computed " + hex(crc);
  // Valid on this third look: it was being written while we read. Still report what we saw.
  return "entry changed while being read (torn read of an append in progress)";
}

} // namespace

Replayer::Replayer(std::span<const std::byte> device, CacheOps cache)
    : device_(device), cache_(std::move(cache)) {}

uint64_t Replayer::log_next_index() const {
  if (device_.size() < kNextIndexOffset + sizeof(uint64_t)) return 0;
  // next_index is written by another host: drop our cached copy of its line first.
  cache_.invalidate(device_.data() + kNextIndexOffset, sizeof(uint64_t));
  uint64_t v;
  std::memcpy(&v, device_.data() + kNextIndexOffset, sizeof(v));
  return std::min(v, log_slots_in_span(device_));
}

ReplayReport Replayer::play(Namespace& ns) {
  ReplayReport rep;
  rep.from = played_;
  rep.to = played_;
  const Geometry& g = ns.geometry();

  if (device_.size() >= omf::kLogOffset + omf::kLogHeaderSize)
    cache_.invalidate(device_.data() + omf::kLogOffset, omf::kLogHeaderSize);
  const omf::LogHeader h = read_log_header(device_);
  const LogHeaderStatus hs = check_log_header(h, g.log_len);
  // next_index beyond the log, or next_seqnum != next_index (a writer between its two stores),
  // is not a reason to stop: next_index is bounded below instead.
  if (hs != LogHeaderStatus::Ok && hs != LogHeaderStatus::BadNextIndex) {
    damaged_ = true;
    rep.damage = ReplayIssue{played_, std::string("log header: ") + log_header_status_text(hs)};
    return rep;
  }
  const uint64_t limit =
      std::min({h.famfs_log_next_index, g.slots(), log_slots_in_span(device_)});

  for (uint64_t i = played_; i < limit; ++i) {
    const std::optional<omf::LogEntry> e = read_valid_entry(device_, i, cache_);
    if (!e) {
      // Part A §5: stop at the first bad entry; the prefix stays served. A later call
      // starts here again, so a torn read of an in-progress append heals by itself.
      damaged_ = true;
      rep.damage = ReplayIssue{i, damage_reason(device_, i)};
      break;
    }
    damaged_ = false;
    std::string why;
    const ApplyResult r = ns.apply(*e, i, &why);
    switch (r) {
      case ApplyResult::CreatedFile:
        ++rep.new_files;
        rep.created.push_back(ns.max_ino());
        break;
      case ApplyResult::CreatedDir:
        ++rep.new_dirs;
        rep.created.push_back(ns.max_ino());
        break;
      case ApplyResult::Existed: ++rep.existed; break;
      case ApplyResult::Ignored: ++rep.ignored; break;
      case ApplyResult::Skipped: rep.skipped.push_back(ReplayIssue{i, std::move(why)}); break;
    }
    played_ = i + 1;
  }
  rep.to = played_;
  return rep;
}

} // namespace famfs
