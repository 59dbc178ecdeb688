/* bench/compare.c: ratio samples and their confidence. */
#include "bench/compare.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "trace/confidence.h"
#include "trace/stats.h"

double *
fk_bench_values (const fk_trace_samples_t *samples, const char *metric, size_t *ret_n)
{
  double *v = xmalloc ((samples->len ? samples->len : 1) * sizeof *v);
  size_t n = 0;
  for (size_t i = 0; i < samples->len; i++)
    if (strcmp (samples->items[i]->metric, metric) == 0)
      v[n++] = samples->items[i]->value;
  *ret_n = n;
  return v;
}

int
fk_bench_ratio_push (fk_trace_samples_t *samples, const char *metric, const char *firkin_metric,
                     const char *peer_metric, double goal_max_ratio, fk_error_t *err)
{
  size_t fn, pn;
  cleanup_free double *fv = fk_bench_values (samples, firkin_metric, &fn);
  cleanup_free double *pv = fk_bench_values (samples, peer_metric, &pn);
  if (fn == 0 || pn == 0)
    return 0;
  fk_trace_summary_t fs, ps;
  if (fk_trace_summarize (fv, fn, &fs, err) < 0 || fk_trace_summarize (pv, pn, &ps, err) < 0)
    return -1;
  if (!(ps.p50 > 0))
    return fk_error_set (err, EDOM, "ratio `%s': the p50 of `%s' is not positive", metric,
                         peer_metric);
  double ratio = fs.p50 / ps.p50;
  fk_trace_sample_t *s
      = fk_trace_sample_new (metric, FK_TRACE_KIND_FIRKIN_OVERHEAD, FK_TRACE_UNIT_RATIO, ratio);
  if (fk_trace_sample_set_tag (s, "firkin_metric", firkin_metric, err) < 0
      || fk_trace_sample_set_tag (s, "peer_metric", peer_metric, err) < 0
      || fk_trace_sample_set_tagf (s, err, "firkin_n", "%zu", fn) < 0
      || fk_trace_sample_set_tagf (s, err, "peer_n", "%zu", pn) < 0
      || fk_trace_sample_set_tagf (s, err, "firkin_p50", "%.6f", fs.p50) < 0
      || fk_trace_sample_set_tagf (s, err, "peer_p50", "%.6f", ps.p50) < 0
      || fk_trace_sample_set_tagf (s, err, "firkin_p95", "%.6f", fs.p95) < 0
      || fk_trace_sample_set_tagf (s, err, "peer_p95", "%.6f", ps.p95) < 0
      || (goal_max_ratio > 0
          && (fk_trace_sample_set_tagf (s, err, "goal_max_ratio", "%.6f", goal_max_ratio) < 0
              || fk_trace_sample_set_tag (s, "goal_met", ratio <= goal_max_ratio ? "true" : "false",
                                          err)
                     < 0)))
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 1;
}

int
fk_bench_confidence_tag (fk_trace_samples_t *samples, fk_error_t *err)
{
  if (fk_trace_confidence_tag_samples (samples, err) < 0)
    return -1;
  for (size_t i = 0; i < samples->len; i++)
    {
      fk_trace_sample_t *s = samples->items[i];
      const char *fn = fk_trace_sample_tag (s, "firkin_n");
      const char *pn = fk_trace_sample_tag (s, "peer_n");
      if (s->unit != FK_TRACE_UNIT_RATIO || fn == NULL || pn == NULL)
        continue;
      size_t a = strtoull (fn, NULL, 10), b = strtoull (pn, NULL, 10);
      if (fk_trace_sample_set_tag (s, "confidence", fk_trace_confidence_for_count (a < b ? a : b),
                                   err)
          < 0)
        return -1;
    }
  return 0;
}
