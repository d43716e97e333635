/* Core of libfamfs and the preload: mapping a file's device ranges into one contiguous range,
 * and the region table that makes munmap (whole or partial) right (the fmap text is read in
 * famfs_fmap.c, mounts are trusted in famfs_mount.c).
 * No malloc: the table and the bitmaps live in anonymous mappings made with fc_sys. */
#define _GNU_SOURCE
#include "famfs_core.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FC_PAGE 4096ull

/* ---------------------------------------------------------------- region table */

/* Ownership rules (what makes munmap right, and never unmaps anything twice):
 * - a page of the caller's range [ustart, uend) of an image-file region is ours until the
 *   caller unmaps it (then the kernel may hand that address out again: a "hole");
 * - padding pages (the rest of the granules) are ours until the region dies;
 * - in a devdax region every page of a granule is ours until the whole granule is released
 *   (once all its caller pages are unmapped), because devdax cannot split below 2 MiB.
 * A page the caller unmaps is given to the kernel's munmap only if it is not ours (holes,
 * other mappings) or an image-region caller page; padding and granules are unmapped once. */

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fc_region *tab;
static size_t tab_n, tab_cap;
static size_t tab_count; /* read without the lock for fast paths */

void fc_lock(void) { pthread_mutex_lock(&tab_lock); }
void fc_unlock(void) { pthread_mutex_unlock(&tab_lock); }

/* A fork while another thread holds the table lock must not leave the child locked out. */
__attribute__((constructor)) static void fc_init(void) { pthread_atfork(fc_lock, fc_unlock, fc_unlock); }

size_t fc_region_count(void) { return __atomic_load_n(&tab_count, __ATOMIC_ACQUIRE); }

static void publish_count(void) { __atomic_store_n(&tab_count, tab_n, __ATOMIC_RELEASE); }

