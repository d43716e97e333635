/* Unit check of libfamfs without a mount: fmap text, offset resolution (spec B§4.2 worked
 * example), mapping a hand-made map of an image file, and munmap bookkeeping. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "famfs.h"
#include "fmap_rules.h"

#define MiB (1ull << 20)
static int failures;
#define CHECK(c)                                                                             \
  do {                                                                                       \
    if (!(c)) {                                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #c,             \
              famfs_last_error());                                                           \
      failures++;                                                                            \
    }                                                                                        \
  } while (0)

static int mapped(const void *p) {
  return msync((void *)((uintptr_t)p & ~(uintptr_t)4095), 4096, MS_ASYNC) == 0;
}

static struct famfs_map *parse(const char *t) {
  struct famfs_map *m = NULL;
  int rc = famfs_parse_map(t, strlen(t), "/dev/null", &m);
  return rc == 0 ? m : NULL;
}

static void test_parse(void) {
  struct famfs_map *m = parse("famfs-fmap 1\nsize 0xa00000\ninterleave 4 0x200000\n"
                              "0x140000000 0x400000\n0x180000000 0x400000\n"
                              "0x1200000 0x400000\n0x1c0000000 0x400000\n");
  CHECK(m);
  if (m) {
    uint64_t d = 0, r = 0;
    CHECK(m->kind == FAMFS_MAP_INTERLEAVE && m->nextents == 4 && m->chunk_size == 2 * MiB);
    CHECK(m->size == 10 * MiB && m->capacity == 16 * MiB);
    CHECK(strcmp(m->device, "/dev/null") == 0);
    CHECK(famfs_map_resolve(m, 5 * MiB, &d, &r) == 0 && d == 0x1300000 && r == 1 * MiB);
    CHECK(famfs_map_resolve(m, 9 * MiB, &d, &r) == 0 && d == 0x140300000);
    CHECK(famfs_map_resolve(m, 16 * MiB, &d, &r) == -ENXIO);
    famfs_free_map(m);
  }
  m = parse("famfs-fmap 1\nsize 0x300000\nsimple 2\n0x400000 0x200000\n0x200000 0x200000\n");
  CHECK(m);
  if (m) {
    uint64_t d = 0, r = 0;
    CHECK(famfs_map_resolve(m, 0x1000, &d, &r) == 0 && d == 0x401000 && r == 0x1ff000);
    CHECK(famfs_map_resolve(m, 0x200000, &d, &r) == 0 && d == 0x200000 && r == 0x200000);
    famfs_free_map(m);
  }
  const char *bad[] = {
      "",
      "famfs-fmap 2\nsize 0x1000\nsimple 1\n0x200000 0x200000\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 0\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 2\n0x200000 0x200000\n",
      "famfs-fmap 1\nsize 0x400000\nsimple 1\n0x200000 0x200000\n", /* capacity < size */
      "famfs-fmap 1\nsize 0x1000\nsimple 1\n0x200000 0x200000\nextra\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 1\n0x200001 0x200000\n",
      "famfs-fmap 1\nsize 0x1000\ninterleave 2 0x300000\n0x200000 0x600000\n0x800000 0x600000\n",
      "famfs-fmap 1\nsize 0x1000\ninterleave 2 0x200000\n0x200000 0x400000\n0x800000 0x200000\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 17\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 1\n0xffffffffffe00000 0x400000\n",
      "famfs-fmap 1\nsize 0x1000\nsimple 1\n0x200000 0x1fffffffffffffffff\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct famfs_map *b = NULL;
    int rc = famfs_parse_map(bad[i], strlen(bad[i]), NULL, &b);
    if (rc != FAMFS_EBADMAP) fprintf(stderr, "bad fmap %zu accepted\n", i);
    CHECK(rc == FAMFS_EBADMAP && b == NULL);
  }
  CHECK(strstr(famfs_strerror(FAMFS_EDEVACCESS), "device") != NULL);
  CHECK(strcmp(famfs_strerror(-EACCES), strerror(EACCES)) == 0);
}

/* Each 8-byte word of the image holds its own device offset. */
static int make_image(size_t size) {
  char path[] = "/dev/shm/famfs-lib-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) { perror("mkstemp"); exit(2); }
  unlink(path);
  if (ftruncate(fd, (off_t)size) != 0) { perror("ftruncate"); exit(2); }
  uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  for (size_t i = 0; i < size / 8; i++) p[i] = i * 8;
  munmap(p, size);
  return fd;
}

static void verify_all(const struct famfs_map *m, const uint8_t *base, uint64_t off, size_t len) {
  int bad = 0;
  for (uint64_t o = off; o < off + len; o += 4096) {
    uint64_t d, r;
    if (famfs_map_resolve(m, o, &d, &r) != 0) { bad++; continue; }
    uint64_t v;
    memcpy(&v, base + (o - off), 8);
    if (v != d) bad++;
  }
  CHECK(bad == 0);
}

