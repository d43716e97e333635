// A file's map from file offsets to device offsets (spec B§4), in memory.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "meta/omf.hpp"

namespace famfs {

struct Extent {
  uint64_t offset = 0; // device offset
  uint64_t len = 0;
  bool operator==(const Extent&) const = default;
};

struct Fmap {
  enum class Kind : uint8_t { Simple, Interleave };
  Kind kind = Kind::Simple;
  std::vector<Extent> extents; // Simple: the extents in file order; Interleave: the strips
  uint64_t chunk_size = 0;     // Interleave only

  // Where file offset `off` lives: the device offset and how many bytes are contiguous on the
  // device from there (to the end of the extent or chunk). nullopt when off is beyond the map.
  struct Run {
    uint64_t dev_offset;
    uint64_t len;
  };
  std::optional<Run> resolve(uint64_t off) const;

  // Bytes the map can hold: sum of extents, or nstrips * strip length.
  uint64_t capacity() const;

  bool operator==(const Fmap&) const = default;
};

// Decode / encode the on-media fmap. Decoding never fails structurally (counts are clamped to
// 16 and reported by validate_fmap through `declared_count`), so hostile input is safe.
struct DecodedFmap {
  Fmap fmap;
  uint32_t ext_type;       // as stored
  uint64_t declared_count; // fmap_nextents (simple) or ie_nstrips (interleave), as stored
  uint32_t niext;          // fmap_nextents for interleave
  bool nonzero_devindex;
};
DecodedFmap fmap_from_log(const omf::LogFmap& lf);
// The same extents without building an Fmap (no allocation, no copy): the stored simple
// extents in file order, or the strips of an interleaved extent, the count clamped to 16 as
// above. `stored` points into `lf`, which must outlive the result.
struct LogExtents {
  uint32_t ext_type = 0;       // as stored
  uint64_t declared_count = 0; // as stored
  uint64_t chunk_size = 0;     // interleaved only
  bool nonzero_devindex = false;
  std::span<const omf::SimpleExtent> stored;
};
LogExtents log_extents(const omf::LogFmap& lf);
omf::LogFmap fmap_to_log(const Fmap& f); // zero-filled, devindex 0

// Part A §4: 1..16 extents (or one interleaved extent with 1..16 strips, power-of-two chunk
// that is a multiple of the AU, equal strip lengths), devindex 0, offsets and lengths multiples
// of the AU, every extent inside [2 MiB + log_len, device_size), capacity >= size.
// Returns the reason for rejection, or nullopt when valid.
std::optional<std::string> validate_fmap(const DecodedFmap& d, uint64_t file_size,
                                         uint64_t device_size, uint64_t log_len,
                                         uint64_t alloc_unit);

} // namespace famfs
