/* bench/density.c: see density.h. */
#include "bench/density.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/crun.h"
#include "firkin/shell.h"

/* clang-format off */
static const char *const crun_level_tags[] = {
  "measurement_boundary", "crun_exec_run_completion",
  "shell_surface", "crun_exec",
  "output_boundary", "command_completion",
  "command", "printf",
  "warmup_dispatch", "excluded",
  NULL,
};
static const char *const crun_breakpoint_tags[] = {
  "source", "crun-exec-run-completion-p95-threshold",
  "measurement_boundary", "crun_exec_run_completion",
  "shell_surface", "crun_exec",
  "output_boundary", "command_completion",
  NULL,
};
/* clang-format on */

const fk_trace_density_spec_t fk_crun_exec_density = {
  .level_metric_prefix = "debug.exec.crun_exec_run_completion_c",
  .level_tags = crun_level_tags,
  .breakpoint_metric = "debug.density.max_active_before_crun_exec_run_completion_p95_doubles",
  .breakpoint_tags = crun_breakpoint_tags,
  .artifact_kind = "live_crun_exec_density",
};

/* ---- firkin: every slot's run begun at once from one thread, as the reference's join_all
   polls its futures on one task; a dispatch ends when its exit is read ---- */

/* One round on every slot of pool: begins a run on each, then finishes each; the slowest
   dispatch (begin to its result) in *ret_slowest. warm: the warm-up round. */
static int
round_all (fk_shell_pool_t *pool, size_t level, int warm, size_t repeat, uint64_t *ret_slowest,
           fk_error_t *err)
{
  fk_shell_pending_t **pend = xcalloc (level, sizeof *pend);
  char (*expected)[128] = xcalloc (level, sizeof *expected);
  uint64_t *t0 = xcalloc (level, sizeof *t0);
  int ret = 0;
  size_t begun = 0;
  for (; begun < level; begun++)
    {
      size_t i = begun;
      if (warm)
        snprintf (expected[i], sizeof expected[i], "shell-pool-warm-c%zu-%zu", level, i);
      else
        snprintf (expected[i], sizeof expected[i], "shell-pool-c%zu-r%zu-%zu", level, repeat, i);
      char cmd[160];
      snprintf (cmd, sizeof cmd, "printf %s", expected[i]);
      fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = cmd };
      t0[i] = fk_now_ns ();
      if (fk_shell_run_begin (fk_shell_pool_slot (pool, i), &o, &pend[i], err) < 0)
        {
          fk_error_wrap (err, "run shell c%zu/%s%zu/%zu", level, warm ? "warm" : "r", repeat, i);
          ret = -1;
          break;
        }
    }
  uint64_t slowest = 0;
  /* Every begun run is finished, even after a failure. */
  for (size_t i = 0; i < begun; i++)
    {
      fk_shell_result_t r;
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_shell_run_finish (pend[i], &r, &e2) < 0)
        {
          if (ret == 0)
            ret = fk_error_set (err, e2.code, "run shell c%zu/%s%zu/%zu: %s", level,
                                warm ? "warm" : "r", repeat, i, fk_error_message (&e2));
          fk_error_clear (&e2);
          continue;
        }
      uint64_t elapsed = fk_now_ns () - t0[i];
      if (elapsed > slowest)
        slowest = elapsed;
      size_t el = strlen (expected[i]);
      if (ret == 0
          && (r.out_len != el || memcmp (r.out, expected[i], el) != 0 || r.status.exit_code != 0))
        ret = fk_error_set (err, EIO,
                            "shell c%zu/r%zu/%zu: expected stdout `%s', got %zu bytes `%.64s' "
                            "(exit %d)",
                            level, repeat, i, expected[i], r.out_len, r.out, r.status.exit_code);
      fk_shell_result_free (&r);
    }
  free (pend);
  free (expected);
  free (t0);
  *ret_slowest = slowest;
  return ret;
}

static int
collect_level (fk_client_t *c, size_t level, size_t repeats, const char *levels_tag,
               fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_shell_pool_t *pool = NULL;
  if (fk_shell_pool_open (c, level, NULL, &pool, err) < 0)
    return fk_error_wrap (err, "open shell pool c%zu", level);
  uint64_t slowest;
  int ret = round_all (pool, level, 1, 0, &slowest, err);
  for (size_t r = 0; r < repeats && ret == 0; r++)
    {
      ret = round_all (pool, level, 0, r, &slowest, err);
      if (ret < 0)
        break;
      fk_trace_sample_t *s = fk_trace_shell_pool_density_sample (level, r, repeats, slowest);
      if (fk_trace_sample_set_tag (s, "concurrency_levels", levels_tag, err) < 0)
        {
          fk_trace_sample_free (s);
          ret = -1;
          break;
        }
      fk_trace_samples_push (samples, s);
    }
  fk_shell_pool_close (pool);
  return ret;
}

int
fk_shell_pool_density_collect (fk_client_t *c, const size_t *levels, size_t n_levels,
                               size_t repeats, fk_trace_samples_t *samples, fk_error_t *err)
{
  cleanup_free char *levels_tag = fk_trace_density_levels_tag (levels, n_levels);
  for (size_t i = 0; i < n_levels; i++)
    if (collect_level (c, levels[i], repeats, levels_tag, samples, err) < 0)
      return -1;
  return 0;
}

