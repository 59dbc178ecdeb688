/* daemon/metrics.c: see metrics.h. */
#include "daemon/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "base/xalloc.h"

void
fkd_metrics_sample (fk_runtime_t *rt, char *const *ids, size_t n, fkd_metric_t *ret)
{
  fk_sandbox_t **sbs = xcalloc (n ? n : 1, sizeof *sbs);
  fk_sandbox_usage_t *first = xcalloc (n ? n : 1, sizeof *first);
  size_t open = 0;
  for (size_t i = 0; i < n; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      ret[i].ok = 0;
      if (fk_sandbox_open (rt, ids[i], &sbs[i], &err) < 0
          || fk_sandbox_usage (sbs[i], &first[i], &err) < 0)
        {
          fk_sandbox_free (sbs[i]);
          sbs[i] = NULL;
        }
      else
        open++;
      fk_error_clear (&err);
    }
  if (open)
    {
      struct timespec w = { 0, FKD_METRICS_WINDOW_MS * 1000000L };
      while (nanosleep (&w, &w) < 0)
        ;
    }
  for (size_t i = 0; i < n; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      if (sbs[i] && fk_sandbox_usage (sbs[i], &ret[i].usage, &err) == 0)
        {
          ret[i].ok = 1;
          ret[i].cpu_pct = fk_sandbox_usage_cpu_pct (&first[i], &ret[i].usage);
        }
      fk_error_clear (&err);
      fk_sandbox_free (sbs[i]);
    }
  free (sbs);
  free (first);
}

static json_int_t
cpus (const fk_sandbox_usage_t *u)
{
  return (json_int_t)ceil (u->cpu_count);
}

/* Percent with two decimals, as E2B rounds it. */
static double
pct (double p)
{
  return round (p * 100.0) / 100.0;
}

json_t *
fkd_metric_json (const fkd_metric_t *m)
{
  const fk_sandbox_usage_t *u = &m->usage;
  time_t t = (time_t)(u->time_ms / 1000);
  struct tm tm;
  gmtime_r (&t, &tm);
  char ts[40], base[32];
  strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (ts, sizeof ts, "%s.%03dZ", base, (int)(u->time_ms % 1000));
  return json_pack ("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I}", "timestamp", ts,
                    "timestampUnix", (json_int_t)t, "cpuCount", cpus (u), "cpuUsedPct",
                    pct (m->cpu_pct), "memUsed", (json_int_t)u->mem_used, "memTotal",
                    (json_int_t)u->mem_total, "memCache", (json_int_t)u->mem_cache, "diskUsed",
                    (json_int_t)u->disk_used, "diskTotal", (json_int_t)u->disk_total);
}

json_t *
fkd_metric_envd_json (const fkd_metric_t *m)
{
  const fk_sandbox_usage_t *u = &m->usage;
  return json_pack ("{s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ts",
                    (json_int_t)(u->time_ms / 1000), "cpu_count", cpus (u), "cpu_used_pct",
                    pct (m->cpu_pct), "mem_total", (json_int_t)u->mem_total, "mem_used",
                    (json_int_t)u->mem_used, "mem_total_mib", (json_int_t)(u->mem_total >> 20),
                    "mem_used_mib", (json_int_t)(u->mem_used >> 20), "mem_cache",
                    (json_int_t)u->mem_cache, "disk_used", (json_int_t)u->disk_used, "disk_total",
                    (json_int_t)u->disk_total);
}
