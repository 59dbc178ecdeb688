/* bench/spawn.h: runs a peer's command (crun, bwrap, the fk CLI) as a timed child process, its
   stdout dropped and its stderr kept for the error message; optionally in a private mount
   namespace where the empty cgroup2 mount of a hybrid host is unmounted, because crun refuses
   a hybrid layout. That namespace dies with the child: nothing stays unmounted on the host. */
#ifndef FK_BENCH_SPAWN_H
#define FK_BENCH_SPAWN_H

#include <stdint.h>

#include "base/error.h"

/* In the child: a private (slave) mount namespace with FK_BENCH_UNIFIED_MOUNT unmounted when
   it is a mount point (a pure v1 or v2 host has nothing to hide: nothing is done). */
#define FK_BENCH_SPAWN_HIDE_CGROUP2 0x1u
#define FK_BENCH_UNIFIED_MOUNT "/sys/fs/cgroup/unified"

/* Runs argv (argv[0] an absolute path, or looked up in PATH), stdin and stdout on /dev/null,
   and waits for it. Returns 0 when it exited 0, with *ret_elapsed_ns (may be NULL) the time
   from before fork to after the reap; a non-zero exit or a signal is an error quoting the
   command's stderr (its first 2 KiB). */
int fk_bench_spawn (char *const *argv, unsigned flags, uint64_t *ret_elapsed_ns, fk_error_t *err);

/* The absolute path of an executable named name in PATH (caller frees), or NULL. */
char *fk_bench_which (const char *name);

#endif
