/* famfs-mmap-probe: a small program the mmap integration tests drive through stdin.
 *
 *   famfs-mmap-probe lib|sys
 *
 * lib: mappings through libfamfs (famfs_mmap / famfs_munmap).
 * sys: plain open + mmap(2) / munmap(2) (what an unmodified program does: zero-copy under
 *      LD_PRELOAD=libfamfs-preload.so, a FUSE mapping without it).
 *
 * Commands (one per line; each answers one line, "ok ..." or "err <code> <text>"):
 *   map PATH OFF LEN r|rw        -> ok <index> <address>
 *   mapfd PATH OFF LEN r|rw ro|rw -> ok <index> <address> (libfamfs famfs_mmap_fd on a file
 *                                   opened O_RDONLY (ro) or O_RDWR (rw))
 *   read I OFF LEN               -> ok <hex>            (OFF relative to the mapping start)
 *   write I OFF HEX              -> ok
 *   unmap I OFF LEN              -> ok                  (part or all of mapping I)
 *   probe I OFF                  -> ok mapped|unmapped   (msync of that page)
 *   maps I OFF                   -> ok <the /proc/self/maps line holding that address>|none
 *   mremap I NEWLEN              -> ok <address>        (mremap(2) with MREMAP_MAYMOVE)
 *   dump I OFF LEN FILE          -> ok                  (write the mapped bytes to FILE)
 *   copy SRC SOFF DST DOFF LEN   -> ok N   (read(2)/write(2) after lseek: the preload's
 *                                            read/write path on famfs files)
 *   getmap PATH                  -> ok size=.. kind=.. n=.. chunk=.. device=.. ext=off:len,...
 *   quit
 * Sizes and offsets accept 0x hex. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "famfs.h"

#define MAXMAPS 64
static struct {
  char *addr;
  size_t len;
} maps[MAXMAPS];
static int nmaps;
static int use_lib;

static void reply_err(int code, const char *what) {
  printf("err %d %s\n", code, what);
}

static int get_map(int i) {
  if (i < 0 || i >= nmaps || !maps[i].addr) return -1;
  return i;
}

static void cmd_map(char *path, uint64_t off, size_t len, const char *prot_s) {
  int prot = strcmp(prot_s, "rw") == 0 ? PROT_READ | PROT_WRITE : PROT_READ;
  void *addr = NULL;
  if (nmaps >= MAXMAPS) return reply_err(-ENOMEM, "too many mappings");
  if (use_lib) {
    int rc = famfs_mmap(path, off, len, prot, MAP_SHARED, &addr);
    if (rc) {
      printf("err %d %s errno=%d | %s\n", rc, famfs_strerror(rc), errno, famfs_last_error());
      return;
    }
    if (len == 0) {
      struct famfs_map *m = NULL;
      if (famfs_get_map(path, &m) == 0) {
        len = (size_t)(m->size - off);
        famfs_free_map(m);
      }
    }
  } else {
    int fd = open(path, (prot & PROT_WRITE) ? O_RDWR : O_RDONLY);
    if (fd < 0) return reply_err(-errno, strerror(errno));
    addr = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);
    int e = errno;
    close(fd);
    if (addr == MAP_FAILED) return reply_err(-e, strerror(e));
  }
  maps[nmaps].addr = addr;
  maps[nmaps].len = len;
  printf("ok %d %p\n", nmaps, addr);
  nmaps++;
}

static void cmd_mapfd(char *path, uint64_t off, size_t len, const char *prot_s,
                      const char *mode_s) {
  int prot = strcmp(prot_s, "rw") == 0 ? PROT_READ | PROT_WRITE : PROT_READ;
  if (nmaps >= MAXMAPS) return reply_err(-ENOMEM, "too many mappings");
  int fd = open(path, strcmp(mode_s, "rw") == 0 ? O_RDWR : O_RDONLY);
  if (fd < 0) return reply_err(-errno, strerror(errno));
  void *addr = NULL;
  int rc = famfs_mmap_fd(fd, off, len, prot, MAP_SHARED, &addr);
  close(fd);
  if (rc) {
    printf("err %d %s errno=%d | %s\n", rc, famfs_strerror(rc), errno, famfs_last_error());
    return;
  }
  maps[nmaps].addr = addr;
  maps[nmaps].len = len;
  printf("ok %d %p\n", nmaps, addr);
  nmaps++;
}

static void cmd_read(int i, uint64_t off, size_t len) {
  if (get_map(i) < 0) return reply_err(-EINVAL, "no such mapping");
  const unsigned char *p = (const unsigned char *)maps[i].addr + off;
  fputs("ok ", stdout);
  for (size_t k = 0; k < len; k++) printf("%02x", p[k]);
  putchar('\n');
}

static void cmd_write(int i, uint64_t off, const char *hex) {
  if (get_map(i) < 0) return reply_err(-EINVAL, "no such mapping");
  unsigned char *p = (unsigned char *)maps[i].addr + off;
  size_t n = strlen(hex) / 2;
  for (size_t k = 0; k < n; k++) {
    unsigned v;
    if (sscanf(hex + 2 * k, "%2x", &v) != 1) return reply_err(-EINVAL, "bad hex");
    p[k] = (unsigned char)v;
  }
  famfs_flush(p, n);
  puts("ok");
}

static void cmd_unmap(int i, uint64_t off, size_t len) {
  if (get_map(i) < 0) return reply_err(-EINVAL, "no such mapping");
  char *a = maps[i].addr + off;
  int rc = use_lib ? famfs_munmap(a, len) : (munmap(a, len) == 0 ? 0 : -errno);
  if (rc) return reply_err(rc, strerror(-rc));
  if (off == 0 && len >= maps[i].len) maps[i].addr = NULL;
  puts("ok");
}

static void cmd_probe(int i, uint64_t off) {
  if (i < 0 || i >= nmaps) return reply_err(-EINVAL, "no such mapping");
  uintptr_t a = ((uintptr_t)maps[i].addr + off) & ~(uintptr_t)4095;
  printf("ok %s\n", msync((void *)a, 4096, MS_ASYNC) == 0 ? "mapped" : "unmapped");
}

static void cmd_maps(int i, uint64_t off) {
  if (i < 0 || i >= nmaps) return reply_err(-EINVAL, "no such mapping");
  uintptr_t a = (uintptr_t)maps[i].addr + off;
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return reply_err(-errno, "cannot open /proc/self/maps");
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    unsigned long s, e;
    if (sscanf(line, "%lx-%lx", &s, &e) == 2 && a >= s && a < e) {
      line[strcspn(line, "\n")] = 0;
      printf("ok %s\n", line);
      fclose(f);
      return;
    }
  }
  fclose(f);
  puts("ok none");
}

static void cmd_mremap(int i, size_t newlen) {
  if (get_map(i) < 0) return reply_err(-EINVAL, "no such mapping");
  void *p = mremap(maps[i].addr, maps[i].len, newlen, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return reply_err(-errno, strerror(errno));
  maps[i].addr = p;
  maps[i].len = newlen;
  printf("ok %p\n", p);
}

static void cmd_copy(const char *src, off_t soff, const char *dst, off_t doff, size_t len) {
  static char buf[1 << 20];
  int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT, 0600);
  size_t done = 0;
  int e = 0;
  if (in < 0 || out < 0 || lseek(in, soff, SEEK_SET) < 0 || lseek(out, doff, SEEK_SET) < 0)
    e = errno;
  while (!e && done < len) {
    size_t want = len - done < sizeof buf ? len - done : sizeof buf;
    ssize_t n = read(in, buf, want);
    if (n <= 0) {
      e = n < 0 ? errno : EIO;
      break;
    }
    for (ssize_t w = 0; w < n;) {
      ssize_t k = write(out, buf + w, (size_t)(n - w));
      if (k <= 0) {
        e = k < 0 ? errno : EIO;
        break;
      }
      w += k;
    }
    done += (size_t)n;
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (e) return reply_err(-e, strerror(e));
  printf("ok %zu\n", done);
  fflush(stdout);
}

static void cmd_dump(int i, uint64_t off, size_t len, const char *path) {
  if (get_map(i) < 0) return reply_err(-EINVAL, "no such mapping");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return reply_err(-errno, strerror(errno));
  const char *p = maps[i].addr + off;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, p + done, len - done);
    if (n <= 0) {
      int e = errno;
      close(fd);
      return reply_err(-e, strerror(e));
    }
    done += (size_t)n;
  }
  close(fd);
  puts("ok");
}

static void cmd_getmap(const char *path) {
  struct famfs_map *m = NULL;
  int rc = famfs_get_map(path, &m);
  if (rc) return reply_err(rc, famfs_strerror(rc));
  printf("ok size=%" PRIu64 " kind=%s n=%u chunk=%" PRIu64 " device=%s ext=", m->size,
         m->kind == FAMFS_MAP_SIMPLE ? "simple" : "interleave", m->nextents, m->chunk_size,
         m->device ? m->device : "");
  for (unsigned k = 0; k < m->nextents; k++)
    printf("%s0x%" PRIx64 ":0x%" PRIx64, k ? "," : "", m->extents[k].offset, m->extents[k].len);
  putchar('\n');
  famfs_free_map(m);
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "lib") && strcmp(argv[1], "sys"))) {
    fprintf(stderr, "usage: %s lib|sys  (commands on stdin)\n", argv[0]);
    return 2;
  }
  use_lib = strcmp(argv[1], "lib") == 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16], a[4096], b[4096];
    int i;
    unsigned long long x, y, z;
    line[strcspn(line, "\n")] = 0;
    if (sscanf(line, "%15s", cmd) != 1) continue;
    if (!strcmp(cmd, "quit")) break;
    if (!strcmp(cmd, "map") && sscanf(line, "%*s %4095s %lli %lli %4095s", a, &x, &y, b) == 4)
      cmd_map(a, x, y, b);
    else if (!strcmp(cmd, "mapfd") &&
             sscanf(line, "%*s %4095s %lli %lli %4095s %15s", a, &x, &y, b, cmd) == 5)
      cmd_mapfd(a, x, y, b, cmd);
    else if (!strcmp(cmd, "read") && sscanf(line, "%*s %d %lli %lli", &i, &x, &y) == 3)
      cmd_read(i, x, y);
    else if (!strcmp(cmd, "write") && sscanf(line, "%*s %d %lli %4095s", &i, &x, a) == 3)
      cmd_write(i, x, a);
    else if (!strcmp(cmd, "unmap") && sscanf(line, "%*s %d %lli %lli", &i, &x, &y) == 3)
      cmd_unmap(i, x, y);
    else if (!strcmp(cmd, "probe") && sscanf(line, "%*s %d %lli", &i, &x) == 2)
      cmd_probe(i, x);
    else if (!strcmp(cmd, "maps") && sscanf(line, "%*s %d %lli", &i, &x) == 2)
      cmd_maps(i, x);
    else if (!strcmp(cmd, "mremap") && sscanf(line, "%*s %d %lli", &i, &x) == 2)
      cmd_mremap(i, x);
    else if (!strcmp(cmd, "dump") &&
             sscanf(line, "%*s %d %lli %lli %4095s", &i, &x, &y, a) == 4)
      cmd_dump(i, x, y, a);
    else if (!strcmp(cmd, "copy") &&
             sscanf(line, "%*s %4095s %lli %4095s %lli %lli", a, &x, b, &y, &z) == 5)
      cmd_copy(a, (off_t)x, b, (off_t)y, (size_t)z);
    else if (!strcmp(cmd, "getmap") && sscanf(line, "%*s %4095s", a) == 1)
      cmd_getmap(a);
    else
      reply_err(-EINVAL, "bad command");
  }
  return 0;
}
