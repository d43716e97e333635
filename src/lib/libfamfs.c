/* libfamfs: the public C API (famfs.h) over the core. */
#define _GNU_SOURCE
#include "famfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "famfs_core.h"

#ifndef FAMFS_PROJECT_VERSION
#define FAMFS_PROJECT_VERSION "unknown"
#endif

static __thread char last_err[512];

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_err, sizeof last_err, fmt, ap);
  va_end(ap);
}

/* Set errno for a return code and return it. */
static int fail(int code) {
  if (code == FAMFS_ENOTFAMFS) errno = ENOTSUP;
  else if (code == FAMFS_EBADMAP) errno = EINVAL;
  else if (code == FAMFS_EUNTRUSTED) errno = EPERM;
  else if (code == FAMFS_EDEVACCESS) { /* errno already holds the open error */ }
  else if (code < 0) errno = -code;
  return code;
}

#define FAMFS_STR2(x) #x
#define FAMFS_STR(x) FAMFS_STR2(x)

const char *famfs_version(void) {
  return FAMFS_STR(FAMFS_LIB_VERSION_MAJOR) "." FAMFS_STR(FAMFS_LIB_VERSION_MINOR)
      " (famfs " FAMFS_PROJECT_VERSION ")";
}

const char *famfs_last_error(void) { return last_err; }

const char *famfs_strerror(int code) {
  switch (code) {
  case 0: return "success";
  case FAMFS_ENOTFAMFS: return "not a file on a famfs mount";
  case FAMFS_EDEVACCESS:
    return "cannot open the famfs device (fall back to an ordinary mmap through the mount)";
  case FAMFS_EBADMAP: return "the file's famfs map is malformed or unusable";
  case FAMFS_EUNTRUSTED:
    return "the mount is not a famfs of the device it names mounted by root or by this user "
           "(refusing to map the device)";
  default: break;
  }
  if (code < 0 && code > -4096) return strerror(-code);
  if (code > 0 && code < 4096) return strerror(code); /* a plain errno value */
  return "unknown famfs error";
}

int famfs_is_famfs_fd(int fd) {
  struct fc_map m;
  int rc = fc_read_fd(fd, &m, NULL, 0);
  if (rc == 0) return 1;
  if (rc == FAMFS_ENOTFAMFS || rc == FAMFS_EBADMAP) return 0;
  return fail(rc);
}

static struct famfs_map *to_public(const struct fc_map *m, const char *dev) {
  size_t dl = dev ? strlen(dev) + 1 : 0;
  struct famfs_map *pm = calloc(1, sizeof *pm + m->n * sizeof(struct famfs_extent) + dl);
  if (!pm) return NULL;
  pm->size = m->size;
  pm->kind = m->kind == FC_SIMPLE ? FAMFS_MAP_SIMPLE : FAMFS_MAP_INTERLEAVE;
  pm->nextents = m->n;
  pm->chunk_size = m->kind == FC_INTERLEAVE ? m->chunk : 0;
  pm->capacity = fc_capacity(m);
  pm->extents = (struct famfs_extent *)(pm + 1);
  for (unsigned i = 0; i < m->n; i++) {
    pm->extents[i].offset = m->off[i];
    pm->extents[i].len = m->len[i];
  }
  if (dev) {
    char *d = (char *)(pm->extents + m->n);
    memcpy(d, dev, dl);
    pm->device = d;
  }
  return pm;
}

static int from_public(const struct famfs_map *pm, struct fc_map *m) {
  memset(m, 0, sizeof *m);
  if (!pm || pm->nextents < 1 || pm->nextents > FC_MAX_EXTENTS || !pm->extents) return -EINVAL;
  if (pm->kind == FAMFS_MAP_SIMPLE) m->kind = FC_SIMPLE;
  else if (pm->kind == FAMFS_MAP_INTERLEAVE) m->kind = FC_INTERLEAVE;
  else return -EINVAL;
  m->size = pm->size;
  m->n = pm->nextents;
  m->chunk = pm->chunk_size;
  if (m->kind == FC_INTERLEAVE && (m->chunk == 0 || (m->chunk & (m->chunk - 1)))) return -EINVAL;
  for (unsigned i = 0; i < m->n; i++) {
    m->off[i] = pm->extents[i].offset;
    m->len[i] = pm->extents[i].len;
  }
  return 0;
}

static const char *code_text(int rc) { return famfs_strerror(rc); }

int famfs_get_map_fd(int fd, struct famfs_map **map) {
  struct fc_map m;
  char dev[FC_PATH_MAX];
  if (!map) return fail(-EINVAL);
  *map = NULL;
  int rc = fc_read_fd(fd, &m, dev, sizeof dev);
  if (rc) {
    set_err("fd %d: %s", fd, code_text(rc));
    return fail(rc);
  }
  *map = to_public(&m, dev);
  if (!*map) return fail(-ENOMEM);
  return 0;
}

