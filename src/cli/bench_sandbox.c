/* cli/bench_sandbox.c: fk bench sandbox: firkin's sandbox create/run/delete, exec and idle
   memory measured beside crun and bubblewrap in the same run; one artifact per benchmark,
   its report, and the ratios to the peers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/compare.h"
#include "bench/crun.h"
#include "bench/rootfs.h"
#include "bench/sandboxbench.h"
#include "bench/spawn.h"
#include "cli/bench.h"
#include "cli/open.h"
#include "trace/artifact.h"
#include "trace/envparse.h"

#define USAGE                                                                                      \
  "usage: fk bench sandbox [--only create,exec,idle] [--runs N] [--exec-runs N] [--warmup N]\n"    \
  "                        [--idle N[,N...]] [--rootfs DIR] [--artifact-dir DIR] [--no-peers]\n"   \
  "  create: create a sandbox, run `true', delete it (library, fk run) beside crun run, bwrap\n"   \
  "  exec:   `true' in a running sandbox (library, fk exec) beside crun exec\n"                    \
  "  idle:   host memory per idle sandbox with N sandboxes alive at once\n"                        \
  "  defaults: --runs $FIRKIN_BENCH_SANDBOX_RUNS or 30, --exec-runs\n"                             \
  "  $FIRKIN_BENCH_SANDBOX_EXEC_RUNS or 100, --warmup 2, --idle $FIRKIN_BENCH_SANDBOX_IDLE or\n"   \
  "  100, a busybox rootfs, artifacts in "                                                         \
  "$FIRKIN_STATE_DIR/bench/sandbox-{create,exec,idle}.json\n"

#define ONLY_CREATE 0x1u
#define ONLY_EXEC 0x2u
#define ONLY_IDLE 0x4u

static volatile sig_atomic_t stop_flag;

static void
on_signal (int sig)
{
  stop_flag = 1;
}

static int
parse_only (const char *s, unsigned *ret)
{
  cleanup_free char *copy = xstrdup (s);
  unsigned v = 0;
  char *save = NULL;
  for (char *t = strtok_r (copy, ",", &save); t; t = strtok_r (NULL, ",", &save))
    {
      if (strcmp (t, "create") == 0)
        v |= ONLY_CREATE;
      else if (strcmp (t, "exec") == 0)
        v |= ONLY_EXEC;
      else if (strcmp (t, "idle") == 0)
        v |= ONLY_IDLE;
      else
        {
          fprintf (stderr,
                   "fk: bench sandbox: --only: unknown benchmark `%s' (create, exec, idle)\n", t);
          return -1;
        }
    }
  if (v == 0)
    {
      fprintf (stderr, "fk: bench sandbox: --only: no benchmark named\n");
      return -1;
    }
  *ret = v;
  return 0;
}

/* One line per ratio sample: the figure, both p50s and the goal. */
static void
print_ratios (const fk_trace_samples_t *samples)
{
  for (size_t i = 0; i < samples->len; i++)
    {
      const fk_trace_sample_t *s = samples->items[i];
      if (s->unit != FK_TRACE_UNIT_RATIO)
        continue;
      const char *met = fk_trace_sample_tag (s, "goal_met");
      const char *fp = fk_trace_sample_tag (s, "firkin_p50");
      const char *pp = fk_trace_sample_tag (s, "peer_p50");
      const char *goal = fk_trace_sample_tag (s, "goal_max_ratio");
      const char *hp = fk_trace_sample_tag (s, "host_p50_mib");
      if (fp && pp && goal)
        printf ("ratio %s = %.3f (firkin p50 %.3f ms, peer p50 %.3f ms; goal <= %.3f: %s)\n",
                s->metric, s->value, atof (fp), atof (pp), atof (goal),
                met && strcmp (met, "true") == 0 ? "met" : "MISSED");
      else if (fp && pp)
        printf ("ratio %s = %.3f (firkin p50 %.3f ms, peer p50 %.3f ms; no goal)\n", s->metric,
                s->value, atof (fp), atof (pp));
      else if (hp)
        printf ("ratio %s = %.3f (p50 %.3f MiB charged per idle sandbox, host used %.3f MiB more "
                "per sandbox; goal <= %.1f MiB on the larger: %s)\n",
                s->metric, s->value, atof (hp),
                atof (fk_trace_sample_tag (s, "host_used_delta_mib")),
                atof (fk_trace_sample_tag (s, "goal_max_mib")),
                met && strcmp (met, "true") == 0 ? "met" : "MISSED");
    }
}

