// Allocation bitmap rebuilt from the log (spec B§6.1) and the allocators (B§6.2, B§6.3, A§7).
//
// Extents come from shared memory, so every range is clamped: bits past nbits are counted as
// out of bounds and never written, and offset + length arithmetic saturates.
#include "meta/numeric.hpp"
#include "meta/bitmap.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <cstring>
#include <unordered_set>

#include "meta/error.hpp"
#include "meta/extension.hpp"
#include "meta/log.hpp"
#include "meta/path.hpp"

namespace famfs {

namespace {

// Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64.
uint64_t word_mask(unsigned lo, unsigned hi) {
  const uint64_t upper = hi == 64 ? kU64Max : ((uint64_t{1} << hi) - 1);
  return upper & ~((uint64_t{1} << lo) - 1);
}

} // namespace

// ---------------------------------------------------------------------------------- Bitmap

Bitmap::Bitmap(uint64_t nbits) : nbits_(nbits), words_(ceil_div(nbits, 64), 0) {}

bool Bitmap::test(uint64_t bit) const {
  return bit < nbits_ && (words_[bit >> 6] >> (bit & 63)) & 1;
}

uint64_t Bitmap::set_range(uint64_t first, uint64_t count, uint64_t* out_of_bounds) {
  uint64_t end = sat_add(first, count);
  if (end > nbits_) {
    if (out_of_bounds) *out_of_bounds = sat_add(*out_of_bounds, end - std::max(first, nbits_));
    end = nbits_;
  }
  uint64_t collisions = 0;
  for (uint64_t b = first; b < end;) {
    const unsigned lo = b & 63;
    const unsigned hi = static_cast<unsigned>(std::min<uint64_t>(64, lo + (end - b)));
    const uint64_t m = word_mask(lo, hi);
    uint64_t& w = words_[b >> 6];
    collisions += std::popcount(w & m);
    w |= m;
    b += hi - lo;
  }
  return collisions;
}

void Bitmap::clear_range(uint64_t first, uint64_t count) {
  const uint64_t end = std::min(sat_add(first, count), nbits_);
  for (uint64_t b = first; b < end;) {
    const unsigned lo = b & 63;
    const unsigned hi = static_cast<unsigned>(std::min<uint64_t>(64, lo + (end - b)));
    words_[b >> 6] &= ~word_mask(lo, hi);
    b += hi - lo;
  }
}

uint64_t Bitmap::clear_range_counted(uint64_t first, uint64_t count) {
  const uint64_t end = std::min(sat_add(first, count), nbits_);
  uint64_t was = 0;
  for (uint64_t b = first; b < end;) {
    const unsigned lo = b & 63;
    const unsigned hi = static_cast<unsigned>(std::min<uint64_t>(64, lo + (end - b)));
    const uint64_t m = word_mask(lo, hi);
    uint64_t& w = words_[b >> 6];
    was += std::popcount(w & m);
    w &= ~m;
    b += hi - lo;
  }
  return was;
}

void Bitmap::merge(const Bitmap& other) {
  const std::size_t n = std::min(words_.size(), other.words_.size());
  for (std::size_t i = 0; i < n; ++i) words_[i] |= other.words_[i];
}

uint64_t Bitmap::count_set() const { return count_set_below(nbits_); }

uint64_t Bitmap::count_set_below(uint64_t end) const {
  end = std::min(end, nbits_);
  uint64_t n = 0;
  const uint64_t full = end >> 6;
  for (uint64_t i = 0; i < full; ++i) n += std::popcount(words_[i]);
  if (end & 63) n += std::popcount(words_[full] & word_mask(0, end & 63));
  return n;
}

std::optional<uint64_t> Bitmap::find_clear_run(uint64_t from, uint64_t limit,
                                               uint64_t run) const {
  limit = std::min(limit, nbits_);
  if (run == 0) return std::nullopt;
  // Next bit in [b, limit) equal to `want` (limit when none), a word at a time.
  auto next = [&](uint64_t b, bool want) {
    while (b < limit) {
      uint64_t w = words_[b >> 6];
      if (!want) w = ~w;
      w &= ~((uint64_t{1} << (b & 63)) - 1);
      if (w != 0) return std::min(limit, (b & ~uint64_t{63}) + std::countr_zero(w));
      b = (b | 63) + 1;
    }
    return limit;
  };
  uint64_t i = from;
  while (i < limit) {
    i = next(i, false);
    if (i >= limit || limit - i < run) return std::nullopt;
    const uint64_t blocker = next(i, true);
    if (blocker - i >= run) return i;
    i = blocker + 1;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------- SpaceMap

namespace {

uint64_t au_of(const Geometry& g) { return g.alloc_unit ? g.alloc_unit : omf::kAllocUnit; }

// The allocatable bits [first, limit): never below the end of the log, never a partial AU at
// the device end (an allocation there would end past the device). One rule for the SpaceMap's
// free figure and the Allocator.
struct BitRange {
  uint64_t first;
  uint64_t limit;
};
BitRange allocatable_bits(const Geometry& g, uint64_t nbits) {
  const uint64_t au = au_of(g);
  return {ceil_div(sat_add(omf::kLogOffset, g.log_len), au), std::min(nbits, g.device_size / au)};
}

} // namespace

SpaceMap::SpaceMap(const Geometry& g, uint64_t reserved_log_len)
    : geo_(g), bitmap_(ceil_div(g.device_size, au_of(g))), deleted_(bitmap_.nbits()) {
  geo_.alloc_unit = au_of(g);
  const BitRange r = allocatable_bits(geo_, bitmap_.nbits());
  first_bit_ = r.first;
  limit_bit_ = r.limit;
  // Bits past the device end are not the files' fault: clamp silently.
  const uint64_t reserved = ceil_div(sat_add(omf::kLogOffset, reserved_log_len), geo_.alloc_unit);
  bitmap_.set_range(0, reserved);
  if (reserved > first_bit_ && first_bit_ < limit_bit_)
    used_bits_ = std::min(reserved, limit_bit_) - first_bit_;
}

void SpaceMap::claim(const omf::LogEntry& e) {
  if (e.famfs_log_entry_type == omf::kLogMkdir) {
    ++stats_.directories;
    return;
  }
  if (e.famfs_log_entry_type != omf::kLogFile) return;
  ++stats_.files;
  stats_.sum_file_sizes = sat_add(stats_.sum_file_sizes, e.famfs_fm.fm_size);
  const LogExtents d = log_extents(e.famfs_fm.fm_fmap); // no allocation: replay claims every entry
  if (d.ext_type != omf::kSimpleExtent && d.ext_type != omf::kInterleavedExtent) return;
  // Every extent claims its AUs as written, valid or not: upstream fsck counts an extent at
  // offset 0 as a collision with the superblock, and the allocator must not hand out space
  // that any entry claims.
  const uint64_t au = geo_.alloc_unit;
  for (const omf::SimpleExtent& x : d.stored) {
    const uint64_t first = x.se_offset / au;
    const uint64_t count = ceil_div(sat_add(x.se_offset % au, x.se_len), au);
    const uint64_t end = sat_add(first, count);
    // Set in three pieces (below, inside, above the allocatable range) so that the bits newly
    // set inside it are known without counting the bitmap again.
    const uint64_t lo = std::clamp(first, first_bit_, std::max(first_bit_, limit_bit_));
    const uint64_t hi = std::clamp(end, lo, std::max(lo, limit_bit_));
    // AUs a DELETE gave up and this file takes again: reuse, not a cross-link.
    if (deleted_bits_ > 0) {
      const uint64_t reused = deleted_.clear_range_counted(lo, hi - lo);
      deleted_bits_ -= std::min(reused, deleted_bits_);
      stats_.deleted_bytes = deleted_bits_ * au;
    }
    uint64_t oob = 0;
    uint64_t coll = bitmap_.set_range(first, std::min(end, lo) - std::min(first, lo), &oob);
    const uint64_t inside_coll = bitmap_.set_range(lo, hi - lo, &oob);
    coll += inside_coll;
    if (end > hi) coll += bitmap_.set_range(std::max(first, hi), end - std::max(first, hi), &oob);
    used_bits_ += (hi - lo) - inside_coll;
    stats_.collisions += coll;
    stats_.out_of_bounds = sat_add(stats_.out_of_bounds, oob);
    stats_.alloc_bytes += (count - oob - coll) * au;
  }
}

void SpaceMap::release(uint64_t delete_index, uint64_t target_index, std::string path,
                       uint64_t size, const Fmap& fmap) {
  const uint64_t au = geo_.alloc_unit;
  DeletedSpace d{delete_index, target_index, std::move(path), fmap, 0};
  for (const Extent& x : fmap.extents) {
    const uint64_t first = x.offset / au;
    const uint64_t end = sat_add(first, ceil_div(sat_add(x.offset % au, x.len), au));
    // Only allocatable AUs are given up: a map reaching into the superblock or the log (a
    // hostile entry) never frees them.
    const uint64_t lo = std::clamp(first, first_bit_, std::max(first_bit_, limit_bit_));
    const uint64_t hi = std::clamp(end, lo, std::max(lo, limit_bit_));
    const uint64_t was_live = bitmap_.clear_range_counted(lo, hi - lo);
    used_bits_ -= std::min(was_live, used_bits_);
    stats_.alloc_bytes -= std::min(stats_.alloc_bytes, was_live * au);
    deleted_bits_ += (hi - lo) - deleted_.set_range(lo, hi - lo);
    d.bytes += (hi - lo) * au;
  }
  stats_.deleted_bytes = deleted_bits_ * au;
  ++stats_.deletes;
  if (stats_.files > 0) --stats_.files;
  stats_.sum_file_sizes -= std::min(stats_.sum_file_sizes, size);
  deleted_files_.push_back(std::move(d));
}

uint64_t SpaceMap::unclaimed_bytes(const DeletedSpace& d) const {
  const uint64_t au = geo_.alloc_unit;
  uint64_t bits = 0;
  for (const Extent& x : d.fmap.extents) {
    const uint64_t first = x.offset / au;
    const uint64_t end = sat_add(first, ceil_div(sat_add(x.offset % au, x.len), au));
    bits += deleted_.count_set_below(end) - deleted_.count_set_below(first);
  }
  return bits * au;
}

void SpaceMap::hold(Bitmap& bm, const Fmap& f) const {
  const uint64_t au = geo_.alloc_unit;
  for (const Extent& x : f.extents)
    bm.set_range(x.offset / au, ceil_div(sat_add(x.offset % au, x.len), au));
}

void SpaceMap::note_bad(uint64_t index) {
  ++stats_.bad_entries;
  if (!stats_.first_bad_index) stats_.first_bad_index = index;
}

uint64_t SpaceMap::free_bytes() const {
  if (first_bit_ >= limit_bit_) return 0;
  const uint64_t taken = std::min(limit_bit_ - first_bit_, used_bits_ + deleted_bits_);
  return (limit_bit_ - first_bit_ - taken) * geo_.alloc_unit;
}

BitmapBuild SpaceMap::take() && {
  BitmapBuild out{std::move(bitmap_), stats_};
  bitmap_ = Bitmap(0);
  deleted_ = Bitmap(0);
  deleted_files_.clear();
  deleted_bits_ = 0;
  stats_ = BitmapStats{};
  used_bits_ = 0;
  return out;
}

// ---------------------------------------------------------------------------- build_bitmap

namespace {

// The whole-log pass has no namespace: a DELETE gives up the space of the FILE entry it names
// when that entry is before it, valid, at the same path, and not given up already.
void release_deleted(SpaceMap& space, std::span<const std::byte> device, const CacheOps& cache,
                     const omf::LogEntry& e, uint64_t i, std::unordered_set<uint64_t>& released) {
  ext::DeleteMeta dm;
  if (ext::parse_delete(e, dm) != ext::DeleteCheck::Ok || dm.dl_target >= i) return;
  const std::optional<omf::LogEntry> t = read_valid_entry(device, dm.dl_target, cache);
  if (!t) return;
  if (dm.dl_flags & ext::kDeleteFlagDir) {
    if (t->famfs_log_entry_type == omf::kLogMkdir &&
        std::memcmp(t->famfs_md.md_relpath, dm.dl_relpath, sizeof(dm.dl_relpath)) == 0 &&
        released.insert(dm.dl_target).second)
      space.note_dir_delete();
    return;
  }
  if (t->famfs_log_entry_type != omf::kLogFile ||
      std::memcmp(t->famfs_fm.fm_relpath, dm.dl_relpath, sizeof(dm.dl_relpath)) != 0 ||
      !released.insert(dm.dl_target).second)
    return;
  const DecodedFmap d = fmap_from_log(t->famfs_fm.fm_fmap);
  if (d.ext_type != omf::kSimpleExtent && d.ext_type != omf::kInterleavedExtent) return;
  space.release(i, dm.dl_target, std::string(relpath_field(dm.dl_relpath)), t->famfs_fm.fm_size,
                d.fmap);
}

} // namespace

BitmapBuild build_bitmap(std::span<const std::byte> device, const Geometry& g,
                         const CacheOps& cache) {
  const omf::LogHeader h = read_log_header(device);
  const LogHeaderStatus hs = check_log_header(h, g.log_len);
  const bool header_usable = log_header_usable(hs);
  // B§6.1: the reserved range uses the header's length; a header we cannot trust gets the
  // superblock's.
  SpaceMap space(g, header_usable ? h.famfs_log_len : g.log_len);
  if (!header_usable) return std::move(space).take();

  const uint64_t used = log_entries_used(h.famfs_log_next_index, g, device);
  space.set_entries_used(used);
  std::optional<bool> delete_on;
  std::unordered_set<uint64_t> released;
  for (uint64_t i = 0; i < used; ++i) {
    const std::optional<omf::LogEntry> e = read_valid_entry(device, i, cache);
    if (!e) {
      space.note_bad(i); // skipped and counted, as upstream's fsck and allocator do
      continue;
    }
    space.claim(*e);
    if (e->famfs_log_entry_type != omf::kLogDelete) continue;
    if (!delete_on) delete_on = ext::delete_enabled(ext::read_header_now(device, cache));
    if (*delete_on) release_deleted(space, device, cache, *e, i, released);
  }
  return std::move(space).take();
}

// ------------------------------------------------------------------------------- Allocator

Allocator::Allocator(Bitmap& bitmap, const Geometry& g) : bitmap_(bitmap), geo_(g) {
  geo_.alloc_unit = au_of(g);
  const BitRange r = allocatable_bits(geo_, bitmap_.nbits());
  first_bit_ = r.first;
  limit_bit_ = r.limit;
}

std::optional<Fmap> Allocator::alloc_contiguous(uint64_t size) {
  if (size == 0)
    throw Error(EINVAL, "cannot allocate 0 bytes: famfs files are never empty");
  const uint64_t au = geo_.alloc_unit;
  const uint64_t bits = ceil_div(size, au);
  const uint64_t from = std::max(cursor_bit_, first_bit_);
  const std::optional<uint64_t> at = bitmap_.find_clear_run(from, limit_bit_, bits);
  if (!at) return std::nullopt;
  bitmap_.set_range(*at, bits);
  cursor_bit_ = *at + bits; // next fit within the session, no wrap (B§6.2)
  Fmap f;
  f.kind = Fmap::Kind::Simple;
  f.extents.push_back({*at * au, bits * au});
  return f;
}

std::optional<Fmap> Allocator::alloc_interleaved(uint64_t size, const InterleaveParams& p,
                                                 uint64_t seed) {
  const uint64_t au = geo_.alloc_unit;
  const uint64_t chunk = p.chunk_size ? p.chunk_size : omf::kAllocUnit;
  if (!is_pow2(chunk))
    throw Error(EINVAL, "interleave chunk size " + hex(chunk) + " is not a power of 2");
  if (chunk % au != 0)
    throw Error(EINVAL, "interleave chunk size " + hex(chunk) +
                            " is not a multiple of the allocation unit " + hex(au));
  if (p.nbuckets < 1 || p.nbuckets > 64)
    throw Error(EINVAL, "interleave needs 1 to 64 buckets, not " + std::to_string(p.nbuckets));
  if (p.nstrips < 1 || p.nstrips > omf::kMaxStrips)
    throw Error(EINVAL, "interleave needs 1 to 16 strips, not " + std::to_string(p.nstrips));
  if (p.nstrips > p.nbuckets)
    throw Error(EINVAL, std::to_string(p.nstrips) + " strips need at least as many buckets; " +
                            std::to_string(p.nbuckets) + " given");
  if (geo_.device_size / p.nbuckets < (uint64_t{1} << 30))
    throw Error(EINVAL, "device of " + hex(geo_.device_size) + " bytes split into " +
                            std::to_string(p.nbuckets) +
                            " buckets gives buckets under 1 GiB; use fewer buckets");
  if (size == 0)
    throw Error(EINVAL, "cannot allocate 0 bytes: famfs files are never empty");

  if (size < chunk) {
    cursor_bit_ = 0; // B§6.3: small files fall back to contiguous from the start
    return alloc_contiguous(size);
  }

  const uint64_t alloc_au = ceil_div(size, au);
  const uint64_t chunk_au = chunk / au;
  const uint64_t bucket_au = (geo_.device_size / au) / p.nbuckets;
  const uint64_t stripe_au = p.nstrips * chunk_au;
  const uint64_t nstripes = ceil_div(alloc_au, stripe_au);
  const uint64_t strip_au = nstripes * chunk_au;

  // Part A §7: the bucket order is a Fisher–Yates shuffle driven by a seeded mt19937_64, so
  // the same seed gives the same strips. (rng() % n, not a distribution object: its output
  // is fixed by the standard, a distribution's is not.)
  std::vector<uint32_t> order(p.nbuckets);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);

  Fmap f;
  f.kind = Fmap::Kind::Interleave;
  f.chunk_size = chunk;
  for (uint32_t b : order) {
    if (f.extents.size() == p.nstrips) break;
    const uint64_t lo = std::max<uint64_t>(b * bucket_au, first_bit_);
    const uint64_t hi = std::min<uint64_t>((b + 1) * bucket_au, limit_bit_);
    if (lo >= hi) continue;
    const std::optional<uint64_t> at = bitmap_.find_clear_run(lo, hi, strip_au);
    if (!at) continue;
    bitmap_.set_range(*at, strip_au);
    f.extents.push_back({*at * au, strip_au * au});
  }
  if (f.extents.size() < p.nstrips) {
    release(f); // all or nothing
    return std::nullopt;
  }
  return f;
}

void Allocator::release(const Fmap& f) {
  const uint64_t au = geo_.alloc_unit;
  for (const Extent& x : f.extents) {
    const uint64_t first = x.offset / au;
    bitmap_.clear_range(first, ceil_div(sat_add(x.offset % au, x.len), au));
  }
}

uint64_t Allocator::free_bytes() const {
  if (first_bit_ >= limit_bit_) return 0;
  const uint64_t set = bitmap_.count_set_below(limit_bit_) - bitmap_.count_set_below(first_bit_);
  return (limit_bit_ - first_bit_ - set) * geo_.alloc_unit;
}

} // namespace famfs