static void *anon(const struct fc_sys *sys, size_t len) {
  void *p = sys->mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static int tab_reserve(const struct fc_sys *sys) {
  if (tab_n < tab_cap) return 0;
  size_t ncap = tab_cap ? tab_cap * 2 : 64;
  struct fc_region *nt = anon(sys, round_up(ncap * sizeof *nt, FC_PAGE));
  if (!nt) return -ENOMEM;
  if (tab) {
    memcpy(nt, tab, tab_n * sizeof *nt);
    sys->munmap(tab, round_up(tab_cap * sizeof *tab, FC_PAGE));
  }
  tab = nt;
  tab_cap = ncap;
  return 0;
}

static void region_free(const struct fc_sys *sys, struct fc_region *r) {
  if (r->dead) sys->munmap(r->dead, r->dead_len);
  if (r->hold_fd >= 0 && sys->close) sys->close(r->hold_fd);
  *r = tab[--tab_n];
  publish_count();
}

static int overlaps(const struct fc_region *r, uintptr_t a, uintptr_t e) {
  return a < r->base + r->total && r->base < e;
}

static int inside(const struct fc_region *r, uintptr_t p) {
  return p >= r->base && p < r->base + r->total;
}

static int bit_get(const uint8_t *map, size_t i) { return (map[i / 8] >> (i % 8)) & 1; }
static void bit_set(uint8_t *map, size_t i) { map[i / 8] |= (uint8_t)(1u << (i % 8)); }

static size_t granule_of(const struct fc_region *r, uintptr_t p) {
  return (p - r->base) / FC_GRANULE;
}

/* Mark pages of [a, e) ∩ region dead. */
static void mark_dead(struct fc_region *r, uintptr_t a, uintptr_t e) {
  if (a < r->base) a = r->base;
  if (e > r->base + r->total) e = r->base + r->total;
  for (uintptr_t p = a; p < e; p += FC_PAGE) {
    size_t pg = (p - r->base) / FC_PAGE;
    if (!bit_get(r->dead, pg)) {
      bit_set(r->dead, pg);
      r->ndead++;
    }
  }
}

static int range_dead(const struct fc_region *r, uintptr_t a, uintptr_t e) {
  for (uintptr_t p = a; p < e; p += FC_PAGE)
    if (!bit_get(r->dead, (p - r->base) / FC_PAGE)) return 0;
  return 1;
}

static int all_dead(const struct fc_region *r) { return r->ndead == r->total / FC_PAGE; }

/* Is page p (inside r) still mapped by us? */
static int owned(const struct fc_region *r, uintptr_t p) {
  if (r->devdax) return !bit_get(r->released, granule_of(r, p));
  if (p < r->ustart || p >= r->uend) return 1; /* padding */
  return !bit_get(r->dead, (p - r->base) / FC_PAGE);
}

/* The regions a munmap looks at (those overlapping its range), so its page walk does not scan
 * the whole table for every page. */
struct cand {
  struct fc_region *r[64];
  size_t n;
  int all; /* more than fit: use the whole table */
};

static void cand_collect(struct cand *c, uintptr_t a, uintptr_t e) {
  c->n = 0;
  c->all = 0;
  for (size_t i = 0; i < tab_n; i++) {
    if (!overlaps(&tab[i], a, e)) continue;
    if (c->n == sizeof c->r / sizeof c->r[0]) {
      c->all = 1;
      return;
    }
    c->r[c->n++] = &tab[i];
  }
}

static size_t cand_count(const struct cand *c) { return c->all ? tab_n : c->n; }
static struct fc_region *cand_at(const struct cand *c, size_t i) {
  return c->all ? &tab[i] : c->r[i];
}

static struct fc_region *owner_of(const struct cand *c, uintptr_t p) {
  for (size_t i = 0; i < cand_count(c); i++) {
    struct fc_region *r = cand_at(c, i);
    if (inside(r, p) && owned(r, p)) return r;
  }
  return NULL;
}

static int owns_any(const struct fc_region *r, uintptr_t a, uintptr_t e) {
  if (a < r->base) a = r->base;
  if (e > r->base + r->total) e = r->base + r->total;
  for (uintptr_t p = a; p < e; p += FC_PAGE)
    if (owned(r, p)) return 1;
  return 0;
}

/* The kernel just placed a mapping on [a, e): a region that claims any of it as still ours
 * is stale (unmapped behind our back, or replaced with MAP_FIXED): drop it, unmap nothing. */
static void drop_stale(const struct fc_sys *sys, uintptr_t a, uintptr_t e) {
  for (size_t i = 0; i < tab_n;) {
    if (overlaps(&tab[i], a, e) && owns_any(&tab[i], a, e)) region_free(sys, &tab[i]);
    else i++;
  }
}

static int region_add(const struct fc_sys *sys, const struct fc_region *nr) {
  drop_stale(sys, nr->base, nr->base + nr->total);
  int rc = tab_reserve(sys);
  if (rc) return rc;
  tab[tab_n++] = *nr;
  publish_count();
  return 0;
}

/* ---------------------------------------------------------------- mapping */

/* Map file bytes [A, E) of `m` (granule-aligned A) into a fresh 2 MiB-aligned range, piece by
 * piece (coalescing pieces contiguous on the device). *base = address of file byte A. */
static int map_pieces(const struct fc_sys *sys, const struct fc_map *m, int devfd, uint64_t A,
                      uint64_t E, int prot, int flags, uintptr_t *base_out) {
  const uint64_t G = FC_GRANULE;
  size_t total = (size_t)(E - A);
  void *res = sys->mmap(NULL, total + G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
  if (res == MAP_FAILED) return -errno;
  uintptr_t r0 = (uintptr_t)res;
  uintptr_t base = (r0 + G - 1) / G * G;
  if (base > r0) sys->munmap(res, base - r0);
  if (r0 + total + G > base + total) sys->munmap((void *)(base + total), r0 + total + G - base - total);

  int mflags = MAP_SHARED | MAP_FIXED | (flags & (MAP_POPULATE | MAP_NORESERVE));
  uint64_t pos = A;
  while (pos < E) {
    uint64_t dev, run;
    int rc = fc_resolve(m, pos, &dev, &run);
    if (rc) {
      sys->munmap((void *)base, total);
      return rc;
    }
    uint64_t piece = run < E - pos ? run : E - pos;
    /* coalesce pieces that are contiguous on the device */
    while (pos + piece < E) {
      uint64_t d2, r2;
      if (fc_resolve(m, pos + piece, &d2, &r2) || d2 != dev + piece) break;
      piece += r2 < E - pos - piece ? r2 : E - pos - piece;
    }
    void *p = sys->mmap((void *)(base + (pos - A)), (size_t)piece, prot, mflags, devfd, (off_t)dev);
    if (p == MAP_FAILED) {
      int e = errno;
      sys->munmap((void *)base, total);
      return -e;
    }
    pos += piece;
  }
  *base_out = base;
  return 0;
}

/* The granule-rounded end of the mappable bytes of `m` at or after file offset `end`. */
static uint64_t mapped_end(const struct fc_map *m, uint64_t end) {
  uint64_t cap = fc_capacity(m);
  uint64_t E = (end + FC_GRANULE - 1) / FC_GRANULE * FC_GRANULE;
  return E > cap ? round_up(cap, FC_PAGE) : E; /* hand-made maps may end off-granule */
}

int fc_map_range(const struct fc_sys *sys, const struct fc_map *m, int devfd, int devdax,
                 uint64_t off, size_t len, int prot, int flags, void **addr) {
  const uint64_t G = FC_GRANULE;
  if (off % FC_PAGE || len == 0) return -EINVAL;
  uint64_t uend_off = off + round_up(len, FC_PAGE);
  if (uend_off < off) return -EINVAL;
  if (uend_off > fc_capacity(m)) return -ENXIO;
  uint64_t A = off / G * G;
  uint64_t E = mapped_end(m, uend_off);
  size_t total = (size_t)(E - A);
  uintptr_t base;
  int prc = map_pieces(sys, m, devfd, A, E, prot, flags, &base);
  if (prc) return prc;

  struct fc_region r;
  memset(&r, 0, sizeof r);
  r.base = base;
  r.total = total;
  r.ustart = base + (uintptr_t)(off - A);
  r.uend = base + (uintptr_t)(uend_off - A);
  r.devdax = devdax;
  r.hold_fd = -1;
  *addr = (void *)r.ustart;

  fc_lock();
  /* Every mapping is tracked: which pages the caller has unmapped (to release the padding
   * and devdax granules at the right time), and so mremap can refuse to move or grow it. */
  size_t npages = total / FC_PAGE, ngran = (total + FC_GRANULE - 1) / FC_GRANULE;
  int rc = 0;
  r.dead_len = round_up((npages + 7) / 8 + (ngran + 7) / 8, FC_PAGE);
  r.dead = anon(sys, r.dead_len);
  if (!r.dead) {
    rc = -ENOMEM;
  } else {
    r.released = r.dead + (npages + 7) / 8;
    mark_dead(&r, r.base, r.ustart);
    mark_dead(&r, r.uend, r.base + r.total);
    rc = region_add(sys, &r);
    if (rc) sys->munmap(r.dead, r.dead_len);
  }
  fc_unlock();
  if (rc) {
    sys->munmap((void *)base, total);
    *addr = NULL;
  }
  return rc;
}

int fc_region_hold(void *addr, int fd) {
  int rc = -ENOENT;
  fc_lock();
  for (size_t i = 0; i < tab_n; i++) {
    if (tab[i].ustart == (uintptr_t)addr && tab[i].hold_fd < 0) {
      tab[i].hold_fd = fd;
      rc = 0;
      break;
    }
  }
  fc_unlock();
  return rc;
}

int fc_map_whole(const struct fc_sys *sys, const struct fc_map *m, int devfd, int writable,
                 struct fc_file *f) {
  uint64_t cap = fc_capacity(m);
  memset(f, 0, sizeof *f);
  if (cap < m->size || cap == 0) return -EINVAL;
  uint64_t E = mapped_end(m, cap);
  uintptr_t base;
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  int rc = map_pieces(sys, m, devfd, 0, E, prot, 0, &base);
  if (rc) return rc;
  f->base = (uint8_t *)base;
  f->maplen = (size_t)E;
  f->size = m->size;
  f->writable = writable;
  return 0;
}

void fc_file_unmap(const struct fc_sys *sys, struct fc_file *f) {
  if (f->base) sys->munmap(f->base, f->maplen);
  memset(f, 0, sizeof *f);
}

static int sys_unmap(const struct fc_sys *sys, uintptr_t a, uintptr_t e) {
  if (e <= a) return 0;
  return sys->munmap((void *)a, e - a) == 0 ? 0 : -errno;
}

/* Release the devdax granules of r overlapping [a, e) that are now completely dead. */
static int release_granules(const struct fc_sys *sys, struct fc_region *r, uintptr_t a,
                            uintptr_t e) {
  int rc = 0;
  uintptr_t rend = r->base + r->total;
  uintptr_t run_a = 0, run_e = 0;
  for (uintptr_t g = r->base + granule_of(r, a) * FC_GRANULE; g < e && g < rend;
       g += FC_GRANULE) {
    uintptr_t gend = g + FC_GRANULE < rend ? g + FC_GRANULE : rend;
    size_t gi = granule_of(r, g);
    if (bit_get(r->released, gi) || !range_dead(r, g, gend)) continue;
    bit_set(r->released, gi);
    r->nreleased++;
    if (run_e == g) {
      run_e = gend;
    } else {
      int x = sys_unmap(sys, run_a, run_e);
      if (x && !rc) rc = x;
      run_a = g;
      run_e = gend;
    }
  }
  int x = sys_unmap(sys, run_a, run_e);
  return rc ? rc : x;
}

int fc_unmap(const struct fc_sys *sys, void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr;
  if (a % FC_PAGE || len == 0) {
    return sys->munmap(addr, len) == 0 ? 0 : -errno; /* the kernel's answer (EINVAL) */
  }
  uintptr_t e = a + round_up(len, FC_PAGE);
  if (e < a) return -EINVAL;
  fc_lock();
  struct cand c;
  cand_collect(&c, a, e);
  if (cand_count(&c) == 0) {
    fc_unlock();
    return sys_unmap(sys, a, e);
  }
  int rc = 0;
  uintptr_t cur = a;
  while (cur < e) {
    struct fc_region *r = owner_of(&c, cur);
    uintptr_t next;
    if (!r) {
      /* not ours: up to the next page we own */
      next = cur + FC_PAGE;
      while (next < e && !owner_of(&c, next)) {
        int in_some = 0;
        uintptr_t jump = e;
        for (size_t i = 0; i < cand_count(&c); i++) {
          const struct fc_region *q = cand_at(&c, i);
          if (inside(q, next)) in_some = 1;
          else if (q->base > next && q->base < jump) jump = q->base;
        }
        next = in_some ? next + FC_PAGE : jump;
      }
      int x = sys_unmap(sys, cur, next);
      if (x && !rc) rc = x;
    } else if (r->devdax) {
      uintptr_t rend = r->base + r->total < e ? r->base + r->total : e;
      next = cur;
      while (next < rend && owned(r, next)) next += FC_PAGE;
      mark_dead(r, cur, next);
      int x = release_granules(sys, r, cur, next);
      if (x && !rc) rc = x;
    } else if (cur < r->ustart || cur >= r->uend) {
      /* padding: stays until the region dies */
      next = cur < r->ustart ? r->ustart : r->base + r->total;
      if (next > e) next = e;
    } else {
      uintptr_t lim = r->uend < e ? r->uend : e;
      next = cur;
      while (next < lim && owned(r, next)) next += FC_PAGE;
      int x = sys_unmap(sys, cur, next);
      if (x && !rc) rc = x;
      mark_dead(r, cur, next);
    }
    cur = next;
  }
  /* Regions with nothing of the caller's left: unmap the padding (image files; devdax
   * granules went as they died) and forget them. */
  for (size_t i = 0; i < tab_n;) {
    struct fc_region *r = &tab[i];
    int gone = r->devdax ? r->nreleased == (r->total + FC_GRANULE - 1) / FC_GRANULE
                         : all_dead(r);
    if (overlaps(r, a, e) && gone) {
      if (!r->devdax) {
        sys_unmap(sys, r->base, r->ustart);
        sys_unmap(sys, r->uend, r->base + r->total);
      }
      region_free(sys, r);
    } else {
      i++;
    }
  }
  fc_unlock();
  return rc;
}

void fc_forget(const struct fc_sys *sys, void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr, e = a + round_up(len, FC_PAGE);
  if (fc_region_count() == 0) return;
  fc_lock();
  drop_stale(sys, a, e);
  fc_unlock();
}

int fc_overlaps_region(void *addr, size_t len) {
  uintptr_t a = (uintptr_t)addr, e = a + round_up(len, FC_PAGE);
  if (fc_region_count() == 0) return 0;
  int hit = 0;
  fc_lock();
  for (size_t i = 0; i < tab_n && !hit; i++)
    if (overlaps(&tab[i], a, e) && owns_any(&tab[i], a, e)) hit = 1;
  fc_unlock();
  return hit;
}
