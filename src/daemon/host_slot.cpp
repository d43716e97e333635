// This host's state slot and its open handles (host_slot.hpp). No FUSE here: the daemon's
// calls into it are in ops_remove.cpp.
#include "daemon/host_slot.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/clock.hpp"
#include "meta/error.hpp"

namespace famfs::daemon {

// ------------------------------------------------------------------------------ OpenIndexes

void OpenIndexes::add(uint64_t log_index) {
  std::lock_guard g(mu_);
  ++count_[log_index];
}

void OpenIndexes::remove(uint64_t log_index) {
  std::lock_guard g(mu_);
  auto it = count_.find(log_index);
  if (it == count_.end()) return;
  if (--it->second == 0) count_.erase(it);
}

uint64_t OpenIndexes::oldest() const {
  std::lock_guard g(mu_);
  return count_.empty() ? ext::kNothingOpen : count_.begin()->first;
}

// --------------------------------------------------------------------------- HostSlotKeeper

namespace {

ext::HostSlot slot_bytes(const Uuid& id, uint64_t gen, uint64_t replayed, uint64_t oldest,
                         uint64_t heartbeat, uint32_t state, uint32_t pid,
                         const std::string& host) {
  ext::HostSlot s;
  std::memset(&s, 0, sizeof(s));
  std::memcpy(s.hs_system_uuid, id.data(), id.size());
  s.hs_generation = gen;
  s.hs_replayed = replayed;
  s.hs_oldest_open = oldest;
  s.hs_heartbeat = heartbeat;
  s.hs_state = state;
  s.hs_pid = pid;
  std::strncpy(s.hs_hostname, host.c_str(), sizeof(s.hs_hostname) - 1);
  return s;
}

bool same_uuid(const ext::HostSlot& s, const Uuid& id) {
  return std::memcmp(s.hs_system_uuid, id.data(), id.size()) == 0;
}

} // namespace

void HostSlotKeeper::start() {
  const ext::HeaderRead h = ext::read_header_now(c_.device, c_.cache);
  if (!ext::delete_enabled(h)) return;
  lease_ms_ = h.header.ex_lease_ms;
  heartbeat_ms_ = std::max<uint32_t>(1, h.header.ex_heartbeat_ms);
  claim(0, ext::kNothingOpen, mono_ms());
}

// A slot with this host's UUID, else a free or LEAVING one: written whole, then read back
// (another host claiming the same slot at once: whoever reads back a foreign UUID moves on).
void HostSlotKeeper::claim(uint64_t replayed, uint64_t oldest_open, int64_t now_ms) {
  const ext::HeaderRead h = ext::read_header_now(c_.device, c_.cache);
  const uint32_t n = ext::slot_count(h.header);
  // Other hosts write these: drop our cached lines of the whole area first.
  c_.cache.invalidate(c_.device.data() + ext::kEvictionOffset,
                      ext::slot_offset(ext::kMaxHostSlots) - ext::kEvictionOffset);
  const ext::EvictionRead ev = ext::read_evictions(c_.device);
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < n; ++i) {
    const ext::SlotRead r = ext::read_slot(c_.device, i);
    if (r.status == ext::SlotStatus::Valid && same_uuid(r.slot, c_.system_uuid))
      order.insert(order.begin(), i);
    else if (r.status == ext::SlotStatus::Free ||
             (r.status == ext::SlotStatus::Valid && r.slot.hs_state == ext::kHostLeaving))
      order.push_back(i);
  }
  for (uint32_t i : order) {
    const ext::SlotRead r = ext::read_slot(c_.device, i);
    const uint64_t old_gen = r.status == ext::SlotStatus::Valid ? r.slot.hs_generation : 0;
    gen_ = std::max(old_gen, ev.valid ? ev.table.ev_gen[i] : 0) + 1;
    ext::write_slot(c_.device, i,
                    slot_bytes(c_.system_uuid, gen_, replayed, oldest_open, ++heartbeat_,
                               ext::kHostActive, c_.pid, c_.hostname));
    c_.cache.flush(c_.device.data() + ext::slot_offset(i), ext::kHostSlotSize);
    c_.cache.fence();
    c_.cache.invalidate(c_.device.data() + ext::slot_offset(i), ext::kHostSlotSize);
    const ext::SlotRead back = ext::read_slot(c_.device, i);
    if (back.status != ext::SlotStatus::Valid || !same_uuid(back.slot, c_.system_uuid) ||
        back.slot.hs_generation != gen_)
      continue;
    slot_ = i;
    last_replayed_ = replayed;
    last_oldest_ = oldest_open;
    last_write_ms_ = now_ms;
    last_publish_ms_ = now_ms;
    evicted_ = false;
    registered_ = true;
    spdlog::info("delete is enabled: registered in host slot {} (generation {})", i, gen_);
    return;
  }
  throw Error(EBUSY, "every host slot of this famfs is taken (" + std::to_string(n) +
                         " hosts); evict a host that is gone with 'famfs hosts --evict UUID' on "
                         "the master");
}

