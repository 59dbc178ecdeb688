/* trace/density.c: see density.h. */
#include "trace/density.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "trace/envparse.h"
#include "trace/stats.h"

/* clang-format off */
static const char *const shell_pool_level_tags[] = {
  "measurement_boundary", "sandbox_shell_pool_run_completion",
  "shell_surface", "firkin_sandbox_shell_pool",
  "output_boundary", "command_completion",
  "command", "printf",
  "warmup_dispatch", "excluded",
  NULL,
};
/* clang-format on */

/* clang-format off */
static const char *const shell_pool_breakpoint_tags[] = {
  "source", "sandbox-shell-pool-run-completion-p95-threshold",
  "measurement_boundary", "sandbox_shell_pool_run_completion",
  "shell_surface", "firkin_sandbox_shell_pool",
  "output_boundary", "command_completion",
  NULL,
};
/* clang-format on */

const fk_trace_density_spec_t fk_trace_shell_pool_density = {
  .level_metric_prefix = "debug.exec.sandbox_shell_pool_run_completion_c",
  .level_tags = shell_pool_level_tags,
  .breakpoint_metric = FK_TRACE_SHELL_POOL_DENSITY_BREAKPOINT_METRIC,
  .breakpoint_tags = shell_pool_breakpoint_tags,
  .artifact_kind = "live_sandbox_shell_pool_density",
};

/* Static tags come from constant tables: a table over the limits is a programming error. */
static void
set_static_tags (fk_trace_sample_t *s, const char *const *tags)
{
  fk_error_t err = FK_ERROR_INIT;
  for (size_t i = 0; tags != NULL && tags[i] != NULL; i += 2)
    if (fk_trace_sample_set_tag (s, tags[i], tags[i + 1], &err) < 0)
      {
        log_error ("bad static tag table: %s", fk_error_message (&err));
        abort ();
      }
}

fk_trace_sample_t *
fk_trace_density_sample (const fk_trace_density_spec_t *spec, size_t concurrency, size_t repeat,
                         size_t repeat_count, uint64_t elapsed_ns)
{
  cleanup_free char *metric = xasprintf ("%s%zu_ms", spec->level_metric_prefix, concurrency);
  /* Duration::as_secs_f64: whole seconds plus nanoseconds / 1e9, then * 1000. */
  double secs
      = (double)(elapsed_ns / 1000000000u) + (double)(uint32_t)(elapsed_ns % 1000000000u) / 1e9;
  fk_trace_sample_t *s = fk_trace_sample_new (metric, FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                              FK_TRACE_UNIT_MILLISECONDS, secs * 1000.0);
  set_static_tags (s, spec->level_tags);
  fk_error_t err = FK_ERROR_INIT;
  if (fk_trace_sample_set_tagf (s, &err, "concurrency_level", "%zu", concurrency) < 0
      || fk_trace_sample_set_tagf (s, &err, "repeat_index", "%zu", repeat) < 0
      || fk_trace_sample_set_tagf (s, &err, "repeat_count", "%zu", repeat_count) < 0)
    {
      log_error ("bad level tag table: %s", fk_error_message (&err));
      abort ();
    }
  return s;
}

typedef struct level_values
{
  size_t level;
  double *values;
  size_t n, cap;
} level_values_t;

static int
level_cmp (const void *a, const void *b)
{
  size_t x = ((const level_values_t *)a)->level, y = ((const level_values_t *)b)->level;
  return (x > y) - (x < y);
}

