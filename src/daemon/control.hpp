// The daemon's control surface: the reports behind user.famfs.status and user.famfs.logplay
// (famfs-fused(8) and docs/design.md list their keys; the CLI and the tests read them),
// written through nlohmann-json. No FUSE and no daemon state here: the daemon hands in the figures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "meta/replay.hpp"

namespace famfs::daemon {

// Delete (docs/delete.md) as this daemon sees it: the feature, its host slot, the other hosts
// and the deleted space the reuse rule still holds.
struct DeleteFigures {
  bool enabled = false;
  std::string extension;          // extension header status ("valid", "absent", ...)
  uint32_t lease_ms = 0;
  uint64_t deletes = 0;           // DELETE entries applied
  uint64_t pending_reuse_bytes = 0, reusable_bytes = 0;
  std::optional<uint32_t> slot;   // this host's
  uint64_t generation = 0;
  bool serving = true;
  struct Host {
    uint32_t slot = 0;
    std::string system_uuid, hostname, state;
    uint64_t generation = 0, replayed = 0, heartbeat = 0;
    std::optional<uint64_t> oldest_open; // none: nothing open
    uint32_t pid = 0;
    bool counts = false, evicted = false;
  };
  std::vector<Host> hosts;
  struct Pending {
    std::string path;
    uint64_t bytes = 0, delete_index = 0, target_index = 0;
    std::string held_by;            // system uuid of the first host holding it
    std::string held_by_hostname;
    std::string why;                // "has not replayed the delete" / "has entry N open"
  };
  std::vector<Pending> pending;
};

// The figures of user.famfs.status, as the daemon read them for one request.
struct StatusFigures {
  std::string role, device, mountpoint, fs_uuid, system_uuid;
  uint64_t capacity_bytes = 0, free_bytes = 0, allocated_bytes = 0;
  uint64_t entries_used = 0, entries_total = 0, files = 0, directories = 0;
  int64_t last_replay_unix_ms = 0;
  std::optional<int64_t> replay_lag_ms; // none observed yet
  unsigned refresh_ms = 0;
  std::optional<ReplayIssue> damage;
  uint64_t skipped_entries = 0, collisions = 0;
  bool read_only = false;
  bool owner = false; // this daemon owns the file system's writes on its host
  long pid = 0;
  bool direct_io = false, direct_io_allow_mmap = false;
  uint32_t kernel_proto_minor = 0;
  // Internal counters, reported under "debug" (for tests and diagnosis, not a stable interface).
  uint64_t invalidations_unsent = 0, lookup_refs = 0, inodes_known_to_kernel = 0;
  std::string transport;          // "uring" or "dev": how requests reach the daemon
  uint64_t uring_requests = 0;    // requests served through the ring
  uint64_t negative_entries = 0; // absent names the kernel may be caching (NegativeNames)
  DeleteFigures del;
};

std::string status_json(const StatusFigures& f);

// user.famfs.logplay: "replay now, then report". getxattr(2) callers ask twice (size, then
// data): the replays between a size probe and the read that follows are reported together,
// so the second call's report also counts what the first one applied.
class LogplayReports {
 public:
  // How long a size probe keeps its replay for the read that follows.
  static constexpr int64_t kProbeKeepMs = 2000;

  // Held by the caller across its replay and the calls below (one logplay at a time).
  std::unique_lock<std::mutex> lock() { return std::unique_lock(mu_); }

  // Count one replay (caller holds lock()).
  void add(const ReplayReport& fresh, int64_t now_ms);
  // The report of what was counted (caller holds lock()); `damage`: the daemon's current one.
  std::string text(uint64_t entries, const std::optional<ReplayIssue>& damage) const;
  // The report was answered to a caller with a `caller_size` buffer: a probe (0) or a short
  // buffer keeps the count for the next call; a full answer starts the next count afresh.
  void answered(std::size_t caller_size, std::size_t report_size, int64_t now_ms);

 private:
  std::mutex mu_;
  ReplayReport acc_;
  bool pending_ = false;      // a probe was answered: the next call adds to acc_
  int64_t pending_since_ = 0; // when that probe was answered
};

} // namespace famfs::daemon
