/* bench/agentcore.c: see agentcore.h. */
#include "bench/agentcore.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "firkin/pool.h"
#include "firkin/sandbox.h"
#include "firkin/shell.h"
#include "bench/density.h"
#include "trace/density.h"

/* clang-format off */
#define FLOOR_FIRST "agent_core.floor_first_stdout_ms"
#define FLOOR_BATCH "agent_core.floor_batch_100_exec_ms"
const fk_agent_core_target_t fk_agent_core_targets[] = {
  /* The warm pool's own goal is stricter than tenfold: p95 under 1 ms. */
  {"agent_core.hot_create_to_first_stdout_ms", "p95 75 ms", "p95 1 ms", 1, 0, FLOOR_FIRST},
  {"agent_core.cold_create_to_first_stdout_ms", "none", "none", 0, 0, FLOOR_FIRST},
  {"agent_core.pool_lease_ms", "none", "none", 0, 0, NULL},
  {"agent_core.command_start_ms", "p95 25 ms", "p95 2.5 ms", 2.5, 0, NULL},
  {"agent_core.first_stdout_byte_ms", "none", "none", 0, 0, FLOOR_FIRST},
  {"agent_core.batch_100_shell_ms", "500 ms", "50 ms", 50, 0, NULL},
  {"agent_core.batch_100_exec_ms", "500 ms", "50 ms", 50, 0, FLOOR_BATCH},
  {"agent_core.shell_pool_density_breakpoint", "8", "8", 8, 1, NULL},
  {"agent_core.cleanup_leftover_bytes", "0", "0", 0, 0, NULL},
  {FLOOR_FIRST, "none", "none", 0, 0, NULL},
  {FLOOR_BATCH, "none", "none", 0, 0, NULL},
  {NULL, NULL, NULL, 0, 0, NULL},
};
/* clang-format on */

static const fk_agent_core_target_t *
target_of (const char *metric)
{
  for (const fk_agent_core_target_t *t = fk_agent_core_targets; t->metric; t++)
    if (strcmp (t->metric, metric) == 0)
      return t;
  return NULL;
}

static int
push (fk_trace_samples_t *samples, const char *metric, fk_trace_kind_t kind, fk_trace_unit_t unit,
      double value, const char *boundary, fk_error_t *err)
{
  const fk_agent_core_target_t *t = target_of (metric);
  fk_trace_sample_t *s = fk_trace_sample_new (metric, kind, unit, value);
  if (fk_trace_sample_set_tag (s, "suite", "agent_core", err) < 0
      || fk_trace_sample_set_tag (s, "measurement_boundary", boundary, err) < 0
      || fk_trace_sample_set_tag (s, "target", t ? t->target : "none", err) < 0
      || fk_trace_sample_set_tag (s, "goal", t ? t->goal : "none", err) < 0)
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 0;
}

static int
push_ms (fk_trace_samples_t *samples, const char *metric, uint64_t ns, const char *boundary,
         fk_error_t *err)
{
  return push (samples, metric, FK_TRACE_KIND_LIFECYCLE_LATENCY, FK_TRACE_UNIT_MILLISECONDS,
               (double)ns / 1e6, boundary, err);
}

/* Starts `echo WORD': the time it took the agent to report the start, then to the first
   stdout byte (both from t0), and checks the output. */
