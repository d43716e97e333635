/* libfamfs-preload.so, read/write part: read, pread, readv, preadv(2), write, pwrite, writev,
 * pwritev(2) (and the _FORTIFY_SOURCE __read_chk/__pread_chk) on file descriptors of famfs
 * files are served by memcpy from/to the file's device memory (famfs_rw.c), with the
 * daemon's rules; the file offset stays the kernel's (lseek on the FUSE fd, which takes no
 * daemon round trip), so it is shared across dup and fork as usual. close, close_range,
 * closefrom, dup2, dup3, fclose and freopen forget an fd's state first; fsync and fdatasync
 * write back small writes. Every other fd, and famfs fds we may not serve, go to the next
 * definition unchanged. FAMFS_PRELOAD_RW=0 turns this part off. docs/mmap.md has the rules. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "famfs_core.h"
#include "preload.h"

#define EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------- next definitions */

typedef ssize_t (*rw_fn)(int, void *, size_t);
typedef ssize_t (*prw_fn)(int, void *, size_t, off_t);
typedef ssize_t (*rwv_fn)(int, const struct iovec *, int);
typedef ssize_t (*prwv_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*prwv2_fn)(int, const struct iovec *, int, off_t, int);
typedef ssize_t (*chk_fn)(int, void *, size_t, size_t);
typedef ssize_t (*pchk_fn)(int, void *, size_t, off_t, size_t);
typedef int (*close_fn)(int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);
typedef int (*close_range_fn)(unsigned, unsigned, int);
typedef void (*closefrom_fn)(int);
typedef int (*fclose_fn)(FILE *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);

enum {
  N_READ, N_PREAD, N_PREAD64, N_READV, N_PREADV, N_PREADV64, N_PREADV2, N_PREADV64V2,
  N_WRITE, N_PWRITE, N_PWRITE64, N_WRITEV, N_PWRITEV, N_PWRITEV64, N_PWRITEV2, N_PWRITEV64V2,
  N_READ_CHK, N_PREAD_CHK, N_PREAD64_CHK, N_CLOSE, N_DUP2, N_DUP3, N_CLOSE_RANGE, N_CLOSEFROM,
  N_FCLOSE, N_FREOPEN, N_FREOPEN64, N_FSYNC, N_FDATASYNC, N_COUNT
};
static const char *const names[N_COUNT] = {
  "read", "pread", "pread64", "readv", "preadv", "preadv64", "preadv2", "preadv64v2",
  "write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev64", "pwritev2", "pwritev64v2",
  "__read_chk", "__pread_chk", "__pread64_chk", "close", "dup2", "dup3", "close_range",
  "closefrom", "fclose", "freopen", "freopen64", "fsync", "fdatasync",
};
static void *next_fns[N_COUNT];

static void debug_fd(int fd, const char *what, const char *dev) {
  pl_note("fd %d: %s%s%s", fd, what, dev ? ": " : "", dev ? dev : "");
}

void pl_rw_init(int debug) {
  for (int i = 0; i < N_COUNT; i++)
    __atomic_store_n(&next_fns[i], dlsym(RTLD_NEXT, names[i]), __ATOMIC_RELEASE);
  if (debug) fc_fd_note = debug_fd;
}

/* The next definition; before the set-up has found it (calls from other libraries'
 * constructors), NULL: the callers below then use the system call. */
static void *next(int i) {
  void *f = __atomic_load_n(&next_fns[i], __ATOMIC_ACQUIRE);
  if (!f) {
    pl_ready();
    f = __atomic_load_n(&next_fns[i], __ATOMIC_ACQUIRE);
  }
  return f;
}

