/* bench/hostspawn.h: a density benchmark that needs no sandbox: at each concurrency level,
   fork+exec that many copies of a program at once on the host and keep the slowest
   completion per repeat. It has the reference's procedure shape (warm-up dispatch excluded,
   one sample per level and repeat, the breakpoint): the host's floor, run by `fk bench
   trace-demo'. */
#ifndef FK_BENCH_HOSTSPAWN_H
#define FK_BENCH_HOSTSPAWN_H

#include <stddef.h>

#include "trace/density.h"
#include "trace/sample.h"

extern const fk_trace_density_spec_t fk_bench_host_spawn_density;

/* The program each dispatch runs (no arguments); it must exit 0. */
#define FK_BENCH_HOST_SPAWN_PROGRAM "/bin/true"

/* Higher levels are refused: a level is that many processes at once. */
#define FK_BENCH_HOST_SPAWN_MAX_LEVEL 1024

/* For each level: one warm-up dispatch (not recorded), then repeats dispatches of `level'
   concurrent fork+exec of program, each appending one level sample (the slowest child's
   fork-to-reap time) tagged with concurrency_levels. The calling process must have no other
   children (they are reaped with waitpid(-1)). A child that fails to start or exits non-zero is
   an error. */
int fk_bench_host_spawn_collect (const char *program, const size_t *levels, size_t n_levels,
                                 size_t repeats, fk_trace_samples_t *samples, fk_error_t *err);

#endif
