/* cli/bench_agent_core.c: fk bench agent-core: the original system's P0 latencies on this host
   (bench/agentcore.h), written as an artifact with confidence tags, reported, and set beside
   the original's targets and firkin's tenfold goals. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/agentcore.h"
#include "bench/rootfs.h"
#include "cli/bench.h"
#include "cli/open.h"
#include "trace/artifact.h"
#include "trace/confidence.h"
#include "trace/envparse.h"
#include "trace/stats.h"

#define USAGE                                                                                      \
  "usage: fk bench agent-core [OPTIONS]\n"                                                         \
  "  --artifact FILE    (FIRKIN_AGENT_CORE_ARTIFACT; default\n"                                    \
  "                     $FIRKIN_STATE_DIR/bench/agent-core.json)\n"                                \
  "  --iterations N     samples per latency (FIRKIN_AGENT_CORE_ITERATIONS, default 30)\n"          \
  "  --batches N        samples per 100-command batch (FIRKIN_AGENT_CORE_BATCHES, default 10)\n"   \
  "  --repeats N        repeats per density level (FIRKIN_AGENT_CORE_DENSITY_REPEATS, 10)\n"       \
  "  --rootfs DIR       the sandboxes' root (default: a busybox root built for the run)\n"         \
  "  --refill-delay MS  the warm pool's refill delay after a lease (default 20)\n"

static void
print_targets (const fk_trace_samples_t *s)
{
  printf ("\nagent-core: the original's targets, firkin's goals (tenfold), measured here; the\n"
          "floor is the same command started from the host without a sandbox, in this run\n");
  printf ("%-44s %10s %11s %9s %9s %9s %6s\n", "metric", "original", "goal", "p50", "p95",
          "floor p95", "meets");
  for (const fk_agent_core_target_t *t = fk_agent_core_targets; t->metric; t++)
    {
      double p50, p95, f50, f95 = NAN;
      fk_trace_metric_p50_p95 (s, t->metric, &p50, &p95);
      if (t->floor != NULL)
        fk_trace_metric_p50_p95 (s, t->floor, &f50, &f95);
      const char *meets = "-";
      if (strcmp (t->goal, "none") != 0 && !isnan (p95))
        meets = (t->higher_is_better ? p95 >= t->goal_value : p95 <= t->goal_value) ? "yes" : "no";
      char floor[32] = "-";
      if (!isnan (f95))
        snprintf (floor, sizeof floor, "%.3f", f95);
      printf ("%-44s %10s %11s %9.3f %9.3f %9s %6s\n", t->metric, t->target, t->goal, p50, p95,
              floor, meets);
    }
}

static int
own_option (void *ctx, int opt, const char *arg)
{
  fk_agent_core_opts_t *o = ctx;
  switch (opt)
    {
    case 'i':
      return fk_bench_parse_count ("agent-core", "--iterations", arg, &o->iterations) < 0 ? 2 : 0;
    case 'b':
      return fk_bench_parse_count ("agent-core", "--batches", arg, &o->batches) < 0 ? 2 : 0;
    case 'R':
      o->rootfs = arg;
      return 0;
    case 'd':
      {
        size_t v;
        if (fk_trace_parse_usize (arg, strlen (arg), &v) < 0 || v > 60000)
          {
            fprintf (stderr, "fk: bench agent-core: invalid --refill-delay `%s' (ms)\n", arg);
            return 2;
          }
        o->refill_delay_ms = (int)v;
        return 0;
      }
    }
  return 0;
}

int
fk_bench_agent_core (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    FK_BENCH_OPTION_ARTIFACT,
    { "iterations", required_argument, NULL, 'i' },
    { "batches", required_argument, NULL, 'b' },
    FK_BENCH_OPTION_REPEATS,
    { "rootfs", required_argument, NULL, 'R' },
    FK_BENCH_OPTION_HELP,
    { "refill-delay", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  const char *env_art = getenv ("FIRKIN_AGENT_CORE_ARTIFACT");
  fk_bench_args_t a = {
    .cmd = "agent-core",
    .usage = USAGE,
    .artifact = env_art && *env_art ? xstrdup (env_art) : NULL,
    .repeats = fk_trace_env_repeat_count (getenv ("FIRKIN_AGENT_CORE_DENSITY_REPEATS"), 10),
  };
  fk_agent_core_opts_t o = {
    .iterations = fk_trace_env_repeat_count (getenv ("FIRKIN_AGENT_CORE_ITERATIONS"), 30),
    .batches = fk_trace_env_repeat_count (getenv ("FIRKIN_AGENT_CORE_BATCHES"), 10),
    .refill_delay_ms = -1,
  };
  int code = fk_bench_args_parse (&a, argc, argv, opts, own_option, &o);
  cleanup_free char *artifact = a.artifact;
  free (a.levels);
  o.density_repeats = a.repeats;
  if (code >= 0)
    return code;
  if (artifact == NULL)
    artifact = xasprintf ("%s/bench/agent-core.json", g->state_dir);

  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  cleanup_free char *built = NULL, *built_root = NULL;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  int ret = 1;
  if (o.rootfs == NULL)
    {
      /* Outside the state directory: the suite counts what is left there. */
      const char *tmp = getenv ("TMPDIR");
      built = xasprintf ("%s/firkin-agent-core-root.XXXXXX", tmp && *tmp ? tmp : "/tmp");
      if (mkdtemp (built) == NULL)
        {
          fk_error_set_errno (&err, "mkdtemp `%s'", built);
          free (built);
          built = NULL;
          goto fail;
        }
      built_root = xasprintf ("%s/root", built);
      if (fk_bench_busybox_rootfs (built_root, FK_BENCH_BUSYBOX, &err) < 0)
        goto fail;
      o.rootfs = built_root;
    }
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0
      || fk_agent_core_collect (rt, &o, &samples, &err) < 0
      || fk_trace_confidence_tag_samples (&samples, &err) < 0
      || fk_trace_artifact_write (artifact, FK_AGENT_CORE_KIND, &samples, &err) < 0)
    goto fail;
  ret = fk_bench_print_report (artifact);
  if (ret == 0)
    {
      print_targets (&samples);
      printf ("\nartifact: %s\n", artifact);
    }
  goto out;
fail:
  ret = fk_cli_fail (&err, 1);
out:
  if (built != NULL)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_rm_rf_at (AT_FDCWD, built, &e2) < 0)
        fk_cli_fail (&e2, 1);
    }
  fk_runtime_close (rt);
  fk_trace_samples_clear (&samples);
  return ret;
}
