/* famfs files and the mounts that serve them: reading a file's map through its mount, and
 * trusting that mount (/proc/self/mountinfo: fuse.famfs, made by root or the caller, with the
 * device as its source) before opening the device it names. */
#define _GNU_SOURCE
#include "famfs_core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "famfs.h"

/* ---------------------------------------------------------------- famfs files */

int fc_read_fd(int fd, struct fc_map *m, char *dev, size_t devsz) {
  struct statfs sf;
  if (fstatfs(fd, &sf) != 0) return -errno;
  if ((unsigned long)sf.f_type != FC_FUSE_SUPER_MAGIC) return FAMFS_ENOTFAMFS;
  char buf[FC_FMAP_TEXT_MAX];
  ssize_t n = fgetxattr(fd, FAMFS_XATTR_FMAP, buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP) return FAMFS_ENOTFAMFS;
    if (errno == ERANGE) return FAMFS_EBADMAP;
    return -errno;
  }
  if (fc_parse_fmap(buf, (size_t)n, m) != 0) return FAMFS_EBADMAP;
  if (dev) {
    n = fgetxattr(fd, FAMFS_XATTR_DEVICE, dev, devsz - 1);
    if (n <= 0) return n == 0 ? FAMFS_EBADMAP : (errno == ENODATA ? FAMFS_EBADMAP : -errno);
    dev[n] = '\0';
    if (dev[0] != '/' || strlen(dev) != (size_t)n) return FAMFS_EBADMAP;
  }
  return 0;
}

/* ---------------------------------------------------------------- trusting the mount */

/* mountinfo field i (0-based) of a line, as [*b, *e). */
static int field(const char *line, const char *end, int i, const char **b, const char **e) {
  const char *p = line;
  for (int k = 0;; k++) {
    while (p < end && *p == ' ') p++;
    if (p >= end) return -1;
    const char *q = p;
    while (q < end && *q != ' ') q++;
    if (k == i) {
      *b = p;
      *e = q;
      return 0;
    }
    p = q;
  }
}

/* Unescape mountinfo's octal escapes (\040 ...) into out (NUL-terminated). */
static int unescape(const char *b, const char *e, char *out, size_t n) {
  size_t o = 0;
  while (b < e) {
    char c = *b++;
    if (c == '\\' && e - b >= 3 && b[0] >= '0' && b[0] <= '3' && b[1] >= '0' && b[1] <= '7' &&
        b[2] >= '0' && b[2] <= '7') {
      c = (char)((b[0] - '0') * 64 + (b[1] - '0') * 8 + (b[2] - '0'));
      b += 3;
    }
    if (o + 1 >= n) return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

/* Check one mountinfo line against the file's device number; 1 = this mount and trusted,
 * 0 = not this mount, -1 = this mount but not trusted. */
int fc_mountinfo_line(const char *line, const char *end, unsigned maj, unsigned min,
                      const struct stat *devst) {
  const char *b, *e;
  if (field(line, end, 2, &b, &e)) return 0;
  char want[32];
  int wn = snprintf(want, sizeof want, "%u:%u", maj, min);
  if (wn <= 0 || (size_t)(e - b) != (size_t)wn || memcmp(b, want, (size_t)wn) != 0) return 0;
  /* the fields after the optional ones: "-" fstype source super-options */
  int i = 6;
  for (;; i++) {
    if (field(line, end, i, &b, &e)) return -1;
    if (e - b == 1 && *b == '-') break;
  }
  if (field(line, end, i + 1, &b, &e) || e - b != 10 || memcmp(b, "fuse.famfs", 10) != 0)
    return -1;
  const char *sb, *se;
  if (field(line, end, i + 2, &sb, &se) || field(line, end, i + 3, &b, &e)) return -1;
  /* mounted by root or by this user: FUSE records the mounter as user_id. (A mount of
   * another ordinary user could name any device; one's own can only name what one may open
   * anyway.) */
  int trusted = 0;
  for (const char *p = b; p < e;) {
    const char *q = p;
    while (q < e && *q != ',') q++;
    if (q - p > 8 && memcmp(p, "user_id=", 8) == 0) {
      unsigned long uid = 0;
      const char *d = p + 8;
      for (; d < q && *d >= '0' && *d <= '9'; d++) uid = uid * 10 + (unsigned long)(*d - '0');
      if (d == q && (uid == 0 || uid == (unsigned long)geteuid())) trusted = 1;
    }
    p = q + 1;
  }
  if (!trusted) return -1;
  /* and its source is the very device we opened */
  char src[FC_PATH_MAX];
  struct stat st;
  if (unescape(sb, se, src, sizeof src) || stat(src, &st) != 0) return -1;
  if (st.st_dev != devst->st_dev || st.st_ino != devst->st_ino) return -1;
  return 1;
}

int fc_verify_mount(int fd, const char *dev, struct stat *devst) {
  struct stat fst, dst;
  if (fstat(fd, &fst) != 0) return -errno;
  if (stat(dev, &dst) != 0) return -errno;
  *devst = dst;
  unsigned maj = major(fst.st_dev), min = minor(fst.st_dev);
  int mi = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (mi < 0) return -errno;
  char buf[8192];
  size_t have = 0;
  int result = FAMFS_EUNTRUSTED;
  for (;;) {
    ssize_t n = read(mi, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 && have == 0) break;
    if (n > 0) have += (size_t)n;
    /* whole lines (a last line without a newline at EOF counts too) */
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL ||
           (n <= 0 && start < buf + have)) {
      char *lend = nl ? nl : buf + have;
      int r = fc_mountinfo_line(start, lend, maj, min, &dst);
      if (r != 0) {
        result = r > 0 ? 0 : FAMFS_EUNTRUSTED;
        close(mi);
        return result;
      }
      start = nl ? nl + 1 : buf + have;
    }
    have -= (size_t)(start - buf);
    memmove(buf, start, have);
    if (n <= 0) break;
    if (have == sizeof buf) have = 0; /* an absurdly long line: skip it */
  }
  close(mi);
  return result;
}

int fc_open_device(const char *dev, int writable, int *devdax, const struct stat *expect) {
  if (!S_ISCHR(expect->st_mode) && !S_ISREG(expect->st_mode)) return -ENODEV;
  int fd = open(dev, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino || st.st_rdev != expect->st_rdev) {
    close(fd); /* replaced between the check and the open */
    return FAMFS_EUNTRUSTED;
  }
  *devdax = S_ISCHR(st.st_mode);
  return fd;
}
