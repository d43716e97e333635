// fsck over a device span (spec B§8.2, Part A §4-§5): pure analysis, formatting elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/bitmap.hpp"
#include "meta/cacheops.hpp"
#include "meta/extension.hpp"
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
  uint64_t free_bytes = 0;            // deleted space pending reuse is not free
  ext::HeaderStatus extension = ext::HeaderStatus::Absent; // docs/format-extensions.md
  bool delete_enabled = false;

  // Any problem at all: bad superblock/header, damage, bad entries, skipped entries,
  // collisions, out-of-bounds extents.
  bool clean() const;
  // Human sentences: what is wrong and what the operator can do (empty when clean).
  std::vector<std::string> problems;
  // Findings that are not errors (upstream does not count them either): DELETE entries
  // ignored because the feature is off, deleted space not reused yet.
  std::vector<std::string> notes;
};

FsckReport run_fsck(std::span<const std::byte> device, const Uuid* system_uuid,
                    const CacheOps& cache);

} // namespace famfs
