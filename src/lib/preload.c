/* libfamfs-preload.so: LD_PRELOAD shim that turns mmap of a famfs file into a zero-copy
 * mapping of the device memory behind it (see docs/mmap.md).
 *
 * - mmap/mmap64 of an fd whose file system is FUSE (fstatfs f_type 0x65735546) and which
 *   answers user.famfs.fmap, with MAP_SHARED and without MAP_FIXED: the device (or image)
 *   ranges of the file are mapped instead (one contiguous, 2 MiB aligned range).
 * - Everything else goes to the next mmap in the chain (dlsym(RTLD_NEXT)), unchanged:
 *   anonymous memory, other file systems, MAP_PRIVATE (copy-on-write semantics stay the
 *   kernel's: a private FUSE mapping), MAP_FIXED, unusual flags, ranges beyond the file's
 *   allocation, and any case where the device cannot be opened (non-root callers):
 *   silently, or with one line on stderr when FAMFS_PRELOAD_DEBUG=1.
 * - munmap of (part of) such a mapping retires exactly those pages (device-DAX: by whole
 *   2 MiB granules once all their pages are gone) and frees the surrounding granule padding
 *   when nothing of the mapping is left.
 * - read/write/pread/readv/... of famfs fds: preload_rw.c (FAMFS_PRELOAD_RW=0 turns that off).
 * - FAMFS_PRELOAD_DISABLE=1 turns all of this off.
 * Plain C, no malloc (debug lines: snprintf on the stack + write(2)): safe inside allocators
 * that call mmap. */
/* We define both mmap and mmap64: keep the headers from renaming one into the other. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "famfs_core.h"
#include "famfs.h"
#include "preload.h"

#define EXPORT __attribute__((visibility("default")))

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);

static mmap_fn next_mmap;
static mmap_fn next_mmap64;
static munmap_fn next_munmap;
static mremap_fn next_mremap;

/* 0 not started, 1 in progress, 2 done */
static int init_state;
static int disabled;
static int debug;
static int rw_off;
/* Set while this thread is inside the shim: nested calls go straight through. */
__thread int pl_in_shim __attribute__((tls_model("initial-exec")));

static void *raw_mmap(void *a, size_t l, int p, int f, int fd, off_t o) {
  long r = syscall(SYS_mmap, a, l, p, f, fd, o);
  return (void *)r; /* syscall() returns -1 and sets errno on failure = MAP_FAILED */
}

static int raw_munmap(void *a, size_t l) { return (int)syscall(SYS_munmap, a, l); }

static void *call_next_mmap(void *a, size_t l, int p, int f, int fd, off_t o) {
  mmap_fn fn = __atomic_load_n(&next_mmap, __ATOMIC_ACQUIRE);
  return fn ? fn(a, l, p, f, fd, o) : raw_mmap(a, l, p, f, fd, o);
}

static void *call_next_mmap64(void *a, size_t l, int p, int f, int fd, off_t o) {
  mmap_fn fn = __atomic_load_n(&next_mmap64, __ATOMIC_ACQUIRE);
  return fn ? fn(a, l, p, f, fd, o) : call_next_mmap(a, l, p, f, fd, o);
}

static int call_next_munmap(void *a, size_t l) {
  munmap_fn fn = __atomic_load_n(&next_munmap, __ATOMIC_ACQUIRE);
  return fn ? fn(a, l) : raw_munmap(a, l);
}

/* The fd a mapping holds (fc_region_hold) is the preload's own: closed past its wrappers. */
static int raw_close(int fd) { return (int)syscall(SYS_close, fd); }

const struct fc_sys pl_sys = {call_next_mmap, call_next_munmap, raw_close};

/* FAMFS_PRELOAD_RW=0 turns the read/write path off (mmap stays). */
static int env_is_zero(const char *name) {
  const char *v = getenv(name);
  return v && strcmp(v, "0") == 0;
}

int pl_rw_enabled(void) { return !disabled && !rw_off; }

