/* Internal interface between the parts of libfamfs-preload.so: preload.c (mmap, set-up,
 * environment) and preload_rw.c (read/write of famfs fds). */
#ifndef FAMFS_PRELOAD_H
#define FAMFS_PRELOAD_H

#include "famfs_core.h"

/* Set while this thread is inside the shim: nested calls go straight through. */
FC_HIDDEN extern __thread int pl_in_shim __attribute__((tls_model("initial-exec")));
/* The next mmap/munmap in the chain, for the core. */
FC_HIDDEN extern const struct fc_sys pl_sys;
/* Set-up done (runs it if needed); read/write path on (neither FAMFS_PRELOAD_DISABLE=1 nor
 * FAMFS_PRELOAD_RW=0). */
FC_HIDDEN int pl_ready(void);
FC_HIDDEN int pl_rw_enabled(void);
/* One debug line on stderr when FAMFS_PRELOAD_DEBUG=1. */
FC_HIDDEN void pl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Called once from the set-up (inside the shim): find the next read/write/close/... */
FC_HIDDEN void pl_rw_init(int debug);

#endif
