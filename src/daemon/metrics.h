/* daemon/metrics.h: a sandbox's usage as the E2B API reports it: the control plane's
   SandboxMetric and envd's GET /metrics, from the library's fk_sandbox_usage. */
#ifndef FKD_METRICS_H
#define FKD_METRICS_H

#include <jansson.h>
#include <stddef.h>

#include "firkin/runtime.h"
#include "firkin/sandbox.h"

/* The window over which the CPU use is measured: two samples this far apart. */
#define FKD_METRICS_WINDOW_MS 100

typedef struct fkd_metric
{
  int ok; /* 0: no such sandbox, or it has stopped */
  fk_sandbox_usage_t usage;
  double cpu_pct;
} fkd_metric_t;

/* Samples each of the n sandboxes twice, one window apart (one wait for all), into ret[i]. */
void fkd_metrics_sample (fk_runtime_t *rt, char *const *ids, size_t n, fkd_metric_t *ret);

/* SandboxMetric: timestamp, timestampUnix, cpuCount, cpuUsedPct, memUsed, memTotal, memCache,
   diskUsed, diskTotal. */
json_t *fkd_metric_json (const fkd_metric_t *m);

/* envd's Metrics: ts, cpu_count, cpu_used_pct, mem_total, mem_used, mem_total_mib, mem_used_mib,
   mem_cache, disk_used, disk_total. */
json_t *fkd_metric_envd_json (const fkd_metric_t *m);

#endif
