/* famfs-mmap-bench: read bandwidth of a famfs file through different mappings.
 *
 *   famfs-mmap-bench FILE MODE... [--passes N] [--touches N] [--seed S] [--map-ops N]
 *
 * MODE: raw  plain mmap of the same bytes of the device/image file (the baseline; the file's
 *            map must be a single extent)
 *       lib  libfamfs famfs_mmap
 *       sys  open + mmap(2) of FILE (zero-copy under LD_PRELOAD=libfamfs-preload.so, a FUSE
 *            mapping without it)
 * All modes are mapped and warmed up (one full pass: page tables, and the page cache for
 * FUSE), then N rounds each run a sequential read of every byte and random 4 KiB-page reads
 * (--touches pages) in every mode, rotating the order. Prints the medians per mode and test:
 *   RESULT <mode> <seq|rand4k> <GB/s per CPU second> <GB/s wall>
 * (GB = 1e9 bytes; CPU time of the measuring thread, because the machine is shared and wall
 * time counts time spent descheduled). Reads sum 64-bit words so nothing is optimised away.
 * --map-ops N: then time N cycles of (open,) map a 2 MiB window, touch a byte, unmap, per mode:
 *   MAPOPS <mode> <CPU us per cycle> <wall us per cycle>   (sys: includes the open and close) */
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

/* Time in CPU seconds of this thread (the machine is shared: wall time includes time spent
 * descheduled) and wall seconds. */
