/* read/write of famfs files from user space: the daemon's data rules over a mapping of the
 * file's device memory (fc_file_*), CPU cache maintenance, and the per-fd table shared by the
 * preload (read/write/pread/... of famfs fds) and libfamfs (famfs_pread/famfs_pwrite).
 * Plain C, no malloc: the table lives in anonymous mappings made with the caller's fc_sys.
 * docs/mmap.md, "read and write under the preload", has the rules. */
#define _GNU_SOURCE
#include "famfs_core.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "famfs.h"

/* ---------------------------------------------------------------- cache maintenance */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <emmintrin.h>

static int clflushopt_ok; /* CPUID.7.0:EBX bit 23, read once at load */

__attribute__((constructor)) static void cpu_init(void) {
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) clflushopt_ok = (b >> 23) & 1;
}

static int have_clflushopt(void) { return clflushopt_ok; }

void fc_flush_range(const void *addr, size_t len) {
  const size_t line = 64;
  if (!len) return;
  uintptr_t p = (uintptr_t)addr & ~(uintptr_t)(line - 1), e = (uintptr_t)addr + len;
  if (have_clflushopt()) {
    __asm__ volatile("sfence" ::: "memory");
    for (; p < e; p += line) __asm__ volatile(".byte 0x66; clflush %0" : "+m"(*(volatile char *)p));
  } else {
    for (; p < e; p += line) __asm__ volatile("clflush %0" : "+m"(*(volatile char *)p));
  }
  __asm__ volatile("sfence" ::: "memory");
}

