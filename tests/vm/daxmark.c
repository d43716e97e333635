/* daxmark: tiny mmap tester for device-dax (/dev/daxX.Y supports only mmap, not read/write).
 * Build: gcc -O2 -static -o daxmark daxmark.c   (vmlab prepare does this and puts it in the guest)
 *
 *   daxmark write DEV OFF STRING        store STRING (with its NUL) at byte offset OFF
 *   daxmark read  DEV OFF               print the string at OFF
 *   daxmark wait  DEV OFF PREFIX SECS   poll until the string at OFF starts with PREFIX (exit 1 on timeout)
 *   daxmark bw    DEV MIB               memset + 64-byte-stride read over the first MIB MiB (MIB even)
 *   daxmark xattr PATH NAME             print the extended attribute NAME of PATH (busybox has no getfattr)
 *   daxmark mmapcat FILE                write FILE's bytes to stdout, read through a MAP_SHARED mmap of it
 *   daxmark mmapwrite FILE OFF STRING   store STRING (no NUL) at OFF of FILE through a MAP_SHARED mmap, msync
 *
 * OFF may be decimal or 0x-hex. It is a DEVICE offset: with vmlab pools dax offset 0 = pool file offset
 * 0x200000. The tool maps the 2 MiB-aligned window that holds OFF, so a string must not cross it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define WIN (2UL << 20) /* device-dax mmap offset and length must be multiples of the device align */

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int usage(void) {
  fprintf(stderr, "usage: daxmark write DEV OFF STRING | read DEV OFF | wait DEV OFF PREFIX SECS | bw DEV MIB\n"
                  "       daxmark xattr PATH NAME | mmapcat FILE | mmapwrite FILE OFF STRING\n");
  return 2;
}

static int xattr(const char *path, const char *name) {
  static char buf[65536];
  ssize_t n = getxattr(path, name, buf, sizeof buf);
  if (n < 0) { fprintf(stderr, "getxattr %s %s: ", path, name); perror(0); return 1; }
  fwrite(buf, 1, n, stdout);
  if (n == 0 || buf[n - 1] != '\n') putchar('\n');
  return 0;
}

static int mmapcat(const char *file) {
  int fd = open(file, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) { perror(file); return 1; }
  if (st.st_size == 0) return 0;
  char *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { fprintf(stderr, "mmap %s: ", file); perror(0); return 1; }
  for (off_t o = 0; o < st.st_size;) {
    ssize_t w = write(1, p + o, st.st_size - o);
    if (w <= 0) { perror("write"); return 1; }
    o += w;
  }
  return 0;
}

static int mmapwrite(const char *file, const char *offs, const char *str) {
  int fd = open(file, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) { perror(file); return 1; }
  unsigned long off = strtoul(offs, 0, 0), n = strlen(str);
  if (off + n > (unsigned long)st.st_size) { fprintf(stderr, "%s: write past the end\n", file); return 1; }
  char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { fprintf(stderr, "mmap %s: ", file); perror(0); return 1; }
  memcpy(p + off, str, n);
  if (msync(p, st.st_size, MS_SYNC)) { perror("msync"); return 1; }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "mmapwrite")) return mmapwrite(argv[2], argv[3], argv[4]);
  if (argc == 4 && !strcmp(argv[1], "xattr")) return xattr(argv[2], argv[3]);
  if (argc == 3 && !strcmp(argv[1], "mmapcat")) return mmapcat(argv[2]);
  if (argc < 4) return usage();
  const char *cmd = argv[1], *dev = argv[2];
  int fd = open(dev, O_RDWR);
  if (fd < 0) { perror(dev); return 1; }

  if (!strcmp(cmd, "bw")) {
    size_t mib = strtoul(argv[3], 0, 0), sz = mib << 20;
    if (!mib || mib % 2) return usage();
    volatile char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    double t = now(); memset((void *)p, 0x5a, sz); double w = now() - t;
    unsigned long s = 0; t = now(); for (size_t i = 0; i < sz; i += 64) s += p[i]; double r = now() - t;
    printf("bw: write %.1f MiB/s, read (64 B stride) %.1f MiB/s (sum %lu)\n", mib / w, mib / r, s);
    return 0;
  }

  unsigned long off = strtoul(argv[3], 0, 0), base = off & ~(WIN - 1), in = off - base;
  char *p = mmap(NULL, WIN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);
  if (p == MAP_FAILED) { perror("mmap"); return 1; }
  volatile char *q = p + in;
  size_t room = WIN - in;

  if (!strcmp(cmd, "write") && argc == 5) {
    size_t n = strlen(argv[4]) + 1;
    if (n > room) { fprintf(stderr, "string crosses the 2 MiB window\n"); return 1; }
    memcpy((char *)q, argv[4], n);
    __sync_synchronize();
    printf("wrote '%s' at %#lx\n", argv[4], off);
  } else if (!strcmp(cmd, "read") && argc == 4) {
    printf("read '%.*s' at %#lx\n", (int)(room < 200 ? room : 200), (char *)q, off);
  } else if (!strcmp(cmd, "wait") && argc == 6) {
    const char *pre = argv[4];
    double secs = atof(argv[5]), t0 = now();
    while (strncmp((const char *)q, pre, strlen(pre))) {
      if (now() - t0 > secs) {
        printf("TIMEOUT waiting for '%s' at %#lx (have '%.40s')\n", pre, off, (char *)q);
        return 1;
      }
      usleep(10000);
      __sync_synchronize();
    }
    printf("saw '%.200s' at %#lx after %.2fs\n", (char *)q, off, now() - t0);
  } else {
    return usage();
  }
  return 0;
}