struct stamp {
  double cpu, wall;
};
static struct stamp now(void) {
  struct timespec c, w;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
  clock_gettime(CLOCK_MONOTONIC, &w);
  struct stamp s = {(double)c.tv_sec + (double)c.tv_nsec * 1e-9,
                    (double)w.tv_sec + (double)w.tv_nsec * 1e-9};
  return s;
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

struct rate {
  double cpu, wall; /* bytes per second */
};

static struct rate seq_pass(const char *base, size_t len) {
  struct stamp t0 = now();
  sink += sum_range((const uint64_t *)base, len / 8);
  struct stamp t1 = now();
  struct rate r = {(double)len / (t1.cpu - t0.cpu), (double)len / (t1.wall - t0.wall)};
  return r;
}

static struct rate rand_pass(const char *base, size_t len, size_t touches, uint64_t seed) {
  size_t npages = len / 4096;
  /* precompute the page order so the RNG is not in the timed loop */
  uint32_t *order = malloc(touches * sizeof *order);
  if (!order) { perror("malloc"); exit(2); }
  rng_state = seed;
  for (size_t i = 0; i < touches; i++) order[i] = (uint32_t)(next_rand() % npages);
  struct stamp t0 = now();
  uint64_t s = 0;
  for (size_t i = 0; i < touches; i++)
    s += sum_range((const uint64_t *)(base + (size_t)order[i] * 4096), 512);
  struct stamp t1 = now();
  sink += s;
  free(order);
  struct rate r = {(double)touches * 4096.0 / (t1.cpu - t0.cpu),
                   (double)touches * 4096.0 / (t1.wall - t0.wall)};
  return r;
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
  int nmodes = 0, passes = 3, map_ops = 0;
  size_t touches = 1u << 20;
  uint64_t seed = 42;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--touches") && i + 1 < argc) touches = strtoull(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], 0, 0);
    else if (!strcmp(argv[i], "--map-ops") && i + 1 < argc) map_ops = atoi(argv[++i]);
    else if (!file) file = argv[i];
    else if (nmodes < 8) modes[nmodes++] = argv[i];
  }
  if (!file || !nmodes || passes < 1 || passes > 64) {
    fprintf(stderr, "usage: %s FILE raw|lib|sys... [--passes N] [--touches N] [--seed S] [--map-ops N]\n",
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
  struct mapping {
    const char *mode;
    char *base;
    void *raw_base;
    size_t raw_len;
    int fd;
    double s_cpu[64], s_wall[64], r_cpu[64], r_wall[64];
  } mp[8];
  /* Map everything first, warm each mapping up, then measure in rounds that visit every
   * mode in turn (rotating the order), so drift in the machine's load hits all modes alike. */
  for (int k = 0; k < nmodes; k++) {
    struct mapping *x = &mp[k];
    memset(x, 0, sizeof *x);
    x->mode = modes[k];
    x->fd = -1;
    if (!strcmp(x->mode, "raw")) {
      if (m->nextents != 1 || m->kind != FAMFS_MAP_SIMPLE) {
        fprintf(stderr, "raw mode needs a single-extent file\n");
        return 1;
      }
      x->fd = open(m->device, O_RDONLY);
      if (x->fd < 0) { perror(m->device); return 1; }
      /* 2 MiB aligned like the others, so the comparison is fair */
      x->raw_len = len + (2u << 20);
      x->raw_base = mmap(NULL, x->raw_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (x->raw_base == MAP_FAILED) { perror("mmap"); return 1; }
      char *aligned = (char *)(((uintptr_t)x->raw_base + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
      x->base = mmap(aligned, len, PROT_READ, MAP_SHARED | MAP_FIXED, x->fd,
                     (off_t)m->extents[0].offset);
      if (x->base == MAP_FAILED) { perror("mmap raw"); return 1; }
    } else if (!strcmp(x->mode, "lib")) {
      void *p;
      rc = famfs_mmap(file, 0, len, PROT_READ, MAP_SHARED, &p);
      if (rc) {
        fprintf(stderr, "famfs_mmap: %s (%s)\n", famfs_strerror(rc), famfs_last_error());
        return 1;
      }
      x->base = p;
    } else if (!strcmp(x->mode, "sys")) {
      x->fd = open(file, O_RDONLY);
      if (x->fd < 0) { perror(file); return 1; }
      x->base = mmap(NULL, len, PROT_READ, MAP_SHARED, x->fd, 0);
      if (x->base == MAP_FAILED) { perror("mmap"); return 1; }
    } else {
      fprintf(stderr, "unknown mode %s\n", x->mode);
      return 2;
    }
    struct stamp t0 = now();
    seq_pass(x->base, len); /* warm-up: page tables (and the page cache for FUSE) */
    struct stamp t1 = now();
    rand_pass(x->base, len, touches / 4, seed ^ 0x5555);
    printf("WARMUP %s %.3f s\n", x->mode, t1.wall - t0.wall);
    fflush(stdout);
  }
  for (int p = 0; p < passes; p++) {
    for (int j = 0; j < nmodes; j++) {
      struct mapping *x = &mp[(j + p) % nmodes];
      struct rate r = seq_pass(x->base, len);
      x->s_cpu[p] = r.cpu;
      x->s_wall[p] = r.wall;
    }
    for (int j = 0; j < nmodes; j++) {
      struct mapping *x = &mp[(j + p) % nmodes];
      struct rate r = rand_pass(x->base, len, touches, seed + (uint64_t)p);
      x->r_cpu[p] = r.cpu;
      x->r_wall[p] = r.wall;
    }
  }
  for (int k = 0; k < nmodes; k++) {
    struct mapping *x = &mp[k];
    printf("RESULT %s seq %.3f %.3f\n", x->mode, median(x->s_cpu, passes) / 1e9,
           median(x->s_wall, passes) / 1e9);
    printf("RESULT %s rand4k %.3f %.3f\n", x->mode, median(x->r_cpu, passes) / 1e9,
           median(x->r_wall, passes) / 1e9);
    if (!strcmp(x->mode, "raw")) munmap(x->raw_base, x->raw_len);
    else if (!strcmp(x->mode, "lib")) famfs_munmap(x->base, len);
    else munmap(x->base, len);
    if (x->fd >= 0) close(x->fd);
  }
  /* Cost of making a mapping: map a 2 MiB window at rotating offsets, touch a byte, unmap. */
  for (int k = 0; k < nmodes && map_ops > 0; k++) {
    const char *mode = modes[k];
    size_t win = 2u << 20, nwin = len / win;
    int dfd = -1;
    if (!strcmp(mode, "raw")) dfd = open(m->device, O_RDONLY);
    struct stamp t0 = now();
    for (int i = 0; i < map_ops; i++) {
      uint64_t off = (uint64_t)(i % (int)(nwin ? nwin : 1)) * win;
      char *p = NULL;
      if (!strcmp(mode, "raw")) {
        p = mmap(NULL, win, PROT_READ, MAP_SHARED, dfd, (off_t)(m->extents[0].offset + off));
      } else if (!strcmp(mode, "lib")) {
        void *v;
        if (famfs_mmap(file, off, win, PROT_READ, MAP_SHARED, &v) == 0) p = v;
        else p = MAP_FAILED;
      } else {
        int fd = open(file, O_RDONLY);
        p = mmap(NULL, win, PROT_READ, MAP_SHARED, fd, (off_t)off);
        close(fd);
      }
      if (p == MAP_FAILED || !p) { perror("map-ops"); return 1; }
      sink += (unsigned char)p[i % 4096];
      if (!strcmp(mode, "lib")) famfs_munmap(p, win);
      else munmap(p, win);
    }
    struct stamp t1 = now();
    if (dfd >= 0) close(dfd);
    printf("MAPOPS %s %.1f %.1f\n", mode, (t1.cpu - t0.cpu) / map_ops * 1e6,
           (t1.wall - t0.wall) / map_ops * 1e6);
  }
  famfs_free_map(m);
  return 0;
}
