/* bench/agentcore.h: the agent-core suite: the original system's P0 latencies measured on this
   host, as trace samples (kind "agent_core"):

     agent_core.hot_create_to_first_stdout_ms   warm-pool create -> first stdout byte of `echo'
     agent_core.cold_create_to_first_stdout_ms  fk_sandbox_create (no pool) -> the same
     agent_core.pool_lease_ms                   fk_warm_pool_create of a ready sandbox
     agent_core.command_start_ms                exec request -> the agent reports it started
     agent_core.first_stdout_byte_ms            exec request -> first stdout byte
     agent_core.batch_100_shell_ms              100 `printf' runs through one shell
     agent_core.batch_100_exec_ms               100 `printf' execs, one after the other
     agent_core.shell_pool_density_breakpoint   the reference's breakpoint (levels 1,2,4,8)
     agent_core.cleanup_leftover_bytes          bytes left under the state directory's
                                                sandboxes/ and tmp/ after everything is deleted
     agent_core.floor_first_stdout_ms           the machine's floor for a command: the same
                                                `echo' started from the host (clone, chroot
                                                into the root, exec; no sandbox, no agent) to
                                                its first stdout byte
     agent_core.floor_batch_100_exec_ms         100 such `printf' starts, each waited for

   The floors, measured in the same run, are what any runtime pays on this machine to start
   a process; a goal below its floor cannot be met here whatever the runtime does.

   Every sample carries `target' (the original's figure, or "none"), `goal' (ten times better)
   and, from the artifact writer, `confidence'. */
#ifndef FK_BENCH_AGENTCORE_H
#define FK_BENCH_AGENTCORE_H

#include <stddef.h>

#include "base/error.h"
#include "firkin/runtime.h"
#include "trace/sample.h"

#define FK_AGENT_CORE_KIND "agent_core"

typedef struct fk_agent_core_target
{
  const char *metric;
  const char *target; /* the original system's, "none" when it had none */
  const char *goal;   /* firkin's */
  double goal_value;  /* compared with the p95 (or the value for counts): <= for times and
                         bytes, >= for the breakpoint */
  int higher_is_better;
  const char *floor; /* the metric of the same work done from the host, or NULL */
} fk_agent_core_target_t;

/* The table above with the targets, ended by an entry with metric NULL. */
extern const fk_agent_core_target_t fk_agent_core_targets[];

typedef struct fk_agent_core_opts
{
  const char *rootfs;     /* the sandboxes' root (one lower layer) */
  size_t iterations;      /* samples per latency metric (>= 1) */
  size_t batches;         /* samples per batch metric (>= 1) */
  size_t density_repeats; /* repeats per density level */
  int refill_delay_ms;    /* the warm pool's (fk_warm_pool_opts_t) */
} fk_agent_core_opts_t;

/* Runs the suite in rt, appending samples (without confidence tags). Every sandbox it makes
   is deleted before it returns, also on failure. */
int fk_agent_core_collect (fk_runtime_t *rt, const fk_agent_core_opts_t *opts,
                           fk_trace_samples_t *samples, fk_error_t *err);

/* Bytes of everything under dir/sandboxes and dir/tmp (directories by their size): 0 when
   nothing is left. */
int fk_agent_core_leftover_bytes (const char *state_dir, unsigned long long *ret_bytes,
                                  fk_error_t *err);

#endif
