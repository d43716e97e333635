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

#include "meta/extension.hpp"
#include "meta/log.hpp"

namespace famfs {

namespace {

constexpr std::size_t kNextIndexOffset =
    omf::kLogOffset + offsetof(omf::LogHeader, famfs_log_next_index);

} // namespace

Replayer::Replayer(std::span<const std::byte> device, const Geometry& g, CacheOps cache)
    : device_(device), cache_(std::move(cache)) {
  set_geometry(g);
}

Replayer::Replayer(std::span<const std::byte> device, CacheOps cache)
    : device_(device), cache_(std::move(cache)) {}

void Replayer::set_geometry(const Geometry& g) {
  have_geometry_ = true;
  slots_ = g.slots();
  space_ = SpaceMap(g);
}

uint64_t Replayer::log_next_index() const {
  if (device_.size() < kNextIndexOffset + sizeof(uint64_t)) return 0;
  // next_index is written by another host: drop our cached copy of its line first.
  cache_.invalidate(device_.data() + kNextIndexOffset, sizeof(uint64_t));
  uint64_t v;
  std::memcpy(&v, device_.data() + kNextIndexOffset, sizeof(v));
  return log_entries_used(v, slots_, device_);
}

ReplayReport Replayer::play(Namespace& ns) {
  ReplayReport rep;
  rep.from = played_;
  rep.to = played_;
  const Geometry& g = ns.geometry();
  if (!have_geometry_) set_geometry(g);

  if (device_.size() >= omf::kLogOffset + omf::kLogHeaderSize)
    cache_.invalidate(device_.data() + omf::kLogOffset, omf::kLogHeaderSize);
  const omf::LogHeader h = read_log_header(device_);
  const LogHeaderStatus hs = check_log_header(h, g.log_len);
  // next_index beyond the log, or next_seqnum != next_index (a writer between its two stores),
  // is not a reason to stop: next_index is bounded below instead.
  if (!log_header_usable(hs)) {
    damaged_ = true;
    rep.damage = ReplayIssue{played_, std::string("log header: ") + log_header_status_text(hs)};
    return rep;
  }
  const uint64_t limit = log_entries_used(h.famfs_log_next_index, g, device_);
  // Damage is re-evaluated on every call: a header that no longer counts the damaged slot
  // (next_index set past the last written entry, then restored) leaves a whole log.
  if (limit <= played_) damaged_ = false;
  // Room for what this call may apply: bounded by the log's slots through `limit` (a header
  // counting slots that turn out bad costs that index room once: ~20 bytes per slot). Growth
  // stays geometric, so many small incremental calls cost O(new entries) too.
  if (limit > played_) {
    ns.reserve(limit - played_);
    if (applied_crcs_.capacity() < limit)
      applied_crcs_.reserve(std::max<std::size_t>(limit, 2 * applied_crcs_.capacity()));
  }

  for (uint64_t i = played_; i < limit; ++i) {
    const std::optional<omf::LogEntry> e = read_valid_entry(device_, i, cache_);
    if (!e) {
      // Part A §5: stop at the first bad entry; the prefix stays served. A later call
      // starts here again, so a torn read of an in-progress append heals by itself.
      damaged_ = true;
      rep.damage = ReplayIssue{i, log_slot_problem(device_, i)};
      break;
    }
    damaged_ = false;
    space_.claim(*e); // every valid entry claims its space, whatever the namespace makes of it
    applied_crcs_.push_back(static_cast<uint32_t>(e->famfs_log_entry_crc));
    if (e->famfs_log_entry_type == omf::kLogDelete) {
      apply_delete(ns, *e, i, rep);
      played_ = i + 1;
      continue;
    }
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
      case ApplyResult::Removed: break; // DELETE entries are applied above
    }
    played_ = i + 1;
  }
  rep.to = played_;
  space_.set_entries_used(played_);
  delete_on_.reset(); // the master may enable the feature between two plays
  return rep;
}

// A DELETE entry: applied only on a file system with the feature (docs/delete.md); else
// ignored as upstream does, and reported so status and fsck can say so.
void Replayer::apply_delete(Namespace& ns, const omf::LogEntry& e, uint64_t i, ReplayReport& rep) {
  if (!delete_on_) delete_on_ = ext::delete_enabled(ext::read_header_now(device_, cache_));
  std::string why;
  if (!*delete_on_) {
    ns.apply(e, i, &why);
    ++rep.ignored;
    rep.ignored_deletes.push_back(ReplayIssue{i, std::move(why)});
    return;
  }
  Ino gone = 0;
  if (ns.apply_delete(e, i, &why, &gone) != ApplyResult::Removed) {
    rep.skipped.push_back(ReplayIssue{i, std::move(why)});
    return;
  }
  const Inode* n = ns.get(gone);
  if (n->is_dir)
    space_.note_dir_delete();
  else
    space_.release(i, n->log_index, ns.path_of(gone), n->size, n->fmap);
  ++rep.deleted;
  rep.removed.push_back(gone);
}

bool Replayer::applied_intact(uint64_t slot, std::string* now) const {
  const std::optional<omf::LogEntry> e = read_valid_entry(device_, slot, cache_);
  if (e && static_cast<uint32_t>(e->famfs_log_entry_crc) == applied_crcs_[slot]) return true;
  *now = e ? "a different valid entry, CRC " + hex(e->famfs_log_entry_crc)
           : log_slot_problem(device_, slot);
  return false;
}

std::optional<ReplayIssue> Replayer::recheck_applied(uint64_t count) {
  const uint64_t n = applied_crcs_.size();
  std::string now;
  if (changed_) {
    if (!applied_intact(changed_->index, &now)) return changed_;
    changed_.reset(); // restored
  }
  for (uint64_t k = 0; k < std::min(count, n); ++k) {
    const uint64_t i = recheck_cursor_;
    recheck_cursor_ = (recheck_cursor_ + 1) % n;
    if (applied_intact(i, &now)) continue;
    changed_ = ReplayIssue{i, "entry " + std::to_string(i) + " changed after it was applied (CRC " +
                                  hex(applied_crcs_[i]) + " then; now " + now +
                                  "); this host keeps serving what it applied. Run famfs fsck"};
    return changed_;
  }
  return std::nullopt;
}

} // namespace famfs
