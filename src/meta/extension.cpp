// Format extensions v1 (docs/format-extensions.md) and the reuse rule (docs/delete.md).
#include "meta/extension.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "meta/crc.hpp"
#include "meta/error.hpp"
#include "meta/log.hpp"

namespace famfs::ext {

namespace {

template <class T>
bool copy_out(std::span<const std::byte> device, uint64_t off, T& out) {
  if (device.size() < off || device.size() - off < sizeof(T)) return false;
  std::memcpy(&out, device.data() + off, sizeof(T));
  return true;
}

template <class T>
void copy_in(std::span<std::byte> device, uint64_t off, const T& v) {
  if (device.size() < off || device.size() - off < sizeof(T))
    throw Error(EINVAL, "the device is too small for the famfs extension area");
  std::memcpy(device.data() + off, &v, sizeof(T));
}

uint32_t header_crc(const Header& h) { return crc32_of(&h, offsetof(Header, ex_crc)); }
uint32_t slot_crc(const HostSlot& s) { return crc32_of(&s, offsetof(HostSlot, hs_crc)); }
uint32_t evictions_crc(const EvictionTable& t) { return crc32_of(t.ev_gen, sizeof(t.ev_gen)); }

bool all_zero(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  return std::all_of(b, b + n, [](unsigned char c) { return c == 0; });
}

} // namespace

const char* header_status_text(HeaderStatus s) {
  switch (s) {
    case HeaderStatus::Valid: return "valid";
    case HeaderStatus::Absent: return "absent";
    case HeaderStatus::BadCrc: return "bad extension header CRC";
    case HeaderStatus::UnknownVersion: return "extension header of an unknown version";
    case HeaderStatus::OtherFs: return "extension header of an earlier file system on this device";
    case HeaderStatus::BadGeometry: return "extension header with an impossible slot layout";
  }
  return "?";
}

HeaderRead read_header(std::span<const std::byte> device, const Uuid& fs_uuid) {
  HeaderRead r;
  if (!copy_out(device, kHeaderOffset, r.header) || r.header.ex_magic != kHeaderMagic) {
    r.status = HeaderStatus::Absent;
  } else if (r.header.ex_crc != header_crc(r.header)) {
    r.status = HeaderStatus::BadCrc;
  } else if (r.header.ex_version != kVersion) {
    r.status = HeaderStatus::UnknownVersion;
  } else if (std::memcmp(r.header.ex_fs_uuid, fs_uuid.data(), fs_uuid.size()) != 0) {
    r.status = HeaderStatus::OtherFs;
  } else if (r.header.ex_slot_size != kHostSlotSize || r.header.ex_host_slots == 0 ||
             r.header.ex_host_slots > kMaxHostSlots) {
    r.status = HeaderStatus::BadGeometry;
  } else {
    r.status = HeaderStatus::Valid;
    return r;
  }
  r.header = Header{};
  return r;
}

Uuid fs_uuid_of(std::span<const std::byte> device) {
  Uuid u{};
  const omf::Superblock sb = read_superblock(device);
  std::memcpy(u.data(), sb.ts_uuid, u.size());
  return u;
}

HeaderRead read_header_now(std::span<const std::byte> device, const CacheOps& cache) {
  if (device.size() >= kHeaderOffset + sizeof(Header))
    cache.invalidate(device.data() + kHeaderOffset, sizeof(Header));
  return read_header(device, fs_uuid_of(device));
}

bool delete_enabled(const HeaderRead& h) {
  return h.status == HeaderStatus::Valid && (h.header.ex_features & kFeatureDelete) != 0;
}

Header make_header(const Uuid& fs_uuid, uint32_t features, uint32_t lease_ms,
                   uint32_t heartbeat_ms) {
  Header h;
  std::memset(&h, 0, sizeof(h));
  h.ex_magic = kHeaderMagic;
  h.ex_version = kVersion;
  h.ex_features = features;
  h.ex_host_slots = kMaxHostSlots;
  h.ex_slot_size = kHostSlotSize;
  h.ex_lease_ms = lease_ms;
  h.ex_heartbeat_ms = heartbeat_ms;
  std::memcpy(h.ex_fs_uuid, fs_uuid.data(), fs_uuid.size());
  seal(h);
  return h;
}

void seal(Header& h) { h.ex_crc = header_crc(h); }

void write_header(std::span<std::byte> device, const Header& h) { copy_in(device, kHeaderOffset, h); }

EvictionRead read_evictions(std::span<const std::byte> device) {
  EvictionRead r;
  if (copy_out(device, kEvictionOffset, r.table) && r.table.ev_crc == evictions_crc(r.table) &&
      r.table.ev_pad == 0) {
    r.valid = true;
  } else {
    r.table = EvictionTable{};
  }
  return r;
}

void write_evictions(std::span<std::byte> device, EvictionTable t) {
  t.ev_pad = 0;
  t.ev_crc = evictions_crc(t);
  copy_in(device, kEvictionOffset, t);
}

uint32_t slot_count(const Header& h) { return std::min(h.ex_host_slots, kMaxHostSlots); }

uint64_t slot_offset(uint32_t i) { return kHostSlotsOffset + uint64_t(i) * kHostSlotSize; }

SlotRead read_slot(std::span<const std::byte> device, uint32_t i) {
  SlotRead r;
  if (i >= kMaxHostSlots || !copy_out(device, slot_offset(i), r.slot) ||
      all_zero(&r.slot, sizeof(r.slot))) {
    r.status = SlotStatus::Free;
  } else if (r.slot.hs_magic != kHostMagic || r.slot.hs_crc != slot_crc(r.slot)) {
    r.status = SlotStatus::BadCrc;
  } else if (r.slot.hs_version != kVersion) {
    r.status = SlotStatus::UnknownVersion;
  } else {
    r.status = r.slot.hs_state == kHostFree ? SlotStatus::Free : SlotStatus::Valid;
    return r;
  }
  r.slot = HostSlot{};
  return r;
}

void seal(HostSlot& s) {
  s.hs_magic = kHostMagic;
  s.hs_version = kVersion;
  s.hs_hostname[sizeof(s.hs_hostname) - 1] = '\0';
  std::memset(s.hs_reserved, 0, sizeof(s.hs_reserved));
  s.hs_crc = slot_crc(s);
}

void write_slot(std::span<std::byte> device, uint32_t i, HostSlot s) {
  if (i >= kMaxHostSlots) throw Error(EINVAL, "host slot " + std::to_string(i) + " does not exist");
  seal(s);
  copy_in(device, slot_offset(i), s);
}

std::vector<HostView> read_hosts(std::span<const std::byte> device, const Header& h,
                                 const CacheOps& cache, int retries) {
  std::vector<HostView> out;
  if (device.size() >= kEvictionOffset + sizeof(EvictionTable))
    cache.invalidate(device.data() + kEvictionOffset, sizeof(EvictionTable));
  const EvictionRead ev = read_evictions(device);
  for (uint32_t i = 0; i < slot_count(h); ++i) {
    SlotRead r;
    for (int k = 0; k <= retries; ++k) {
      if (device.size() >= slot_offset(i) + kHostSlotSize)
        cache.invalidate(device.data() + slot_offset(i), kHostSlotSize);
      r = read_slot(device, i);
      if (r.status != SlotStatus::BadCrc) break;
    }
    if (r.status == SlotStatus::Free || r.status == SlotStatus::UnknownVersion) continue;
    HostView v;
    v.slot = i;
    if (r.status == SlotStatus::BadCrc) {
      v.unreadable = true;
      v.replayed = 0;
      v.oldest_open = 0;
      v.hostname = "(slot " + std::to_string(i) + " unreadable)";
      out.push_back(std::move(v));
      continue;
    }
    const HostSlot& s = r.slot;
    std::memcpy(v.system_uuid.data(), s.hs_system_uuid, v.system_uuid.size());
    v.replayed = s.hs_replayed;
    v.oldest_open = s.hs_oldest_open;
    v.generation = s.hs_generation;
    v.heartbeat = s.hs_heartbeat;
    v.state = s.hs_state;
    v.pid = s.hs_pid;
    v.hostname.assign(s.hs_hostname, strnlen(s.hs_hostname, sizeof(s.hs_hostname)));
    v.evicted = ev.valid && s.hs_generation <= ev.table.ev_gen[i];
    v.counts = s.hs_state == kHostActive && !v.evicted;
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<std::size_t> holder(uint64_t delete_index, uint64_t target_index,
                                  std::span<const HostView> hosts) {
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const HostView& h = hosts[i];
    if (!h.counts) continue;
    // replayed counts entries applied: the DELETE at delete_index is seen once replayed > it.
    if (h.replayed <= delete_index || h.oldest_open <= target_index) return i;
  }
  return std::nullopt;
}

bool reusable(uint64_t delete_index, uint64_t target_index, std::span<const HostView> hosts) {
  return !holder(delete_index, target_index, hosts);
}

omf::LogEntry make_delete_entry(uint64_t target_index, const std::string& relpath, bool is_dir) {
  omf::LogEntry e = zeroed_log_entry();
  e.famfs_log_entry_type = omf::kLogDelete;
  DeleteMeta dm;
  std::memset(&dm, 0, sizeof(dm));
  dm.dl_version = kDeleteVersion;
  dm.dl_flags = is_dir ? kDeleteFlagDir : 0;
  dm.dl_target = target_index;
  copy_relpath_field(dm.dl_relpath, relpath);
  std::memcpy(e.raw, &dm, sizeof(dm));
  return e;
}

const char* delete_check_text(DeleteCheck c) {
  switch (c) {
    case DeleteCheck::Ok: return "ok";
    case DeleteCheck::UnknownVersion: return "DELETE entry of an unknown payload version";
    case DeleteCheck::BadFlags: return "DELETE entry with unknown flags";
    case DeleteCheck::NoNul: return "DELETE entry whose path has no terminating NUL";
    case DeleteCheck::BadPadding: return "DELETE entry with non-zero bytes after its payload";
  }
  return "?";
}

DeleteCheck parse_delete(const omf::LogEntry& e, DeleteMeta& out) {
  std::memcpy(&out, e.raw, sizeof(out));
  if (out.dl_version != kDeleteVersion) return DeleteCheck::UnknownVersion;
  if (out.dl_flags & ~kDeleteFlagDir) return DeleteCheck::BadFlags;
  if (!std::memchr(out.dl_relpath, '\0', sizeof(out.dl_relpath))) return DeleteCheck::NoNul;
  if (!all_zero(e.raw + sizeof(out), sizeof(e.raw) - sizeof(out))) return DeleteCheck::BadPadding;
  return DeleteCheck::Ok;
}

} // namespace famfs::ext