/* Tags confidence, writes the artifact, prints its report and the ratios. */
static int
finish (const char *dir, const char *file, const char *kind, fk_trace_samples_t *samples)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  if (fk_bench_confidence_tag (samples, &err) < 0
      || fk_trace_artifact_write (path, kind, samples, &err) < 0)
    return fk_cli_fail (&err, 1);
  int r = fk_bench_print_report (path);
  print_ratios (samples);
  fflush (stdout);
  return r;
}

static char *
find_peer (const char *name, int wanted)
{
  if (!wanted)
    return NULL;
  int crun = strcmp (name, "crun") == 0;
  char *p = crun ? fk_bench_crun_find () : fk_bench_which (name);
  if (p == NULL)
    fprintf (stderr, "fk: bench sandbox: peer `%s' not found in %s: not measured\n", name,
             crun ? "$FIRKIN_CRUN or PATH" : "PATH");
  return p;
}

/* The command line (no option of the shared set). */
typedef struct sb_opts
{
  unsigned only;
  size_t runs, exec_runs, warmup;
  size_t *idle;
  size_t n_idle;
  char *rootfs_arg, *artifact_dir;
  int peers;
} sb_opts_t;

static int
own_option (void *ctx, int opt, const char *arg)
{
  sb_opts_t *o = ctx;
  switch (opt)
    {
    case 'o':
      return parse_only (arg, &o->only) < 0 ? 2 : 0;
    case 'r':
      return fk_bench_parse_count ("sandbox", "--runs", arg, &o->runs) < 0 ? 2 : 0;
    case 'e':
      return fk_bench_parse_count ("sandbox", "--exec-runs", arg, &o->exec_runs) < 0 ? 2 : 0;
    case 'w':
      if (fk_trace_parse_usize (arg, strlen (arg), &o->warmup) < 0)
        {
          fprintf (stderr, "fk: bench sandbox: invalid --warmup `%s' (a number)\n", arg);
          return 2;
        }
      return 0;
    case 'i':
      return fk_bench_parse_levels ("sandbox", "--idle", arg, &o->idle, &o->n_idle) < 0 ? 2 : 0;
    case 'f':
      free (o->rootfs_arg);
      o->rootfs_arg = xstrdup (arg);
      return 0;
    case 'a':
      free (o->artifact_dir);
      o->artifact_dir = xstrdup (arg);
      return 0;
    case 'n':
      o->peers = 0;
      return 0;
    }
  return 0;
}

