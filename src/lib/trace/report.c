/* trace/report.c: see report.h. */
#include "trace/report.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "trace/confidence.h"
#include "trace/stats.h"

/* Tags that differ per sample by design, or that the table shows already. */
static int
hidden_tag (const char *key)
{
  return strcmp (key, "confidence") == 0 || strcmp (key, "repeat_index") == 0;
}

/* True when every sample (of metric, or of the artifact when metric is NULL) has tag. */
static int
shared_tag (const fk_trace_artifact_t *a, const char *metric, const fk_trace_tag_t *tag)
{
  for (size_t i = 0; i < a->samples.len; i++)
    {
      const fk_trace_sample_t *s = a->samples.items[i];
      if (metric != NULL && strcmp (s->metric, metric) != 0)
        continue;
      const char *v = fk_trace_sample_tag (s, tag->key);
      if (v == NULL || strcmp (v, tag->value) != 0)
        return 0;
    }
  return 1;
}

/* Tags shared by every sample of the artifact are printed once at the top; a metric shows
   the ones its samples share beyond those. */
static void
print_shared_tags (FILE *out, const fk_trace_artifact_t *a, const fk_trace_sample_t *first,
                   int artifact_wide)
{
  for (size_t t = 0; t < first->n_tags; t++)
    {
      const fk_trace_tag_t *tag = &first->tags[t];
      if (hidden_tag (tag->key))
        continue;
      int common = shared_tag (a, NULL, tag);
      if (artifact_wide && common)
        fprintf (out, "  %s: %s\n", tag->key, tag->value);
      else if (!artifact_wide && !common && shared_tag (a, first->metric, tag))
        fprintf (out, "    %s: %s\n", tag->key, tag->value);
    }
}

int
fk_trace_report_print (FILE *out, const char *path, const fk_trace_artifact_t *a, fk_error_t *err)
{
  size_t n = a->samples.len;
  cleanup_free double *values = xmalloc ((n ? n : 1) * sizeof *values);
  cleanup_free char *done = xcalloc (n ? n : 1, 1);
  size_t n_metrics = 0;
  for (size_t i = 0; i < n; i++)
    {
      int seen = 0;
      for (size_t j = 0; j < i && !seen; j++)
        seen = strcmp (a->samples.items[j]->metric, a->samples.items[i]->metric) == 0;
      n_metrics += !seen;
    }
  fprintf (out, "artifact %s\nkind %s: %zu samples, %zu metrics, %zu traces\n", path, a->kind, n,
           n_metrics, a->n_traces);
  if (n > 1)
    {
      fprintf (out, "tags of every sample:\n");
      print_shared_tags (out, a, a->samples.items[0], 1);
    }

  for (size_t i = 0; i < n; i++)
    {
      if (done[i])
        continue;
      const fk_trace_sample_t *first = a->samples.items[i];
      size_t count = 0;
      int mixed_units = 0;
      for (size_t j = i; j < n; j++)
        if (strcmp (a->samples.items[j]->metric, first->metric) == 0)
          {
            done[j] = 1;
            values[count++] = a->samples.items[j]->value;
            mixed_units |= a->samples.items[j]->unit != first->unit;
          }
      fk_trace_summary_t sum;
      if (fk_trace_summarize (values, count, &sum, err) < 0)
        return -1;
      fprintf (out, "\n%s  (%s, %s%s)\n", first->metric, fk_trace_kind_name (first->kind),
               fk_trace_unit_name (first->unit), mixed_units ? ", MIXED UNITS" : "");
      fprintf (out, "  %6s %12s %12s %12s %12s %12s  %s\n", "n", "min", "p50", "p95", "p99", "max",
               "confidence");
      fprintf (out, "  %6zu %12.3f %12.3f %12.3f %12.3f %12.3f  %s\n", sum.count, sum.min, sum.p50,
               sum.p95, sum.p99, sum.max, fk_trace_confidence_for_count (sum.count));
      print_shared_tags (out, a, first, n == 1);
    }
  if (n == 0)
    fprintf (out, "\n(no samples)\n");
  return 0;
}
