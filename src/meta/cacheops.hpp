// CPU cache maintenance as seen by the pure core. src/dax provides the real instructions
// (clwb/clflushopt/clflush + sfence); tests may pass no-ops or counters. Keeping this an
// interface keeps src/meta free of I/O and of CPU-specific code.
#pragma once

#include <cstddef>
#include <functional>

namespace famfs {

struct CacheOps {
  // Write back the cache lines covering [p, p+n) (no fence).
  std::function<void(const void* p, std::size_t n)> flush = [](const void*, std::size_t) {};
  // Drop the cache lines covering [p, p+n) so the next load sees memory (another host's stores).
  std::function<void(const void* p, std::size_t n)> invalidate = [](const void*, std::size_t) {};
  // Order all earlier flushes before later stores (sfence).
  std::function<void()> fence = [] {};
};

} // namespace famfs
