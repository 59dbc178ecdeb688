/* trace/density.h: density benchmarks: one latency sample per (concurrency level, repeat)
   holding the slowest of the dispatches run at once, and the breakpoint: the highest level
   whose p95 is at most twice the p95 at level 1. */
#ifndef FK_TRACE_DENSITY_H
#define FK_TRACE_DENSITY_H

#include <stddef.h>
#include <stdint.h>

#include "trace/sample.h"

/* What a density benchmark measures; the tag lists are key, value pairs ended by NULL. */
typedef struct fk_trace_density_spec
{
  const char *level_metric_prefix; /* level samples are "<prefix><level>_ms" */
  const char *const *level_tags;   /* static tags of a level sample */
  const char *breakpoint_metric;
  const char *const *breakpoint_tags; /* static tags of the breakpoint sample */
  const char *artifact_kind;          /* the artifact's "kind" */
} fk_trace_density_spec_t;

/* The reference's sandbox shell-pool density benchmark. */
extern const fk_trace_density_spec_t fk_trace_shell_pool_density;
#define FK_TRACE_SHELL_POOL_DENSITY_BREAKPOINT_METRIC                                              \
  "debug.density.max_active_before_sandbox_shell_pool_run_completion_p95_doubles"

/* A level sample: "<prefix><concurrency>_ms", LifecycleLatency, Milliseconds, value
   elapsed_ns in milliseconds (as Rust's Duration::as_secs_f64() * 1000.0), the spec's static
   tags, then concurrency_level, repeat_index and repeat_count. Free with fk_trace_sample_free. */
fk_trace_sample_t *fk_trace_density_sample (const fk_trace_density_spec_t *spec, size_t concurrency,
                                            size_t repeat, size_t repeat_count,
                                            uint64_t elapsed_ns);

/* The breakpoint of the level samples (metric starting with the spec's prefix, a
   `concurrency_level' tag that parses as a number) among samples: level 1's p95 is the
   baseline, the threshold twice that; the breakpoint is the highest level whose p95 is at most
   the threshold. The sample: WorkloadResource, Count, the level, the spec's breakpoint tags,
   then baseline_p95_ms and threshold_p95_ms ("%.6f") and concurrency_levels (from the first
   level sample carrying it, when one does). Returns 1 with *ret_sample set, 0 when there is no
   breakpoint (no level-1 sample), < 0 on error. */
int fk_trace_density_breakpoint (const fk_trace_density_spec_t *spec,
                                 const fk_trace_samples_t *samples, fk_trace_sample_t **ret_sample,
                                 fk_error_t *err);

/* fk_trace_density_sample and fk_trace_density_breakpoint for fk_trace_shell_pool_density. */
fk_trace_sample_t *fk_trace_shell_pool_density_sample (size_t concurrency, size_t repeat,
                                                       size_t repeat_count, uint64_t elapsed_ns);
int fk_trace_shell_pool_density_breakpoint (const fk_trace_samples_t *samples,
                                            fk_trace_sample_t **ret_sample, fk_error_t *err);

/* "1,2,4,8": the concurrency_levels tag value of a level list (caller frees). */
char *fk_trace_density_levels_tag (const size_t *levels, size_t n);

#endif
