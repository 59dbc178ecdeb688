/* bench/hostspawn.c: see hostspawn.h. */
#include "bench/hostspawn.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"

/* clang-format off */
static const char *const host_spawn_level_tags[] = {
  "measurement_boundary", "host_fork_exec_completion",
  "spawn_surface", "host_fork_exec",
  "output_boundary", "process_exit",
  "command", FK_BENCH_HOST_SPAWN_PROGRAM,
  "warmup_dispatch", "excluded",
  NULL,
};
/* clang-format on */

/* clang-format off */
static const char *const host_spawn_breakpoint_tags[] = {
  "source", "host-fork-exec-completion-p95-threshold",
  "measurement_boundary", "host_fork_exec_completion",
  "spawn_surface", "host_fork_exec",
  "output_boundary", "process_exit",
  NULL,
};
/* clang-format on */

const fk_trace_density_spec_t fk_bench_host_spawn_density = {
  .level_metric_prefix = "debug.exec.host_fork_exec_completion_c",
  .level_tags = host_spawn_level_tags,
  .breakpoint_metric = "debug.density.max_active_before_host_fork_exec_completion_p95_doubles",
  .breakpoint_tags = host_spawn_breakpoint_tags,
  .artifact_kind = "host_fork_exec_density",
};

/* Starts n children at once and reaps them all; *ret_slowest is the longest fork-to-reap time.
   Every started child is reaped, even on error. */
static int
dispatch (const char *program, size_t n, uint64_t *ret_slowest, fk_error_t *err)
{
  cleanup_free pid_t *pids = xcalloc (n, sizeof *pids);
  cleanup_free uint64_t *started = xcalloc (n, sizeof *started);
  size_t running = 0;
  uint64_t slowest = 0;
  int ret = 0;

  for (size_t i = 0; i < n; i++)
    {
      started[i] = fk_now_ns ();
      pid_t pid = fork ();
      if (pid < 0)
        {
          fk_error_set_errno (err, "fork for `%s'", program);
          ret = -1;
          break;
        }
      if (pid == 0)
        {
          char *const argv[] = { (char *)program, NULL };
          execv (program, argv);
          _exit (127);
        }
      pids[i] = pid;
      running++;
    }
  while (running > 0)
    {
      int status;
      pid_t pid = waitpid (-1, &status, 0);
      uint64_t done = fk_now_ns ();
      if (pid < 0 && errno == EINTR)
        continue;
      if (pid < 0)
        {
          fk_error_set_errno (err, "waitpid");
          return -1;
        }
      size_t i;
      for (i = 0; i < n && pids[i] != pid; i++)
        ;
      if (i == n)
        continue; /* not ours */
      pids[i] = 0;
      running--;
      if (done - started[i] > slowest)
        slowest = done - started[i];
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        {
          if (WIFEXITED (status) && WEXITSTATUS (status) == 127)
            fk_error_set (err, ENOEXEC, "cannot execute `%s'", program);
          else
            fk_error_set (err, ECHILD, "`%s' failed (wait status %d)", program, status);
          ret = -1;
        }
    }
  if (ret == 0)
    *ret_slowest = slowest;
  return ret;
}

int
fk_bench_host_spawn_collect (const char *program, const size_t *levels, size_t n_levels,
                             size_t repeats, fk_trace_samples_t *samples, fk_error_t *err)
{
  for (size_t l = 0; l < n_levels; l++)
    if (levels[l] == 0 || levels[l] > FK_BENCH_HOST_SPAWN_MAX_LEVEL)
      return fk_error_set (err, EINVAL, "concurrency level %zu out of range (1 to %d)", levels[l],
                           FK_BENCH_HOST_SPAWN_MAX_LEVEL);
  if (repeats == 0)
    return fk_error_set (err, EINVAL, "repeat count must be at least 1");
  cleanup_free char *levels_tag = fk_trace_density_levels_tag (levels, n_levels);
  for (size_t l = 0; l < n_levels; l++)
    {
      size_t c = levels[l];
      uint64_t slowest;
      if (dispatch (program, c, &slowest, err) < 0)
        return fk_error_wrap (err, "warm-up at concurrency %zu", c);
      for (size_t r = 0; r < repeats; r++)
        {
          if (dispatch (program, c, &slowest, err) < 0)
            return fk_error_wrap (err, "concurrency %zu repeat %zu", c, r);
          fk_trace_sample_t *s
              = fk_trace_density_sample (&fk_bench_host_spawn_density, c, r, repeats, slowest);
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
