/* bench/fkdbench.h: fk bench fkd: the E2B API's own cost. The official E2B SDK drives fkd on
   loopback (bench/fkd_sdk.mjs under node) and this process does the same work through libfirkin
   directly, in the same run, on the same template:

     fkd.{sdk,direct}.create_warm_ms      a create served by the warm pool (fkd --warm-pool;
                                          fk_warm_pool_create), with metadata, a variable and
                                          E2B's default timeout, as agent code asks
     fkd.{sdk,direct}.create_cold_ms      the same without a pool
     fkd.{sdk,direct}.run_true_ms         commands.run('true'): `/bin/bash -l -c true' to its
                                          exit (direct: fk_client_exec on an open connection)
     fkd.{sdk,direct}.file_1mib_write_read_ms  1 MiB written, then read back
     fkd.{sdk,direct}.shell_pool_density_c<N>_ms  the reference's density pattern: N commands
                                          begun at once in one sandbox, the slowest per repeat
     fkd.http.run_true_ms                 the SDK's Start request for commands.run sent with
                                          plain fetch, read to its end-of-stream message
     fkd.httpc.run_true_ms                the same request from this process (C, one kept-alive
                                          loopback connection): fkd's own cost per call
     fkd.sdk.fkd_rss_idle_mib, fkd.sdk.fkd_rss_100_sandboxes_mib  fkd's resident memory
     fkd.sdk.fkd_pss_100_sandboxes_mib    the same as PSS (shared libraries' pages split)

   and per pair fkd.overhead.<op>_p50_ratio (sdk / direct, with both sides' counts and
   percentiles) and fkd.overhead.<op>_p50_ms (sdk minus direct): what a call through the API
   costs above the library, HTTP, JSON, the SDK itself and fkd's per-call work included; for
   commands.run also fkd.sdk_cost.* (the SDK beside plain HTTP: the SDK's own work),
   fkd.http_cost.* (fetch beside the library: fkd's and node's HTTP client's) and
   fkd.fkd_cost.* (the C client beside the library: fkd's own). */
#ifndef FK_BENCH_FKDBENCH_H
#define FK_BENCH_FKDBENCH_H

#include <stddef.h>

#include "base/error.h"
#include "firkin/runtime.h"
#include "trace/sample.h"

#define FK_FKD_BENCH_KIND "fkd_api"

typedef struct fk_fkd_bench_opts
{
  const char *template_id; /* prepared in the runtime's state dir */
  const char *fkd_path;    /* fkd */
  const char *node_path;   /* node */
  const char *script_path; /* bench/fkd_sdk.mjs */
  const char *sdk_dir;     /* a directory with node_modules/e2b */
  size_t iterations;       /* samples per command metric */
  size_t creates;          /* samples per create metric */
  const size_t *levels;    /* density levels */
  size_t n_levels;
  size_t repeats;    /* density repeats per level */
  size_t warm_depth; /* the warm pools' depth, both sides */
} fk_fkd_bench_opts_t;

/* Runs both sides in rt, appending samples (without confidence tags). Every sandbox either side
   made is deleted, and fkd stopped, before it returns, also on failure. */
int fk_fkd_bench_collect (fk_runtime_t *rt, const fk_fkd_bench_opts_t *opts,
                          fk_trace_samples_t *samples, fk_error_t *err);

/* The goals of issue "fkd", checked by the CLI's summary: {metric, p95 at most}. */
typedef struct fk_fkd_bench_goal
{
  const char *metric;
  const char *what;
  double max; /* the p95 (or the value) must be at most this */
} fk_fkd_bench_goal_t;

extern const fk_fkd_bench_goal_t fk_fkd_bench_goals[];

#endif