static ssize_t next_read(int fd, void *b, size_t n) {
  rw_fn f = (rw_fn)next(N_READ);
  return f ? f(fd, b, n) : syscall(SYS_read, fd, b, n);
}
static ssize_t next_write(int fd, const void *b, size_t n) {
  rw_fn f = (rw_fn)next(N_WRITE);
  return f ? f(fd, (void *)b, n) : syscall(SYS_write, fd, b, n);
}
static ssize_t next_prw(int i, long nr, int fd, void *b, size_t n, off_t off) {
  prw_fn f = (prw_fn)next(i);
  return f ? f(fd, b, n, off) : syscall(nr, fd, b, n, off);
}
static ssize_t next_rwv(int i, long nr, int fd, const struct iovec *v, int c) {
  rwv_fn f = (rwv_fn)next(i);
  return f ? f(fd, v, c) : syscall(nr, fd, v, c);
}
static ssize_t next_prwv(int i, long nr, int fd, const struct iovec *v, int c, off_t off) {
  prwv_fn f = (prwv_fn)next(i);
  return f ? f(fd, v, c, off) : syscall(nr, fd, v, c, (long)off, 0L);
}
static ssize_t next_prwv2(int i, long nr, int fd, const struct iovec *v, int c, off_t off, int fl) {
  prwv2_fn f = (prwv2_fn)next(i);
  return f ? f(fd, v, c, off, fl) : syscall(nr, fd, v, c, (long)off, 0L, fl);
}

/* ---------------------------------------------------------------- serving */

/* Calls that might be ours: not inside the shim, set up, read/write path on. */
static int may_serve(int fd) {
  return fd >= 0 && !pl_in_shim && pl_ready() && pl_rw_enabled();
}

static struct fc_fdent *get(int fd, int write) {
  pl_in_shim++;
  struct fc_fdent *e = fc_fd_get(&pl_sys, fd, write, FC_CHECK_ID);
  pl_in_shim--;
  return e;
}

static ssize_t ret(ssize_t r) {
  if (r < 0) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

/* pread/pwrite family at an explicit offset: -2 = not ours (pass through). */
#define NOT_OURS (-2)
static ssize_t served_pv(int fd, const struct iovec *v, int c, off_t off, int write) {
  if (!may_serve(fd)) return NOT_OURS;
  struct fc_fdent *e = get(fd, write);
  if (!e) return NOT_OURS;
  ssize_t r;
  if (off < 0 || c < 0 || c > IOV_MAX) r = -EINVAL;
  else if (write) r = fc_fd_writev(e, v, c, (uint64_t)off);
  else r = fc_fd_readv(e, v, c, (uint64_t)off);
  fc_fd_put(e);
  return ret(r);
}

/* read/write family at the file offset: the kernel's offset, read and advanced with lseek on
 * the fd (served by the kernel for FUSE files without a daemon round trip), under a lock per
 * file so that threads of this process sharing an open file never interleave (like the
 * kernel's f_pos lock). */
#define OFF_LOCKS 64
static pthread_mutex_t off_lock[OFF_LOCKS];

static void locks_prepare(void) {
  for (int i = 0; i < OFF_LOCKS; i++) pthread_mutex_lock(&off_lock[i]);
}
static void locks_release(void) {
  for (int i = OFF_LOCKS - 1; i >= 0; i--) pthread_mutex_unlock(&off_lock[i]);
}
__attribute__((constructor)) static void off_locks_init(void) {
  for (int i = 0; i < OFF_LOCKS; i++) pthread_mutex_init(&off_lock[i], NULL);
  pthread_atfork(locks_prepare, locks_release, locks_release);
}

static ssize_t served_v(int fd, const struct iovec *v, int c, int write) {
  if (!may_serve(fd)) return NOT_OURS;
  struct fc_fdent *e = get(fd, write);
  if (!e) return NOT_OURS;
  if (c < 0 || c > IOV_MAX) {
    fc_fd_put(e);
    return ret(-EINVAL);
  }
  pthread_mutex_t *lk = &off_lock[fc_fd_key(e) % OFF_LOCKS];
  pthread_mutex_lock(lk);
  ssize_t r;
  off_t pos = lseek(fd, 0, SEEK_CUR);
  if (pos < 0) r = -errno;
  else if (write) r = fc_fd_writev(e, v, c, (uint64_t)pos);
  else r = fc_fd_readv(e, v, c, (uint64_t)pos);
  if (r > 0 && lseek(fd, pos + r, SEEK_SET) < 0) r = -errno;
  pthread_mutex_unlock(lk);
  fc_fd_put(e);
  return ret(r);
}

static ssize_t one_p(int fd, void *b, size_t n, off_t off, int write) {
  struct iovec v = {b, n};
  return served_pv(fd, &v, 1, off, write);
}

static ssize_t one(int fd, void *b, size_t n, int write) {
  struct iovec v = {b, n};
  return served_v(fd, &v, 1, write);
}

/* ---------------------------------------------------------------- read side */

EXPORT ssize_t read(int fd, void *b, size_t n) {
  ssize_t r = one(fd, b, n, 0);
  return r != NOT_OURS ? r : next_read(fd, b, n);
}

EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t blen) {
  if (n > blen) return ((chk_fn)next(N_READ_CHK))(fd, b, n, blen); /* its buffer overflow abort */
  return read(fd, b, n);
}