int
fk_bench_sandbox (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "only", required_argument, NULL, 'o' },
    { "runs", required_argument, NULL, 'r' },
    { "exec-runs", required_argument, NULL, 'e' },
    { "warmup", required_argument, NULL, 'w' },
    { "idle", required_argument, NULL, 'i' },
    { "rootfs", required_argument, NULL, 'f' },
    { "artifact-dir", required_argument, NULL, 'a' },
    { "no-peers", no_argument, NULL, 'n' },
    FK_BENCH_OPTION_HELP,
    { NULL, 0, NULL, 0 },
  };
  static const size_t default_idle[] = { 100 };
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_args_t args = { .cmd = "sandbox", .usage = USAGE };
  sb_opts_t cl = {
    .only = ONLY_CREATE | ONLY_EXEC | ONLY_IDLE,
    .runs = fk_trace_env_repeat_count (getenv ("FIRKIN_BENCH_SANDBOX_RUNS"), 30),
    .exec_runs = fk_trace_env_repeat_count (getenv ("FIRKIN_BENCH_SANDBOX_EXEC_RUNS"), 100),
    .warmup = 2,
    .peers = 1,
  };
  fk_trace_env_levels (getenv ("FIRKIN_BENCH_SANDBOX_IDLE"), default_idle, 1, &cl.idle, &cl.n_idle);
  int code = fk_bench_args_parse (&args, argc, argv, opts, own_option, &cl);
  fk_bench_args_free (&args);
  cleanup_free size_t *idle = cl.idle;
  cleanup_free char *rootfs_arg = cl.rootfs_arg, *artifact_dir = cl.artifact_dir;
  unsigned only = cl.only;
  size_t runs = cl.runs, exec_runs = cl.exec_runs, warmup = cl.warmup, n_idle = cl.n_idle;
  int peers = cl.peers;
  if (code >= 0)
    return code;
  if (artifact_dir == NULL)
    artifact_dir = xasprintf ("%s/bench", g->state_dir);

  /* A work directory every user namespace's root may enter: bundles, crun's state, rootfs. */
  const char *tmp = getenv ("TMPDIR");
  cleanup_free char *work = xasprintf ("%s/fk-bench-sandbox.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (mkdtemp (work) == NULL || chmod (work, 0755) < 0)
    {
      fprintf (stderr, "fk: bench sandbox: make a work directory `%s': %s\n", work,
               strerror (errno));
      return 1;
    }
  int ret = 1;
  fk_runtime_t *rt = NULL;
  cleanup_free char *rootfs = NULL, *self = NULL, *crun = NULL, *bwrap = NULL;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  struct sigaction sa = { .sa_handler = on_signal }, old[3];
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old[0]);
  sigaction (SIGTERM, &sa, &old[1]);
  sigaction (SIGHUP, &sa, &old[2]);

  if (rootfs_arg)
    {
      char real[PATH_MAX];
      if (realpath (rootfs_arg, real) == NULL)
        {
          fprintf (stderr, "fk: bench sandbox: --rootfs `%s': %s\n", rootfs_arg, strerror (errno));
          goto out;
        }
      rootfs = xstrdup (real);
    }
  else
    {
      rootfs = xasprintf ("%s/rootfs", work);
      if (fk_bench_busybox_rootfs (rootfs, FK_BENCH_BUSYBOX, &err) < 0)
        {
          fk_cli_fail (&err, 1);
          goto out;
        }
    }
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0)
    {
      fk_cli_fail (&err, 1);
      goto out;
    }
  char exe[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    {
      exe[n] = '\0';
      self = xstrdup (exe);
    }
  crun = find_peer ("crun", peers && (only & (ONLY_CREATE | ONLY_EXEC)));
  bwrap = find_peer ("bwrap", peers && (only & ONLY_CREATE));
  fk_bench_sandbox_opts_t o = {
    .rt = rt,
    .rootfs = rootfs,
    .work_dir = work,
    .fk_path = self,
    .crun_path = crun,
    .bwrap_path = bwrap,
    .warmup = warmup,
    .stop = &stop_flag,
    .progress = stderr,
  };
  printf ("fk bench sandbox: rootfs %s, peers: crun %s, bwrap %s\n", rootfs,
          crun ? crun : "(not measured)", bwrap ? bwrap : "(not measured)");
  fflush (stdout);
  if (only & ONLY_CREATE)
    {
      o.runs = runs;
      if (fk_bench_sandbox_lifecycle (&o, &samples, &err) < 0)
        {
          fk_cli_fail (&err, 1);
          goto out;
        }
      if (finish (artifact_dir, "sandbox-create.json", "sandbox_create_run_delete", &samples) != 0)
        goto out;
      fk_trace_samples_clear (&samples);
    }
  if (only & ONLY_EXEC)
    {
      o.runs = exec_runs;
      if (fk_bench_sandbox_exec (&o, &samples, &err) < 0)
        {
          fk_cli_fail (&err, 1);
          goto out;
        }
      if (finish (artifact_dir, "sandbox-exec.json", "sandbox_exec", &samples) != 0)
        goto out;
      fk_trace_samples_clear (&samples);
    }
  if (only & ONLY_IDLE)
    {
      for (size_t i = 0; i < n_idle; i++)
        if (fk_bench_sandbox_idle (&o, idle[i], &samples, &err) < 0)
          {
            fk_cli_fail (&err, 1);
            goto out;
          }
      if (finish (artifact_dir, "sandbox-idle.json", "sandbox_idle_memory", &samples) != 0)
        goto out;
    }
  ret = 0;
out:
  fk_trace_samples_clear (&samples);
  fk_runtime_close (rt);
  if (fk_rm_rf_at (AT_FDCWD, work, &err) < 0)
    ret = fk_cli_fail (&err, 1);
  sigaction (SIGINT, &old[0], NULL);
  sigaction (SIGTERM, &old[1], NULL);
  sigaction (SIGHUP, &old[2], NULL);
  return ret;
}
