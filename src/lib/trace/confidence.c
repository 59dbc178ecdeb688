/* trace/confidence.c: see confidence.h. */
#include "trace/confidence.h"

#include <string.h>

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

int
fk_trace_confidence_tag_samples (fk_trace_samples_t *samples, fk_error_t *err)
{
  /* Quadratic in the number of samples; artifacts hold hundreds, not millions. */
  for (size_t i = 0; i < samples->len; i++)
    {
      size_t count = 0;
      for (size_t j = 0; j < samples->len; j++)
        count += strcmp (samples->items[i]->metric, samples->items[j]->metric) == 0;
      if (fk_trace_sample_set_tag (samples->items[i], "confidence",
                                   fk_trace_confidence_for_count (count), err)
          < 0)
        return -1;
    }
  return 0;
}
