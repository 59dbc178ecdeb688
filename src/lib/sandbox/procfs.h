/* sandbox/procfs.h: the sandbox's /proc (its own pid namespace, usual paths masked, /proc/sys
   and kernel knobs read-only) and a read-only /sys. */
#ifndef FK_SANDBOX_PROCFS_H
#define FK_SANDBOX_PROCFS_H

#include "base/error.h"

/* Mounts the sandbox's procfs (nosuid, nodev, noexec) on dest below rootfd. */
int fk_procfs_mount (int rootfd, const char *dest, fk_error_t *err);
/* Mounts a read-only sysfs on dest below rootfd. */
int fk_sysfs_mount (int rootfd, const char *dest, fk_error_t *err);

/* Covers path (relative to rootfd): the root's /dev/null over a file, an empty read-only tmpfs
   over a directory; a missing path is success. */
int fk_procfs_mask (int rootfd, const char *path, fk_error_t *err);

/* The default masked paths (NULL-terminated, relative to the root). */
const char *const *fk_procfs_masked_paths (void);
/* The default paths made read-only. */
const char *const *fk_procfs_readonly_paths (void);

#endif
