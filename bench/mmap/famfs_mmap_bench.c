/* famfs-mmap-bench: read bandwidth of a famfs file through different mappings.
 *
 *   famfs-mmap-bench FILE MODE... [--passes N] [--touches N] [--seed S]
 *
 * MODE: raw  plain mmap of the same bytes of the device/image file (the baseline; the file's
 *            map must be a single extent)
 *       lib  libfamfs famfs_mmap
 *       sys  open + mmap(2) of FILE (zero-copy under LD_PRELOAD=libfamfs-preload.so, a FUSE
 *            mapping without it)
 * For each mode: map, warm up (one full pass: page tables, and the page cache for FUSE), then
 * N passes of a sequential read of every byte and N passes of random 4 KiB-page reads; prints
 * one line per mode and test with the median:  RESULT <mode> <seq|rand4k> <GB/s> <Mpages/s>
 * (GB = 1e9 bytes). All reads sum 64-bit words so nothing is optimised away. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "famfs.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t sum_range(const uint64_t *p, size_t nwords) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  size_t i = 0;
  for (; i + 8 <= nwords; i += 8) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
    a4 += p[i + 4];
    a5 += p[i + 5];
    a6 += p[i + 6];
    a7 += p[i + 7];
  }
  for (; i < nwords; i++) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

static uint64_t rng_state;
static uint64_t next_rand(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double seq_pass(const char *base, size_t len) {
  double t0 = now();
  sink += sum_range((const uint64_t *)base, len / 8);
  return (double)len / (now() - t0);
}

static double rand_pass(const char *base, size_t len, size_t touches, uint64_t seed) {
  size_t npages = len / 4096;
  /* precompute the page order so the RNG is not in the timed loop */
  uint32_t *order = malloc(touches * sizeof *order);
  if (!order) { perror("malloc"); exit(2); }
  rng_state = seed;
  for (size_t i = 0; i < touches; i++) order[i] = (uint32_t)(next_rand() % npages);
  double t0 = now();
  uint64_t s = 0;
  for (size_t i = 0; i < touches; i++)
    s += sum_range((const uint64_t *)(base + (size_t)order[i] * 4096), 512);
  double dt = now() - t0;
  sink += s;
  free(order);
  return (double)touches * 4096.0 / dt;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  const char *file = NULL;
  const char *modes[8];
  int nmodes = 0, passes = 3;
  size_t touches = 1u << 20;
  uint64_t seed = 42;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--touches") && i + 1 < argc) touches = strtoull(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], 0, 0);
    else if (!file) file = argv[i];
    else if (nmodes < 8) modes[nmodes++] = argv[i];
  }
  if (!file || !nmodes || passes < 1 || passes > 64) {
    fprintf(stderr, "usage: %s FILE raw|lib|sys... [--passes N] [--touches N] [--seed S]\n",
            argv[0]);
    return 2;
  }
  struct famfs_map *m = NULL;
  int rc = famfs_get_map(file, &m);
  if (rc) {
    fprintf(stderr, "%s: %s (%s)\n", file, famfs_strerror(rc), famfs_last_error());
    return 1;
  }
  size_t len = (size_t)m->size & ~(size_t)4095;
  for (int k = 0; k < nmodes; k++) {
    const char *mode = modes[k];
    char *base = NULL;
    void *raw_base = NULL;
    size_t raw_len = 0;
    int fd = -1;
    if (!strcmp(mode, "raw")) {
      if (m->nextents != 1 || m->kind != FAMFS_MAP_SIMPLE) {
        fprintf(stderr, "raw mode needs a single-extent file\n");
        return 1;
      }
      fd = open(m->device, O_RDONLY);
      if (fd < 0) { perror(m->device); return 1; }
      /* 2 MiB aligned like the others, so the comparison is fair */
      raw_len = len + (2u << 20);
      raw_base = mmap(NULL, raw_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      char *aligned = (char *)(((uintptr_t)raw_base + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
      base = mmap(aligned, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
                  (off_t)m->extents[0].offset);
      if (base == MAP_FAILED) { perror("mmap raw"); return 1; }
    } else if (!strcmp(mode, "lib")) {
      void *p;
      rc = famfs_mmap(file, 0, len, PROT_READ, MAP_SHARED, &p);
      if (rc) {
        fprintf(stderr, "famfs_mmap: %s (%s)\n", famfs_strerror(rc), famfs_last_error());
        return 1;
      }
      base = p;
    } else if (!strcmp(mode, "sys")) {
      fd = open(file, O_RDONLY);
      if (fd < 0) { perror(file); return 1; }
      base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) { perror("mmap"); return 1; }
    } else {
      fprintf(stderr, "unknown mode %s\n", mode);
      return 2;
    }
    double t0 = now();
    seq_pass(base, len); /* warm-up */
    double warm = now() - t0;
    double s[64], r[64];
    for (int p = 0; p < passes; p++) {
      s[p] = seq_pass(base, len);
      r[p] = rand_pass(base, len, touches, seed + (uint64_t)p);
    }
    double sm = median(s, passes), rm = median(r, passes);
    printf("RESULT %s seq %.3f %.3f\n", mode, sm / 1e9, sm / 4096 / 1e6);
    printf("RESULT %s rand4k %.3f %.3f\n", mode, rm / 1e9, rm / 4096 / 1e6);
    printf("WARMUP %s %.3f s\n", mode, warm);
    fflush(stdout);
    if (!strcmp(mode, "raw")) munmap(raw_base, raw_len);
    else if (!strcmp(mode, "lib")) famfs_munmap(base, len);
    else munmap(base, len);
    if (fd >= 0) close(fd);
  }
  famfs_free_map(m);
  return 0;
}