static int
echo_timed (fk_client_t *c, const char *word, uint64_t t0, uint64_t *ret_started,
            uint64_t *ret_first, fk_error_t *err)
{
  char *argv[] = { (char *)"echo", (char *)word, NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_proc_t *p = NULL;
  if (fk_client_exec_start (c, &o, &p, err) < 0)
    return -1;
  uint64_t started = fk_now_ns ();
  uint64_t first = 0;
  size_t got = 0, want = strlen (word) + 1;
  int ret = 0;
  for (;;)
    {
      fk_proc_event_t ev;
      if (fk_proc_next (p, -1, &ev, err) < 0)
        {
          ret = -1;
          break;
        }
      if (ev.kind == FK_PROC_STDOUT)
        {
          if (first == 0)
            first = fk_now_ns ();
          got += ev.len;
        }
      else if (ev.kind == FK_PROC_EXIT)
        {
          if (ev.status.exit_code != 0 || got != want)
            ret = fk_error_set (err, EIO, "echo in the sandbox: exit %d, %zu bytes of %zu",
                                ev.status.exit_code, got, want);
          break;
        }
    }
  fk_proc_free (p);
  if (ret == 0 && first == 0)
    ret = fk_error_set (err, EIO, "echo in the sandbox printed nothing");
  if (ret < 0)
    return -1;
  if (ret_started)
    *ret_started = started - t0;
  if (ret_first)
    *ret_first = first - t0;
  return 0;
}

static void
drop (fk_sandbox_t *sb, fk_client_t *c, int *ret, fk_error_t *err)
{
  fk_client_close (c);
  if (sb == NULL)
    return;
  fk_error_t e2 = FK_ERROR_INIT;
  if (fk_sandbox_delete (sb, 1, &e2) < 0)
    {
      if (*ret == 0)
        *ret = fk_error_set (err, e2.code, "%s", fk_error_message (&e2));
      fk_error_clear (&e2);
    }
  fk_sandbox_free (sb);
}

static int
hot_and_lease (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, int refill_delay_ms,
               fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_warm_pool_opts_t po = { .version = FK_WARM_POOL_OPTIONS_VERSION,
                             .depth = 2,
                             .min_ready = 2,
                             .refill_delay_ms = refill_delay_ms };
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, spec, &po, &pool, err) < 0)
    return -1;
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    {
      /* A full pool, as a service between bursts has. */
      if (fk_warm_pool_wait_ready (pool, 2, 60000, err) < 0)
        {
          ret = -1;
          break;
        }
      fk_sandbox_t *sb = NULL;
      fk_client_t *c = NULL;
      int pooled = 0;
      uint64_t t0 = fk_now_ns ();
      if (fk_warm_pool_create (pool, spec, &sb, &c, &pooled, err) < 0)
        {
          ret = -1;
          break;
        }
      uint64_t leased = fk_now_ns () - t0, first;
      if (!pooled)
        ret = fk_error_set (err, EIO, "the warm pool had no ready sandbox");
      else if (echo_timed (c, "hot", t0, NULL, &first, err) < 0)
        ret = -1;
      else if (push_ms (samples, "agent_core.hot_create_to_first_stdout_ms", first,
                        "warm_pool_create_to_first_stdout", err)
                   < 0
               || push_ms (samples, "agent_core.pool_lease_ms", leased, "warm_pool_lease", err) < 0)
        ret = -1;
      drop (sb, c, &ret, err);
    }
  fk_error_t e2 = FK_ERROR_INIT;
  if (fk_warm_pool_close (pool, &e2) < 0)
    {
      if (ret == 0)
        ret = fk_error_set (err, e2.code, "%s", fk_error_message (&e2));
      fk_error_clear (&e2);
    }
  return ret;
}

static int
cold (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, fk_trace_samples_t *samples,
      fk_error_t *err)
{
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    {
      fk_sandbox_t *sb = NULL;
      fk_client_t *c = NULL;
      uint64_t t0 = fk_now_ns (), first;
      if (fk_sandbox_create (rt, spec, &sb, err) < 0)
        return -1;
      if (fk_client_connect (fk_sandbox_socket_path (sb), &c, err) < 0
          || echo_timed (c, "cold", t0, NULL, &first, err) < 0
          || push_ms (samples, "agent_core.cold_create_to_first_stdout_ms", first,
                      "sandbox_create_to_first_stdout", err)
                 < 0)
        ret = -1;
      drop (sb, c, &ret, err);
    }
  return ret;
}