int
fk_trace_density_breakpoint (const fk_trace_density_spec_t *spec, const fk_trace_samples_t *samples,
                             fk_trace_sample_t **ret_sample, fk_error_t *err)
{
  level_values_t *by_level = NULL;
  size_t n_levels = 0, cap_levels = 0, prefix_len = strlen (spec->level_metric_prefix);
  const char *concurrency_levels = NULL;
  int ret = 0;

  for (size_t i = 0; i < samples->len; i++)
    {
      const fk_trace_sample_t *s = samples->items[i];
      if (strncmp (s->metric, spec->level_metric_prefix, prefix_len) != 0)
        continue;
      if (concurrency_levels == NULL)
        concurrency_levels = fk_trace_sample_tag (s, "concurrency_levels");
      const char *tag = fk_trace_sample_tag (s, "concurrency_level");
      size_t level;
      if (tag == NULL || fk_trace_parse_usize (tag, strlen (tag), &level) < 0)
        continue;
      size_t j;
      for (j = 0; j < n_levels && by_level[j].level != level; j++)
        ;
      if (j == n_levels)
        {
          xgrow ((void **)&by_level, &cap_levels, n_levels + 1, sizeof *by_level);
          by_level[n_levels++] = (level_values_t){ .level = level };
        }
      level_values_t *lv = &by_level[j];
      xgrow ((void **)&lv->values, &lv->cap, lv->n + 1, sizeof *lv->values);
      lv->values[lv->n++] = s->value;
    }
  if (n_levels > 0)
    qsort (by_level, n_levels, sizeof *by_level, level_cmp);

  double baseline = 0;
  int have_baseline = 0;
  for (size_t j = 0; j < n_levels; j++)
    if (by_level[j].level == 1)
      {
        if (fk_trace_nearest_rank (by_level[j].values, by_level[j].n, 95, &baseline, err) < 0)
          {
            ret = -1;
            goto out;
          }
        have_baseline = 1;
      }
  if (!have_baseline)
    goto out;

  double threshold = baseline * 2.0;
  size_t breakpoint = 0;
  int found = 0;
  for (size_t j = 0; j < n_levels; j++)
    {
      double p95;
      if (fk_trace_nearest_rank (by_level[j].values, by_level[j].n, 95, &p95, err) < 0)
        {
          ret = -1;
          goto out;
        }
      if (p95 <= threshold)
        {
          breakpoint = by_level[j].level;
          found = 1;
        }
    }
  if (!found)
    goto out;

  fk_trace_sample_t *s
      = fk_trace_sample_new (spec->breakpoint_metric, FK_TRACE_KIND_WORKLOAD_RESOURCE,
                             FK_TRACE_UNIT_COUNT, (double)breakpoint);
  set_static_tags (s, spec->breakpoint_tags);
  if (fk_trace_sample_set_tagf (s, err, "baseline_p95_ms", "%.6f", baseline) < 0
      || fk_trace_sample_set_tagf (s, err, "threshold_p95_ms", "%.6f", threshold) < 0
      || (concurrency_levels != NULL
          && fk_trace_sample_set_tag (s, "concurrency_levels", concurrency_levels, err) < 0))
    {
      fk_trace_sample_free (s);
      ret = -1;
      goto out;
    }
  *ret_sample = s;
  ret = 1;

out:
  for (size_t j = 0; j < n_levels; j++)
    free (by_level[j].values);
  free (by_level);
  return ret;
}

fk_trace_sample_t *
fk_trace_shell_pool_density_sample (size_t concurrency, size_t repeat, size_t repeat_count,
                                    uint64_t elapsed_ns)
{
  return fk_trace_density_sample (&fk_trace_shell_pool_density, concurrency, repeat, repeat_count,
                                  elapsed_ns);
}

int
fk_trace_shell_pool_density_breakpoint (const fk_trace_samples_t *samples,
                                        fk_trace_sample_t **ret_sample, fk_error_t *err)
{
  return fk_trace_density_breakpoint (&fk_trace_shell_pool_density, samples, ret_sample, err);
}

char *
fk_trace_density_levels_tag (const size_t *levels, size_t n)
{
  char *out = xstrdup ("");
  for (size_t i = 0; i < n; i++)
    {
      char *next = xasprintf ("%s%s%zu", out, i ? "," : "", levels[i]);
      free (out);
      out = next;
    }
  return out;
}