static int env_on(const char *name) {
  const char *v = getenv(name);
  return v && v[0] && strcmp(v, "0") != 0;
}

void pl_note(const char *fmt, ...) {
  if (!debug) return;
  char buf[512];
  int n = snprintf(buf, sizeof buf, "famfs-preload[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof buf) n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf - 1) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(2, buf, (size_t)n);
  (void)w;
}

static void init(void) {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&init_state, &expected, 1, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return; /* done, or in progress (possibly in this thread: raw syscalls meanwhile) */
  pl_in_shim++;
  disabled = env_on("FAMFS_PRELOAD_DISABLE");
  debug = env_on("FAMFS_PRELOAD_DEBUG");
  rw_off = env_is_zero("FAMFS_PRELOAD_RW");
  pl_rw_init(debug);
  __atomic_store_n(&next_mmap, (mmap_fn)dlsym(RTLD_NEXT, "mmap"), __ATOMIC_RELEASE);
  __atomic_store_n(&next_mmap64, (mmap_fn)dlsym(RTLD_NEXT, "mmap64"), __ATOMIC_RELEASE);
  __atomic_store_n(&next_munmap, (munmap_fn)dlsym(RTLD_NEXT, "munmap"), __ATOMIC_RELEASE);
  __atomic_store_n(&next_mremap, (mremap_fn)dlsym(RTLD_NEXT, "mremap"), __ATOMIC_RELEASE);
  pl_in_shim--;
  __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void preload_ctor(void) { init(); }

int pl_ready(void) {
  if (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != 2) init();
  return __atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == 2;
}

/* Try the zero-copy path. Returns the mapping, or MAP_FAILED with *pass = 1 to pass through. */
static void *famfs_try(size_t len, int prot, int flags, int fd, off_t off, int *pass) {
  *pass = 1;
  int type = flags & MAP_TYPE;
  if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE) return MAP_FAILED;
  if (flags & ~(MAP_TYPE | MAP_POPULATE | MAP_NORESERVE)) return MAP_FAILED;
  if (len == 0 || off < 0 || (off & 4095)) return MAP_FAILED;

  struct fc_map m;
  char dev[FC_PATH_MAX];
  int rc = fc_read_fd(fd, &m, dev, sizeof dev);
  if (rc) {
    if (rc != FAMFS_ENOTFAMFS)
      pl_note("fd %d: %s; using the ordinary mmap", fd,
           rc == FAMFS_EBADMAP ? "malformed famfs map" : strerror(-rc));
    return MAP_FAILED;
  }
  int writable = (prot & PROT_WRITE) != 0;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY || (writable && (fl & O_ACCMODE) != O_RDWR))
    return MAP_FAILED; /* the kernel gives the right EACCES */
  if (writable) {
    /* Same rule as libfamfs: a file with no write bit is never mapped writable, not even
     * for root (who could open it O_RDWR). */
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0222) == 0) {
      pl_note("fd %d: read-only file (mode %04o): refusing a writable shared mapping", fd,
           (unsigned)(st.st_mode & 07777));
      *pass = 0;
      errno = EACCES;
      return MAP_FAILED;
    }
  }
  if ((uint64_t)off + len > fc_capacity(&m) || (uint64_t)off + len < (uint64_t)off) {
    pl_note("fd %d: [0x%llx, +0x%zx) goes beyond the file's allocation; using the ordinary mmap",
         fd, (unsigned long long)off, len);
    return MAP_FAILED;
  }
  struct stat devst;
  rc = fc_verify_mount(fd, dev, &devst);
  if (rc) {
    pl_note("fd %d: its mount is not a famfs of %s mounted by root or by us (%d); using the "
         "ordinary mmap", fd, dev, rc);
    return MAP_FAILED;
  }
  int devdax = 0;
  int dfd = fc_open_device(dev, writable, &devdax, &devst);
  if (dfd < 0) {
    pl_note("cannot open %s %s (%s); using the ordinary (FUSE) mmap", dev,
         writable ? "read-write" : "read-only", strerror(-dfd));
    return MAP_FAILED;
  }
  void *addr = MAP_FAILED;
  rc = fc_map_range(&pl_sys, &m, dfd, devdax, (uint64_t)off, len, prot, flags, &addr);
  close(dfd);
  if (rc) {
    pl_note("mapping fd %d [0x%llx, +0x%zx) from %s failed (%s); using the ordinary mmap", fd,
         (unsigned long long)off, len, dev, strerror(-rc));
    return MAP_FAILED;
  }
  /* Held open for the mapping's life (the program may close fd): the daemon counts it. */
  int hold = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (hold < 0 || fc_region_hold(addr, hold) != 0) {
    if (hold >= 0) raw_close(hold);
    fc_unmap(&pl_sys, addr, len);
    pl_note("fd %d: cannot keep the file open for the mapping; using the ordinary mmap", fd);
    return MAP_FAILED;
  }
  pl_note("fd %d [0x%llx, +0x%zx) -> %s at %p", fd, (unsigned long long)off, len, dev, addr);
  *pass = 0;
  return addr;
}

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int is64) {
  if (pl_in_shim || !pl_ready() || disabled || fd < 0 || (flags & MAP_ANONYMOUS)) {
    void *p = is64 ? call_next_mmap64(addr, len, prot, flags, fd, off)
                   : call_next_mmap(addr, len, prot, flags, fd, off);
    /* Whatever the kernel just placed there replaced any famfs mapping we knew of. */
    if (p != MAP_FAILED && !pl_in_shim && fc_region_count()) fc_forget(&pl_sys, p, len);
    return p;
  }
  int saved = errno;
  pl_in_shim++;
  int pass = 1;
  void *p = MAP_FAILED;
  if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) p = famfs_try(len, prot, flags, fd, off, &pass);
  pl_in_shim--;
  if (!pass) {
    if (p != MAP_FAILED) errno = saved;
    return p;
  }
  errno = saved;
  p = is64 ? call_next_mmap64(addr, len, prot, flags, fd, off)
           : call_next_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && fc_region_count()) fc_forget(&pl_sys, p, len);
  return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return do_mmap(addr, len, prot, flags, fd, off, 0);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return do_mmap(addr, len, prot, flags, fd, off, 1);
}

