/* The interleave rule of famfs file maps (spec B§4.2), written once for both sides: the core
 * (src/meta/fmap.cpp, C++) and the C library (src/lib/famfs_core.c). Plain C, header only.
 *
 * An interleaved map has nstrips strips of strip_len bytes (the shortest strip, for maps that
 * break the equal-length rule) and a chunk size. File chunk k lives in strip k % nstrips at
 * strip offset (k / nstrips) * chunk. The file bytes reachable contiguously from offset 0 are
 * the capacity: full stripes of nstrips chunks, then, when strip_len is not a multiple of the
 * chunk, the first (strip_len % chunk) bytes of the next chunk (which lies in strip 0). Example
 * (tests/vectors/fmap_rules.txt): 2 strips x 6 MiB, chunk 4 MiB -> capacity 10 MiB: chunk 0 in
 * strip 0, chunk 1 in strip 1, then 2 MiB of chunk 2 in strip 0 at strip offset 4 MiB.
 * Sums saturate (values come from shared memory). */
#ifndef FAMFS_PROTO_FMAP_RULE_H
#define FAMFS_PROTO_FMAP_RULE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline uint64_t famfs_rule_sat_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static inline uint64_t famfs_rule_sat_add(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Bytes of an interleaved map reachable from file offset 0 (0 for no strips or chunk 0). */
static inline uint64_t famfs_interleave_capacity(uint64_t strip_len, uint64_t chunk,
                                                 uint64_t nstrips) {
  if (nstrips == 0 || chunk == 0) return 0;
  uint64_t full = famfs_rule_sat_mul(famfs_rule_sat_mul(strip_len / chunk, chunk), nstrips);
  return famfs_rule_sat_add(full, strip_len % chunk);
}

/* Where file offset `off` of an interleaved map lives: the strip, the offset inside it, and
 * the bytes contiguous from there (to the end of the chunk or of the strip). 0, or -1 when
 * off is at or beyond the capacity. */
static inline int famfs_interleave_locate(uint64_t off, uint64_t strip_len, uint64_t chunk,
                                          uint64_t nstrips, uint64_t *strip,
                                          uint64_t *strip_off, uint64_t *run) {
  if (off >= famfs_interleave_capacity(strip_len, chunk, nstrips)) return -1;
  uint64_t chunk_num = off / chunk, chunk_off = off % chunk;
  uint64_t so = (chunk_num / nstrips) * chunk + chunk_off; /* < strip_len, as off < capacity */
  uint64_t to_chunk_end = chunk - chunk_off, to_strip_end = strip_len - so;
  *strip = chunk_num % nstrips;
  *strip_off = so;
  *run = to_chunk_end < to_strip_end ? to_chunk_end : to_strip_end;
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* FAMFS_PROTO_FMAP_RULE_H */
