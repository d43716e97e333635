// File maps (spec B§4, Part A §4): resolution, on-media encoding and validation.
//
// Decoded maps may come from hostile media, so nothing here trusts a count or a length:
// arrays are clamped to 16, sums saturate instead of wrapping, and resolve() never indexes
// past the extents it has.
#include "meta/numeric.hpp"
#include "meta/fmap.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "meta/error.hpp"
#include "proto/fmap_rule.h"

namespace famfs {

namespace {

uint64_t min_strip_len(const std::vector<Extent>& strips) {
  uint64_t m = kU64Max;
  for (const Extent& s : strips) m = std::min(m, s.len);
  return strips.empty() ? 0 : m;
}

omf::SimpleExtent to_simple(const Extent& e) {
  omf::SimpleExtent s{};
  s.se_devindex = 0;
  s.se_offset = e.offset;
  s.se_len = e.len;
  return s;
}

} // namespace

uint64_t Fmap::capacity() const {
  if (kind == Kind::Simple) {
    uint64_t sum = 0;
    for (const Extent& e : extents) sum = sat_add(sum, e.len);
    return sum;
  }
  // Interleave: one rule for the core and the C library (src/proto/fmap_rule.h).
  return famfs_interleave_capacity(min_strip_len(extents), chunk_size, extents.size());
}

std::optional<Fmap::Run> Fmap::resolve(uint64_t off) const {
  if (kind == Kind::Simple) {
    uint64_t r = off;
    for (const Extent& e : extents) {
      if (r < e.len) return Run{e.offset + r, e.len - r};
      r -= e.len;
    }
    return std::nullopt;
  }
  uint64_t strip = 0, strip_off = 0, run = 0;
  if (famfs_interleave_locate(off, min_strip_len(extents), chunk_size, extents.size(), &strip,
                              &strip_off, &run) != 0)
    return std::nullopt; // beyond the map (also: no strips, chunk 0)
  return Run{extents[strip].offset + strip_off, run};
}

LogExtents log_extents(const omf::LogFmap& lf) {
  // `lf` is a caller's copy of the entry (never shared memory): the stored array is read where
  // it is, no copy of the 384-byte union.
  LogExtents d;
  d.ext_type = lf.fmap_ext_type;
  if (lf.fmap_ext_type == omf::kInterleavedExtent) {
    const omf::InterleavedExtent& ie = lf.ie[0];
    d.chunk_size = ie.ie_chunk_size;
    d.declared_count = ie.ie_nstrips;
    d.stored = {ie.ie_strips, static_cast<std::size_t>(std::min<uint64_t>(ie.ie_nstrips, omf::kMaxStrips))};
  } else {
    // SIMPLE, and unknown types (validate_fmap rejects those by ext_type).
    d.declared_count = lf.fmap_nextents;
    d.stored = {lf.se, static_cast<std::size_t>(std::min<uint64_t>(lf.fmap_nextents, omf::kMaxExtents))};
  }
  for (const omf::SimpleExtent& x : d.stored)
    if (x.se_devindex != 0) d.nonzero_devindex = true;
  return d;
}

DecodedFmap fmap_from_log(const omf::LogFmap& lf) {
  const LogExtents x = log_extents(lf);
  DecodedFmap d{};
  d.ext_type = x.ext_type;
  d.niext = lf.fmap_nextents;
  d.declared_count = x.declared_count;
  d.nonzero_devindex = x.nonzero_devindex;
  if (x.ext_type == omf::kInterleavedExtent) {
    d.fmap.kind = Fmap::Kind::Interleave;
    d.fmap.chunk_size = x.chunk_size;
  } else {
    d.fmap.kind = Fmap::Kind::Simple;
  }
  d.fmap.extents.reserve(x.stored.size()); // exactly: the inode keeps this vector as it is
  for (const omf::SimpleExtent& e : x.stored) d.fmap.extents.push_back({e.se_offset, e.se_len});
  return d;
}

omf::LogFmap fmap_to_log(const Fmap& f) {
  omf::LogFmap lf;
  std::memset(&lf, 0, sizeof(lf));
  if (f.kind == Fmap::Kind::Simple) {
    if (f.extents.empty() || f.extents.size() > omf::kMaxExtents)
      throw Error(EINVAL, "a file map holds 1 to 16 extents, not " +
                              std::to_string(f.extents.size()));
    lf.fmap_ext_type = omf::kSimpleExtent;
    lf.fmap_nextents = static_cast<uint32_t>(f.extents.size());
    for (std::size_t k = 0; k < f.extents.size(); ++k) lf.se[k] = to_simple(f.extents[k]);
  } else {
    if (f.extents.empty() || f.extents.size() > omf::kMaxStrips)
      throw Error(EINVAL, "an interleaved file map holds 1 to 16 strips, not " +
                              std::to_string(f.extents.size()));
    lf.fmap_ext_type = omf::kInterleavedExtent;
    lf.fmap_nextents = 1; // niext: upstream allows exactly one interleaved extent
    omf::InterleavedExtent ie;
    std::memset(&ie, 0, sizeof(ie));
    ie.ie_nstrips = f.extents.size();
    ie.ie_chunk_size = f.chunk_size;
    for (std::size_t k = 0; k < f.extents.size(); ++k) ie.ie_strips[k] = to_simple(f.extents[k]);
    std::memcpy(&lf.ie[0], &ie, sizeof(ie));
  }
  return lf;
}

std::optional<std::string> validate_fmap(const DecodedFmap& d, uint64_t file_size,
                                         uint64_t device_size, uint64_t log_len,
                                         uint64_t alloc_unit) {
  if (!is_pow2(alloc_unit)) return "alloc unit " + hex(alloc_unit) + " is not a power of 2";

  const char* what = "extent";
  if (d.ext_type == omf::kSimpleExtent) {
    if (d.declared_count == 0) return std::string("the file map has no extents");
    if (d.declared_count > omf::kMaxExtents)
      return "the file map declares " + std::to_string(d.declared_count) +
             " extents; at most 16 are allowed";
  } else if (d.ext_type == omf::kInterleavedExtent) {
    what = "strip";
    if (d.niext != 1)
      return "the file map declares " + std::to_string(d.niext) +
             " interleaved extents; exactly 1 is allowed";
    if (d.declared_count == 0) return std::string("the interleaved extent has no strips");
    if (d.declared_count > omf::kMaxStrips)
      return "the interleaved extent declares " + std::to_string(d.declared_count) +
             " strips; at most 16 are allowed";
    const uint64_t chunk = d.fmap.chunk_size;
    if (!is_pow2(chunk)) return "interleave chunk size " + hex(chunk) + " is not a power of 2";
    if (chunk % alloc_unit != 0)
      return "interleave chunk size " + hex(chunk) + " is not a multiple of the alloc unit " +
             hex(alloc_unit);
    for (std::size_t k = 1; k < d.fmap.extents.size(); ++k)
      if (d.fmap.extents[k].len != d.fmap.extents[0].len)
        return "strip " + std::to_string(k) + " has length " + hex(d.fmap.extents[k].len) +
               " but strip 0 has " + hex(d.fmap.extents[0].len) + "; strips must be equal";
  } else {
    return "unknown extent type " + std::to_string(d.ext_type);
  }

  if (d.nonzero_devindex)
    return std::string("an ") + what + " names a device index other than 0 (only one device)";

  // Saturating: a hostile log_len must not wrap the data start below the log.
  const uint64_t data_start = sat_add(omf::kLogOffset, log_len);
  for (std::size_t k = 0; k < d.fmap.extents.size(); ++k) {
    const Extent& e = d.fmap.extents[k];
    // Built only on failure: replay validates every entry, and the valid path must not
    // allocate.
    const auto name = [&] { return std::string(what) + " " + std::to_string(k); };
    if (e.offset == 0) return name() + " has offset 0 (the superblock)";
    if (e.offset % alloc_unit != 0)
      return name() + " offset " + hex(e.offset) + " is not a multiple of the alloc unit " +
             hex(alloc_unit);
    if (e.len == 0) return name() + " has length 0";
    if (e.len % alloc_unit != 0)
      return name() + " length " + hex(e.len) + " is not a multiple of the alloc unit " +
             hex(alloc_unit);
    if (e.offset < data_start)
      return name() + " at " + hex(e.offset) + " lies inside the superblock and log (data starts at " +
             hex(data_start) + ")";
    uint64_t end;
    if (__builtin_add_overflow(e.offset, e.len, &end))
      return name() + " at " + hex(e.offset) + " with length " + hex(e.len) +
             " wraps past the end of the address space";
    if (end > device_size)
      return name() + " ends at " + hex(end) + " beyond the device end " + hex(device_size);
  }

  const uint64_t cap = d.fmap.capacity();
  if (cap < file_size)
    return "the file map holds " + hex(cap) + " bytes but the file size is " + hex(file_size);
  return std::nullopt;
}

} // namespace famfs