static int
commands (fk_client_t *c, const fk_agent_core_opts_t *o, fk_trace_samples_t *samples,
          fk_error_t *err)
{
  for (size_t i = 0; i < o->iterations; i++)
    {
      uint64_t started, first;
      if (echo_timed (c, "x", fk_now_ns (), &started, &first, err) < 0
          || push_ms (samples, "agent_core.command_start_ms", started, "exec_request_to_started",
                      err)
                 < 0
          || push_ms (samples, "agent_core.first_stdout_byte_ms", first,
                      "exec_request_to_first_stdout", err)
                 < 0)
        return -1;
    }
  fk_shell_t *sh = NULL;
  if (fk_shell_open (c, NULL, &sh, err) < 0)
    return -1;
  int ret = 0;
  for (size_t b = 0; b < o->batches && ret == 0; b++)
    {
      uint64_t t0 = fk_now_ns ();
      for (int i = 0; i < 100 && ret == 0; i++)
        {
          fk_shell_run_opts_t ro
              = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "printf x" };
          fk_shell_result_t r;
          if (fk_shell_run (sh, &ro, &r, err) < 0)
            ret = -1;
          else
            {
              if (r.out_len != 1 || r.out[0] != 'x')
                ret = fk_error_set (err, EIO, "shell printf x printed %zu bytes", r.out_len);
              fk_shell_result_free (&r);
            }
        }
      if (ret == 0)
        ret = push_ms (samples, "agent_core.batch_100_shell_ms", fk_now_ns () - t0,
                       "100_sequential_shell_runs", err);
      t0 = fk_now_ns ();
      for (int i = 0; i < 100 && ret == 0; i++)
        {
          char *argv[] = { (char *)"printf", (char *)"x", NULL };
          fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
          fk_exec_result_t r;
          if (fk_client_exec (c, &eo, 4096, &r, err) < 0)
            ret = -1;
          else
            {
              if (r.out_len != 1 || r.status.exit_code != 0)
                ret = fk_error_set (err, EIO, "exec printf x printed %zu bytes", r.out_len);
              fk_exec_result_free (&r);
            }
        }
      if (ret == 0)
        ret = push_ms (samples, "agent_core.batch_100_exec_ms", fk_now_ns () - t0,
                       "100_sequential_execs", err);
    }
  fk_shell_close (sh);
  return ret;
}

static int
density (fk_client_t *c, size_t repeats, fk_trace_samples_t *samples, fk_error_t *err)
{
  static const size_t levels[] = { 1, 2, 4, 8 };
  fk_trace_samples_t d = FK_TRACE_SAMPLES_INIT;
  fk_trace_sample_t *bp = NULL;
  int ret = 0;
  if (fk_shell_pool_density_collect (c, levels, 4, repeats, &d, err) < 0
      || fk_trace_shell_pool_density_breakpoint (&d, &bp, err) < 0)
    ret = -1;
  else if (bp == NULL)
    ret = fk_error_set (err, EIO, "no density breakpoint");
  else
    ret = push (samples, "agent_core.shell_pool_density_breakpoint",
                FK_TRACE_KIND_WORKLOAD_RESOURCE, FK_TRACE_UNIT_COUNT, bp->value,
                "sandbox_shell_pool_run_completion_p95_doubles", err);
  fk_trace_sample_free (bp);
  fk_trace_samples_clear (&d);
  return ret;
}

/* ---- the floor: the same commands started from the host, no sandbox ---- */

#define FLOOR_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct floor_child
{
  const char *root;
  char *const *argv;
  int out;
} floor_child_t;

/* In the child (sharing our memory until exec): stdout to the pipe, chroot into the root,
   exec argv[0] along the default PATH, as the agent does. */
static int
floor_child (void *arg)
{
  floor_child_t *f = arg;
  static char *const envp[] = { (char *)"PATH=" FLOOR_PATH, NULL };
  if (dup2 (f->out, 1) < 0 || chroot (f->root) < 0 || chdir ("/") < 0)
    _exit (127);
  char buf[256];
  for (const char *p = FLOOR_PATH; *p;)
    {
      const char *end = strchr (p, ':');
      size_t dl = end ? (size_t)(end - p) : strlen (p);
      snprintf (buf, sizeof buf, "%.*s/%s", (int)dl, p, f->argv[0]);
      execve (buf, f->argv, envp);
      p += dl + (end != NULL);
    }
  _exit (127);
}

/* Starts argv in root from the host and waits for it: the first stdout byte and the exit in
   ns after the start. */
