#include "master/allocate.hpp"

#include <cerrno>
#include <cstdlib>

#include "master/text.hpp"
#include "meta/error.hpp"

namespace famfs::master {

uint64_t alloc_seed_for(const std::string& relpath) {
  constexpr uint64_t kFnvOffset = 1469598103934665603ull, kFnvPrime = 1099511628211ull;
  uint64_t h = kFnvOffset;
  for (unsigned char c : relpath) h = (h ^ c) * kFnvPrime;
  if (const char* e = std::getenv("FAMFS_ALLOC_SEED")) h ^= std::strtoull(e, nullptr, 0);
  return h;
}

Fmap allocate_file(Allocator& a, const Geometry& g, const std::string& device, uint64_t size,
                   const std::optional<InterleaveParams>& ip, const std::string& what) {
  std::optional<Fmap> f;
  if (ip) {
    try {
      f = a.alloc_interleaved(size, *ip, alloc_seed_for(what));
    } catch (const Error& e) {
      throw Error(EINVAL, "cannot interleave " + quote(what) + ": " + e.what());
    }
  } else {
    f = a.alloc_contiguous(size);
  }
  if (f) return *f;
  uint64_t au = g.alloc_unit;
  uint64_t units = size / au + (size % au != 0);
  std::string need = units > UINT64_MAX / au ? std::string("more than the device")
                                             : human_bytes(units * au);
  std::string msg = "out of space: " + quote(what) + " needs " + need +
                    " (its size rounded up to " + human_bytes(au) + " units) but the famfs on " +
                    device + " has " + human_bytes(a.free_bytes()) + " free";
  if (ip)
    msg += " (interleaved: " + std::to_string(ip->nstrips) + " strips in separate buckets of " +
           std::to_string(ip->nbuckets) + " needed)";
  throw Error(ENOSPC, msg + "; nothing was created");
}

[[noreturn]] void refuse_allocation(const std::string& device, const std::string& mpt,
                                    uint64_t index, const std::string& what) {
  throw Error(EUCLEAN, "refusing to allocate space on " + device + ": famfs log entry " +
                           std::to_string(index) + " no longer matches what was applied (" +
                           what + "); new space could overlap files that hosts still map. "
                           "Nothing more was written; run 'famfs fsck " + mpt + "'");
}

void mark_allocated(Bitmap& b, const Geometry& g, const Fmap& f) {
  const uint64_t au = g.alloc_unit;
  if (au == 0) return;
  for (const Extent& e : f.extents) b.set_range(e.offset / au, e.len / au + (e.len % au != 0));
}

} // namespace famfs::master