EXPORT ssize_t pread(int fd, void *b, size_t n, off_t off) {
  ssize_t r = one_p(fd, b, n, off, 0);
  return r != NOT_OURS ? r : next_prw(N_PREAD, SYS_pread64, fd, b, n, off);
}

EXPORT ssize_t pread64(int fd, void *b, size_t n, off_t off) {
  ssize_t r = one_p(fd, b, n, off, 0);
  return r != NOT_OURS ? r : next_prw(N_PREAD64, SYS_pread64, fd, b, n, off);
}

EXPORT ssize_t __pread_chk(int fd, void *b, size_t n, off_t off, size_t blen) {
  if (n > blen) return ((pchk_fn)next(N_PREAD_CHK))(fd, b, n, off, blen);
  return pread(fd, b, n, off);
}

EXPORT ssize_t __pread64_chk(int fd, void *b, size_t n, off_t off, size_t blen) {
  if (n > blen) return ((pchk_fn)next(N_PREAD64_CHK))(fd, b, n, off, blen);
  return pread64(fd, b, n, off);
}

EXPORT ssize_t readv(int fd, const struct iovec *v, int c) {
  ssize_t r = served_v(fd, v, c, 0);
  return r != NOT_OURS ? r : next_rwv(N_READV, SYS_readv, fd, v, c);
}

EXPORT ssize_t preadv(int fd, const struct iovec *v, int c, off_t off) {
  ssize_t r = served_pv(fd, v, c, off, 0);
  return r != NOT_OURS ? r : next_prwv(N_PREADV, SYS_preadv, fd, v, c, off);
}

EXPORT ssize_t preadv64(int fd, const struct iovec *v, int c, off_t off) {
  ssize_t r = served_pv(fd, v, c, off, 0);
  return r != NOT_OURS ? r : next_prwv(N_PREADV64, SYS_preadv, fd, v, c, off);
}

/* preadv2/pwritev2: flags (RWF_*) go to the kernel; offset -1 means the file offset. */
static ssize_t v2(int fd, const struct iovec *v, int c, off_t off, int fl, int write) {
  if (fl != 0) return NOT_OURS;
  return off == -1 ? served_v(fd, v, c, write) : served_pv(fd, v, c, off, write);
}

EXPORT ssize_t preadv2(int fd, const struct iovec *v, int c, off_t off, int fl) {
  ssize_t r = v2(fd, v, c, off, fl, 0);
  return r != NOT_OURS ? r : next_prwv2(N_PREADV2, SYS_preadv2, fd, v, c, off, fl);
}

EXPORT ssize_t preadv64v2(int fd, const struct iovec *v, int c, off_t off, int fl) {
  ssize_t r = v2(fd, v, c, off, fl, 0);
  return r != NOT_OURS ? r : next_prwv2(N_PREADV64V2, SYS_preadv2, fd, v, c, off, fl);
}

/* ---------------------------------------------------------------- write side */

EXPORT ssize_t write(int fd, const void *b, size_t n) {
  ssize_t r = one(fd, (void *)b, n, 1);
  return r != NOT_OURS ? r : next_write(fd, b, n);
}

EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  ssize_t r = one_p(fd, (void *)b, n, off, 1);
  return r != NOT_OURS ? r : next_prw(N_PWRITE, SYS_pwrite64, fd, (void *)b, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) {
  ssize_t r = one_p(fd, (void *)b, n, off, 1);
  return r != NOT_OURS ? r : next_prw(N_PWRITE64, SYS_pwrite64, fd, (void *)b, n, off);
}

