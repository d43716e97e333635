/* libfamfs: zero-copy access to files on a famfs (FUSE edition) mount.
 *
 * A famfs file is a set of ranges of one shared-memory device (a device-DAX character device
 * such as /dev/dax0.0, or an image file in tests). The famfs daemon serves each file's map as
 * the extended attribute user.famfs.fmap and the device path as user.famfs.device. This
 * library reads them and maps the device ranges of a file into one contiguous virtual range,
 * so loads and stores go to the shared memory itself: no page cache, no copy, and stores by
 * other hosts are visible (on real CXL memory, see famfs_flush / famfs_invalidate).
 *
 * Conventions
 *  - Functions that can fail return 0 (or a non-negative value) on success and a negative
 *    code on failure: -errno for ordinary errors (e.g. -EACCES: the caller may not open the
 *    famfs file with the requested access; -EROFS: read-only mount; -ENXIO: range beyond the
 *    file's allocation), or one of the FAMFS_E* codes below. errno is also set on failure
 *    (to the underlying errno; for FAMFS_ENOTFAMFS to ENOTSUP, for FAMFS_EBADMAP to EINVAL,
 *    for FAMFS_EUNTRUSTED to EPERM).
 *  - famfs_strerror(code) describes a code; famfs_last_error() returns a per-thread message
 *    naming the path and the reason of the last failure in this thread.
 *  - All functions are thread-safe.
 *
 * Mapping rules
 *  - Only MAP_SHARED mappings (famfs memory is shared; MAP_SHARED_VALIDATE is accepted,
 *    MAP_POPULATE and MAP_NORESERVE are honoured, other flags give -EINVAL).
 *  - The caller must be allowed to open the famfs file: famfs_mmap opens it through the
 *    mount with O_RDWR when PROT_WRITE is requested, else O_RDONLY, so the daemon's
 *    permission checks apply. A file whose mode has no write bit is never mapped writable
 *    (-EACCES, even for root), and a read-only mount gives -EROFS.
 *  - The mount must be trustworthy before its device is mapped: fstype fuse.famfs, mounted
 *    by root or by the caller's own uid, with the device as its source
 *    (/proc/self/mountinfo); else FAMFS_EUNTRUSTED.
 *  - The device is opened O_RDWR for writable mappings, else O_RDONLY. A caller who cannot
 *    open it (typically: not root) gets FAMFS_EDEVACCESS with errno = the open error
 *    (EACCES, EPERM); such a caller can fall back to an ordinary mmap of the file through
 *    the mount (a FUSE mapping: correct, coherent at open, but a page-cache copy).
 *  - offset must be a multiple of the page size. Device-DAX maps in 2 MiB pieces, so the
 *    library maps the whole 2 MiB granules around [offset, offset+len) into a 2 MiB-aligned
 *    range (PMD mappings on devdax) and returns a pointer inside it. famfs_munmap knows about
 *    the extra pages and releases them when the requested range is unmapped. Unmap with
 *    famfs_munmap (not munmap(2)); do not mremap these mappings.
 *  - Bytes between the file size and the end of its allocation (a multiple of 2 MiB) are
 *    mappable; beyond the allocation is -ENXIO.
 */
#ifndef FAMFS_H
#define FAMFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FAMFS_API __attribute__((visibility("default")))
#else
#define FAMFS_API
#endif

#define FAMFS_LIB_VERSION_MAJOR 1
#define FAMFS_LIB_VERSION_MINOR 1 /* 1.1: famfs_pread, famfs_pwrite */

/* famfs-specific error codes (negative, outside the errno range). */
#define FAMFS_ENOTFAMFS   (-4001) /* not a file on a famfs mount (no user.famfs.fmap) */
#define FAMFS_EDEVACCESS  (-4002) /* the device cannot be opened by this caller; fall back */
#define FAMFS_EBADMAP     (-4003) /* the daemon's fmap is malformed or unusable */
#define FAMFS_EUNTRUSTED  (-4004) /* the mount is not a famfs of that device mounted by root or
                                     by the caller: its device is not mapped */

/* Extents of a file's map. */
struct famfs_extent {
  uint64_t offset; /* device offset, bytes */
  uint64_t len;    /* bytes */
};

enum famfs_map_kind {
  FAMFS_MAP_SIMPLE = 1,     /* extents in file order */
  FAMFS_MAP_INTERLEAVE = 2, /* strips; file chunk k lives in strip k % nextents */
};

