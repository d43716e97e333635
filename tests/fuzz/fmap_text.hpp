// Helpers of the fmap fuzz target: the geometry it assumes and conversions from libfamfs's
// parsed map. The text itself is written and read by src/proto/fmap_text (the daemon's
// encoder and the CLI's parser).
#pragma once

#include <cstdint>
#include <string>

#include "meta/fmap.hpp"
#include "meta/numeric.hpp"
#include "proto/fmap_text.hpp"

extern "C" {
#include "lib/famfs_core.h"
}

namespace famfs::fuzz {

inline constexpr uint64_t kLogLen = omf::kMinLogLen;
inline constexpr uint64_t kDataStart = omf::kLogOffset + kLogLen;
inline constexpr uint64_t kDeviceSize = uint64_t{1} << 50; // 1 PiB: far above any real device
inline constexpr uint64_t kPage = 4096;                    // libfamfs's alignment unit
// Inputs: first byte 0 = text, 1 = binary (u64 size + on-media fmap); make_seeds.py.
inline constexpr std::size_t kBinaryBytes = 1 + 8 + sizeof(omf::LogFmap);

inline std::string encode(uint64_t size, const Fmap& f) {
  return proto::format_fmap_text(size, f); // exactly what the daemon serves
}

inline Fmap from_lib(const fc_map& m) {
  Fmap f;
  f.kind = m.kind == FC_INTERLEAVE ? Fmap::Kind::Interleave : Fmap::Kind::Simple;
  f.chunk_size = m.kind == FC_INTERLEAVE ? m.chunk : 0;
  for (unsigned i = 0; i < m.n; ++i) f.extents.push_back({m.off[i], m.len[i]});
  return f;
}

inline DecodedFmap decoded(const Fmap& f) {
  DecodedFmap d{};
  d.fmap = f;
  d.ext_type = f.kind == Fmap::Kind::Interleave ? omf::kInterleavedExtent : omf::kSimpleExtent;
  d.declared_count = f.extents.size();
  d.niext = f.kind == Fmap::Kind::Interleave ? 1 : static_cast<uint32_t>(f.extents.size());
  d.nonzero_devindex = false;
  return d;
}


} // namespace famfs::fuzz