EXPORT ssize_t writev(int fd, const struct iovec *v, int c) {
  ssize_t r = served_v(fd, v, c, 1);
  return r != NOT_OURS ? r : next_rwv(N_WRITEV, SYS_writev, fd, v, c);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *v, int c, off_t off) {
  ssize_t r = served_pv(fd, v, c, off, 1);
  return r != NOT_OURS ? r : next_prwv(N_PWRITEV, SYS_pwritev, fd, v, c, off);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *v, int c, off_t off) {
  ssize_t r = served_pv(fd, v, c, off, 1);
  return r != NOT_OURS ? r : next_prwv(N_PWRITEV64, SYS_pwritev, fd, v, c, off);
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *v, int c, off_t off, int fl) {
  ssize_t r = v2(fd, v, c, off, fl, 1);
  return r != NOT_OURS ? r : next_prwv2(N_PWRITEV2, SYS_pwritev2, fd, v, c, off, fl);
}

EXPORT ssize_t pwritev64v2(int fd, const struct iovec *v, int c, off_t off, int fl) {
  ssize_t r = v2(fd, v, c, off, fl, 1);
  return r != NOT_OURS ? r : next_prwv2(N_PWRITEV64V2, SYS_pwritev2, fd, v, c, off, fl);
}

EXPORT int fsync(int fd) {
  if (pl_ready()) fc_fd_sync(fd);
  close_fn f = (close_fn)next(N_FSYNC);
  return f ? f(fd) : (int)syscall(SYS_fsync, fd);
}

EXPORT int fdatasync(int fd) {
  if (pl_ready()) fc_fd_sync(fd);
  close_fn f = (close_fn)next(N_FDATASYNC);
  return f ? f(fd) : (int)syscall(SYS_fdatasync, fd);
}

/* ---------------------------------------------------------------- fds going away */

/* Always, also inside the shim and with the read/write path off (an fd it served before
 * being turned off must not stay known): fd numbers are reused after a close. */
static void forget(int fd) { fc_fd_forget(&pl_sys, fd); }

EXPORT int close(int fd) {
  forget(fd);
  close_fn f = (close_fn)next(N_CLOSE);
  return f ? f(fd) : (int)syscall(SYS_close, fd);
}

EXPORT int dup2(int old, int nfd) {
  if (old != nfd) forget(nfd);
  dup2_fn f = (dup2_fn)next(N_DUP2);
  return f ? f(old, nfd) : (int)syscall(SYS_dup2, old, nfd);
}

EXPORT int dup3(int old, int nfd, int fl) {
  if (old != nfd) forget(nfd);
  dup3_fn f = (dup3_fn)next(N_DUP3);
  return f ? f(old, nfd, fl) : (int)syscall(SYS_dup3, old, nfd, fl);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

EXPORT int close_range(unsigned lo, unsigned hi, int fl) {
  if (!(fl & CLOSE_RANGE_CLOEXEC)) fc_fd_forget_range(&pl_sys, lo, hi);
  close_range_fn f = (close_range_fn)next(N_CLOSE_RANGE);
  return f ? f(lo, hi, fl) : (int)syscall(SYS_close_range, lo, hi, fl);
}

EXPORT void closefrom(int lo) {
  if (lo < 0) lo = 0;
  fc_fd_forget_range(&pl_sys, (unsigned)lo, ~0u);
  closefrom_fn f = (closefrom_fn)next(N_CLOSEFROM);
  if (f) f(lo);
  else syscall(SYS_close_range, (unsigned)lo, ~0u, 0);
}

/* stdio closes its fd inside libc, where close() is not seen. */
EXPORT int fclose(FILE *fp) {
  if (fp) {
    int fd = fileno(fp);
    if (fd >= 0) forget(fd);
  }
  return ((fclose_fn)next(N_FCLOSE))(fp);
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp) {
  if (fp) {
    int fd = fileno(fp);
    if (fd >= 0) forget(fd);
  }
  return ((freopen_fn)next(N_FREOPEN))(path, mode, fp);
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp) {
  if (fp) {
    int fd = fileno(fp);
    if (fd >= 0) forget(fd);
  }
  return ((freopen_fn)next(N_FREOPEN64))(path, mode, fp);
}
