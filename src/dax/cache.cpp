// CPU cache maintenance for memory that other hosts (or a non-coherent CXL device) also see.
//
// The instruction is chosen once from cpuid: CLWB writes a line back and may keep it cached
// (best for flushes), CLFLUSHOPT writes back and evicts without serialising, CLFLUSH is the
// always-present fallback. Invalidation must evict, so it never uses CLWB.
#include "dax/cache.hpp"

#include <cstdint>

#if !defined(__x86_64__)
#error "famfs cache maintenance is implemented for x86_64 only"
#endif

#include <cpuid.h>
#include <immintrin.h>

namespace famfs::dax {

namespace {

constexpr std::uintptr_t kLine = 64;

struct CpuFeatures {
  bool clwb = false;
  bool clflushopt = false;
};

CpuFeatures detect() {
  CpuFeatures f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // Leaf 7, sub-leaf 0: EBX bit 23 = CLFLUSHOPT, bit 24 = CLWB.
  if (__get_cpuid_max(0, nullptr) >= 7 && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.clflushopt = (ebx & (1u << 23)) != 0;
    f.clwb = (ebx & (1u << 24)) != 0;
  }
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

// Each loop lives in a function compiled for its instruction, so the binary runs on any
// x86_64 and only the chosen instruction is ever executed.
__attribute__((target("clwb"))) void loop_clwb(std::uintptr_t a, std::uintptr_t end) {
  for (; a < end; a += kLine) _mm_clwb(reinterpret_cast<void*>(a));
}
__attribute__((target("clflushopt"))) void loop_clflushopt(std::uintptr_t a, std::uintptr_t end) {
  for (; a < end; a += kLine) _mm_clflushopt(reinterpret_cast<void*>(a));
}
void loop_clflush(std::uintptr_t a, std::uintptr_t end) {
  for (; a < end; a += kLine) _mm_clflush(reinterpret_cast<void*>(a));
}

// The cache lines covering [p, p+n): start rounded down, end rounded up to 64 bytes.
std::pair<std::uintptr_t, std::uintptr_t> lines(const void* p, std::size_t n) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  return {a & ~(kLine - 1), a + n};
}

} // namespace

FlushInsn flush_instruction() {
  const CpuFeatures& f = features();
  if (f.clwb) return FlushInsn::Clwb;
  if (f.clflushopt) return FlushInsn::Clflushopt;
  return FlushInsn::Clflush;
}

const char* flush_instruction_name() {
  switch (flush_instruction()) {
    case FlushInsn::Clwb: return "clwb";
    case FlushInsn::Clflushopt: return "clflushopt";
    case FlushInsn::Clflush: return "clflush";
  }
  return "clflush";
}

void flush_range(const void* p, std::size_t n) {
  if (n == 0) return;
  auto [a, end] = lines(p, n);
  switch (flush_instruction()) {
    case FlushInsn::Clwb: loop_clwb(a, end); break;
    case FlushInsn::Clflushopt: loop_clflushopt(a, end); break;
    case FlushInsn::Clflush: loop_clflush(a, end); break;
  }
}

void invalidate_range(const void* p, std::size_t n) {
  if (n == 0) return;
  auto [a, end] = lines(p, n);
  if (features().clflushopt)
    loop_clflushopt(a, end);
  else
    loop_clflush(a, end);
  // CLFLUSHOPT is weakly ordered and a later load could otherwise be satisfied before the
  // eviction; a full fence makes the next read of these lines go to memory.
  _mm_mfence();
}

void store_fence() { _mm_sfence(); }

CacheOps cpu_cache_ops() {
  CacheOps ops;
  ops.flush = [](const void* p, std::size_t n) { flush_range(p, n); };
  ops.invalidate = [](const void* p, std::size_t n) { invalidate_range(p, n); };
  ops.fence = [] { store_fence(); };
  return ops;
}

} // namespace famfs::dax
