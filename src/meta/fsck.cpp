// fsck over a device span (spec B§8.2, Part A §4-§5).
//
// Pure analysis of whatever bytes are there: every stage runs only when the one before it
// produced something usable, and every finding becomes a sentence that says what is wrong
// and what the operator can do about it.
#include "meta/fsck.hpp"

#include <algorithm>
#include <exception>

#include "meta/error.hpp"

namespace famfs {

namespace {

constexpr std::size_t kMaxSkipSentences = 20; // a garbage log must not print 15,000 lines

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

bool FsckReport::clean() const {
  return sb_usable(sb_status) && log_status == LogHeaderStatus::Ok && !replay.damage &&
         bitmap.bad_entries == 0 && replay.skipped.empty() && bitmap.collisions == 0 &&
         bitmap.out_of_bounds == 0 && problems.empty();
}

FsckReport run_fsck(std::span<const std::byte> device, const Uuid* system_uuid,
                    const CacheOps& cache) {
  FsckReport r;
  r.mapped_size = device.size();
  r.sb = read_superblock(device);
  r.sb_status = check_superblock(r.sb);
  r.role = role_of(r.sb, system_uuid);
  auto problem = [&](std::string s) { r.problems.push_back(std::move(s)); };

  if (!sb_usable(r.sb_status)) {
    problem(std::string("superblock: ") + sb_status_text(r.sb_status) +
            ". Nothing on this device can be trusted as famfs; if it should hold a famfs file "
            "system, restore the superblock (or recreate the file system with mkfs.famfs, "
            "which loses its contents)");
    return r;
  }
  try {
    r.geometry = geometry_of(r.sb, device);
  } catch (const Error& e) {
    problem(std::string("superblock geometry: ") + e.what() +
            ". Check that the whole device was given (a truncated image or a smaller device "
            "than the one formatted)");
    return r;
  }
  r.capacity_bytes = r.geometry.device_size;
  if (r.sb.ts_daxdev.dd_size > device.size())
    problem("the superblock says the device has " + std::to_string(r.sb.ts_daxdev.dd_size) +
            " bytes but only " + std::to_string(device.size()) +
            " are mapped; files beyond the mapped end are reported as out of bounds. Check "
            "that the right device (or the whole image) was given");

  r.log = read_log_header(device);
  r.log_status = check_log_header(r.log, r.geometry.log_len);
  if (!log_header_usable(*r.log_status)) {
    problem(std::string("log header: ") + log_header_status_text(*r.log_status) +
            ". No file can be served from this log; the data extents are intact but "
            "unreachable until the log header is repaired");
    return r;
  }
  if (*r.log_status == LogHeaderStatus::BadNextIndex)
    problem("log header counters are inconsistent: next_index " +
            std::to_string(r.log.famfs_log_next_index) + ", next_seqnum " +
            std::to_string(r.log.famfs_log_next_seqnum) + ", " +
            std::to_string(r.geometry.slots()) +
            " slots. Readers use at most the slot count; the master refuses to append until "
            "the header is repaired");

  // Bitmap: what the allocator would see (bad entries skipped, as upstream).
  BitmapBuild bb = build_bitmap(device, r.geometry, cache);
  r.bitmap = bb.stats;
  const uint64_t live_free = Allocator(bb.bitmap, r.geometry).free_bytes();
  r.free_bytes = live_free - std::min(live_free, r.bitmap.deleted_bytes);
  const ext::HeaderRead xh = ext::read_header_now(device, cache);
  r.extension = xh.status;
  r.delete_enabled = ext::delete_enabled(xh);
  if (xh.status != ext::HeaderStatus::Valid && xh.status != ext::HeaderStatus::Absent)
    r.notes.push_back(std::string("extension area: ") + ext::header_status_text(xh.status) +
                      "; treated as absent (delete is off)");

  // Replay: what a mount would serve (stops at damage, skips bad paths and extents).
  Namespace ns(r.geometry, r.role == Role::Master);
  Replayer rp(device, cache);
  r.replay = rp.play(ns);

  if (!r.replay.ignored_deletes.empty())
    r.notes.push_back(plural(r.replay.ignored_deletes.size(), "DELETE entry is", "DELETE entries are") +
                      " ignored (first: entry " + std::to_string(r.replay.ignored_deletes[0].index) +
                      "): delete is not enabled on this file system, so the files stay, as "
                      "upstream famfs shows them");
  if (r.bitmap.deleted_bytes > 0)
    r.notes.push_back(std::to_string(r.bitmap.deleted_bytes) + " bytes of deleted files are "
                      "pending reuse (the master reuses them once every host is past the "
                      "delete: famfs status)");
  if (r.replay.damage) {
    const ReplayIssue& d = *r.replay.damage;
    problem("log entry " + std::to_string(d.index) + " is damaged (" + d.what +
            "); the file system serves the " + plural(d.index, "entry", "entries") +
            " before it. Run `famfs logplay` on a mount to see what is served; entries after "
            "it are lost unless the device is repaired, and the master refuses to append");
  }
  // The damaged entry is also one of the bitmap's bad entries: do not report it twice.
  const uint64_t other_bad =
      r.bitmap.bad_entries - (r.replay.damage && r.bitmap.bad_entries > 0 ? 1 : 0);
  if (other_bad > 0)
    problem(plural(other_bad, "more log entry fails", "more log entries fail") +
            " the seqnum/CRC check; the allocator treats their space as free, so it may be "
            "handed out again");
  std::size_t shown = 0;
  for (const ReplayIssue& s : r.replay.skipped) {
    if (shown++ == kMaxSkipSentences) {
      problem("... and " + std::to_string(r.replay.skipped.size() - kMaxSkipSentences) +
              " more skipped log entries");
      break;
    }
    problem("log entry " + std::to_string(s.index) + " is skipped: " + s.what +
            ". Mounts do not show it; its space stays reserved");
  }
  if (r.bitmap.collisions > 0)
    problem(plural(r.bitmap.collisions, "allocation unit is", "allocation units are") +
            " claimed by more than one file or by a file and the superblock/log (cross-links). "
            "Writes through one such file show up in the other; copy the data you need to new "
            "files and stop using the cross-linked ones");
  if (r.bitmap.out_of_bounds > 0)
    problem(plural(r.bitmap.out_of_bounds, "allocation unit", "allocation units") +
            " of file extents lie beyond the device end; those files are skipped by mounts. "
            "Check that the device is the size it was formatted with");
  return r;
}

} // namespace famfs
