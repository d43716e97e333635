// The status and logplay reports (control.hpp), through nlohmann-json.
//
// Keys in the documented order; strings may hold bytes of hostile log entries: invalid UTF-8
// is replaced (U+FFFD), never a reason to fail the report (proto/json_text.hpp).
#include "daemon/control.hpp"

#include "proto/json_text.hpp"

namespace famfs::daemon {

namespace {

using proto::Json;
using proto::json_text;

Json or_null(const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); }

Json delete_json(const DeleteFigures& d) {
  Json j;
  j["enabled"] = d.enabled;
  j["extension"] = d.extension;
  j["lease_ms"] = d.lease_ms;
  j["deletes"] = d.deletes;
  j["pending_reuse_bytes"] = d.pending_reuse_bytes;
  j["reusable_bytes"] = d.reusable_bytes;
  j["slot"] = d.slot ? Json(*d.slot) : Json(nullptr);
  j["generation"] = d.generation;
  j["serving"] = d.serving;
  Json hosts = Json::array();
  for (const auto& h : d.hosts)
    hosts.push_back(Json{{"slot", h.slot}, {"system_uuid", h.system_uuid},
                         {"hostname", h.hostname}, {"state", h.state},
                         {"generation", h.generation}, {"replayed", h.replayed},
                         {"oldest_open", h.oldest_open ? Json(*h.oldest_open) : Json(nullptr)},
                         {"heartbeat", h.heartbeat}, {"pid", h.pid}, {"counts", h.counts},
                         {"evicted", h.evicted}});
  j["hosts"] = std::move(hosts);
  Json pending = Json::array();
  for (const auto& p : d.pending)
    pending.push_back(Json{{"path", p.path}, {"bytes", p.bytes}, {"delete_index", p.delete_index},
                           {"target_index", p.target_index}, {"held_by", p.held_by},
                           {"held_by_hostname", p.held_by_hostname}, {"why", p.why}});
  j["pending"] = std::move(pending);
  return j;
}

} // namespace

std::string status_json(const StatusFigures& f) {
  Json j;
  j["role"] = f.role;
  j["device"] = f.device;
  j["mountpoint"] = f.mountpoint;
  j["fs_uuid"] = f.fs_uuid;
  j["system_uuid"] = f.system_uuid;
  j["capacity_bytes"] = f.capacity_bytes;
  j["free_bytes"] = f.free_bytes;
  j["allocated_bytes"] = f.allocated_bytes;
  j["entries_used"] = f.entries_used;
  j["entries_total"] = f.entries_total;
  j["files"] = f.files;
  j["directories"] = f.directories;
  j["last_replay_unix_ms"] = f.last_replay_unix_ms;
  j["replay_lag_ms"] = or_null(f.replay_lag_ms);
  j["refresh_ms"] = f.refresh_ms;
  j["damaged"] = f.damage.has_value();
  j["damage_index"] = f.damage ? Json(f.damage->index) : Json(nullptr);
  j["damage_reason"] = f.damage ? Json(f.damage->what) : Json(nullptr);
  j["skipped_entries"] = f.skipped_entries;
  j["collisions"] = f.collisions;
  j["read_only"] = f.read_only;
  j["owner"] = f.owner;
  j["pid"] = f.pid;
  j["direct_io"] = f.direct_io;
  j["direct_io_allow_mmap"] = f.direct_io_allow_mmap;
  j["kernel_proto_minor"] = f.kernel_proto_minor;
  j["transport"] = f.transport; // "uring" or "dev": how requests reach the daemon
  j["delete_enabled"] = f.del.enabled;
  j["pending_reuse_bytes"] = f.del.pending_reuse_bytes;
  j["delete"] = delete_json(f.del);
  // The daemon's internal counters, for tests and diagnosis: not part of the stable report.
  Json debug;
  debug["invalidations_unsent"] = f.invalidations_unsent;
  debug["lookup_refs"] = f.lookup_refs; // kernel references (lookups - forgets)
  debug["inodes_known_to_kernel"] = f.inodes_known_to_kernel;
  debug["negative_entries"] = f.negative_entries;
  debug["uring_requests"] = f.uring_requests;
  j["debug"] = std::move(debug);
  return json_text(j);
}

void LogplayReports::add(const ReplayReport& fresh, int64_t now_ms) {
  if (!pending_ || now_ms - pending_since_ > kProbeKeepMs) {
    acc_ = ReplayReport{};
    acc_.from = fresh.from;
  }
  acc_.to = fresh.to;
  acc_.new_files += fresh.new_files;
  acc_.new_dirs += fresh.new_dirs;
  acc_.existed += fresh.existed;
  acc_.ignored += fresh.ignored;
  acc_.skipped.insert(acc_.skipped.end(), fresh.skipped.begin(), fresh.skipped.end());
  acc_.damage = fresh.damage;
}

std::string LogplayReports::text(uint64_t entries, const std::optional<ReplayIssue>& damage) const {
  Json skipped = Json::array();
  for (const ReplayIssue& s : acc_.skipped) skipped.push_back({{"index", s.index}, {"what", s.what}});
  Json j;
  j["entries"] = entries;
  j["new_files"] = acc_.new_files;
  j["new_dirs"] = acc_.new_dirs;
  j["existed"] = acc_.existed;
  j["skipped"] = std::move(skipped);
  j["damaged"] = damage.has_value();
  j["damage_index"] = damage ? Json(damage->index) : Json(nullptr);
  // What this replay found, else why the log is damaged now (e.g. an applied entry changed).
  if (acc_.damage)
    j["damage_reason"] = acc_.damage->what;
  else if (damage)
    j["damage_reason"] = damage->what;
  return json_text(j);
}

void LogplayReports::answered(std::size_t caller_size, std::size_t report_size, int64_t now_ms) {
  if (caller_size == 0 || caller_size < report_size) {
    if (!pending_) pending_since_ = now_ms;
    pending_ = true; // the caller will ask again with a bigger buffer
  } else {
    pending_ = false;
  }
}

} // namespace famfs::daemon
