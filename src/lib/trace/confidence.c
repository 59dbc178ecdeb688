/* trace/confidence.c: see confidence.h. */
#include "trace/confidence.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

const char *
fk_trace_confidence_for_count (size_t count)
{
  if (count == 0)
    return "missing";
  if (count <= 2)
    return "smoke_only";
  if (count <= 4)
    return "superfast_iteration";
  if (count <= 9)
    return "fast_iteration";
  if (count <= 29)
    return "baseline_checkpoint";
  if (count <= 99)
    return "p50_p90_decision_grade";
  if (count <= 499)
    return "p95_decision_grade";
  return "p99_decision_grade";
}

static int
by_metric (const void *a, const void *b)
{
  const fk_trace_sample_t *x = *(fk_trace_sample_t *const *)a, *y = *(fk_trace_sample_t *const *)b;
  return strcmp (x->metric, y->metric);
}

int
fk_trace_confidence_tag_samples (fk_trace_samples_t *samples, fk_error_t *err)
{
  /* Counted over a sorted copy (the samples keep their order): a run of 10,000 samples must
     not cost a hundred million comparisons. */
  size_t n = samples->len;
  if (n == 0)
    return 0;
  fk_trace_sample_t **sorted = xmemdup (samples->items, n * sizeof *sorted);
  qsort (sorted, n, sizeof *sorted, by_metric);
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0;)
    {
      size_t j = i + 1;
      while (j < n && strcmp (sorted[i]->metric, sorted[j]->metric) == 0)
        j++;
      const char *c = fk_trace_confidence_for_count (j - i);
      for (; i < j && ret == 0; i++)
        ret = fk_trace_sample_set_tag (sorted[i], "confidence", c, err);
    }
  free (sorted);
  return ret;
}