/* ---- the peer: one `crun exec' per command into a running container (bench/crun.h) ---- */

/* level concurrent `crun exec ID printf EXPECTED', each one's stdout checked; the slowest
   start-to-exit time in *ret_slowest. */
static int
peer_dispatch (fk_bench_crun_t *crun, const char *id, size_t level, size_t repeat, int warm,
               uint64_t *ret_slowest, fk_error_t *err)
{
  fk_bench_proc_t *procs = xcalloc (level, sizeof *procs);
  int *fds = xcalloc (level, sizeof *fds);
  char **expected = xcalloc (level, sizeof *expected);
  int ret = 0;
  size_t started = 0;
  for (size_t i = 0; i < level; i++)
    {
      expected[i] = warm ? xasprintf ("shell-pool-warm-c%zu-%zu", level, i)
                         : xasprintf ("shell-pool-c%zu-r%zu-%zu", level, repeat, i);
      fds[i] = -1;
    }
  for (size_t i = 0; i < level; i++)
    {
      int pp[2];
      if (pipe2 (pp, O_CLOEXEC) < 0)
        {
          ret = fk_error_set_errno (err, "pipe");
          break;
        }
      fds[i] = pp[0];
      const char *args[] = { "exec", id, "printf", expected[i], NULL };
      int r = fk_bench_crun_start (crun, args, pp[1], &procs[i], err);
      close (pp[1]);
      if (r < 0)
        {
          ret = -1;
          break;
        }
      started++;
    }
  /* Every started exec is reaped, even after a failure. */
  fk_error_t werr = FK_ERROR_INIT;
  if (fk_bench_procs_wait (procs, started, ret == 0 ? err : &werr) < 0)
    ret = -1;
  fk_error_clear (&werr);
  uint64_t slowest = 0;
  for (size_t i = 0; i < started && ret == 0; i++)
    {
      cleanup_free char *out = NULL;
      size_t len = 0;
      if (fk_read_all (fds[i], 1u << 20, &out, &len, err) < 0)
        ret = -1;
      else if (len != strlen (expected[i]) || memcmp (out, expected[i], len) != 0)
        ret = fk_error_set (err, EIO, "crun exec c%zu/r%zu/%zu: expected `%s', got `%.*s'", level,
                            repeat, i, expected[i], (int)(len > 64 ? 64 : len), out);
      if (procs[i].end_ns - procs[i].start_ns > slowest)
        slowest = procs[i].end_ns - procs[i].start_ns;
    }
  for (size_t i = 0; i < level; i++)
    {
      fds[i] = close_and_reset (fds[i]);
      free (expected[i]);
    }
  free (procs);
  free (fds);
  free (expected);
  *ret_slowest = slowest;
  return ret;
}

static int
peer_collect (fk_bench_crun_t *crun, const size_t *levels, size_t n_levels, size_t repeats,
              fk_trace_samples_t *samples, fk_error_t *err)
{
  static const char *const sleep_args[] = { "sleep", "100000000", NULL };
  cleanup_free char *bundle = NULL;
  char id[64];
  snprintf (id, sizeof id, "fk-peer-%d", (int)getpid ());
  if (fk_bench_crun_bundle (crun, "bundle-sleep", sleep_args, &bundle, err) < 0
      || fk_bench_crun_container_start (crun, id, bundle, err) < 0)
    return -1;
  cleanup_free char *levels_tag = fk_trace_density_levels_tag (levels, n_levels);
  for (size_t li = 0; li < n_levels; li++)
    {
      uint64_t slowest;
      if (peer_dispatch (crun, id, levels[li], 0, 1, &slowest, err) < 0)
        return -1;
      for (size_t r = 0; r < repeats; r++)
        {
          if (peer_dispatch (crun, id, levels[li], r, 0, &slowest, err) < 0)
            return -1;
          fk_trace_sample_t *s
              = fk_trace_density_sample (&fk_crun_exec_density, levels[li], r, repeats, slowest);
          if (fk_trace_sample_set_tag (s, "concurrency_levels", levels_tag, err) < 0)
            {
              fk_trace_sample_free (s);
              return -1;
            }
          fk_trace_samples_push (samples, s);
        }
    }
  return 0;
}

int
fk_crun_exec_density_collect (const char *crun_path, const char *const *layers,
                              const size_t *levels, size_t n_levels, size_t repeats,
                              fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_bench_crun_t *crun = NULL;
  if (fk_bench_crun_open (crun_path, layers, NULL, &crun, err) < 0)
    return fk_error_wrap (err, "crun peer");
  int ret = peer_collect (crun, levels, n_levels, repeats, samples, err);
  fk_error_t e2 = FK_ERROR_INIT;
  if (fk_bench_crun_close (crun, ret < 0 ? &e2 : err) < 0)
    ret = -1;
  fk_error_clear (&e2);
  if (ret < 0)
    return fk_error_wrap (err, "crun peer");
  return 0;
}