int famfs_get_map(const char *path, struct famfs_map **map) {
  if (!path || !map) return fail(-EINVAL);
  *map = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    set_err("%s: %s", path, strerror(e));
    return fail(-e);
  }
  int rc = famfs_get_map_fd(fd, map);
  int e = errno;
  if (rc) set_err("%s: %s", path, code_text(rc));
  close(fd);
  errno = e;
  return rc;
}

int famfs_parse_map(const char *text, size_t len, const char *device, struct famfs_map **map) {
  struct fc_map m;
  if (!text || !map) return fail(-EINVAL);
  *map = NULL;
  if (fc_parse_fmap(text, len, &m)) {
    set_err("malformed famfs fmap text");
    return fail(FAMFS_EBADMAP);
  }
  *map = to_public(&m, device);
  return *map ? 0 : fail(-ENOMEM);
}

void famfs_free_map(struct famfs_map *map) { free(map); }

int famfs_map_resolve(const struct famfs_map *map, uint64_t offset, uint64_t *dev_offset,
                      uint64_t *contiguous) {
  struct fc_map m;
  uint64_t d, r;
  if (from_public(map, &m)) return fail(-EINVAL);
  int rc = fc_resolve(&m, offset, &d, &r);
  if (rc) return fail(rc);
  if (dev_offset) *dev_offset = d;
  if (contiguous) *contiguous = r;
  return 0;
}

static const struct fc_sys libc_sys = {mmap, munmap, close};

static int check_flags(int flags) {
  int type = flags & MAP_TYPE;
  if (type != MAP_SHARED && type != MAP_SHARED_VALIDATE) return -EINVAL;
  if (flags & ~(MAP_TYPE | MAP_POPULATE | MAP_NORESERVE)) return -EINVAL;
  return 0;
}