struct famfs_map {
  uint64_t size;                /* file size */
  int kind;                     /* enum famfs_map_kind */
  uint32_t nextents;            /* simple: extents; interleave: strips (1..16) */
  uint64_t chunk_size;          /* interleave only, else 0 */
  uint64_t capacity;            /* bytes the map addresses (>= size) */
  const char *device;           /* device path (user.famfs.device), NULL if unknown */
  struct famfs_extent *extents; /* nextents entries */
};

/* Version string of the library, e.g. "1.1 (famfs 0.1.0)". */
FAMFS_API const char *famfs_version(void);

/* Is fd a file on a famfs mount? 1 yes, 0 no, negative code on error. */
FAMFS_API int famfs_is_famfs_fd(int fd);

/* A file's map (from the daemon). Free with famfs_free_map. */
FAMFS_API int famfs_get_map(const char *path, struct famfs_map **map);
FAMFS_API int famfs_get_map_fd(int fd, struct famfs_map **map);
/* Parse the text of a user.famfs.fmap attribute (device may be NULL). */
FAMFS_API int famfs_parse_map(const char *text, size_t len, const char *device,
                              struct famfs_map **map);
FAMFS_API void famfs_free_map(struct famfs_map *map);

/* Where file offset `offset` lives: device offset, and how many bytes are contiguous on the
 * device from there (to the end of the extent or chunk). 0 or -ENXIO beyond the map. */
FAMFS_API int famfs_map_resolve(const struct famfs_map *map, uint64_t offset,
                                uint64_t *dev_offset, uint64_t *contiguous);

/* Map [offset, offset+len) of a famfs file; *addr receives the address of file byte
 * `offset`. len 0 means "to the end of the file". prot: PROT_READ / PROT_WRITE (PROT_NONE
 * and PROT_EXEC are passed to the kernel). flags: MAP_SHARED (see the rules above). */
FAMFS_API int famfs_mmap(const char *path, uint64_t offset, size_t len, int prot, int flags,
                         void **addr);
/* Same for an open file: its open mode must allow the access (O_RDWR for a shared writable
 * mapping, readable otherwise), as for mmap(2). The fd may be closed afterwards. */
FAMFS_API int famfs_mmap_fd(int fd, uint64_t offset, size_t len, int prot, int flags,
                            void **addr);
/* Map with a map and a device already in hand (no famfs mount involved; tools and tests).
 * device_fd: the device opened with the access prot needs. */
FAMFS_API int famfs_mmap_map(const struct famfs_map *map, int device_fd, uint64_t offset,
                             size_t len, int prot, int flags, void **addr);

/* Unmap [addr, addr+len) (whole or part of a mapping made above; any other range is passed
 * to munmap(2)). Part of a device-DAX mapping is released by whole 2 MiB granules once every
 * page of the granule has been unmapped. */
FAMFS_API int famfs_munmap(void *addr, size_t len);

/* pread(2)/pwrite(2) of an open famfs file served from its device memory: a memcpy, no FUSE
 * round trip. The rules are the daemon's: reads stop at the file size; a write is cut at the
 * file size and one starting at or after it fails with -EFBIG (famfs files have a fixed
 * size); the fd's open mode must allow the access (else -EBADF, as pread/pwrite); a file
 * with no write bit is written through the mount (the daemon decides), an O_APPEND fd too.
 * The same trust rules as famfs_mmap (the mount, the device) apply; where the device cannot
 * be opened (not root) or the fd is not a famfs file, the call is plain pread/pwrite, so a
 * program may use these on any fd. The fd's file offset is not used or changed. Writes
 * leave nothing in the CPU caches (large ones use non-temporal stores, small ones are
 * written back at once), so other hosts see them without famfs_flush. The first call on an
 * fd maps the file (a few FUSE round trips); later calls check with fstat and fcntl that the
 * fd still is that file in that mode. Returns the bytes moved, or a negative code (errno set). */
FAMFS_API ssize_t famfs_pread(int fd, void *buf, size_t count, uint64_t offset);
FAMFS_API ssize_t famfs_pwrite(int fd, const void *buf, size_t count, uint64_t offset);

/* Cache maintenance for memory shared with other hosts without hardware coherence:
 * famfs_flush writes back (and evicts) the CPU cache lines of [addr, addr+len) so other hosts
 * see this host's stores; famfs_invalidate evicts them so this host sees other hosts' stores.
 * No-ops where the platform has no such instructions. Always 0. */
FAMFS_API int famfs_flush(const void *addr, size_t len);
FAMFS_API int famfs_invalidate(const void *addr, size_t len);

/* Text for a code returned above (negative errno or FAMFS_E*; a positive errno value works
 * too). Never NULL. */
FAMFS_API const char *famfs_strerror(int code);
/* The detailed message of the last failure in this thread ("" if none). */
FAMFS_API const char *famfs_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FAMFS_H */
