/* sandbox/procfs.h: the sandbox's /proc (its own pid namespace, usual paths masked, /proc/sys
   and kernel knobs read-only) and a read-only /sys. */
#ifndef FK_SANDBOX_PROCFS_H
#define FK_SANDBOX_PROCFS_H

#include "base/error.h"

int fk_procfs_setup (int rootfd, fk_error_t *err);
int fk_sysfs_setup (int rootfd, fk_error_t *err);

/* The paths masked (NULL-terminated, relative to the root): /dev/null over files, an empty
   read-only tmpfs over directories. */
const char *const *fk_procfs_masked_paths (void);
/* The paths made read-only. */
const char *const *fk_procfs_readonly_paths (void);

#endif
