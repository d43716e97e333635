// CPU cache maintenance for memory that other hosts (or a non-coherent CXL device) also see.
//
// The instruction is chosen once from cpuid: CLWB writes a line back and may keep it cached
// (best for flushes), CLFLUSHOPT writes back and evicts without serialising, CLFLUSH is the
// always-present fallback. Invalidation must evict, so it never uses CLWB.
#include "dax/cache.hpp"

#include <cstdint>
#include <cstring>

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

namespace {

__attribute__((target("avx"))) void nt_loop_avx(char* d, const char* s, std::size_t n) {
  for (; n >= 128; n -= 128, d += 128, s += 128) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
    __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 64));
    __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 96));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d), a);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 32), b);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 64), c);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 96), e);
  }
  for (; n >= 64; n -= 64, d += 64, s += 64) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 32));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d), a);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + 32), b);
  }
}

void nt_loop_sse2(char* d, const char* s, std::size_t n) {
  for (; n >= 64; n -= 64, d += 64, s += 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
    __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(d), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + 48), e);
  }
}

bool have_avx() {
  static const bool v = __builtin_cpu_supports("avx");
  return v;
}

} // namespace

void stream_store(void* dst, const void* src, std::size_t n) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  std::size_t head = (64 - (reinterpret_cast<std::uintptr_t>(d) & 63)) & 63;
  if (head > n) head = n;
  if (head) {
    std::memcpy(d, s, head);
    flush_range(d, head);
    d += head;
    s += head;
    n -= head;
  }
  std::size_t body = n & ~std::size_t(63);
  if (body) {
    if (have_avx()) nt_loop_avx(d, s, body);
    else nt_loop_sse2(d, s, body);
    d += body;
    s += body;
    n -= body;
  }
  if (n) {
    std::memcpy(d, s, n);
    flush_range(d, n);
  }
}

} // namespace famfs::dax
