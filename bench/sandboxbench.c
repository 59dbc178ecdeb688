/* bench/sandboxbench.c: see sandboxbench.h. */
#include "bench/sandboxbench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "bench/compare.h"
#include "bench/hostmem.h"
#include "bench/crun.h"
#include "bench/spawn.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"
#include "trace/stats.h"

#define MIB (1024.0 * 1024.0)

static int
stopped (const fk_bench_sandbox_opts_t *o, fk_error_t *err)
{
  if (o->stop && *o->stop)
    return fk_error_set (err, EINTR, "interrupted");
  return 0;
}

static void progress (const fk_bench_sandbox_opts_t *o, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
progress (const fk_bench_sandbox_opts_t *o, const char *fmt, ...)
{
  if (o->progress == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  vfprintf (o->progress, fmt, ap);
  va_end (ap);
  fputc ('\n', o->progress);
  fflush (o->progress);
}

static void
spec_for (const fk_bench_sandbox_opts_t *o, const char **layers, fk_sandbox_spec_t *spec)
{
  layers[0] = o->rootfs;
  layers[1] = NULL;
  fk_sandbox_spec_init (spec);
  spec->layers = layers;
}

/* Deletes sb (force) and frees it; a failure is reported in err unless one is set. */
static int
remove_sandbox (fk_sandbox_t *sb, fk_error_t *err)
{
  int r = fk_sandbox_delete (sb, 1, err);
  fk_sandbox_free (sb);
  return r;
}

/* `true' through the agent on an open connection. */
static int
exec_true (fk_client_t *c, fk_error_t *err)
{
  static char *const argv[] = { (char *)"true", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t res;
  if (fk_client_exec (c, &eo, 4096, &res, err) < 0)
    return -1;
  int code = res.status.exit_code;
  fk_exec_result_free (&res);
  if (code != 0)
    return fk_error_set (err, EIO, "`true' in the sandbox exited %d", code);
  return 0;
}

/* ---- lifecycle ---- */

typedef struct lc_ctx
{
  const fk_bench_sandbox_opts_t *o;
  fk_bench_crun_t *crun;
  char *bundle; /* crun's bundle running `true' */
  unsigned long serial;
} lc_ctx_t;

typedef int (*subject_fn) (void *ctx, uint64_t *ret_ns, fk_error_t *err);

static int
lc_firkin (lc_ctx_t *c, int agent, uint64_t *ret_ns, fk_error_t *err)
{
  static const char *const init[] = { "true", NULL };
  const char *layers[2];
  fk_sandbox_spec_t spec;
  spec_for (c->o, layers, &spec);
  if (!agent)
    spec.init = init;
  fk_sandbox_t *sb = NULL;
  uint64_t t0 = fk_now_ns ();
  if (fk_sandbox_create (c->o->rt, &spec, &sb, err) < 0)
    return -1;
  int ret = 0;
  if (agent)
    {
      fk_client_t *cl = NULL;
      if (fk_client_connect (fk_sandbox_socket_path (sb), &cl, err) < 0 || exec_true (cl, err) < 0)
        ret = -1;
      fk_client_close (cl);
    }
  else
    {
      int status;
      if (fk_sandbox_wait (sb, &status, err) < 0)
        ret = -1;
      else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        ret = fk_error_set (err, EIO, "`true' as the sandbox's PID 1 ended with status %#x",
                            status);
    }
  fk_error_t local = FK_ERROR_INIT;
  if (remove_sandbox (sb, ret < 0 ? &local : err) < 0)
    ret = -1;
  fk_error_clear (&local);
  *ret_ns = fk_now_ns () - t0;
  return ret;
}

static int
lc_firkin_init (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  return lc_firkin (c, 0, ret_ns, err);
}

static int
lc_firkin_agent (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  return lc_firkin (c, 1, ret_ns, err);
}

static int
lc_firkin_cli (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  const char *argv[] = { c->o->fk_path, "--state-dir", fk_runtime_state_dir (c->o->rt),
                         "run",         "--rootfs",    c->o->rootfs,
                         "--",          "true",        NULL };
  return fk_bench_spawn ((char *const *)argv, -1, ret_ns, err);
}

static int
lc_crun (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  char name[64];
  snprintf (name, sizeof name, "fk-bench-%d-%lu", (int)getpid (), c->serial++);
  const char *args[] = { "run", "--bundle", c->bundle, name, NULL };
  return fk_bench_crun_run (c->crun, args, ret_ns, err);
}

/* What entering crun's mount namespace costs by itself: the host's `true' started the same
   way, so the report can tell crun's own time from the hybrid-host workaround's. */
static int
lc_wrapper (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  const char *argv[] = { "true", NULL };
  return fk_bench_spawn ((char *const *)argv, fk_bench_crun_mntns (c->crun), ret_ns, err);
}

static int
lc_bwrap (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  lc_ctx_t *c = ctx;
  /* The namespaces of a firkin sandbox: user (root inside), mount, pid, ipc, uts, net
     (loopback only), cgroup; a read-only root, /proc, a minimal /dev, a tmpfs /tmp. */
  const char *argv[] = { c->o->bwrap_path,
                         "--unshare-user",
                         "--uid",
                         "0",
                         "--gid",
                         "0",
                         "--unshare-ipc",
                         "--unshare-pid",
                         "--unshare-net",
                         "--unshare-uts",
                         "--unshare-cgroup",
                         "--hostname",
                         "fk-bench",
                         "--ro-bind",
                         c->o->rootfs,
                         "/",
                         "--proc",
                         "/proc",
                         "--dev",
                         "/dev",
                         "--tmpfs",
                         "/tmp",
                         "--",
                         "true",
                         NULL };
  return fk_bench_spawn ((char *const *)argv, -1, ret_ns, err);
}

/* crun's peer (bench/crun.h) of the sandboxes' root, with one bundle running args. */
static int
crun_open (const fk_bench_sandbox_opts_t *o, const char *bundle_name, const char *const *args,
           fk_bench_crun_t **ret_crun, char **ret_bundle, fk_error_t *err)
{
  const char *layers[] = { o->rootfs, NULL };
  if (fk_bench_crun_open (o->crun_path, layers, o->work_dir, ret_crun, err) < 0)
    return -1;
  if (fk_bench_crun_bundle (*ret_crun, bundle_name, args, ret_bundle, err) < 0)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      fk_bench_crun_close (*ret_crun, &e2);
      fk_error_clear (&e2);
      *ret_crun = NULL;
      return -1;
    }
  return 0;
}

static int
record (fk_trace_samples_t *samples, const char *metric, const char *boundary, uint64_t ns,
        size_t index, size_t count, fk_error_t *err)
{
  fk_trace_sample_t *s = fk_trace_sample_new (metric, FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                              FK_TRACE_UNIT_MILLISECONDS, (double)ns / 1e6);
  if (fk_trace_sample_set_tag (s, "measurement_boundary", boundary, err) < 0
      || fk_trace_sample_set_tagf (s, err, "repeat_index", "%zu", index) < 0
      || fk_trace_sample_set_tagf (s, err, "repeat_count", "%zu", count) < 0)
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 0;
}

typedef struct subject
{
  const char *metric;
  const char *boundary;
  subject_fn fn;
  int enabled;
} subject_t;

/* Runs every enabled subject once per round, warm-up rounds first, recording the others. */
static int
rounds (const fk_bench_sandbox_opts_t *o, void *ctx, subject_t *subjects, size_t n,
        fk_trace_samples_t *samples, fk_error_t *err)
{
  for (size_t r = 0; r < o->warmup + o->runs; r++)
    for (size_t i = 0; i < n; i++)
      {
        if (!subjects[i].enabled)
          continue;
        if (stopped (o, err) < 0)
          return -1;
        uint64_t ns = 0;
        if (subjects[i].fn (ctx, &ns, err) < 0)
          return fk_error_wrap (err, "%s", subjects[i].metric);
        if (r >= o->warmup
            && record (samples, subjects[i].metric, subjects[i].boundary, ns, r - o->warmup,
                       o->runs, err)
                   < 0)
          return -1;
      }
  return 0;
}

int
fk_bench_sandbox_lifecycle (const fk_bench_sandbox_opts_t *o, fk_trace_samples_t *samples,
                            fk_error_t *err)
{
  static const char *const true_args[] = { "true", NULL };
  lc_ctx_t c = { .o = o };
  int ret = -1;
  if (o->crun_path && crun_open (o, "bundle-true", true_args, &c.crun, &c.bundle, err) < 0)
    return -1;
  subject_t subjects[] = {
    { FK_BENCH_LC_FIRKIN, "library_create_init_true_wait_delete", lc_firkin_init, 1 },
    { FK_BENCH_LC_FIRKIN_AGENT, "library_create_agent_exec_true_delete", lc_firkin_agent, 1 },
    { FK_BENCH_LC_FIRKIN_CLI, "fk_run_true_process", lc_firkin_cli, o->fk_path != NULL },
    { FK_BENCH_LC_CRUN, "crun_run_true_process", lc_crun, o->crun_path != NULL },
    { FK_BENCH_LC_BWRAP, "bwrap_true_process", lc_bwrap, o->bwrap_path != NULL },
    { FK_BENCH_LC_CRUN_WRAPPER, "host_true_in_a_mount_namespace_without_cgroup2", lc_wrapper,
      o->crun_path != NULL },
  };
  progress (o, "lifecycle: %zu+%zu rounds of create, true, delete", o->warmup, o->runs);
  if (rounds (o, &c, subjects, sizeof subjects / sizeof subjects[0], samples, err) < 0)
    goto out;
  if (fk_bench_ratio_push (samples, FK_BENCH_LC "firkin_library_vs_crun_p50_ratio",
                           FK_BENCH_LC_FIRKIN, FK_BENCH_LC_CRUN, FK_BENCH_LC_GOAL, err)
          < 0
      || fk_bench_ratio_push (samples, FK_BENCH_LC "firkin_library_agent_vs_crun_p50_ratio",
                              FK_BENCH_LC_FIRKIN_AGENT, FK_BENCH_LC_CRUN, FK_BENCH_LC_GOAL, err)
             < 0
      || fk_bench_ratio_push (samples, FK_BENCH_LC "firkin_cli_vs_crun_p50_ratio",
                              FK_BENCH_LC_FIRKIN_CLI, FK_BENCH_LC_CRUN, FK_BENCH_LC_GOAL, err)
             < 0
      || fk_bench_ratio_push (samples, FK_BENCH_LC "firkin_library_vs_bwrap_p50_ratio",
                              FK_BENCH_LC_FIRKIN, FK_BENCH_LC_BWRAP, 0, err)
             < 0)
    goto out;
  ret = 0;
out:;
  fk_error_t local = FK_ERROR_INIT;
  if (fk_bench_crun_close (c.crun, ret < 0 ? &local : err) < 0)
    ret = -1;
  fk_error_clear (&local);
  free (c.bundle);
  return ret;
}

/* ---- exec ---- */

typedef struct ex_ctx
{
  const fk_bench_sandbox_opts_t *o;
  fk_client_t *client;
  const char *id;
  fk_bench_crun_t *crun;
  const char *container;
} ex_ctx_t;

static int
ex_firkin (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  ex_ctx_t *c = ctx;
  uint64_t t0 = fk_now_ns ();
  if (exec_true (c->client, err) < 0)
    return -1;
  *ret_ns = fk_now_ns () - t0;
  return 0;
}

static int
ex_firkin_cli (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  ex_ctx_t *c = ctx;
  const char *argv[]
      = { c->o->fk_path, "--state-dir", fk_runtime_state_dir (c->o->rt), "exec", c->id, "--",
          "true",        NULL };
  return fk_bench_spawn ((char *const *)argv, -1, ret_ns, err);
}

static int
ex_crun (void *ctx, uint64_t *ret_ns, fk_error_t *err)
{
  ex_ctx_t *c = ctx;
  const char *args[] = { "exec", c->container, "true", NULL };
  return fk_bench_crun_run (c->crun, args, ret_ns, err);
}

int
fk_bench_sandbox_exec (const fk_bench_sandbox_opts_t *o, fk_trace_samples_t *samples,
                       fk_error_t *err)
{
  static const char *const sleep_args[] = { "sleep", "1000000", NULL };
  ex_ctx_t x = { .o = o };
  cleanup_free char *bundle = NULL;
  char container[64];
  int ret = -1;
  fk_sandbox_t *sb = NULL;

  const char *layers[2];
  fk_sandbox_spec_t spec;
  spec_for (o, layers, &spec);
  if (fk_sandbox_create (o->rt, &spec, &sb, err) < 0)
    return -1;
  x.id = fk_sandbox_id (sb);
  if (fk_client_connect (fk_sandbox_socket_path (sb), &x.client, err) < 0)
    goto out;
  if (o->crun_path)
    {
      snprintf (container, sizeof container, "fk-bench-exec-%d", (int)getpid ());
      if (crun_open (o, "bundle-sleep", sleep_args, &x.crun, &bundle, err) < 0
          || fk_bench_crun_container_start (x.crun, container, bundle, err) < 0)
        goto out;
      x.container = container;
    }
  subject_t subjects[] = {
    { FK_BENCH_EX_FIRKIN, "library_exec_true_on_open_connection", ex_firkin, 1 },
    { FK_BENCH_EX_FIRKIN_CLI, "fk_exec_true_process", ex_firkin_cli, o->fk_path != NULL },
    { FK_BENCH_EX_CRUN, "crun_exec_true_process", ex_crun, o->crun_path != NULL },
  };
  progress (o, "exec: %zu+%zu rounds of `true' in a running sandbox", o->warmup, o->runs);
  if (rounds (o, &x, subjects, sizeof subjects / sizeof subjects[0], samples, err) < 0)
    goto out;
  if (fk_bench_ratio_push (samples, FK_BENCH_EX "firkin_library_vs_crun_p50_ratio",
                           FK_BENCH_EX_FIRKIN, FK_BENCH_EX_CRUN, FK_BENCH_EX_GOAL, err)
          < 0
      || fk_bench_ratio_push (samples, FK_BENCH_EX "firkin_cli_vs_crun_p50_ratio",
                              FK_BENCH_EX_FIRKIN_CLI, FK_BENCH_EX_CRUN, FK_BENCH_EX_GOAL, err)
             < 0)
    goto out;
  ret = 0;
out:;
  fk_error_t local = FK_ERROR_INIT;
  fk_error_t *cleanup_err = ret < 0 ? &local : err;
  if (fk_bench_crun_close (x.crun, cleanup_err) < 0)
    ret = -1;
  fk_client_close (x.client);
  if (remove_sandbox (sb, cleanup_err) < 0)
    ret = -1;
  fk_error_clear (&local);
  return ret;
}

/* ---- idle memory ---- */

static int
push_mib (fk_trace_samples_t *samples, size_t count, const char *what, fk_trace_kind_t kind,
          fk_trace_unit_t unit, double value, const char *counted, fk_error_t *err)
{
  cleanup_free char *metric = xasprintf ("debug.sandbox.idle_n%zu.%s", count, what);
  fk_trace_sample_t *s = fk_trace_sample_new (metric, kind, unit, value);
  if (fk_trace_sample_set_tag (s, "measurement_boundary", "idle_sandbox_host_memory", err) < 0
      || fk_trace_sample_set_tagf (s, err, "idle_sandboxes", "%zu", count) < 0
      || fk_trace_sample_set_tag (s, "counted", counted, err) < 0)
    {
      fk_trace_sample_free (s);
      return -1;
    }
  fk_trace_samples_push (samples, s);
  return 0;
}

static void
raise_nofile (size_t need)
{
  /* Each live handle keeps its sandbox directory open. */
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need + 64)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

/* The goal sample of an idle phase, judged on the larger of the two views: what is charged to
   each sandbox (p50 host_mib), and what the host lost overall per sandbox (namespaces and other
   kernel objects no sandbox cgroup is charged for). */
static int
push_idle_ratio (fk_trace_samples_t *samples, size_t count, double delta, fk_error_t *err)
{
  cleanup_free char *host_metric = xasprintf ("debug.sandbox.idle_n%zu.host_mib", count);
  cleanup_free char *ratio_metric
      = xasprintf ("debug.sandbox.idle_n%zu.host_mib_vs_goal_ratio", count);
  size_t n;
  cleanup_free double *v = fk_bench_values (samples, host_metric, &n);
  double p50;
  if (fk_trace_nearest_rank (v, n, 50, &p50, err) < 0)
    return -1;
  double judged = p50 > delta ? p50 : delta;
  fk_trace_sample_t *s = fk_trace_sample_new (ratio_metric, FK_TRACE_KIND_FIRKIN_OVERHEAD,
                                              FK_TRACE_UNIT_RATIO, judged / FK_BENCH_IDLE_GOAL_MIB);
  fk_trace_samples_push (samples, s);
  if (fk_trace_sample_set_tagf (s, err, "idle_sandboxes", "%zu", count) < 0
      || fk_trace_sample_set_tagf (s, err, "host_p50_mib", "%.6f", p50) < 0
      || fk_trace_sample_set_tagf (s, err, "host_used_delta_mib", "%.6f", delta) < 0
      || fk_trace_sample_set_tag (s, "judged_on",
                                  p50 > delta ? "host_p50_mib" : "host_used_delta_mib", err)
             < 0
      || fk_trace_sample_set_tagf (s, err, "goal_max_mib", "%.6f", FK_BENCH_IDLE_GOAL_MIB) < 0
      || fk_trace_sample_set_tag (s, "goal_met",
                                  judged <= FK_BENCH_IDLE_GOAL_MIB ? "true" : "false", err)
             < 0)
    return -1;
  return 0;
}

int
fk_bench_sandbox_idle (const fk_bench_sandbox_opts_t *o, size_t count, fk_trace_samples_t *samples,
                       fk_error_t *err)
{
  if (count == 0)
    return fk_error_set (err, EINVAL, "idle sandboxes: the count must be positive");
  raise_nofile (count);
  fk_sandbox_t **sbs = xcalloc (count, sizeof *sbs);
  size_t alive = 0;
  int ret = -1;
  uint64_t used0, used1;
  progress (o, "idle: %zu sandboxes alive at once", count);
  if (fk_bench_host_used_bytes (&used0, err) < 0)
    goto out;
  for (; alive < count; alive++)
    {
      if (stopped (o, err) < 0)
        goto out;
      const char *layers[2];
      fk_sandbox_spec_t spec;
      spec_for (o, layers, &spec);
      if (fk_sandbox_create (o->rt, &spec, &sbs[alive], err) < 0)
        goto out;
      /* One answered connection: the agent is up and has done its start-up work. */
      fk_client_t *cl = NULL;
      int r = fk_client_connect (fk_sandbox_socket_path (sbs[alive]), &cl, err);
      fk_client_close (cl);
      if (r < 0)
        {
          alive++;
          goto out;
        }
      if ((alive + 1) % 100 == 0 && alive + 1 < count)
        progress (o, "idle: %zu/%zu", alive + 1, count);
    }
  if (fk_bench_host_used_bytes (&used1, err) < 0)
    goto out;
  static const char host_counted[]
      = "pss of the sandbox's processes + kernel memory charged to its memory cgroup";
  for (size_t i = 0; i < count; i++)
    {
      fk_bench_sandbox_mem_t m;
      if (fk_bench_sandbox_mem (sbs[i], &m, err) < 0)
        goto out;
      if (m.n_procs == 0)
        {
          fk_error_set (err, ESRCH, "idle sandbox `%s' has no process", fk_sandbox_id (sbs[i]));
          goto out;
        }
      if (push_mib (samples, count, "host_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                    FK_TRACE_UNIT_MEBIBYTES, (double)(m.pss_bytes + m.kernel_bytes) / MIB,
                    host_counted, err)
              < 0
          || push_mib (samples, count, "pss_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                       FK_TRACE_UNIT_MEBIBYTES, (double)m.pss_bytes / MIB,
                       "pss of every process in the sandbox's cgroup (smaps_rollup)", err)
                 < 0
          || push_mib (samples, count, "rss_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                       FK_TRACE_UNIT_MEBIBYTES, (double)m.rss_bytes / MIB,
                       "rss of every process in the sandbox's cgroup (smaps_rollup)", err)
                 < 0
          || push_mib (samples, count, "cgroup_charge_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                       FK_TRACE_UNIT_MEBIBYTES, (double)m.cgroup_bytes / MIB,
                       "everything charged to the sandbox's memory cgroup (user, tmpfs, kernel)",
                       err)
                 < 0
          || push_mib (samples, count, "cgroup_kernel_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                       FK_TRACE_UNIT_MEBIBYTES, (double)m.kernel_bytes / MIB,
                       "kernel memory charged to the sandbox's memory cgroup", err)
                 < 0
          || push_mib (samples, count, "procs", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                       FK_TRACE_UNIT_COUNT, (double)m.n_procs,
                       "host processes in the sandbox's cgroup", err)
                 < 0)
        goto out;
    }
  double delta = used1 > used0 ? (double)(used1 - used0) / (double)count / MIB : 0.0;
  if (push_mib (samples, count, "host_used_delta_mib", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                FK_TRACE_UNIT_MEBIBYTES, delta,
                "growth of MemTotal - MemAvailable over the creation, per sandbox (every "
                "kernel object included; other load on the host adds noise)",
                err)
          < 0
      || push_mib (samples, count, "alive_count", FK_TRACE_KIND_WORKLOAD_RESOURCE,
                   FK_TRACE_UNIT_COUNT, (double)count, "idle sandboxes alive at once", err)
             < 0)
    goto out;
  /* Other work on the host may free more than the sandboxes take: say so rather than let a 0
     pass for a measurement. */
  if (used1 <= used0
      && fk_trace_sample_set_tag (samples->items[samples->len - 2], "host_used_shrank",
                                  "true: other work freed memory meanwhile, no figure", err)
             < 0)
    goto out;
  if (push_idle_ratio (samples, count, delta, err) < 0)
    goto out;
  ret = 0;
out:;
  fk_error_t local = FK_ERROR_INIT;
  if (alive)
    progress (o, "idle: deleting %zu sandboxes", alive);
  for (size_t i = 0; i < alive; i++)
    if (sbs[i] && remove_sandbox (sbs[i], ret < 0 ? &local : err) < 0)
      ret = -1;
  fk_error_clear (&local);
  free (sbs);
  return ret;
}