static int map_common(int fd, const char *what, uint64_t offset, size_t len, int prot, int flags,
                      void **addr) {
  struct fc_map m;
  char dev[FC_PATH_MAX];
  int rc = check_flags(flags);
  if (rc) {
    set_err("%s: only MAP_SHARED mappings (with MAP_POPULATE, MAP_NORESERVE) are supported",
            what);
    return fail(rc);
  }
  rc = fc_read_fd(fd, &m, dev, sizeof dev);
  if (rc) {
    set_err("%s: %s", what, code_text(rc));
    return fail(rc);
  }
  int writable = (prot & PROT_WRITE) != 0;
  /* The open file's mode must allow the access, as for mmap(2). */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return fail(-errno);
  if ((fl & O_ACCMODE) == O_WRONLY || (writable && (fl & O_ACCMODE) != O_RDWR)) {
    set_err("%s: the file is not open for %s", what, writable ? "reading and writing" : "reading");
    return fail(-EACCES);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(-errno);
  if (writable && (st.st_mode & 0222) == 0) {
    set_err("%s: read-only file (mode %04o) cannot be mapped writable", what,
            (unsigned)(st.st_mode & 07777));
    return fail(-EACCES);
  }
  if (len == 0) {
    if (offset >= m.size) {
      set_err("%s: offset 0x%llx is at or beyond the end of the file (0x%llx)", what,
              (unsigned long long)offset, (unsigned long long)m.size);
      return fail(-ENXIO);
    }
    len = (size_t)(m.size - offset);
  }
  struct stat devst;
  rc = fc_verify_mount(fd, dev, &devst);
  if (rc == -EACCES || rc == -EPERM) {
    set_err("%s: cannot reach famfs device %s: %s", what, dev, strerror(-rc));
    errno = -rc;
    return FAMFS_EDEVACCESS;
  }
  if (rc) {
    set_err("%s: %s (%s)", what, famfs_strerror(rc), dev);
    return fail(rc);
  }
  int devdax = 0;
  int dfd = fc_open_device(dev, writable, &devdax, &devst);
  if (dfd == FAMFS_EUNTRUSTED) {
    set_err("%s: %s changed while it was being opened", what, dev);
    return fail(dfd);
  }
  if (dfd < 0) {
    set_err("%s: cannot open famfs device %s %s: %s", what, dev,
            writable ? "read-write" : "read-only", strerror(-dfd));
    errno = -dfd;
    if (dfd == -EACCES || dfd == -EPERM || dfd == -EROFS) return FAMFS_EDEVACCESS;
    return dfd;
  }
  rc = fc_map_range(&libc_sys, &m, dfd, devdax, offset, len, prot, flags, addr);
  close(dfd);
  if (rc) {
    set_err("%s: mapping [0x%llx, +0x%zx) of %s failed: %s", what, (unsigned long long)offset,
            len, dev, strerror(-rc));
    return fail(rc);
  }
  /* The mapping holds the file open for its life, so the daemon counts it (a deleted file's
   * space is not reused while a mapping of it exists: docs/delete.md). */
  int hold = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (hold < 0 || fc_region_hold(*addr, hold) != 0) {
    int e = hold < 0 ? errno : ENOENT;
    if (hold >= 0) close(hold);
    fc_unmap(&libc_sys, *addr, len);
    *addr = NULL;
    set_err("%s: cannot keep the file open for the mapping: %s", what, strerror(e));
    return fail(-e);
  }
  return 0;
}

int famfs_mmap_fd(int fd, uint64_t offset, size_t len, int prot, int flags, void **addr) {
  char what[32];
  if (!addr) return fail(-EINVAL);
  *addr = NULL;
  snprintf(what, sizeof what, "fd %d", fd);
  return map_common(fd, what, offset, len, prot, flags, addr);
}

int famfs_mmap(const char *path, uint64_t offset, size_t len, int prot, int flags, void **addr) {
  if (!path || !addr) return fail(-EINVAL);
  *addr = NULL;
  int writable = (prot & PROT_WRITE) != 0;
  int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    set_err("%s: cannot open %s: %s", path, writable ? "read-write" : "read-only", strerror(e));
    return fail(-e);
  }
  int rc = map_common(fd, path, offset, len, prot, flags, addr);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int famfs_mmap_map(const struct famfs_map *map, int device_fd, uint64_t offset, size_t len,
                   int prot, int flags, void **addr) {
  struct fc_map m;
  if (!addr) return fail(-EINVAL);
  *addr = NULL;
  int rc = check_flags(flags);
  if (rc || from_public(map, &m)) return fail(-EINVAL);
  struct stat st;
  if (fstat(device_fd, &st) != 0) return fail(-errno);
  if (len == 0) {
    if (offset >= m.size) return fail(-ENXIO);
    len = (size_t)(m.size - offset);
  }
  rc = fc_map_range(&libc_sys, &m, device_fd, S_ISCHR(st.st_mode), offset, len, prot, flags, addr);
  if (rc) set_err("mapping [0x%llx, +0x%zx) failed: %s", (unsigned long long)offset, len,
                  strerror(-rc));
  return rc ? fail(rc) : 0;
}

int famfs_munmap(void *addr, size_t len) {
  int rc = fc_unmap(&libc_sys, addr, len);
  return rc ? fail(rc) : 0;
}

/* ---------------------------------------------------------------- read/write */

/* The same path as the preload's pread/pwrite (famfs_rw.c), for programs linking libfamfs;
 * an fd it may not serve goes to pread(2)/pwrite(2). libfamfs does not see close(), so every
 * call checks that the fd is still the file and open mode it served (fstat + F_GETFL). */
ssize_t famfs_pread(int fd, void *buf, size_t count, uint64_t offset) {
  if (offset > (uint64_t)INT64_MAX) return fail(-EINVAL);
  struct fc_fdent *e = fc_fd_get(&libc_sys, fd, 0, FC_CHECK_MODE);
  if (!e) {
    ssize_t r = pread(fd, buf, count, (off_t)offset);
    return r < 0 ? fail(-errno) : r;
  }
  struct iovec v = {buf, count};
  ssize_t r = fc_fd_readv(e, &v, 1, offset);
  fc_fd_put(e);
  return r < 0 ? fail((int)r) : r;
}

ssize_t famfs_pwrite(int fd, const void *buf, size_t count, uint64_t offset) {
  if (offset > (uint64_t)INT64_MAX) return fail(-EINVAL);
  struct fc_fdent *e = fc_fd_get(&libc_sys, fd, 1, FC_CHECK_MODE);
  if (!e) {
    ssize_t r = pwrite(fd, buf, count, (off_t)offset);
    return r < 0 ? fail(-errno) : r;
  }
  struct iovec v = {(void *)buf, count};
  ssize_t r = fc_fd_writev(e, &v, 1, offset);
  fc_fd_put(e);
  /* nothing sees this fd's fsync or close: write small writes back at once */
  fc_fd_sync(fd);
  return r < 0 ? fail((int)r) : r;
}

/* ---------------------------------------------------------------- cache maintenance */

int famfs_flush(const void *addr, size_t len) {
  fc_flush_range(addr, len);
  return 0;
}

int famfs_invalidate(const void *addr, size_t len) {
  fc_flush_range(addr, len);
  return 0;
}
