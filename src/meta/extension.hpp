// The format extensions of docs/format-extensions.md (version 1): the extension header, the
// eviction table and the per-host state slots in the superblock region beyond byte 200, and
// the payload of the DELETE log entry (type 2). Pure code over the device span, as the rest of
// the core: structs are copied out (snapshot), validated, then used; writers build a whole
// struct with its CRC and copy it in (the caller flushes, through CacheOps).
//
// Also the reuse rule of docs/delete.md as a pure function, so the master's allocator, fsck
// and status all ask the same question the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/cacheops.hpp"
#include "meta/omf.hpp"
#include "meta/superblock.hpp"

namespace famfs::ext {

inline constexpr uint64_t kHeaderOffset = 0x1000;
inline constexpr uint64_t kEvictionOffset = 0x1400;
inline constexpr uint64_t kHostSlotsOffset = 0x2000;

inline constexpr uint64_t kHeaderMagic = 0x31545845534d4146ull; // "FAMSEXT1"
inline constexpr uint32_t kHostMagic = 0x54534f48;              // "HOST"
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kMaxHostSlots = 64;
inline constexpr uint32_t kHostSlotSize = 256;
inline constexpr uint32_t kDefaultLeaseMs = 10000;
inline constexpr uint32_t kDefaultHeartbeatMs = 100;
inline constexpr uint64_t kNothingOpen = ~0ull;

inline constexpr uint32_t kFeatureDelete = 1u << 0;
inline constexpr uint32_t kKnownFeatures = kFeatureDelete;

inline constexpr uint32_t kDeleteVersion = 1;
inline constexpr uint32_t kDeleteFlagDir = 1u << 0;

struct Header {
  uint64_t ex_magic;
  uint32_t ex_version;
  uint32_t ex_features;
  uint32_t ex_host_slots;
  uint32_t ex_slot_size;
  uint32_t ex_lease_ms;
  uint32_t ex_heartbeat_ms;
  uint8_t ex_fs_uuid[16];
  uint8_t ex_reserved[12];
  uint32_t ex_crc; // crc32 of bytes [0, 60)
};

struct EvictionTable {
  uint64_t ev_gen[kMaxHostSlots];
  uint32_t ev_crc; // crc32 of ev_gen
  uint32_t ev_pad;
};

enum HostState : uint32_t { kHostFree = 0, kHostActive = 1, kHostLeaving = 2 };

struct HostSlot {
  uint32_t hs_magic;
  uint32_t hs_version;
  uint8_t hs_system_uuid[16];
  uint64_t hs_generation;
  uint64_t hs_replayed;
  uint64_t hs_oldest_open;
  uint64_t hs_heartbeat;
  uint32_t hs_state;
  uint32_t hs_pid;
  char hs_hostname[64];
  uint8_t hs_reserved[124];
  uint32_t hs_crc; // crc32 of bytes [0, 252)
};

// Payload of a DELETE entry, inside LogEntry's 520-byte union (absolute offset 16).
struct DeleteMeta {
  uint32_t dl_version;
  uint32_t dl_flags;
  uint64_t dl_target; // log index of the FILE or MKDIR entry deleted
  char dl_relpath[omf::kRelpathField];
};

static_assert(sizeof(Header) == 64);
static_assert(offsetof(Header, ex_fs_uuid) == 32);
static_assert(offsetof(Header, ex_crc) == 60);
static_assert(sizeof(EvictionTable) == 8 * kMaxHostSlots + 8);
static_assert(sizeof(HostSlot) == kHostSlotSize);
static_assert(offsetof(HostSlot, hs_generation) == 24);
static_assert(offsetof(HostSlot, hs_state) == 56);
static_assert(offsetof(HostSlot, hs_hostname) == 64);
static_assert(offsetof(HostSlot, hs_crc) == 252);
static_assert(sizeof(DeleteMeta) == 96);
static_assert(offsetof(omf::LogEntry, raw) + offsetof(DeleteMeta, dl_target) == 24);
static_assert(offsetof(omf::LogEntry, raw) + offsetof(DeleteMeta, dl_relpath) == 32);
// Everything stays inside the superblock region, clear of the 200-byte superblock.
static_assert(kHeaderOffset >= sizeof(omf::Superblock));
static_assert(kEvictionOffset >= kHeaderOffset + sizeof(Header));
static_assert(kHostSlotsOffset >= kEvictionOffset + sizeof(EvictionTable));
static_assert(kHostSlotsOffset + uint64_t(kMaxHostSlots) * kHostSlotSize <= omf::kSuperblockRegion);

// ---------------------------------------------------------------------------------------------
// Extension header
enum class HeaderStatus { Valid, Absent, BadCrc, UnknownVersion, OtherFs, BadGeometry };
const char* header_status_text(HeaderStatus s);

struct HeaderRead {
  HeaderStatus status = HeaderStatus::Absent;
  Header header{}; // meaningful when status == Valid
};
// Reads and validates the header for the file system `fs_uuid` (the superblock's ts_uuid).
// Zeroes and stale bytes (upstream mkfs leaves the region alone) read as Absent.
HeaderRead read_header(std::span<const std::byte> device, const Uuid& fs_uuid);

// The superblock's file system UUID (ts_uuid), which the header must carry.
Uuid fs_uuid_of(std::span<const std::byte> device);
// The header as it is now in shared memory (its cache lines dropped first: the master may
// have just written it), for the file system on `device`.
HeaderRead read_header_now(std::span<const std::byte> device, const CacheOps& cache);
// True when the header is valid and has the DELETE feature: the one test replay, fsck and the
// commands make (a header that is absent, damaged or of another version means "off").
bool delete_enabled(const HeaderRead& h);

// A fresh header (CRC set) with the given features.
Header make_header(const Uuid& fs_uuid, uint32_t features, uint32_t lease_ms = kDefaultLeaseMs,
                   uint32_t heartbeat_ms = kDefaultHeartbeatMs);
// Recompute ex_crc after a field changed.
void seal(Header& h);
// Copy the header into the device (the caller flushes [kHeaderOffset, +sizeof(Header))).
void write_header(std::span<std::byte> device, const Header& h);

// ---------------------------------------------------------------------------------------------
// Eviction table (master-written). An invalid table reads as "nobody evicted" plus a status
// the caller reports.
struct EvictionRead {
  bool valid = false;
  EvictionTable table{};
};
EvictionRead read_evictions(std::span<const std::byte> device);
void write_evictions(std::span<std::byte> device, EvictionTable t); // seals the CRC

// ---------------------------------------------------------------------------------------------
// Host slots
enum class SlotStatus { Valid, Free, BadCrc, UnknownVersion };
struct SlotRead {
  SlotStatus status = SlotStatus::Free;
  HostSlot slot{};
};
// Slot i < header.ex_host_slots (callers clamp with slot_count()).
SlotRead read_slot(std::span<const std::byte> device, uint32_t i);
void seal(HostSlot& s);
void write_slot(std::span<std::byte> device, uint32_t i, HostSlot s); // seals the CRC
uint32_t slot_count(const Header& h); // min(ex_host_slots, kMaxHostSlots)
uint64_t slot_offset(uint32_t i);

// A host's slot as the reuse rule needs it.
struct HostView {
  Uuid system_uuid{};
  uint64_t replayed = 0;       // entries applied
  uint64_t oldest_open = kNothingOpen;
  bool counts = true;          // false: evicted, left cleanly, or gone past its lease
  // For status and famfs hosts:
  uint32_t slot = 0;
  uint64_t generation = 0;
  uint64_t heartbeat = 0;
  uint32_t state = kHostFree;
  uint32_t pid = 0;
  bool evicted = false;        // generation <= ev_gen[slot]
  bool unreadable = false;     // the slot failed its CRC on every read: counts, holds all
  std::string hostname;
};

// Every slot that is not free, as the reuse rule sees it: an ACTIVE host counts unless the
// eviction table names its generation; a LEAVING host does not; a slot that stays unreadable
// after `retries` reads (a torn read of a write in progress heals on the next) counts and
// holds everything (replayed 0). Cache lines are dropped before each read.
std::vector<HostView> read_hosts(std::span<const std::byte> device, const Header& h,
                                 const CacheOps& cache, int retries = 3);

// ---------------------------------------------------------------------------------------------
// The reuse rule (docs/delete.md): the space of the FILE at `target_index`, deleted by the
// entry at `delete_index`, may be reused when every host that counts has replayed past the
// DELETE and has nothing open made at or before the target.
bool reusable(uint64_t delete_index, uint64_t target_index, std::span<const HostView> hosts);
// The first host (index into `hosts`) that holds it back, for status; nullopt if reusable.
std::optional<std::size_t> holder(uint64_t delete_index, uint64_t target_index,
                                  std::span<const HostView> hosts);

// ---------------------------------------------------------------------------------------------
// DELETE entries
// A DELETE entry (type 2, payload v1) for `relpath` (canonical, <= 79 bytes: throws
// famfs::Error(ENAMETOOLONG) otherwise). seqnum and CRC are set by LogWriter::append.
omf::LogEntry make_delete_entry(uint64_t target_index, const std::string& relpath, bool is_dir);

enum class DeleteCheck { Ok, UnknownVersion, BadFlags, NoNul, BadPadding };
const char* delete_check_text(DeleteCheck c);
// Validates the payload of an entry of type kLogDelete (not its target: that needs the
// namespace) and copies it out.
DeleteCheck parse_delete(const omf::LogEntry& e, DeleteMeta& out);

} // namespace famfs::ext
