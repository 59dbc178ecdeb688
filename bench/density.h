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

/* The same procedure through crun (bench/crun.h, its one configuration): a container of the
   root layers (absolute paths, BOTTOM FIRST, NULL-terminated) running `sleep' is started, then
   per level one warm-up round (not recorded) and per repeat that many concurrent `crun exec
   CONTAINER printf shell-pool-c<N>-r<R>-<i>', each one's stdout checked, the slowest (fork to
   exit) kept as one sample of fk_crun_exec_density. crun_path from fk_bench_crun_find. The
   container and the peer's work directory are gone when it returns, also after a failure. */
int fk_crun_exec_density_collect (const char *crun_path, const char *const *layers,
                                  const size_t *levels, size_t n_levels, size_t repeats,
                                  fk_trace_samples_t *samples, fk_error_t *err);

#endif
