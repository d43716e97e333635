/* Defaults of famfs-fused's options that other parts also name (famfs mount's help, the
 * status report, the man pages): written once here. docs/daemon.md has the full table. */
#ifndef FAMFS_PROTO_DAEMON_DEFAULTS_H
#define FAMFS_PROTO_DAEMON_DEFAULTS_H

#define FAMFS_DEFAULT_REFRESH_MS 1      /* -o refresh_ms: log poll interval */
#define FAMFS_MAX_REFRESH_MS 60000
#define FAMFS_DEFAULT_TIMEOUT_S 3600    /* -o timeout: entry/attr cache timeout */
#define FAMFS_DEFAULT_THREADS 4         /* -o threads: maximum worker threads */
#define FAMFS_MAX_THREADS 256
/* A file created through the master's mount is committed this long after its last close
 * (docs/native-create.md: rsync and tar rename and chmod after close). */
#define FAMFS_DEFAULT_COMMIT_DELAY_MS 50

#endif