static int
floor_run (const char *root, char *const argv[], uint64_t *ret_first, uint64_t *ret_exit,
           fk_error_t *err)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  /* One stack: the parent sleeps until the child has exec'd (CLONE_VFORK). */
  static char stack[64 * 1024] __attribute__ ((aligned (16)));
  floor_child_t f = { .root = root, .argv = argv, .out = p[1] };
  uint64_t t0 = fk_now_ns ();
  pid_t pid = clone (floor_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &f);
  close (p[1]);
  if (pid < 0)
    {
      close (p[0]);
      return fk_error_set_errno (err, "clone");
    }
  uint64_t first = 0;
  char buf[256];
  ssize_t n;
  while ((n = read (p[0], buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      if (first == 0)
        first = fk_now_ns () - t0;
    }
  close (p[0]);
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "waitpid");
  uint64_t done = fk_now_ns () - t0;
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0 || first == 0)
    return fk_error_set (err, EIO, "floor: `%s' in `%s' failed (status 0x%x)", argv[0], root, st);
  if (ret_first)
    *ret_first = first;
  if (ret_exit)
    *ret_exit = done;
  return 0;
}

static int
floors (const fk_agent_core_opts_t *o, fk_trace_samples_t *samples, fk_error_t *err)
{
  char *echo[] = { (char *)"echo", (char *)"hot", NULL };
  char *printf_x[] = { (char *)"printf", (char *)"x", NULL };
  /* One untimed start: the binary's pages in the page cache. */
  if (floor_run (o->rootfs, echo, NULL, NULL, err) < 0)
    return -1;
  for (size_t i = 0; i < o->iterations; i++)
    {
      uint64_t first;
      if (floor_run (o->rootfs, echo, &first, NULL, err) < 0
          || push_ms (samples, FLOOR_FIRST, first, "host_spawn_to_first_stdout", err) < 0)
        return -1;
    }
  for (size_t b = 0; b < o->batches; b++)
    {
      uint64_t t0 = fk_now_ns ();
      for (int i = 0; i < 100; i++)
        if (floor_run (o->rootfs, printf_x, NULL, NULL, err) < 0)
          return -1;
      if (push_ms (samples, FLOOR_BATCH, fk_now_ns () - t0, "100_sequential_host_spawns", err) < 0)
        return -1;
    }
  return 0;
}

static unsigned long long leftover_sum;

static int
add_size (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  if (ftw->level > 0)
    leftover_sum += (unsigned long long)st->st_size;
  return 0;
}

int
fk_agent_core_leftover_bytes (const char *state_dir, unsigned long long *ret_bytes, fk_error_t *err)
{
  /* nftw has no user pointer; the suite runs once at a time. */
  leftover_sum = 0;
  static const char *const sub[] = { "sandboxes", "tmp" };
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", state_dir, sub[i]);
      if (nftw (p, add_size, 16, FTW_PHYS) < 0 && errno != ENOENT)
        return fk_error_set_errno (err, "walk `%s'", p);
    }
  *ret_bytes = leftover_sum;
  return 0;
}

int
fk_agent_core_collect (fk_runtime_t *rt, const fk_agent_core_opts_t *o, fk_trace_samples_t *samples,
                       fk_error_t *err)
{
  if (o->iterations == 0 || o->batches == 0 || o->density_repeats == 0)
    return fk_error_set (err, EINVAL, "agent-core: iterations, batches and repeats must be >= 1");
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  const char *layers[] = { o->rootfs, NULL };
  spec.layers = layers;
  if (floors (o, samples, err) < 0
      || hot_and_lease (rt, &spec, o->iterations, o->refill_delay_ms, samples, err) < 0
      || cold (rt, &spec, o->iterations, samples, err) < 0)
    return -1;
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  if (fk_sandbox_create (rt, &spec, &sb, err) < 0)
    return -1;
  int ret = 0;
  if (fk_client_connect (fk_sandbox_socket_path (sb), &c, err) < 0
      || commands (c, o, samples, err) < 0 || density (c, o->density_repeats, samples, err) < 0)
    ret = -1;
  drop (sb, c, &ret, err);
  if (ret < 0)
    return -1;
  unsigned long long left = 0;
  if (fk_agent_core_leftover_bytes (fk_runtime_state_dir (rt), &left, err) < 0)
    return -1;
  return push (samples, "agent_core.cleanup_leftover_bytes", FK_TRACE_KIND_WORKLOAD_RESOURCE,
               FK_TRACE_UNIT_BYTES, (double)left, "state_dir_after_delete", err);
}
