/* The extended attributes the daemon serves (docs/design.md "Extended attributes"): the one
 * home of their names, for the daemon, the CLI (C++) and libfamfs (C). Read-only; the daemon
 * refuses every setxattr/removexattr. */
#ifndef FAMFS_PROTO_XATTR_H
#define FAMFS_PROTO_XATTR_H

/* On every inode. */
#define FAMFS_XATTR_DEVICE "user.famfs.device"           /* absolute device path mapped */
#define FAMFS_XATTR_ROLE "user.famfs.role"               /* "master" or "client" */
#define FAMFS_XATTR_SYSTEM_UUID "user.famfs.system_uuid" /* this daemon's host identity */
#define FAMFS_XATTR_FS_UUID "user.famfs.fs_uuid"         /* the file system UUID */

/* On regular files: the extent map, text (proto/fmap_text.hpp, famfs_core.c). */
#define FAMFS_XATTR_FMAP "user.famfs.fmap"

/* On the root directory only: JSON reports (docs/design.md). */
#define FAMFS_XATTR_STATUS "user.famfs.status"   /* state of the daemon and file system */
#define FAMFS_XATTR_LOGPLAY "user.famfs.logplay" /* replay now, then report what it applied */

#endif
