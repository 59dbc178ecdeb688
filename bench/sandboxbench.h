/* bench/sandboxbench.h: the sandbox benchmarks of `fk bench sandbox': firkin measured through
   the library (and the fk CLI) beside crun and bubblewrap in the same run, round-robin so
   that load on the machine hits every subject alike:
   - lifecycle: create a sandbox, run `true' in it, delete it;
   - exec: `true' in a running sandbox (one client connection, as a library user holds it)
     beside `crun exec' into a running container;
   - idle: the host memory each of N idle sandboxes costs.
   Each appends raw samples (one per run, or per sandbox) and the ratio samples. */
#ifndef FK_BENCH_SANDBOXBENCH_H
#define FK_BENCH_SANDBOXBENCH_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "base/error.h"
#include "firkin/runtime.h"
#include "trace/sample.h"

/* lifecycle metrics (LifecycleLatency, Milliseconds) */
#define FK_BENCH_LC "debug.sandbox.create_run_true_delete."
#define FK_BENCH_LC_FIRKIN FK_BENCH_LC "firkin_library_ms"
#define FK_BENCH_LC_FIRKIN_AGENT FK_BENCH_LC "firkin_library_agent_ms"
#define FK_BENCH_LC_FIRKIN_CLI FK_BENCH_LC "firkin_cli_ms"
#define FK_BENCH_LC_CRUN FK_BENCH_LC "crun_ms"
#define FK_BENCH_LC_BWRAP FK_BENCH_LC "bwrap_ms"
/* the host's `true' in the mount namespace crun runs in: part of every crun figure */
#define FK_BENCH_LC_CRUN_WRAPPER FK_BENCH_LC "crun_wrapper_only_ms"
/* exec metrics */
#define FK_BENCH_EX "debug.sandbox.exec_true."
#define FK_BENCH_EX_FIRKIN FK_BENCH_EX "firkin_library_ms"
#define FK_BENCH_EX_FIRKIN_CLI FK_BENCH_EX "firkin_cli_ms"
#define FK_BENCH_EX_CRUN FK_BENCH_EX "crun_ms"

/* The goals (issue 4): firkin's p50 over crun's. */
#define FK_BENCH_LC_GOAL (1.0 / 3.0)
#define FK_BENCH_EX_GOAL (1.0 / 4.0)
/* Host memory per idle sandbox. */
#define FK_BENCH_IDLE_GOAL_MIB 2.0

typedef struct fk_bench_sandbox_opts
{
  fk_runtime_t *rt;
  const char *rootfs;          /* the sandboxes' only layer and the peers' root; absolute */
  const char *work_dir;        /* crun's work directories are made in it; absolute, 0755 */
  const char *fk_path;         /* the fk binary for the CLI figures; NULL: not measured */
  const char *crun_path;       /* fk_bench_crun_find; NULL: crun not measured */
  const char *bwrap_path;      /* NULL: bubblewrap not measured */
  size_t runs;                 /* recorded runs per subject */
  size_t warmup;               /* unrecorded runs per subject first */
  volatile sig_atomic_t *stop; /* set (by a signal handler) to end early; may be NULL */
  FILE *progress;              /* a line per phase and per 100 idle sandboxes; may be NULL */
} fk_bench_sandbox_opts_t;

/* Create, `true', delete: firkin's library with `true' as PID 1 (what `crun run' and `fk run'
   do), firkin's library with fk-agent as PID 1 and `true' run through it, `fk run', `crun
   run' of the same rootfs (the crun peer of bench/crun.h), bwrap with the same namespaces,
   and the host's `true' entering the crun peer's mount namespace (what the workaround adds to
   every crun figure). Then the ratios to crun (goal FK_BENCH_LC_GOAL) and to bwrap (no goal). */
int fk_bench_sandbox_lifecycle (const fk_bench_sandbox_opts_t *o, fk_trace_samples_t *samples,
                                fk_error_t *err);

/* `true' in a running sandbox: fk_client_exec on one connection, and `fk exec'; beside `crun
   exec' into a container running `sleep'. Then the ratios (goal FK_BENCH_EX_GOAL). The
   sandbox and the container are removed before returning, also on failure. */
int fk_bench_sandbox_exec (const fk_bench_sandbox_opts_t *o, fk_trace_samples_t *samples,
                           fk_error_t *err);

/* count idle sandboxes (fk-agent as PID 1, answered one connection, then nothing) alive at
   once; per sandbox the samples debug.sandbox.idle_n<count>.{pss,rss,cgroup_charge,
   cgroup_kernel,host}_mib (host = PSS + kernel memory charged to its cgroup: what the goal
   counts), then host_used_delta_mib (the host's MemTotal - MemAvailable growth per sandbox),
   alive_count, and host_mib_vs_goal_ratio (the larger of p50 host and host_used_delta_mib,
   over FK_BENCH_IDLE_GOAL_MIB). Every
   sandbox is deleted before returning, also on failure. */
int fk_bench_sandbox_idle (const fk_bench_sandbox_opts_t *o, size_t count,
                           fk_trace_samples_t *samples, fk_error_t *err);

#endif
