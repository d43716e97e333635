/* Internal core shared by libfamfs.so and libfamfs-preload.so (plain C, no allocations through
 * malloc: everything the core needs comes from the caller's stack or from anonymous mappings
 * made through the caller-supplied system calls, so the preload can use it from inside mmap).
 * All symbols are hidden; nothing here is part of the public ABI. */
#ifndef FAMFS_CORE_H
#define FAMFS_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FC_MAX_EXTENTS 16
#define FC_GRANULE (2ull << 20) /* AU = device-dax alignment = PMD size */
#define FC_FUSE_SUPER_MAGIC 0x65735546
#include "proto/xattr.h"
#define FC_FMAP_TEXT_MAX 4096
#define FC_PATH_MAX 4096

#ifdef __GNUC__
#define FC_HIDDEN __attribute__((visibility("hidden")))
#else
#define FC_HIDDEN
#endif

enum fc_kind { FC_SIMPLE = 1, FC_INTERLEAVE = 2 };

struct fc_map {
  uint64_t size;
  int kind;
  unsigned n; /* extents (simple) or strips (interleave) */
  uint64_t chunk;
  uint64_t off[FC_MAX_EXTENTS];
  uint64_t len[FC_MAX_EXTENTS];
};

/* The system calls the core uses (the preload passes the next definitions in the chain). */
struct fc_sys {
  void *(*mmap)(void *, size_t, int, int, int, off_t);
  int (*munmap)(void *, size_t);
  int (*close)(int); /* the file handle a region holds (fc_region_hold); may be NULL */
};

/* Parse the user.famfs.fmap text (docs/design.md). 0 or -EINVAL. */
FC_HIDDEN int fc_parse_fmap(const char *text, size_t len, struct fc_map *m);
/* File offset -> device offset and contiguous bytes from there. 0 or -ENXIO. */
FC_HIDDEN int fc_resolve(const struct fc_map *m, uint64_t off, uint64_t *dev, uint64_t *run);
/* Bytes the map can address from offset 0 (sum of extents; interleave: src/proto/fmap_rule.h). */
FC_HIDDEN uint64_t fc_capacity(const struct fc_map *m);

/* A mapping made by fc_map_range. */
struct fc_region {
  uintptr_t base;   /* whole mapped range, granule aligned */
  size_t total;
  uintptr_t ustart; /* what the caller asked for, page rounded */
  uintptr_t uend;
  int devdax;       /* pieces of a devdax vma cannot be unmapped below the granule */
  uint8_t *dead;    /* one bit per page of [base, base+total): the caller unmapped it */
  size_t ndead;     /* bits set */
  uint8_t *released; /* one bit per granule: unmapped (devdax) */
  size_t nreleased;
  size_t dead_len;  /* bytes of the bitmap mapping */
  int hold_fd;      /* an fd of the file, open for the region's life (-1: none) */
};

/* Map file bytes [off, off+len) (off page aligned) of `m` from the device open as `devfd`.
 * Reserves a 2 MiB aligned PROT_NONE range covering whole granules, maps each piece MAP_FIXED,
 * and returns the address of file offset `off` in *addr. `flags` are extra mmap flags
 * (MAP_POPULATE, MAP_NORESERVE); MAP_SHARED is implied. Records the region in the table.
 * Returns 0 or -errno (the device's mmap error, -ENXIO beyond the map, -ENOMEM). */
FC_HIDDEN int fc_map_range(const struct fc_sys *sys, const struct fc_map *m, int devfd,
                           int devdax, uint64_t off, size_t len, int prot, int flags,
                           void **addr);

/* The region whose caller range starts at `addr` keeps `fd` (an fd of the mapped file) open
 * until the region is gone, then closes it with sys->close: the file's daemon counts the
 * mapping as an open handle (docs/delete.md: its space is not reused while mapped). 0, or
 * -ENOENT when no region starts there (the caller closes fd). */
FC_HIDDEN int fc_region_hold(void *addr, int fd);

/* munmap semantics over the region table: pages inside famfs regions are retired (unmapped
 * at once for image files, at granule granularity for devdax); the rest goes to sys->munmap.
 * Returns 0 or -errno. */
FC_HIDDEN int fc_unmap(const struct fc_sys *sys, void *addr, size_t len);

/* The kernel placed a new mapping on [addr, addr+len): forget regions that claimed any of it
 * (stale, or replaced with MAP_FIXED), without unmapping anything. */
FC_HIDDEN void fc_forget(const struct fc_sys *sys, void *addr, size_t len);

/* Does [addr, addr+len) touch pages still mapped by fc_map_range? */
FC_HIDDEN int fc_overlaps_region(void *addr, size_t len);

/* Number of regions in the table (cheap; for fast paths and tests). */
FC_HIDDEN size_t fc_region_count(void);

/* Read a famfs fd's map and device path (buffer of devsz bytes). 0, FAMFS_ENOTFAMFS (not on a
 * FUSE mount, or no user.famfs.fmap), FAMFS_EBADMAP, or -errno. */
FC_HIDDEN int fc_read_fd(int fd, struct fc_map *m, char *dev, size_t devsz);
/* Open the device for reading (and writing); it must still be the file fc_verify_mount
 * checked (*expect). *devdax = 1 for a character device. fd, -errno, or FAMFS_EUNTRUSTED. */
struct stat;
FC_HIDDEN int fc_open_device(const char *dev, int writable, int *devdax,
                             const struct stat *expect);

