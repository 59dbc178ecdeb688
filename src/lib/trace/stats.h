/* trace/stats.h: nearest-rank percentiles exactly as the reference computes them, and the
   summary statistics a report prints. */
#ifndef FK_TRACE_STATS_H
#define FK_TRACE_STATS_H

#include <stddef.h>

#include "base/error.h"
#include "trace/sample.h"

typedef struct fk_trace_summary
{
  size_t count;
  double min, mean, p50, p90, p95, p99, max;
} fk_trace_summary_t;

/* Orders doubles as IEEE 754 totalOrder (Rust's f64::total_cmp): -NaN < -inf < ... < -0 < +0
   < ... < +inf < +NaN. A qsort comparator on const double *. */
int fk_trace_total_cmp (const void *a, const void *b);

/* The nearest-rank percentile: sort ascending (total order), rank = ceil(n * percentile / 100)
   (saturating), index = min(rank - 1, n - 1) with rank 0 giving index 0. values is not
   modified. No values is an error. */
int fk_trace_nearest_rank (const double *values, size_t n, unsigned percentile, double *ret_value,
                           fk_error_t *err);

/* count, min, mean, p50, p90, p95, p99 and max of n values (min and max in total order).
   No values is an error. */
int fk_trace_summarize (const double *values, size_t n, fk_trace_summary_t *ret_summary,
                        fk_error_t *err);

/* The p50 and p95 (nearest rank) of the values of samples named metric; NAN for both when
   there is none. */
void fk_trace_metric_p50_p95 (const fk_trace_samples_t *samples, const char *metric,
                              double *ret_p50, double *ret_p95);

#endif
