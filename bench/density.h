/* bench/density.h: the reference's shell-pool density procedure on a sandbox's agent, and the
   same dispatch pattern through the peer a user would otherwise pick: one `crun exec' per
   command into a running crun container of the same root filesystem. */
#ifndef FK_BENCH_DENSITY_H
#define FK_BENCH_DENSITY_H

#include <stddef.h>

#include "base/error.h"
#include "firkin/client.h"
#include "trace/density.h"
#include "trace/sample.h"

/* The peer's samples: "debug.exec.crun_exec_run_completion_c<N>_ms", the same kinds, units,
   tags shape and breakpoint rule, artifact kind "live_crun_exec_density". */
extern const fk_trace_density_spec_t fk_crun_exec_density;

/* Per level: a shell pool of that size on c, one warm-up `printf shell-pool-warm-c<N>-<i>' per
   slot (not recorded), then per repeat every slot dispatched `printf
   shell-pool-c<N>-r<R>-<i>' at once (begun together from one thread, as the reference's
   join_all polls its futures on one task; a dispatch ends when its exit is read), each checking
   that stdout is exactly the expected bytes; the slowest dispatch of the repeat becomes one
   fk_trace_shell_pool_density_sample tagged concurrency_levels. The pool is closed after each
   level. A dispatch that fails or prints anything else is an error. */
int fk_shell_pool_density_collect (fk_client_t *c, const size_t *levels, size_t n_levels,
                                   size_t repeats, fk_trace_samples_t *samples, fk_error_t *err);

/* The same procedure through crun: a container whose root is layers (BOTTOM FIRST,
   NULL-terminated; one directory is used as it is, several are stacked read-only with overlayfs)
   running `sleep' is started with its state under workdir, then per level and repeat that many
   concurrent `crun exec CONTAINER printf ...', each one's stdout checked, the slowest kept. It
   all runs in a child process in its own mount namespace where /sys/fs/cgroup/unified is
   unmounted (crun refuses hybrid cgroup hierarchies) and the overlay is mounted; the container
   is deleted and workdir removed before it returns, even on failure. crun is looked up in PATH
   (or $FIRKIN_CRUN). */
int fk_crun_exec_density_collect (const char *const *layers, const char *workdir,
                                  const size_t *levels, size_t n_levels, size_t repeats,
                                  fk_trace_samples_t *samples, fk_error_t *err);

#endif