/* Is fd's file system a famfs mount we can trust to name the device `dev` (checked before
 * anything opens it): fstype fuse.famfs, mounted by root or by this user (user_id=0 or our
 * euid), and its source is the file `dev` (same st_dev/st_ino)? 0 with *devst = stat(dev),
 * or FAMFS_EUNTRUSTED, or -errno. (A FUSE file system mounted by an ordinary user could
 * otherwise make a privileged program map any device it names.) */
FC_HIDDEN int fc_verify_mount(int fd, const char *dev, struct stat *devst);
/* One /proc/self/mountinfo line [line, end): 1 = the mount of device maj:min and trusted for
 * the device file devst, 0 = another mount, -1 = that mount but not trusted. */
FC_HIDDEN int fc_mountinfo_line(const char *line, const char *end, unsigned maj, unsigned min,
                                const struct stat *devst);

/* ---------------------------------------------------------------- read/write (famfs_rw.c) */

/* A famfs file's device memory mapped whole, in file order, for read/write (not in the region
 * table: never seen by munmap). */
struct fc_file {
  uint8_t *base; /* file offset 0 */
  size_t maplen; /* bytes mapped (the capacity, granule rounded) */
  uint64_t size; /* file size: reads stop and writes are cut here */
  int writable;  /* mapped PROT_WRITE (device open O_RDWR) */
};

/* Map all of `m` from the device open as devfd. 0 or -errno. */
FC_HIDDEN int fc_map_whole(const struct fc_sys *sys, const struct fc_map *m, int devfd,
                           int writable, struct fc_file *f);
FC_HIDDEN void fc_file_unmap(const struct fc_sys *sys, struct fc_file *f);

/* Writes at least this big bypass the CPU caches (non-temporal stores + sfence), as the
 * daemon's; smaller ones are recorded as dirty and written back by fc_flush_range at fsync
 * and close (docs/mmap.md, "read and write under the preload"). */
#define FC_STREAM_MIN (64u * 1024u)
#define FC_MAX_RW 0x7ffff000u /* Linux's MAX_RW_COUNT: the most one read/write moves */

struct iovec;
/* The daemon's rules over a mapped file, gathered over iov (cnt entries) at file offset off:
 * read: bytes read, 0 at or after EOF, cut at EOF. write: bytes written, cut at EOF;
 * -EFBIG for a write of > 0 bytes starting at or after EOF; -EBADF if not writable. Small
 * writes widen [*dirty_lo, *dirty_hi) (atomically). */
FC_HIDDEN ssize_t fc_file_readv(const struct fc_file *f, const struct iovec *iov, int cnt,
                                uint64_t off);
FC_HIDDEN ssize_t fc_file_writev(const struct fc_file *f, const struct iovec *iov, int cnt,
                                 uint64_t off, uint64_t *dirty_lo, uint64_t *dirty_hi);
/* Write back [*lo, *hi) of f from the CPU caches and reset the range. */
FC_HIDDEN void fc_file_flush_dirty(const struct fc_file *f, uint64_t *dirty_lo,
                                   uint64_t *dirty_hi);

/* CPU cache write-back + eviction of a range (clflushopt/clflush + sfence). */
FC_HIDDEN void fc_flush_range(const void *addr, size_t len);
/* Copy into device memory with non-temporal stores, nothing left in the caches on return. */
FC_HIDDEN void fc_stream_copy(void *dst, const void *src, size_t n);

/* Per-fd state shared by the preload and libfamfs (famfs_rw.c). */
struct fc_fdent;
/* How fc_fd_get checks an fd it has seen before. */
enum fc_check {
  FC_CHECK_ID = 0,   /* same file (fstat st_dev/st_ino): reads under the preload */
  FC_CHECK_MODE = 1, /* also the open mode and O_APPEND (fcntl F_GETFL): writes, libfamfs */
};
/* The entry of a famfs fd that the caller may serve (reference held: fc_fd_put), or NULL:
 * pass the call through (not famfs, not ours to serve: device not openable, untrusted mount,
 * O_APPEND, open mode not allowing the access, being closed). `write` asks for a writable
 * mapping. Thread-safe. */
FC_HIDDEN struct fc_fdent *fc_fd_get(const struct fc_sys *sys, int fd, int write,
                                     enum fc_check check);
FC_HIDDEN void fc_fd_put(struct fc_fdent *e);
/* The same for every fd of one file (st_dev, st_ino): for per-file locks. */
FC_HIDDEN uint64_t fc_fd_key(struct fc_fdent *e);
/* fc_file_readv/fc_file_writev on the entry's file (page tables filled granule by granule on
 * first use; small writes recorded for write-back). */
FC_HIDDEN ssize_t fc_fd_readv(struct fc_fdent *e, const struct iovec *iov, int cnt,
                              uint64_t off);
FC_HIDDEN ssize_t fc_fd_writev(struct fc_fdent *e, const struct iovec *iov, int cnt,
                               uint64_t off);
/* The fd is being closed (or replaced by dup2/dup3): write back its dirty range, unmap, and
 * forget it. Waits for calls in progress on it. fc_fd_forget_from: every fd >= lo. */
FC_HIDDEN void fc_fd_forget(const struct fc_sys *sys, int fd);
FC_HIDDEN void fc_fd_forget_range(const struct fc_sys *sys, unsigned lo, unsigned hi);
/* fsync/fdatasync: write back the fd's dirty range (the caller then calls the real one). */
FC_HIDDEN void fc_fd_sync(int fd);
/* Optional debug hook: called once per fd taken over or refused (preload: FAMFS_PRELOAD_DEBUG). */
FC_HIDDEN extern void (*fc_fd_note)(int fd, const char *what, const char *dev);

/* The table lock (held around fork by an atfork handler the core registers itself). */
FC_HIDDEN void fc_lock(void);
FC_HIDDEN void fc_unlock(void);

#endif
