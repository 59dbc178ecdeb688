/* trace/stats.c: see stats.h. */
#include "trace/stats.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

/* The totalOrder key of a double: flip every bit of a negative, the sign bit of a positive. */
static int64_t
total_key (double d)
{
  int64_t bits;
  memcpy (&bits, &d, sizeof bits);
  bits ^= (int64_t)(((uint64_t)(bits >> 63)) >> 1);
  return bits;
}

int
fk_trace_total_cmp (const void *a, const void *b)
{
  int64_t x = total_key (*(const double *)a), y = total_key (*(const double *)b);
  return (x > y) - (x < y);
}

/* Sorts a copy and picks the nearest rank: the reference's nearest_rank on sorted values. */
static double
pick (const double *sorted, size_t n, unsigned percentile)
{
  size_t rank;
  if (__builtin_mul_overflow (n, (size_t)percentile, &rank))
    rank = SIZE_MAX;
  /* div_ceil(rank, 100) */
  rank = rank / 100 + (rank % 100 != 0);
  size_t index = rank == 0 ? 0 : rank - 1;
  if (index > n - 1)
    index = n - 1;
  return sorted[index];
}

static double *
sorted_copy (const double *values, size_t n)
{
  double *s = xmalloc (n * sizeof *s);
  memcpy (s, values, n * sizeof *s);
  qsort (s, n, sizeof *s, fk_trace_total_cmp);
  return s;
}

int
fk_trace_nearest_rank (const double *values, size_t n, unsigned percentile, double *ret_value,
                       fk_error_t *err)
{
  if (n == 0)
    return fk_error_set (err, EINVAL, "p%u of no values", percentile);
  cleanup_free double *s = sorted_copy (values, n);
  *ret_value = pick (s, n, percentile);
  return 0;
}

int
fk_trace_summarize (const double *values, size_t n, fk_trace_summary_t *ret_summary,
                    fk_error_t *err)
{
  if (n == 0)
    return fk_error_set (err, EINVAL, "summary of no values");
  cleanup_free double *s = sorted_copy (values, n);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += values[i];
  *ret_summary = (fk_trace_summary_t){
    .count = n,
    .min = s[0],
    .mean = sum / (double)n,
    .p50 = pick (s, n, 50),
    .p90 = pick (s, n, 90),
    .p95 = pick (s, n, 95),
    .p99 = pick (s, n, 99),
    .max = s[n - 1],
  };
  return 0;
}

void
fk_trace_metric_p50_p95 (const fk_trace_samples_t *samples, const char *metric, double *ret_p50,
                         double *ret_p95)
{
  double *v = xcalloc (samples->len + 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < samples->len; i++)
    if (strcmp (samples->items[i]->metric, metric) == 0)
      v[n++] = samples->items[i]->value;
  *ret_p50 = *ret_p95 = NAN;
  fk_error_t err = FK_ERROR_INIT;
  if (n > 0
      && (fk_trace_nearest_rank (v, n, 50, ret_p50, &err) < 0
          || fk_trace_nearest_rank (v, n, 95, ret_p95, &err) < 0))
    fk_error_clear (&err);
  free (v);
}