void HostSlotKeeper::publish(uint64_t replayed, uint64_t oldest_open, int64_t now_ms) {
  const uint32_t i = *slot_;
  ext::write_slot(c_.device, i,
                  slot_bytes(c_.system_uuid, gen_, replayed, oldest_open, ++heartbeat_,
                             ext::kHostActive, c_.pid, c_.hostname));
  c_.cache.flush(c_.device.data() + ext::slot_offset(i), ext::kHostSlotSize);
  c_.cache.fence();
  last_replayed_ = replayed;
  last_oldest_ = oldest_open;
  last_write_ms_ = now_ms;
}

bool HostSlotKeeper::evicted() const {
  c_.cache.invalidate(c_.device.data() + ext::kEvictionOffset, sizeof(ext::EvictionTable));
  const ext::EvictionRead ev = ext::read_evictions(c_.device);
  return ev.valid && gen_ <= ev.table.ev_gen[*slot_];
}

HostSlotKeeper::Event HostSlotKeeper::poll(uint64_t replayed, uint64_t oldest_open,
                                           int64_t now_ms) {
  const ext::HeaderRead h = ext::read_header_now(c_.device, c_.cache);
  const bool enabled = ext::delete_enabled(h);
  // A header that reads invalid once registered (a torn read, a damaged area) changes
  // nothing: the host keeps publishing with what it knew, the master keeps counting it.
  if (!enabled && !slot_) return Event::None;
  if (enabled) {
    lease_ms_ = h.header.ex_lease_ms;
    heartbeat_ms_ = std::max<uint32_t>(1, h.header.ex_heartbeat_ms);
  }
  if (!slot_) {
    claim(replayed, oldest_open, now_ms);
    return Event::Registered;
  }
  if (evicted_ || evicted()) {
    evicted_ = true;
    return Event::Evicted;
  }
  // Our slot overwritten by someone else (a slot claimed twice): take one again.
  c_.cache.invalidate(c_.device.data() + ext::slot_offset(*slot_), ext::kHostSlotSize);
  const ext::SlotRead mine = ext::read_slot(c_.device, *slot_);
  if (mine.status == ext::SlotStatus::Valid && !same_uuid(mine.slot, c_.system_uuid)) {
    spdlog::error("host slot {} now belongs to another host: registering again", *slot_);
    registered_ = false;
    slot_.reset();
    claim(replayed, oldest_open, now_ms);
    return Event::Registered;
  }
  if (replayed != last_replayed_ || oldest_open != last_oldest_ ||
      now_ms - last_write_ms_ >= int64_t(heartbeat_ms_))
    publish(replayed, oldest_open, now_ms);
  last_publish_ms_ = now_ms;
  if (c_.master && enabled) evict_silent(h.header, now_ms);
  return Event::None;
}

void HostSlotKeeper::reregister(uint64_t replayed, uint64_t oldest_open, int64_t now_ms) {
  registered_ = false;
  slot_.reset();
  claim(replayed, oldest_open, now_ms);
}

void HostSlotKeeper::leave() {
  if (!slot_) return;
  ext::write_slot(c_.device, *slot_,
                  slot_bytes(c_.system_uuid, gen_, last_replayed_, ext::kNothingOpen,
                             ++heartbeat_, ext::kHostLeaving, c_.pid, c_.hostname));
  c_.cache.flush(c_.device.data() + ext::slot_offset(*slot_), ext::kHostSlotSize);
  c_.cache.fence();
  registered_ = false;
  slot_.reset();
}

bool HostSlotKeeper::may_serve(int64_t now_ms) const {
  if (!registered_) return !evicted_;
  return !evicted_ && now_ms - last_publish_ms_.load() <= int64_t(lease_ms_.load() / 2);
}

// The master's daemon is the one that declares hosts gone: a host whose heartbeat has not
// moved for the lease, timed on this host's clock from when it was last seen moving.
void HostSlotKeeper::evict_silent(const ext::Header& h, int64_t now_ms) {
  std::vector<ext::HostView> hosts = ext::read_hosts(c_.device, h, c_.cache, 1);
  std::vector<std::pair<uint32_t, uint64_t>> gone;
  for (const ext::HostView& v : hosts) {
    if (v.slot == *slot_ || !v.counts || v.unreadable) continue;
    Seen& s = seen_[v.slot];
    if (s.moved_ms == 0 || s.generation != v.generation || s.heartbeat != v.heartbeat) {
      s = {v.generation, v.heartbeat, now_ms};
      continue;
    }
    if (now_ms - s.moved_ms > int64_t(h.ex_lease_ms)) {
      gone.emplace_back(v.slot, v.generation);
      spdlog::warn("host {} ({}, slot {}) has not published for {} ms (lease {} ms): "
                   "considered gone; it must replay the log before it serves again",
                   uuid_to_string(v.system_uuid), v.hostname, v.slot, now_ms - s.moved_ms,
                   h.ex_lease_ms);
    }
  }
  if (gone.empty()) return;
  c_.cache.invalidate(c_.device.data() + ext::kEvictionOffset, sizeof(ext::EvictionTable));
  ext::EvictionTable t = ext::read_evictions(c_.device).table;
  for (auto [i, g] : gone) t.ev_gen[i] = std::max(t.ev_gen[i], g);
  ext::write_evictions(c_.device, t);
  c_.cache.flush(c_.device.data() + ext::kEvictionOffset, sizeof(t));
  c_.cache.fence();
}

} // namespace famfs::daemon
