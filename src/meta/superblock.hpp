// Superblock: creation (mkfs), validation (spec B§2.1 + Part A §1) and role (B§2.2).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "meta/omf.hpp"

namespace famfs {

using Uuid = std::array<uint8_t, 16>;

std::string uuid_to_string(const Uuid& u);            // lowercase canonical, as uuid_unparse
std::string uuid_to_string(const uint8_t (&b)[16]);
bool uuid_from_string(std::string_view s, Uuid& out);  // uuid_parse
Uuid uuid_random();                                    // uuid_generate (v4)

enum class SbStatus {
  Valid,          // version 48
  ValidOldVersion,// version 47: usable, warn (Part A §1)
  NoMagic,        // no superblock at all
  WrongVersion,   // magic ok, version neither 47 nor 48 (upstream rc 1)
  BadCrc,
  BadAllocUnit,   // neither 4096 nor 2 MiB
  BadLogOffset,   // not 0x200000
  BadLogLen,      // not a power of two >= 8 MiB
};
bool sb_usable(SbStatus s); // Valid or ValidOldVersion
const char* sb_status_text(SbStatus s); // short human text, e.g. "bad superblock CRC"

uint64_t superblock_crc(const omf::Superblock& sb); // over bytes [0, 96)
SbStatus check_superblock(const omf::Superblock& sb);

// Copy the superblock out of a device span (size >= 200 bytes).
omf::Superblock read_superblock(std::span<const std::byte> device);

struct SuperblockParams {
  uint64_t log_len = omf::kMinLogLen;
  uint64_t device_size = 0;
  Uuid fs_uuid{};
  Uuid dev_uuid{};
  Uuid system_uuid{};
  std::string device_path; // copied strncpy-style into dd_daxdev (64 bytes)
};
// A fresh superblock as our mkfs writes it: all fields, CRC last, sb_flags = PRIMARY,
// dd_uuid = dev_uuid, every other byte zero.
omf::Superblock make_superblock(const SuperblockParams& p);

enum class Role { Master = 1, Client = 2, NoSuper = 3, NoDev = 4 };
const char* role_name(Role r); // "master", "client", "nosuper", "nodev"
// B§2.2: no usable superblock -> NoSuper; system uuid unknown -> Client; equal -> Master.
Role role_of(const omf::Superblock& sb, const Uuid* system_uuid);

} // namespace famfs
