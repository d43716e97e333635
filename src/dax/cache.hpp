// CPU cache maintenance for shared (possibly non-coherent) memory: clwb, clflushopt or
// clflush, chosen once at run time from cpuid, then sfence.
#pragma once

#include <cstddef>

#include "meta/cacheops.hpp"

namespace famfs::dax {

enum class FlushInsn { Clwb, Clflushopt, Clflush };
FlushInsn flush_instruction();           // what this CPU uses
const char* flush_instruction_name();

void flush_range(const void* p, std::size_t n);      // write back, no fence
void invalidate_range(const void* p, std::size_t n); // clflushopt/clflush (drops the lines)
void store_fence();                                  // sfence

// Copy into device memory with non-temporal stores (AVX, else SSE2): no read-for-ownership of
// the destination and nothing left dirty in this CPU's caches for another host to miss. The
// unaligned head and tail go through memcpy + flush_range. No fence: call store_fence() once
// after the last copy whose ordering matters.
void stream_store(void* dst, const void* src, std::size_t n);

// The CacheOps the core takes, backed by the functions above.
CacheOps cpu_cache_ops();

} // namespace famfs::dax
