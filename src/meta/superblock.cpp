// Superblock creation, validation and role (spec B§2, Part A §1).
#include "meta/superblock.hpp"

#include <uuid/uuid.h>

#include "meta/numeric.hpp"

#include <algorithm>
#include <cstring>

#include "meta/crc.hpp"

namespace famfs {

namespace {

// Bytes [0, 96) are covered: magic through ts_system_uuid, contiguous without padding.
constexpr std::size_t kSbCrcBytes = offsetof(omf::Superblock, ts_crc);
static_assert(kSbCrcBytes == 96);

} // namespace

std::string uuid_to_string(const uint8_t (&b)[16]) {
  char buf[37];
  uuid_unparse_lower(b, buf);
  return std::string(buf, 36);
}

std::string uuid_to_string(const Uuid& u) {
  uint8_t b[16];
  std::memcpy(b, u.data(), 16);
  return uuid_to_string(b);
}

bool uuid_from_string(std::string_view s, Uuid& out) {
  // uuid_parse wants exactly 36 characters and a terminated C string.
  if (s.size() != 36) return false;
  char buf[37];
  std::memcpy(buf, s.data(), 36);
  buf[36] = '\0';
  uuid_t u;
  if (uuid_parse(buf, u) != 0) return false;
  std::memcpy(out.data(), u, 16);
  return true;
}

Uuid uuid_random() {
  uuid_t u;
  uuid_generate(u);
  Uuid out;
  std::memcpy(out.data(), u, 16);
  return out;
}

bool sb_usable(SbStatus s) { return s == SbStatus::Valid || s == SbStatus::ValidOldVersion; }

const char* sb_status_text(SbStatus s) {
  switch (s) {
    case SbStatus::Valid: return "valid superblock";
    case SbStatus::ValidOldVersion:
      return "valid superblock of the previous version (47); usable, consider reformatting";
    case SbStatus::NoMagic: return "no famfs superblock (magic not found)";
    case SbStatus::WrongVersion: return "famfs superblock of an unsupported version";
    case SbStatus::BadCrc: return "bad superblock CRC (superblock corrupt)";
    case SbStatus::BadAllocUnit: return "bad superblock alloc unit (neither 4096 nor 2 MiB)";
    case SbStatus::BadLogOffset: return "bad superblock log offset (must be 0x200000)";
    case SbStatus::BadLogLen: return "bad superblock log length (must be a power of 2 >= 8 MiB)";
  }
  return "unknown superblock status";
}

uint64_t superblock_crc(const omf::Superblock& sb) {
  return crc32_of(&sb, kSbCrcBytes);
}

SbStatus check_superblock(const omf::Superblock& sb) {
  // Upstream order (B§2.1): magic, version, CRC, alloc unit; then Part A's extra checks.
  if (sb.ts_magic != omf::kSuperblockMagic) return SbStatus::NoMagic;
  const bool old_version = sb.ts_version == omf::kVersionPrevious;
  if (sb.ts_version != omf::kVersion && !old_version) return SbStatus::WrongVersion;
  if (sb.ts_crc != superblock_crc(sb)) return SbStatus::BadCrc;
  if (sb.ts_alloc_unit != omf::kAllocUnit && sb.ts_alloc_unit != omf::kSmallAllocUnit)
    return SbStatus::BadAllocUnit;
  if (sb.ts_log_offset != omf::kLogOffset) return SbStatus::BadLogOffset;
  if (!is_pow2(sb.ts_log_len) || sb.ts_log_len < omf::kMinLogLen) return SbStatus::BadLogLen;
  return old_version ? SbStatus::ValidOldVersion : SbStatus::Valid;
}

omf::Superblock read_superblock(std::span<const std::byte> device) {
  // A span too short to hold a superblock reads as all zeros, i.e. "no magic".
  omf::Superblock sb{};
  if (device.size() >= sizeof(sb)) std::memcpy(&sb, device.data(), sizeof(sb));
  return sb;
}

omf::Superblock make_superblock(const SuperblockParams& p) {
  omf::Superblock sb;
  std::memset(&sb, 0, sizeof(sb)); // padding included, not just the members
  sb.ts_magic = omf::kSuperblockMagic;
  sb.ts_version = omf::kVersion;
  sb.ts_log_offset = omf::kLogOffset;
  sb.ts_log_len = p.log_len;
  sb.ts_alloc_unit = omf::kAllocUnit;
  sb.ts_omf_ver_major = omf::kOmfMajor;
  sb.ts_omf_ver_minor = omf::kOmfMinor;
  std::memcpy(sb.ts_uuid, p.fs_uuid.data(), 16);
  std::memcpy(sb.ts_dev_uuid, p.dev_uuid.data(), 16);
  std::memcpy(sb.ts_system_uuid, p.system_uuid.data(), 16);
  sb.ts_sb_flags = omf::kSbFlagPrimary;
  sb.ts_daxdev.dd_size = p.device_size;
  std::memcpy(sb.ts_daxdev.dd_uuid, p.dev_uuid.data(), 16);
  // strncpy semantics: stop at the first NUL or after 64 bytes, zero-pad, and no terminator
  // when the path fills the field.
  const std::string_view path(p.device_path.c_str()); // up to the first NUL
  std::memcpy(sb.ts_daxdev.dd_daxdev, path.data(),
              std::min(path.size(), sizeof(sb.ts_daxdev.dd_daxdev)));
  sb.ts_crc = superblock_crc(sb); // last, over the fields above
  return sb;
}

const char* role_name(Role r) {
  switch (r) {
    case Role::Master: return "master";
    case Role::Client: return "client";
    case Role::NoSuper: return "nosuper";
    case Role::NoDev: return "nodev";
  }
  return "unknown";
}

Role role_of(const omf::Superblock& sb, const Uuid* system_uuid) {
  if (!sb_usable(check_superblock(sb))) return Role::NoSuper;
  if (system_uuid == nullptr) return Role::Client;
  return std::memcmp(system_uuid->data(), sb.ts_system_uuid, 16) == 0 ? Role::Master
                                                                       : Role::Client;
}

} // namespace famfs
