/* Unit check of the mount trust rule (famfs_core.c fc_mountinfo_line): only a fuse.famfs mount
 * made by root or by this user, whose source is the device file itself, may name the device
 * that libfamfs and the preload map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "famfs_core.h"

static int failures;
static int line(const char *l, unsigned maj, unsigned min, const struct stat *st) {
  return fc_mountinfo_line(l, l + strlen(l), maj, min, st);
}
#define CHECK(c)                                                            \
  do {                                                                      \
    if (!(c)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
      failures++;                                                           \
    }                                                                       \
  } while (0)

int main(void) {
  char dir[] = "/tmp/famfs-mountinfo-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char dev[256], other[256], spaced[256], buf[1024];
  snprintf(dev, sizeof dev, "%s/dev.img", dir);
  snprintf(other, sizeof other, "%s/other.img", dir);
  snprintf(spaced, sizeof spaced, "%s/a b.img", dir);
  FILE *f;
  if (!(f = fopen(dev, "w")) || fclose(f) || !(f = fopen(other, "w")) || fclose(f) ||
      !(f = fopen(spaced, "w")) || fclose(f))
    return 2;
  struct stat st, sp;
  if (stat(dev, &st) || stat(spaced, &sp)) return 2;

  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw,nosuid,nodev,relatime - fuse.famfs %s "
                            "rw,user_id=0,group_id=0,default_permissions", dev);
  CHECK(line(buf, 0, 39, &st) == 1);
  CHECK(line(buf, 0, 40, &st) == 0);                  /* another mount */
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw shared:5 master:2 - fuse.famfs %s "
                            "rw,user_id=0,group_id=0", dev);
  CHECK(line(buf, 0, 39, &st) == 1);                  /* optional fields */
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw - fuse.famfs %s rw,user_id=%u,group_id=0",
           dev, (unsigned)geteuid() + 1);
  CHECK(line(buf, 0, 39, &st) == -1);                 /* another user's FUSE mount */
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw - fuse.sshfs %s rw,user_id=0", dev);
  CHECK(line(buf, 0, 39, &st) == -1);                 /* not famfs */
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw - fuse.famfs %s rw,user_id=0", other);
  CHECK(line(buf, 0, 39, &st) == -1);                 /* names another device */
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw - fuse.famfs %s/missing rw,user_id=0", dir);
  CHECK(line(buf, 0, 39, &st) == -1);
  snprintf(buf, sizeof buf, "42 27 0:39 / /mnt/f rw - fuse.famfs %s/a\\040b.img rw,user_id=0",
           dir);
  CHECK(line(buf, 0, 39, &sp) == 1);                  /* escaped source */
  CHECK(line("42 27 0:39 / /mnt/f rw", 0, 39, &st) == -1); /* truncated */

  unlink(dev);
  unlink(other);
  unlink(spaced);
  rmdir(dir);
  if (failures) return 1;
  printf("ok\n");
  return 0;
}