void fc_stream_copy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  size_t head = (16 - ((uintptr_t)d & 15)) & 15;
  if (head > n) head = n;
  if (head) { /* up to the first 16-byte boundary: an ordinary store, written back */
    memcpy(d, s, head);
    fc_flush_range(d, head);
    d += head, s += head, n -= head;
  }
  for (; n >= 64; d += 64, s += 64, n -= 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)s), b = _mm_loadu_si128((const __m128i *)(s + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(s + 32)), e = _mm_loadu_si128((const __m128i *)(s + 48));
    _mm_stream_si128((__m128i *)d, a);
    _mm_stream_si128((__m128i *)(d + 16), b);
    _mm_stream_si128((__m128i *)(d + 32), c);
    _mm_stream_si128((__m128i *)(d + 48), e);
  }
  for (; n >= 16; d += 16, s += 16, n -= 16)
    _mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
  if (n) {
    memcpy(d, s, n);
    fc_flush_range(d, n);
  }
  _mm_sfence();
}
#else
void fc_flush_range(const void *addr, size_t len) {
  (void)addr;
  (void)len;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void fc_stream_copy(void *dst, const void *src, size_t n) {
  memcpy(dst, src, n);
  fc_flush_range(dst, n);
}
#endif

/* ---------------------------------------------------------------- the daemon's data rules */

static size_t iov_total(const struct iovec *iov, int cnt) {
  size_t t = 0;
  for (int i = 0; i < cnt; i++) {
    size_t l = iov[i].iov_len;
    if (l > FC_MAX_RW - t) return FC_MAX_RW;
    t += l;
  }
  return t;
}

ssize_t fc_file_readv(const struct fc_file *f, const struct iovec *iov, int cnt, uint64_t off) {
  if (off >= f->size) return 0;
  size_t n = iov_total(iov, cnt);
  if (n > f->size - off) n = (size_t)(f->size - off);
  size_t done = 0;
  for (int i = 0; i < cnt && done < n; i++) {
    size_t l = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
    memcpy(iov[i].iov_base, f->base + off + done, l);
    done += l;
  }
  return (ssize_t)done;
}

static void widen(uint64_t *lo, uint64_t *hi, uint64_t a, uint64_t b) {
  uint64_t cur = __atomic_load_n(lo, __ATOMIC_RELAXED);
  while (a < cur && !__atomic_compare_exchange_n(lo, &cur, a, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  cur = __atomic_load_n(hi, __ATOMIC_RELAXED);
  while (b > cur && !__atomic_compare_exchange_n(hi, &cur, b, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

ssize_t fc_file_writev(const struct fc_file *f, const struct iovec *iov, int cnt, uint64_t off,
                       uint64_t *dirty_lo, uint64_t *dirty_hi) {
  size_t n = iov_total(iov, cnt);
  if (n == 0) return 0;
  if (!f->writable) return -EBADF;
  if (off >= f->size) return -EFBIG; /* famfs files have a fixed size */
  if (n > f->size - off) n = (size_t)(f->size - off);
  int stream = n >= FC_STREAM_MIN;
  size_t done = 0;
  for (int i = 0; i < cnt && done < n; i++) {
    size_t l = iov[i].iov_len < n - done ? iov[i].iov_len : n - done;
    if (stream) fc_stream_copy(f->base + off + done, iov[i].iov_base, l);
    else memcpy(f->base + off + done, iov[i].iov_base, l);
    done += l;
  }
  if (!stream) widen(dirty_lo, dirty_hi, off, off + done);
  return (ssize_t)done;
}

void fc_file_flush_dirty(const struct fc_file *f, uint64_t *dirty_lo, uint64_t *dirty_hi) {
  uint64_t lo = __atomic_exchange_n(dirty_lo, UINT64_MAX, __ATOMIC_ACQ_REL);
  uint64_t hi = __atomic_exchange_n(dirty_hi, 0, __ATOMIC_ACQ_REL);
  if (lo < hi && hi <= f->size) fc_flush_range(f->base + lo, (size_t)(hi - lo));
}

/* ---------------------------------------------------------------- the per-fd table */

/* Entry states. EMPTY: never looked at (or forgotten at close). PASS: not ours to serve (not
 * famfs, ...) until the fd is closed. FAMFS: served; users counts calls in progress. BUSY:
 * being filled or torn down by one thread: everybody else passes the call through. */
enum { E_EMPTY = 0, E_PASS = 1, E_FAMFS = 2, E_BUSY = 3 };

struct fc_fdent {
  int state; /* atomic */
  int users; /* atomic */
  int acc;   /* O_ACCMODE when filled */
  dev_t dev;
  ino_t ino;
  struct fc_file f;
  uint64_t dirty_lo, dirty_hi; /* small writes not yet written back (atomic) */
  uint8_t *populated; /* one bit per granule of f: page tables filled (see populate) */
  size_t populated_len;
};

#define FDS_PER_BLOCK 1024u
#define FD_BLOCKS 1024u /* fds 0 .. 1 Mi - 1; higher fds pass through */

static struct fc_fdent *blocks[FD_BLOCKS]; /* installed once (CAS), never freed */

void (*fc_fd_note)(int fd, const char *what, const char *dev);

static void note(int fd, const char *what, const char *dev) {
  if (fc_fd_note) fc_fd_note(fd, what, dev);
}

static size_t block_bytes(void) {
  size_t b = FDS_PER_BLOCK * sizeof(struct fc_fdent);
  return (b + 4095) & ~(size_t)4095;
}

static struct fc_fdent *slot(const struct fc_sys *sys, int fd, int create) {
  if (fd < 0 || (unsigned)fd >= FDS_PER_BLOCK * FD_BLOCKS) return NULL;
  unsigned bi = (unsigned)fd / FDS_PER_BLOCK;
  struct fc_fdent *b = __atomic_load_n(&blocks[bi], __ATOMIC_ACQUIRE);
  if (!b && create) {
    void *p = sys->mmap(NULL, block_bytes(), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    struct fc_fdent *expect = NULL;
    if (__atomic_compare_exchange_n(&blocks[bi], &expect, (struct fc_fdent *)p, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      b = p;
    } else {
      sys->munmap(p, block_bytes());
      b = expect;
    }
  }
  return b ? &b[(unsigned)fd % FDS_PER_BLOCK] : NULL;
}

/* Look at a new fd: is it a famfs file we may serve? Returns E_FAMFS (e filled) or E_PASS. */
static int fill(const struct fc_sys *sys, int fd, struct fc_fdent *e) {
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_PATH) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return E_PASS;
  struct fc_map m;
  char dev[FC_PATH_MAX];
  int rc = fc_read_fd(fd, &m, dev, sizeof dev);
  if (rc) {
    if (rc != FAMFS_ENOTFAMFS) note(fd, "unusable famfs map: read/write through the mount", NULL);
    return E_PASS;
  }
  if ((uint64_t)st.st_size != m.size) {
    note(fd, "size differs from the famfs map: read/write through the mount", NULL);
    return E_PASS;
  }
  int acc = fl & O_ACCMODE;
  /* Writable only where the open allows it, and never a file with no write bit (as mmap). */
  int writable = acc != O_RDONLY && (st.st_mode & 0222) != 0;
  struct stat devst;
  rc = fc_verify_mount(fd, dev, &devst);
  if (rc) {
    note(fd, "mount not trusted for its device: read/write through the mount", dev);
    return E_PASS;
  }
  int devdax = 0;
  int dfd = fc_open_device(dev, writable, &devdax, &devst);
  if (dfd < 0) {
    note(fd, "cannot open the device: read/write through the mount", dev);
    return E_PASS;
  }
  rc = fc_map_whole(sys, &m, dfd, writable, &e->f);
  close(dfd);
  if (rc == 0) {
    size_t ngran = (e->f.maplen + FC_GRANULE - 1) / FC_GRANULE;
    e->populated_len = ((ngran + 7) / 8 + 4095) & ~(size_t)4095;
    void *p = sys->mmap(NULL, e->populated_len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      fc_file_unmap(sys, &e->f);
      rc = -ENOMEM;
    } else {
      e->populated = p;
    }
  }
  if (rc) {
    note(fd, "mapping the device failed: read/write through the mount", dev);
    return E_PASS;
  }
  e->acc = acc;
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->dirty_lo = UINT64_MAX;
  e->dirty_hi = 0;
  note(fd, writable ? "read/write served from the device (read-write)"
                    : "reads served from the device (writes through the mount)", dev);
  return E_FAMFS;
}

static void teardown(const struct fc_sys *sys, struct fc_fdent *e) {
  while (__atomic_load_n(&e->users, __ATOMIC_SEQ_CST) != 0) sched_yield();
  if (e->f.writable) fc_file_flush_dirty(&e->f, &e->dirty_lo, &e->dirty_hi);
  fc_file_unmap(sys, &e->f);
  if (e->populated) sys->munmap(e->populated, e->populated_len);
  e->populated = NULL;
}

static void forget_entry(const struct fc_sys *sys, struct fc_fdent *e) {
  for (;;) {
    int s = __atomic_load_n(&e->state, __ATOMIC_SEQ_CST);
    if (s == E_EMPTY) return;
    if (s == E_BUSY) { /* another thread fills or forgets it: wait */
      sched_yield();
      continue;
    }
    if (!__atomic_compare_exchange_n(&e->state, &s, E_BUSY, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      continue;
    if (s == E_FAMFS) teardown(sys, e);
    __atomic_store_n(&e->state, E_EMPTY, __ATOMIC_SEQ_CST);
    return;
  }
}

void fc_fd_forget(const struct fc_sys *sys, int fd) {
  struct fc_fdent *e = slot(sys, fd, 0);
  if (e && __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != E_EMPTY) forget_entry(sys, e);
}

void fc_fd_forget_range(const struct fc_sys *sys, unsigned lo, unsigned hi) {
  for (unsigned bi = lo / FDS_PER_BLOCK; bi < FD_BLOCKS && bi <= hi / FDS_PER_BLOCK; bi++) {
    struct fc_fdent *b = __atomic_load_n(&blocks[bi], __ATOMIC_ACQUIRE);
    if (!b) continue;
    for (unsigned i = 0; i < FDS_PER_BLOCK; i++) {
      unsigned fd = bi * FDS_PER_BLOCK + i;
      if (fd >= lo && fd <= hi && __atomic_load_n(&b[i].state, __ATOMIC_ACQUIRE) != E_EMPTY)
        forget_entry(sys, &b[i]);
    }
  }
}

/* A fork while other threads are inside calls leaves their references and BUSY marks in the
 * child, where those threads do not exist. */
static void after_fork_child(void) {
  for (unsigned bi = 0; bi < FD_BLOCKS; bi++) {
    struct fc_fdent *b = __atomic_load_n(&blocks[bi], __ATOMIC_ACQUIRE);
    if (!b) continue;
    for (unsigned i = 0; i < FDS_PER_BLOCK; i++) {
      b[i].users = 0;
      if (b[i].state == E_BUSY) b[i].state = E_EMPTY; /* a half-made mapping leaks, harmless */
    }
  }
}

__attribute__((constructor)) static void rw_init(void) { pthread_atfork(NULL, NULL, after_fork_child); }

/* Is the served entry still this fd's file, opened in a way that allows the access? */
static int still_valid(int fd, struct fc_fdent *e, int write, enum fc_check check) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != e->dev || st.st_ino != e->ino) return -1;
  if (check == FC_CHECK_MODE || write) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != e->acc) return -1;
    if (write && (fl & O_APPEND)) return 0; /* the kernel's path (EFBIG, as through FUSE) */
  }
  if (write ? (e->acc == O_RDONLY || !e->f.writable) : e->acc == O_WRONLY) return 0;
  return 1;
}

struct fc_fdent *fc_fd_get(const struct fc_sys *sys, int fd, int write, enum fc_check check) {
  struct fc_fdent *e = slot(sys, fd, 1);
  if (!e) return NULL;
  int s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
  if (s == E_EMPTY) {
    if (!__atomic_compare_exchange_n(&e->state, &s, E_BUSY, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return NULL;
    s = fill(sys, fd, e);
    __atomic_store_n(&e->state, s, __ATOMIC_SEQ_CST);
  }
  if (s != E_FAMFS) return NULL;
  __atomic_add_fetch(&e->users, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) != E_FAMFS) {
    fc_fd_put(e);
    return NULL;
  }
  int v = still_valid(fd, e, write, check);
  if (v > 0) return e;
  fc_fd_put(e);
  if (v < 0) forget_entry(sys, e); /* closed behind our back and reused: look again next time */
  return NULL;
}

void fc_fd_put(struct fc_fdent *e) { __atomic_sub_fetch(&e->users, 1, __ATOMIC_SEQ_CST); }

uint64_t fc_fd_key(struct fc_fdent *e) {
  return (uint64_t)e->ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)e->dev;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

/* The mapping is fresh for each fd, and a first touch of each page costs a fault (4 KiB pages
 * on image files: a 1 MiB copy takes 256; device-DAX maps 2 MiB per fault). A large call
 * fills the page tables of each 2 MiB granule it is the first to touch in one madvise
 * (Linux >= 5.14; where that fails the faults do the same work). Small calls take their
 * one or two faults: filling a whole granule for one 4 KiB access costs more than it saves
 * (measured: random 4 KiB writes 80x slower with it). */
static void populate(struct fc_fdent *e, uint64_t off, size_t n) {
  if (n < FC_STREAM_MIN || off >= e->f.size) return;
  uint64_t end = off + n < e->f.size ? off + n : e->f.size;
  for (uint64_t g = off / FC_GRANULE; g <= (end - 1) / FC_GRANULE; g++) {
    uint8_t bit = (uint8_t)(1u << (g % 8));
    if (__atomic_load_n(&e->populated[g / 8], __ATOMIC_RELAXED) & bit) continue;
    size_t len = FC_GRANULE;
    if (g * FC_GRANULE + len > e->f.maplen) len = e->f.maplen - g * FC_GRANULE;
    madvise(e->f.base + g * FC_GRANULE, len,
            e->f.writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
    __atomic_fetch_or(&e->populated[g / 8], bit, __ATOMIC_RELAXED);
  }
}

static size_t span(const struct iovec *iov, int cnt) {
  size_t t = 0;
  for (int i = 0; i < cnt; i++) t += iov[i].iov_len < FC_MAX_RW - t ? iov[i].iov_len : FC_MAX_RW - t;
  return t;
}

ssize_t fc_fd_readv(struct fc_fdent *e, const struct iovec *iov, int cnt, uint64_t off) {
  populate(e, off, span(iov, cnt));
  return fc_file_readv(&e->f, iov, cnt, off);
}

ssize_t fc_fd_writev(struct fc_fdent *e, const struct iovec *iov, int cnt, uint64_t off) {
  if (e->f.writable) populate(e, off, span(iov, cnt));
  return fc_file_writev(&e->f, iov, cnt, off, &e->dirty_lo, &e->dirty_hi);
}

void fc_fd_sync(int fd) {
  struct fc_fdent *e = slot(NULL, fd, 0);
  if (!e || __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != E_FAMFS) return;
  __atomic_add_fetch(&e->users, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) == E_FAMFS && e->f.writable)
    fc_file_flush_dirty(&e->f, &e->dirty_lo, &e->dirty_hi);
  fc_fd_put(e);
}
