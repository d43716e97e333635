/* Unit check of the read/write core (famfs_rw.c) without a mount: the daemon's rules over a
 * whole-file mapping of an image (EOF cut, EFBIG, gather/scatter, read-only, dirty range),
 * for every valid map of tests/vectors/fmap_rules.txt, and a failing mmap (injected through
 * struct fc_sys) that leaves nothing mapped. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "famfs_core.h"
#include "fmap_rules.h"

#define MiB (1ull << 20)
static int failures;
#define CHECK(c)                                                                             \
  do {                                                                                       \
    if (!(c)) {                                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                 \
      failures++;                                                                            \
    }                                                                                        \
  } while (0)

static int maps_made, unmaps_made, fail_after = -1;
static void *t_mmap(void *a, size_t l, int p, int f, int fd, off_t o) {
  if (fail_after >= 0 && maps_made >= fail_after) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  maps_made++;
  return mmap(a, l, p, f, fd, o);
}
static int t_munmap(void *a, size_t l) {
  unmaps_made++;
  return munmap(a, l);
}
static const struct fc_sys tsys = {t_mmap, t_munmap, NULL};

/* Each 8-byte word of the image holds its own device offset. */
static int make_image(size_t size) {
  char path[] = "/dev/shm/famfs-lib-rw-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || unlink(path) || ftruncate(fd, (off_t)size)) { perror(path); exit(2); }
  uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  for (size_t i = 0; i < size / 8; i++) p[i] = i * 8;
  munmap(p, size);
  return fd;
}

static void to_map(const struct rule_vec *v, struct fc_map *m) {
  char text[2048];
  size_t len = rule_vector_fmap_text(v, text, sizeof text);
  CHECK(fc_parse_fmap(text, len, m) == 0);
}

/* Reads: what a read at file offset o gives is what the image holds where resolve says. */
static void check_reads(const struct rule_vec *v, const struct fc_map *m, struct fc_file *f,
                        int img) {
  uint64_t buf[512];
  int bad = 0;
  for (uint64_t o = 0; o + sizeof buf <= v->size; o += 64 * 1024 + 8) {
    struct iovec iov[2] = {{buf, 1000}, {(char *)buf + 1000, sizeof buf - 1000}};
    if (fc_file_readv(f, iov, 2, o) != (ssize_t)sizeof buf) { bad++; continue; }
    uint64_t dev, run, want;
    if (fc_resolve(m, o, &dev, &run) || pread(img, &want, 8, (off_t)dev) != 8 || buf[0] != want)
      bad++;
  }
  CHECK(bad == 0);
  /* at EOF 0, across EOF cut */
  struct iovec one = {buf, sizeof buf};
  CHECK(fc_file_readv(f, &one, 1, v->size) == 0);
  CHECK(fc_file_readv(f, &one, 1, v->size + 12345) == 0);
  CHECK(fc_file_readv(f, &one, 1, v->size - 16) == 16);
}

static void check_writes(const struct rule_vec *v, struct fc_file *f, int img) {
  static char big[256 * 1024];
  uint64_t lo = UINT64_MAX, hi = 0;
  memset(big, 0x5a, sizeof big);
  struct iovec w[2] = {{(void *)"hello ", 6}, {(void *)"world", 5}};
  CHECK(fc_file_writev(f, w, 2, 4096 + 3, &lo, &hi) == 11);
  CHECK(lo == 4096 + 3 && hi == 4096 + 14); /* small: recorded for write-back */
  uint64_t dev, run;
  struct fc_map m;
  to_map(v, &m);
  char got[11];
  CHECK(fc_resolve(&m, 4096 + 3, &dev, &run) == 0 && pread(img, got, 11, (off_t)dev) == 11);
  CHECK(memcmp(got, "hello world", 11) == 0);
  fc_file_flush_dirty(f, &lo, &hi);
  CHECK(lo == UINT64_MAX && hi == 0);
  /* large: streamed, not recorded; crossing EOF: cut */
  struct iovec b = {big, sizeof big};
  uint64_t at = v->size > sizeof big / 2 ? v->size - sizeof big / 2 : 0;
  CHECK(fc_file_writev(f, &b, 1, at, &lo, &hi) == (ssize_t)(v->size - at));
  CHECK(hi == 0);
  CHECK(fc_resolve(&m, v->size - 1, &dev, &run) == 0 && pread(img, got, 1, (off_t)dev) == 1 &&
        got[0] == 0x5a);
  /* at or after EOF: EFBIG; nothing: 0 */
  CHECK(fc_file_writev(f, &b, 1, v->size, &lo, &hi) == -EFBIG);
  CHECK(fc_file_writev(f, &b, 1, v->size + 1, &lo, &hi) == -EFBIG);
  struct iovec none = {big, 0};
  CHECK(fc_file_writev(f, &none, 1, v->size, &lo, &hi) == 0);
}

static void test_vectors(int img) {
  static struct rule_vec vs[64];
  int n = rule_vectors_load(FAMFS_VECTORS_DIR "/fmap_rules.txt", vs, 64);
  CHECK(n > 0);
  for (int i = 0; i < n; i++) {
    if (!vs[i].valid) continue;
    struct fc_map m;
    struct fc_file f;
    to_map(&vs[i], &m);
    CHECK(fc_map_whole(&tsys, &m, img, 0, &f) == 0);
    CHECK((uintptr_t)f.base % FC_GRANULE == 0 && f.size == vs[i].size);
    check_reads(&vs[i], &m, &f, img);
    struct iovec w = {(void *)"x", 1};
    uint64_t lo = UINT64_MAX, hi = 0;
    CHECK(fc_file_writev(&f, &w, 1, 0, &lo, &hi) == -EBADF); /* read-only mapping */
    fc_file_unmap(&tsys, &f);
    CHECK(fc_map_whole(&tsys, &m, img, 1, &f) == 0);
    check_writes(&vs[i], &f, img);
    fc_file_unmap(&tsys, &f);
    CHECK(f.base == NULL);
  }
}

/* A device mmap failing half-way: an error, and everything mapped so far is unmapped. */
static void test_mmap_failure(int img) {
  static struct rule_vec vs[64];
  int n = rule_vectors_load(FAMFS_VECTORS_DIR "/fmap_rules.txt", vs, 64);
  for (int i = 0; i < n; i++) {
    if (strcmp(vs[i].name, "partial-stripe") != 0) continue;
    struct fc_map m;
    struct fc_file f;
    to_map(&vs[i], &m);
    maps_made = unmaps_made = 0;
    fail_after = 2; /* the reservation and one piece succeed */
    CHECK(fc_map_whole(&tsys, &m, img, 0, &f) == -ENOMEM);
    CHECK(f.base == NULL);
    CHECK(unmaps_made >= 1);
    fail_after = -1;
  }
}

int main(void) {
  int img = make_image(64 * MiB);
  test_vectors(img);
  test_mmap_failure(img);
  close(img);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
