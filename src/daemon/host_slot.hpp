// This host's state slot in the extension area (docs/delete.md "Publishing"; layouts in
// docs/format-extensions.md), and the open handles it publishes. Only when the file system has
// delete enabled: otherwise nothing here writes a byte (upstream compatibility).
//
//   OpenIndexes    the log index of every inode with an open FUSE handle on this host
//                  (libfamfs and the preload keep an fd open for the life of a mapping)
//   HostSlotKeeper registers (before the first replay), publishes at every poll (replayed,
//                  oldest open, heartbeat), notices its own eviction, and on the master evicts
//                  hosts whose heartbeat has not moved for the lease.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/cacheops.hpp"
#include "meta/extension.hpp"
#include "meta/superblock.hpp"

namespace famfs::daemon {

class OpenIndexes {
 public:
  void add(uint64_t log_index);
  void remove(uint64_t log_index);
  uint64_t oldest() const; // ext::kNothingOpen when nothing is open

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> count_; // log index -> open handles
};

class HostSlotKeeper {
 public:
  struct Config {
    std::span<std::byte> device; // writable mapping (the slot is written through it)
    CacheOps cache;
    Uuid system_uuid{};
    bool master = false;
    std::string hostname;
    uint32_t pid = 0;
  };
  explicit HostSlotKeeper(Config c) : c_(std::move(c)) {}

  // Register when delete is enabled (before the first replay: the master then waits for this
  // host). Throws famfs::Error when every slot is taken.
  void start();

  enum class Event { None, Registered, Evicted };
  // One poll: read the header (delete may have been enabled since), register if needed,
  // publish when something changed or a heartbeat is due, check the eviction table; on the
  // master, evict hosts silent for the lease. Evicted: this host must stop serving, catch up
  // and call reregister().
  Event poll(uint64_t replayed, uint64_t oldest_open, int64_t now_ms);
  void reregister(uint64_t replayed, uint64_t oldest_open, int64_t now_ms);
  // Clean unmount: the slot says LEAVING (the host no longer counts; the slot may be reused).
  void leave();

  bool registered() const { return registered_; }
  // False from the moment this host may have been considered gone: more than half a lease
  // since its last publish (a stopped process that was continued), or evicted, until the
  // poller has caught up. The data path checks it (EIO while false).
  bool may_serve(int64_t now_ms) const;
  std::optional<uint32_t> slot() const { return slot_; }
  uint64_t generation() const { return gen_; }
  uint32_t lease_ms() const { return lease_ms_.load(); }

 private:
  void claim(uint64_t replayed, uint64_t oldest_open, int64_t now_ms);
  void publish(uint64_t replayed, uint64_t oldest_open, int64_t now_ms);
  bool evicted() const;
  void evict_silent(const ext::Header& h, int64_t now_ms);

  Config c_;
  std::optional<uint32_t> slot_;
  uint64_t gen_ = 0;
  uint64_t heartbeat_ = 0;
  uint64_t last_replayed_ = ~0ULL, last_oldest_ = 0;
  int64_t last_write_ms_ = 0;
  std::atomic<int64_t> last_publish_ms_{0};
  std::atomic<bool> evicted_{false};
  std::atomic<bool> registered_{false}; // slot_ has a value (read by FUSE workers)
  std::atomic<uint32_t> lease_ms_{ext::kDefaultLeaseMs};
  uint32_t heartbeat_ms_ = ext::kDefaultHeartbeatMs;
  // Master: the last heartbeat seen in each slot and when it moved (own monotonic clock).
  struct Seen {
    uint64_t generation = 0, heartbeat = 0;
    int64_t moved_ms = 0;
  };
  std::map<uint32_t, Seen> seen_;
};

} // namespace famfs::daemon
