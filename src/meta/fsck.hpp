// fsck over a device span (spec B§8.2, Part A §4-§5): pure analysis, formatting elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/bitmap.hpp"
#include "meta/cacheops.hpp"
#include "meta/log.hpp"
#include "meta/replay.hpp"
#include "meta/superblock.hpp"

namespace famfs {

struct FsckReport {
  SbStatus sb_status = SbStatus::NoMagic;
  omf::Superblock sb{};
  Role role = Role::NoSuper;
  std::optional<LogHeaderStatus> log_status; // set when the superblock was usable
  omf::LogHeader log{};
  Geometry geometry{};
  uint64_t mapped_size = 0;
  BitmapStats bitmap;                 // bad entries, files, dirs, collisions, alloc bytes
  ReplayReport replay;                // what a mount would see: skips and damage
  uint64_t capacity_bytes = 0;        // device size
  uint64_t free_bytes = 0;

  // Any problem at all: bad superblock/header, damage, bad entries, skipped entries,
  // collisions, out-of-bounds extents.
  bool clean() const;
  // Human sentences: what is wrong and what the operator can do (empty when clean).
  std::vector<std::string> problems;
};

FsckReport run_fsck(std::span<const std::byte> device, const Uuid* system_uuid,
                    const CacheOps& cache);

} // namespace famfs
