#include "cli/fsck_report.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "cli/util.hpp"
#include "dax/cache.hpp"
#include "meta/bitmap.hpp"
#include "meta/log.hpp"
#include "meta/omf.hpp"
#include "proto/json_text.hpp"

namespace famfs::cli {

namespace {

constexpr double kGiB = double(1ull << 30);

const char* sb_status_key(SbStatus s) {
  switch (s) {
    case SbStatus::Valid: return "valid";
    case SbStatus::ValidOldVersion: return "valid_old_version";
    case SbStatus::NoMagic: return "no_magic";
    case SbStatus::WrongVersion: return "wrong_version";
    case SbStatus::BadCrc: return "bad_crc";
    case SbStatus::BadAllocUnit: return "bad_alloc_unit";
    case SbStatus::BadLogOffset: return "bad_log_offset";
    case SbStatus::BadLogLen: return "bad_log_len";
  }
  return "unknown";
}

const char* log_status_key(LogHeaderStatus s) {
  switch (s) {
    case LogHeaderStatus::Ok: return "ok";
    case LogHeaderStatus::BadMagic: return "bad_magic";
    case LogHeaderStatus::BadCrc: return "bad_crc";
    case LogHeaderStatus::LenMismatch: return "len_mismatch";
    case LogHeaderStatus::BadLastIndex: return "bad_last_index";
    case LogHeaderStatus::BadNextIndex: return "bad_next_index";
  }
  return "unknown";
}

// Upstream's wording for the role line.
const char* role_line(Role r) {
  switch (r) {
    case Role::Master: return "Owner";
    case Role::Client: return "Client";
    case Role::NoSuper: return "Invalid superblock";
    case Role::NoDev: return "No device";
  }
  return "Invalid superblock";
}

// dd_daxdev is strncpy'd: not NUL-terminated when 64 bytes long.
std::string daxdev_field(const omf::Superblock& sb) {
  const char* p = sb.ts_daxdev.dd_daxdev;
  return std::string(p, strnlen(p, sizeof sb.ts_daxdev.dd_daxdev));
}

// Whether fsck got as far as reading the entries: a valid header, or one whose only fault is
// inconsistent next_* counters (readers then bound them by the slot count).
bool log_ok(const FsckReport& r) {
  return sb_usable(r.sb_status) && r.log_status &&
         (*r.log_status == LogHeaderStatus::Ok || *r.log_status == LogHeaderStatus::BadNextIndex);
}

uint64_t bitmap_bits(const FsckReport& r) {
  const uint64_t au = r.geometry.alloc_unit ? r.geometry.alloc_unit : omf::kAllocUnit;
  return (r.geometry.device_size + au - 1) / au;
}

uint64_t entries_used(const FsckReport& r) {
  return std::min<uint64_t>(r.log.famfs_log_next_index, r.geometry.slots());
}

void size_line(std::FILE* out, const char* label, uint64_t bytes, bool human) {
  if (human)
    std::fprintf(out, "  %-24s%0.2fG\n", label, double(bytes) / kGiB);
  else
    std::fprintf(out, "  %-24s%llu\n", label, static_cast<unsigned long long>(bytes));
}

// -B n: how full each of n equal buckets of the data area is (what interleaved allocation
// sees), with the largest free run in each.
void print_buckets(std::FILE* out, const FsckReport& r, std::span<const std::byte> device,
                   uint32_t nbuckets, bool human) {
  BitmapBuild bb = build_bitmap(device, r.geometry, CacheOps{});
  const uint64_t au = r.geometry.alloc_unit;
  const uint64_t bucket_bits = bb.bitmap.nbits() / nbuckets;
  std::fprintf(out, "\nStripe bucket info (%u buckets of %llu AUs):\n", nbuckets,
               static_cast<unsigned long long>(bucket_bits));
  if (bucket_bits == 0) {
    std::fprintf(out, "  device too small for %u buckets\n", nbuckets);
    return;
  }
  for (uint32_t b = 0; b < nbuckets; ++b) {
    uint64_t used = 0, run = 0, best = 0;
    for (uint64_t i = b * bucket_bits; i < (b + 1) * bucket_bits; ++i) {
      if (bb.bitmap.test(i)) {
        ++used;
        run = 0;
      } else {
        best = std::max(best, ++run);
      }
    }
    if (human)
      std::fprintf(out, "  bucket %2u: offset 0x%llx: %llu used, %llu free AUs; largest free run %0.2fG\n",
                   b, static_cast<unsigned long long>(b * bucket_bits * au),
                   static_cast<unsigned long long>(used),
                   static_cast<unsigned long long>(bucket_bits - used), double(best * au) / kGiB);
    else
      std::fprintf(out, "  bucket %2u: offset 0x%llx: %llu used, %llu free AUs; largest free run %llu bytes\n",
                   b, static_cast<unsigned long long>(b * bucket_bits * au),
                   static_cast<unsigned long long>(used),
                   static_cast<unsigned long long>(bucket_bits - used),
                   static_cast<unsigned long long>(best * au));
  }
}

// A file has at most one interleaved extent (upstream's FAMFS_MAX_INTERLEAVED_EXTENTS).
constexpr int kMaxInterleavedExtents = 1;

// Upstream's "Verbose:" block (fsck -v); scripts read its log_len line.
void print_verbose_block(std::FILE* out, const FsckReport& r) {
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  const uint64_t last_index = r.geometry.slots() ? r.geometry.slots() - 1 : 0;
  std::fprintf(out, "\nVerbose:\n");
  std::fprintf(out, "  log_offset:        %llu\n", u(r.sb.ts_log_offset));
  std::fprintf(out, "  log_len:           %llu\n", u(r.sb.ts_log_len));
  std::fprintf(out, "  log_entry components:\n");
  std::fprintf(out, "      sizeof(log header) %zu\n", sizeof(omf::LogHeader));
  std::fprintf(out, "      sizeof(log_entry)  %zu\n", sizeof(omf::LogEntry));
  std::fprintf(out, "          sizeof(mkdir)     %zu\n", sizeof(omf::MkdirMeta));
  std::fprintf(out, "          sizeof(file_meta) %zu\n", sizeof(omf::FileMeta));
  std::fprintf(out, "              sizeof(fmap)    %zu\n", sizeof(omf::LogFmap));
  std::fprintf(out, "                  sizeof(interleaved_ext[%d]): %zu\n", kMaxInterleavedExtents,
               sizeof(omf::InterleavedExtent));
  std::fprintf(out, "                  sizeof(famfs_simple_ext[%zu]): %zu\n", omf::kMaxExtents,
               sizeof(omf::SimpleExtent));
  std::fprintf(out, "  last_log_index:    %llu\n", u(last_index));
  std::fprintf(out, "  usable log size:   %llu\n",
               u(omf::kLogHeaderSize + omf::kLogEntrySize * last_index));
  std::fprintf(out, "  sizeof(struct famfs_log_file_meta): %zu\n", sizeof(omf::FileMeta));
  std::fprintf(out, "  cache flush instruction: %s\n", dax::flush_instruction_name());
}

} // namespace

uint64_t fsck_allocated_bytes(const FsckReport& r) {
  if (!log_ok(r)) return 0;
  const uint64_t cap = bitmap_bits(r) * r.geometry.alloc_unit;
  return cap >= r.free_bytes ? cap - r.free_bytes : 0;
}

void print_fsck_human(std::FILE* out, const FsckReport& r, std::span<const std::byte> device_bytes,
                      const FsckPrintOptions& o) {
  const omf::Superblock& sb = r.sb;
  std::fprintf(out, "Famfs Superblock:\n");
  if (!sb_usable(r.sb_status) && r.sb_status != SbStatus::WrongVersion) {
    std::fprintf(out, "  %s\n", sb_status_text(r.sb_status));
    std::fprintf(out, "  role of this node: %s\n", role_line(r.role));
  } else {
    std::fprintf(out, "  Filesystem UUID:   %s\n", uuid_to_string(sb.ts_uuid).c_str());
    std::fprintf(out, "  Device UUID:       %s\n", uuid_to_string(sb.ts_dev_uuid).c_str());
    std::fprintf(out, "  System UUID:       %s\n", uuid_to_string(sb.ts_system_uuid).c_str());
    std::fprintf(out, "  role of this node: %s\n", role_line(r.role));
    std::fprintf(out, "  alloc_unit:        0x%llx\n",
                 static_cast<unsigned long long>(sb.ts_alloc_unit));
    std::fprintf(out, "  OMF major version: %u\n", sb.ts_omf_ver_major);
    std::fprintf(out, "  OMF minor version: %u\n", sb.ts_omf_ver_minor);
    std::fprintf(out, "  sizeof superblock: %zu\n", sizeof(omf::Superblock));
    std::fprintf(out, "  log size (bytes):  %llu\n", static_cast<unsigned long long>(sb.ts_log_len));
    std::fprintf(out, "  primary: %s   %llu\n", daxdev_field(sb).c_str(),
                 static_cast<unsigned long long>(sb.ts_daxdev.dd_size));
    if (r.sb_status == SbStatus::WrongVersion)
      std::fprintf(out, "  version:           %llu (%s)\n",
                   static_cast<unsigned long long>(sb.ts_version), sb_status_text(r.sb_status));
  }
  if (sb_usable(r.sb_status) && r.log_status) {
    std::fprintf(out, "\nLog stats:\n");
    if (*r.log_status != LogHeaderStatus::Ok)
      std::fprintf(out, "  ERROR: %s\n", log_header_status_text(*r.log_status));
    if (log_ok(r)) {
      const uint64_t used = entries_used(r);
      std::fprintf(out, "  # of log entries in use: %llu of %llu\n",
                   static_cast<unsigned long long>(used),
                   static_cast<unsigned long long>(r.geometry.slots()));
      std::fprintf(out, "  Log size in use:          %llu\n",
                   static_cast<unsigned long long>(omf::kLogHeaderSize + omf::kLogEntrySize * used));
      std::fprintf(out, "  Log size (total bytes)    %llu\n",
                   static_cast<unsigned long long>(r.geometry.log_len));
      if (r.bitmap.collisions)
        std::fprintf(out, "  ERROR: %llu ALLOCATION COLLISIONS FOUND\n",
                     static_cast<unsigned long long>(r.bitmap.collisions));
      else
        std::fprintf(out, "  No allocation errors found\n");

      if (!r.bitmap.collisions) {
        const uint64_t bitmap_cap = bitmap_bits(r) * r.geometry.alloc_unit;
        const uint64_t alloc = fsck_allocated_bytes(r);
        std::fprintf(out, "\nCapacity:\n");
        size_line(out, "Device capacity:", r.capacity_bytes, o.human);
        size_line(out, "Bitmap capacity:", bitmap_cap, o.human);
        size_line(out, "Sum of file sizes:", r.bitmap.sum_file_sizes, o.human);
        size_line(out, "Allocated bytes:", alloc, o.human);
        size_line(out, "Free space:", r.free_bytes, o.human);
        if (r.delete_enabled || r.bitmap.deleted_bytes)
          size_line(out, "Pending reuse:", r.bitmap.deleted_bytes, o.human);
        if (r.bitmap.sum_file_sizes)
          std::fprintf(out, "  %-24s%0.2f\n", "Space amplification:",
                       double(alloc) / double(r.bitmap.sum_file_sizes));
        std::fprintf(out, "  %-24s%.1f%%\n", "Percent used:",
                     bitmap_cap ? 100.0 * double(alloc) / double(bitmap_cap) : 0.0);
      }

      std::fprintf(out, "\nFamfs log:\n");
      std::fprintf(out, "  %llu of %llu entries used\n", static_cast<unsigned long long>(used),
                   static_cast<unsigned long long>(r.geometry.slots()));
      std::fprintf(out, "  %llu bad log entries detected\n",
                   static_cast<unsigned long long>(r.bitmap.bad_entries));
      std::fprintf(out, "  %llu files\n", static_cast<unsigned long long>(r.bitmap.files));
      std::fprintf(out, "  %llu directories\n",
                   static_cast<unsigned long long>(r.bitmap.directories));
      if (r.delete_enabled || r.bitmap.deletes)
        std::fprintf(out, "  %llu deletes (delete is %s)\n",
                     static_cast<unsigned long long>(r.bitmap.deletes),
                     r.delete_enabled ? "enabled" : "not enabled");
      if (o.nbuckets) print_buckets(out, r, device_bytes, o.nbuckets, o.human);
    }
  }
  if (o.verbose && sb_usable(r.sb_status)) print_verbose_block(out, r);

  if (!o.problems) return;
  for (const std::string& n : r.notes) std::fprintf(out, "\nNote: %s\n", n.c_str());
  if (r.problems.empty()) {
    std::fprintf(out, "\nNo problems found on %s\n", o.device.c_str());
  } else {
    std::fprintf(out, "\nProblems found on %s:\n", o.device.c_str());
    for (const std::string& p : r.problems) std::fprintf(out, "  - %s\n", p.c_str());
  }
}

std::string fsck_json(const FsckReport& r, const std::string& device,
                      const std::optional<Uuid>& host) {
  using proto::Json;
  const bool sb_ok = sb_usable(r.sb_status);
  const bool lg_ok = log_ok(r);
  const bool sb_known = sb_ok || r.sb_status == SbStatus::WrongVersion;
  auto uuid_or_null = [&](const uint8_t (&u)[16]) { return sb_known ? Json(uuid_to_string(u)) : Json(nullptr); };
  Json j;
  j["device"] = device;
  j["clean"] = r.clean();
  j["superblock_status"] = sb_status_key(r.sb_status);
  j["log_status"] = r.log_status ? Json(log_status_key(*r.log_status)) : Json(nullptr);
  j["role"] = role_name(r.role);
  j["fs_uuid"] = uuid_or_null(r.sb.ts_uuid);
  j["dev_uuid"] = uuid_or_null(r.sb.ts_dev_uuid);
  // Same keys, same meaning as famfs status: the master's identity and this host's.
  j["master_system_uuid"] = uuid_or_null(r.sb.ts_system_uuid);
  j["system_uuid"] = host ? Json(uuid_to_string(*host)) : Json(nullptr);
  j["version"] = sb_known ? Json(uint64_t(r.sb.ts_version)) : Json(nullptr);
  j["primary_device"] = sb_known ? Json(daxdev_field(r.sb)) : Json(nullptr);
  j["alloc_unit"] = uint64_t(sb_ok ? r.geometry.alloc_unit : 0);
  j["log_len"] = uint64_t(sb_ok ? r.geometry.log_len : 0);
  j["entries_used"] = uint64_t(lg_ok ? entries_used(r) : 0);
  j["entries_total"] = uint64_t(lg_ok ? r.geometry.slots() : 0);
  j["files"] = r.bitmap.files;
  j["directories"] = r.bitmap.directories;
  j["bad_entries"] = r.bitmap.bad_entries;
  j["collisions"] = r.bitmap.collisions;
  j["out_of_bounds"] = r.bitmap.out_of_bounds;
  j["capacity_bytes"] = r.capacity_bytes;
  j["allocated_bytes"] = fsck_allocated_bytes(r);
  j["free_bytes"] = r.free_bytes;
  j["sum_file_sizes"] = r.bitmap.sum_file_sizes;
  j["delete_enabled"] = r.delete_enabled;
  j["deletes"] = r.bitmap.deletes;
  j["pending_reuse_bytes"] = r.bitmap.deleted_bytes;
  j["notes"] = r.notes;
  j["damaged"] = r.replay.damage.has_value();
  j["damage_index"] = r.replay.damage ? Json(r.replay.damage->index) : Json(nullptr);
  j["damage_reason"] = r.replay.damage ? Json(r.replay.damage->what) : Json(nullptr);
  j["skipped_entries"] = uint64_t(r.replay.skipped.size());
  Json skipped = Json::array();
  for (const ReplayIssue& s : r.replay.skipped) skipped.push_back(Json{{"index", s.index}, {"what", s.what}});
  j["skipped"] = std::move(skipped);
  j["problems"] = r.problems;
  j["exit_code"] = fsck_exit_code(r);
  return proto::json_text(j);
}

std::string fsck_error_json(const std::string& device, const std::string& error, int exit_code) {
  proto::Json j;
  j["device"] = device;
  j["clean"] = false;
  j["error"] = error;
  j["exit_code"] = exit_code;
  return proto::json_text(j);
}

int fsck_exit_code(const FsckReport& r) {
  if (r.bitmap.collisions) return int(std::min<uint64_t>(r.bitmap.collisions, 127));
  return r.clean() ? 0 : 1;
}

} // namespace famfs::cli