EXPORT int munmap(void *addr, size_t len) {
  if (pl_in_shim || fc_region_count() == 0) return call_next_munmap(addr, len);
  pl_in_shim++;
  int rc = fc_unmap(&pl_sys, addr, len);
  pl_in_shim--;
  if (rc) {
    errno = -rc;
    return -1;
  }
  return 0;
}

/* A famfs mapping covers exactly its file's device ranges: it may shrink in place (like a
 * partial munmap) but not grow or move (growing would map device bytes of other files). */
EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  if (!pl_in_shim && fc_region_count() && fc_overlaps_region(old, old_len ? old_len : 1)) {
    if (!(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && new_len && new_len <= old_len &&
        ((uintptr_t)old & 4095) == 0) {
      size_t keep = (new_len + 4095) & ~(size_t)4095;
      size_t all = (old_len + 4095) & ~(size_t)4095;
      if (keep < all) {
        pl_in_shim++;
        int rc = fc_unmap(&pl_sys, (char *)old + keep, all - keep);
        pl_in_shim--;
        if (rc) {
          errno = -rc;
          return MAP_FAILED;
        }
      }
      return old;
    }
    pl_note("mremap of a famfs mapping at %p refused (it cannot grow or move)", old);
    errno = EINVAL;
    return MAP_FAILED;
  }
  mremap_fn fn = __atomic_load_n(&next_mremap, __ATOMIC_ACQUIRE);
  void *p;
  if (fn) p = fn(old, old_len, new_len, flags, new_addr);
  else p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
  if (p != MAP_FAILED && fc_region_count()) fc_forget(&pl_sys, p, new_len);
  return p;
}