static void test_map(int img) {
  /* simple: two extents in reverse device order */
  struct famfs_map *m = parse("famfs-fmap 1\nsize 0x500000\nsimple 2\n"
                              "0x1000000 0x400000\n0x400000 0x200000\n");
  void *p = NULL;
  CHECK(m && famfs_mmap_map(m, img, 0, 0, PROT_READ | PROT_WRITE, MAP_SHARED, &p) == 0);
  if (!p) return;
  CHECK((uintptr_t)p % (2 * MiB) == 0);
  verify_all(m, p, 0, 5 * MiB);
  /* stores land in the image */
  memcpy((char *)p + 4 * MiB + 16, "hello", 5);
  char buf[8] = {0};
  CHECK(pread(img, buf, 5, 0x400000 + 16) == 5 && memcmp(buf, "hello", 5) == 0);
  /* partial munmap: one page in the middle goes, neighbours stay */
  char *mid = (char *)p + 3 * MiB;
  CHECK(famfs_munmap(mid, 4096) == 0);
  CHECK(!mapped(mid) && mapped(mid - 4096) && mapped(mid + 4096));
  CHECK(famfs_munmap(p, 5 * MiB) == 0);
  CHECK(!mapped(p) && !mapped((char *)p + 4 * MiB));

  /* a page at an odd offset: whole granules are mapped around it, released with it */
  CHECK(famfs_mmap_map(m, img, 0x402000, 4096, PROT_READ, MAP_SHARED, &p) == 0);
  CHECK(((uintptr_t)p - 0x402000) % (2 * MiB) == 0);
  verify_all(m, p, 0x402000, 4096);
  char *granule = (char *)((uintptr_t)p & ~(uintptr_t)(2 * MiB - 1));
  CHECK(mapped(granule) && mapped(granule + 2 * MiB - 4096));
  CHECK(famfs_munmap(p, 4096) == 0);
  CHECK(!mapped(granule) && !mapped(p) && !mapped(granule + 2 * MiB - 4096));

  /* two partial unmaps that together cover the request also release the padding */
  CHECK(famfs_mmap_map(m, img, 0x1000, 0x3000, PROT_READ, MAP_SHARED, &p) == 0);
  granule = (char *)((uintptr_t)p & ~(uintptr_t)(2 * MiB - 1));
  CHECK(famfs_munmap((char *)p + 0x1000, 0x2000) == 0);
  CHECK(mapped(granule) && mapped(p) && !mapped((char *)p + 0x1000));
  CHECK(famfs_munmap(p, 0x1000) == 0);
  CHECK(!mapped(granule));

  /* a hole the kernel hands out again is left alone when the rest of the region goes */
  CHECK(famfs_mmap_map(m, img, 0x3000, 0x2000, PROT_READ, MAP_SHARED, &p) == 0);
  granule = (char *)((uintptr_t)p & ~(uintptr_t)(2 * MiB - 1));
  char *hole = (char *)p + 0x1000;
  CHECK(famfs_munmap(hole, 0x1000) == 0 && !mapped(hole));
  void *q = mmap(hole, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
  CHECK(q == hole);
  CHECK(famfs_munmap(p, 0x1000) == 0);
  CHECK(!mapped(granule) && !mapped(p) && mapped(hole));
  CHECK(famfs_munmap(hole, 4096) == 0 && !mapped(hole));

  /* MAP_POPULATE and MAP_SHARED_VALIDATE are fine */
  CHECK(famfs_mmap_map(m, img, 0, 2 * MiB, PROT_READ, MAP_SHARED_VALIDATE | MAP_POPULATE, &p) == 0);
  if (p) {
    verify_all(m, p, 0, 2 * MiB);
    CHECK(famfs_munmap(p, 2 * MiB) == 0);
  }

  /* beyond the allocation */
  CHECK(famfs_mmap_map(m, img, 0x400000, 0x300000, PROT_READ, MAP_SHARED, &p) == -ENXIO);
  CHECK(famfs_mmap_map(m, img, 0x1001, 0x1000, PROT_READ, MAP_SHARED, &p) == -EINVAL);
  CHECK(famfs_mmap_map(m, img, 0, 0x1000, PROT_READ, MAP_PRIVATE, &p) == -EINVAL);
  famfs_free_map(m);

  /* interleave: 3 strips of 4 MiB, 2 MiB chunks, 10 MiB file */
  m = parse("famfs-fmap 1\nsize 0xa00000\ninterleave 3 0x200000\n"
            "0x2000000 0x400000\n0x600000 0x400000\n0x1400000 0x400000\n");
  CHECK(m && famfs_mmap_map(m, img, 0, 0, PROT_READ, MAP_SHARED, &p) == 0);
  if (p) {
    verify_all(m, p, 0, 10 * MiB);
    CHECK(famfs_munmap(p, 10 * MiB) == 0);
  }
  CHECK(m && famfs_mmap_map(m, img, 3 * MiB, 5 * MiB, PROT_READ, MAP_SHARED, &p) == 0);
  if (p) {
    verify_all(m, p, 3 * MiB, 5 * MiB);
    CHECK(famfs_munmap(p, 5 * MiB) == 0);
  }
  famfs_free_map(m);
}

/* Device-DAX bookkeeping, with /dev/zero standing in for a character device: pages are
 * retired, and a granule goes only when all of its pages are retired. */
static void test_devdax_rules(void) {
  int z = open("/dev/zero", O_RDWR);
  if (z < 0) { perror("/dev/zero"); failures++; return; }
  struct famfs_map *m = parse("famfs-fmap 1\nsize 0x600000\nsimple 1\n0x200000 0x600000\n");
  void *p = NULL;
  CHECK(m && famfs_mmap_map(m, z, 0, 6 * MiB, PROT_READ, MAP_SHARED, &p) == 0);
  if (p) {
    char *c = p;
    CHECK(famfs_munmap(c + 3 * MiB, 4096) == 0);
    CHECK(mapped(c + 3 * MiB));                       /* retired, granule kept */
    CHECK(famfs_munmap(c + 2 * MiB, 1 * MiB) == 0);
    CHECK(mapped(c + 2 * MiB));
    CHECK(famfs_munmap(c + 3 * MiB, 1 * MiB) == 0);   /* again over the retired page: fine */
    CHECK(!mapped(c + 2 * MiB) && !mapped(c + 3 * MiB) && mapped(c) && mapped(c + 4 * MiB));
    /* the released granule is reused by someone else; unmapping our rest leaves it alone */
    void *q = mmap(c + 2 * MiB, 2 * MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0);
    CHECK(q == c + 2 * MiB);
    CHECK(famfs_munmap(c, 2 * MiB) == 0 && famfs_munmap(c + 4 * MiB, 2 * MiB) == 0);
    CHECK(!mapped(c) && !mapped(c + 4 * MiB) && mapped(c + 2 * MiB));
    munmap(q, 2 * MiB);
  }
  /* a window with padding: the granule goes with its last caller page */
  CHECK(m && famfs_mmap_map(m, z, 0x203000, 0x2000, PROT_READ, MAP_SHARED, &p) == 0);
  if (p) {
    char *g = (char *)((uintptr_t)p & ~(uintptr_t)(2 * MiB - 1));
    CHECK(famfs_munmap(p, 0x1000) == 0 && mapped(p) && mapped(g));
    CHECK(famfs_munmap((char *)p + 0x1000, 0x1000) == 0 && !mapped(p) && !mapped(g));
  }
  famfs_free_map(m);
  close(z);
}

/* The rule vectors shared with the core's Catch2 test (tests/vectors/fmap_rules.txt): the
 * daemon's fmap text of each is accepted or refused as the core does, capacity and
 * resolution agree, and a valid map is mappable whole (issue 8 defect 7: EBADMAP before). */
static void test_vectors(int img) {
  static struct rule_vec vs[64];
  int n = rule_vectors_load(FAMFS_VECTORS_DIR "/fmap_rules.txt", vs, 64);
  CHECK(n > 0);
  for (int i = 0; i < n; i++) {
    const struct rule_vec *v = &vs[i];
    char text[2048];
    size_t len = rule_vector_fmap_text(v, text, sizeof text);
    struct famfs_map *m = NULL;
    int rc = famfs_parse_map(text, len, "/dev/null", &m);
    if ((rc == 0) != v->valid) fprintf(stderr, "vector %s: parse gave %d\n", v->name, rc);
    CHECK((rc == 0) == v->valid);
    if (rc) continue;
    if (m->capacity != v->capacity) fprintf(stderr, "vector %s: capacity 0x%llx\n", v->name,
                                            (unsigned long long)m->capacity);
    CHECK(m->capacity == v->capacity);
    for (unsigned k = 0; k < v->nat; k++) {
      const struct rv_at *a = &v->at[k];
      uint64_t d = 0, r = 0;
      rc = famfs_map_resolve(m, a->off, &d, &r);
      if (a->none ? rc != -ENXIO : (rc != 0 || d != a->dev || r != a->run))
        fprintf(stderr, "vector %s: offset 0x%llx -> rc %d dev 0x%llx run 0x%llx\n", v->name,
                (unsigned long long)a->off, rc, (unsigned long long)d, (unsigned long long)r);
      CHECK(a->none ? rc == -ENXIO : (rc == 0 && d == a->dev && r == a->run));
    }
    void *p = NULL;
    rc = famfs_mmap_map(m, img, 0, 0, PROT_READ, MAP_SHARED, &p);
    if (rc) fprintf(stderr, "vector %s: famfs_mmap_map gave %d\n", v->name, rc);
    CHECK(rc == 0);
    if (rc == 0) {
      verify_all(m, p, 0, (size_t)m->size);
      CHECK(famfs_munmap(p, (size_t)m->size) == 0);
    }
    famfs_free_map(m);
  }
}

int main(void) {
  test_parse();
  int img = make_image(64 * MiB);
  test_map(img);
  test_vectors(img);
  close(img);
  test_devdax_rules();
  struct famfs_map *m = NULL;
  CHECK(famfs_get_map("/proc/self/status", &m) == FAMFS_ENOTFAMFS && errno == ENOTSUP);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
