/* cli/bench_fkd.c: fk bench fkd: the E2B API's own cost, the official SDK through fkd beside the
   same work through libfirkin (bench/fkdbench.h), written as an artifact, reported, and held
   against the goals of fkd. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "bench/compare.h"
#include "bench/fkdbench.h"
#include "bench/spawn.h"
#include "cli/bench.h"
#include "cli/open.h"
#include "trace/artifact.h"
#include "trace/envparse.h"
#include "trace/stats.h"

#ifndef FK_BENCH_SOURCE_DIR
#define FK_BENCH_SOURCE_DIR "."
#endif

#define USAGE                                                                                      \
  "usage: fk bench fkd [OPTIONS]\n"                                                                \
  "  --artifact FILE    (default $FIRKIN_STATE_DIR/bench/fkd.json)\n"                              \
  "  --template ID      the sandboxes' template (default base), prepared in the state dir\n"       \
  "  --iterations N     samples of commands.run (default 200; a quarter as many 1 MiB files)\n"    \
  "  --creates N        samples per create metric (default 30)\n"                                  \
  "  --levels L,...     density levels (default 1,2,4,8)\n"                                        \
  "  --repeats N        density repeats per level (default 10)\n"                                  \
  "  --warm-depth N     the warm pools' depth (default 2)\n"                                       \
  "  --fkd PATH         fkd (default $FIRKIN_FKD, else beside fk)\n"                               \
  "  --node PATH        node (default: node in PATH)\n"                                            \
  "  --sdk DIR          a directory with node_modules/e2b (default $FIRKIN_E2B_SDK, else the\n"    \
  "                     source tree's tests/e2b: npm ci --prefix tests/e2b)\n"                     \
  "  --script FILE      the SDK side (default the source tree's bench/fkd_sdk.mjs)\n"

typedef struct own
{
  fk_fkd_bench_opts_t o;
  const char *fkd, *node, *sdk, *script;
} own_t;

static int
own_option (void *ctx, int opt, const char *arg)
{
  own_t *w = ctx;
  switch (opt)
    {
    case 't':
      w->o.template_id = arg;
      return 0;
    case 'i':
      return fk_bench_parse_count ("fkd", "--iterations", arg, &w->o.iterations) < 0 ? 2 : 0;
    case 'c':
      return fk_bench_parse_count ("fkd", "--creates", arg, &w->o.creates) < 0 ? 2 : 0;
    case 'w':
      return fk_bench_parse_count ("fkd", "--warm-depth", arg, &w->o.warm_depth) < 0 ? 2 : 0;
    case 'f':
      w->fkd = arg;
      return 0;
    case 'n':
      w->node = arg;
      return 0;
    case 's':
      w->sdk = arg;
      return 0;
    case 'S':
      w->script = arg;
      return 0;
    }
  return 0;
}

static int
is_file (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

/* fkd: --fkd, $FIRKIN_FKD, beside fk (installed: ../sbin; the build tree: ../daemon). */
static char *
find_fkd (const char *given)
{
  const char *env = getenv ("FIRKIN_FKD");
  if (given == NULL && env && *env)
    given = env;
  if (given != NULL)
    return fk_bench_which (given);
  char self[4096];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return fk_bench_which ("fkd");
  self[n] = '\0';
  *strrchr (self, '/') = '\0';
  static const char *const rel[] = { "fkd", "../sbin/fkd", "../daemon/fkd", NULL };
  for (const char *const *r = rel; *r; r++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", self, *r);
      if (access (p, X_OK) == 0)
        return realpath (p, NULL);
    }
  return fk_bench_which ("fkd");
}

static void
print_summary (const fk_trace_samples_t *s, const fk_fkd_bench_opts_t *o)
{
  static const char *const ops[]
      = { "create_warm", "create_cold", "run_true", "file_1mib_write_read" };
  printf ("\nfkd: the E2B SDK through fkd beside the same work through libfirkin, this run\n");
  printf ("%-26s %5s %10s %10s %10s %10s %10s %8s\n", "operation", "n", "sdk p50", "sdk p95",
          "lib p50", "lib p95", "+p50 ms", "ratio");
  size_t n_ops = 4 + o->n_levels;
  for (size_t i = 0; i < n_ops; i++)
    {
      cleanup_free char *op
          = i < 4 ? xstrdup (ops[i]) : xasprintf ("shell_pool_density_c%zu", o->levels[i - 4]);
      cleanup_free char *sdk = xasprintf ("fkd.sdk.%s_ms", op);
      cleanup_free char *lib = xasprintf ("fkd.direct.%s_ms", op);
      size_t n = 0;
      free (fk_bench_values (s, sdk, &n));
      double s50, s95, l50, l95;
      fk_trace_metric_p50_p95 (s, sdk, &s50, &s95);
      fk_trace_metric_p50_p95 (s, lib, &l50, &l95);
      printf ("%-26s %5zu %10.3f %10.3f %10.3f %10.3f %10.3f %7.2fx\n", op, n, s50, s95, l50, l95,
              s50 - l50, s50 / l50);
    }
  double h50, h95, s50, s95, l50, l95, c50, c95;
  fk_trace_metric_p50_p95 (s, "fkd.httpc.run_true_ms", &c50, &c95);
  fk_trace_metric_p50_p95 (s, "fkd.http.run_true_ms", &h50, &h95);
  fk_trace_metric_p50_p95 (s, "fkd.sdk.run_true_ms", &s50, &s95);
  fk_trace_metric_p50_p95 (s, "fkd.direct.run_true_ms", &l50, &l95);
  printf ("\ncommands.run('true') apart (p50): the library %.3f ms; the same Start from C on a "
          "kept-alive connection %.3f ms (fkd's own +%.3f); from node's fetch %.3f ms (+%.3f); "
          "through the SDK %.3f ms (+%.3f)\n",
          l50, c50, c50 - l50, h50, h50 - c50, s50, s50 - h50);
  printf ("\ngoals\n");
  for (const fk_fkd_bench_goal_t *gl = fk_fkd_bench_goals; gl->metric; gl++)
    {
      double p50, p95;
      fk_trace_metric_p50_p95 (s, gl->metric, &p50, &p95);
      printf ("  %-44s p95 %9.3f  goal <= %-6g %s\n", gl->what, p95, gl->max,
              isnan (p95)      ? "-"
              : p95 <= gl->max ? "met"
                               : "not met");
    }
}

int
fk_bench_fkd (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    FK_BENCH_OPTION_ARTIFACT,
    { "template", required_argument, NULL, 't' },
    { "iterations", required_argument, NULL, 'i' },
    { "creates", required_argument, NULL, 'c' },
    FK_BENCH_OPTION_LEVELS,
    FK_BENCH_OPTION_REPEATS,
    { "warm-depth", required_argument, NULL, 'w' },
    { "fkd", required_argument, NULL, 'f' },
    { "node", required_argument, NULL, 'n' },
    { "sdk", required_argument, NULL, 's' },
    { "script", required_argument, NULL, 'S' },
    FK_BENCH_OPTION_HELP,
    { NULL, 0, NULL, 0 },
  };
  size_t *default_levels = xcalloc (4, sizeof *default_levels);
  for (size_t i = 0; i < 4; i++)
    default_levels[i] = (size_t)1 << i;
  fk_bench_args_t a = {
    .cmd = "fkd",
    .usage = USAGE,
    .repeats = 10,
    .levels = default_levels,
    .n_levels = 4,
  };
  own_t w = { .o = { .template_id = "base", .iterations = 200, .creates = 30, .warm_depth = 2 } };
  int code = fk_bench_args_parse (&a, argc, argv, opts, own_option, &w);
  cleanup_free char *artifact = a.artifact;
  cleanup_free size_t *levels = a.levels;
  if (code >= 0)
    return code;
  w.o.levels = levels;
  w.o.n_levels = a.n_levels;
  w.o.repeats = a.repeats;
  if (artifact == NULL)
    artifact = xasprintf ("%s/bench/fkd.json", g->state_dir);

  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *fkd = find_fkd (w.fkd);
  cleanup_free char *node = fk_bench_which (w.node ? w.node : "node");
  const char *env_sdk = getenv ("FIRKIN_E2B_SDK");
  cleanup_free char *sdk = w.sdk                 ? xstrdup (w.sdk)
                           : env_sdk && *env_sdk ? xstrdup (env_sdk)
                                                 : xstrdup (FK_BENCH_SOURCE_DIR "/tests/e2b");
  cleanup_free char *script
      = xstrdup (w.script ? w.script : FK_BENCH_SOURCE_DIR "/bench/fkd_sdk.mjs");
  cleanup_free char *sdk_pkg = xasprintf ("%s/node_modules/e2b/package.json", sdk);
  if (fkd == NULL || node == NULL || !is_file (sdk_pkg) || !is_file (script))
    {
      fprintf (stderr, "fk: bench fkd: %s\n",
               fkd == NULL    ? "no fkd (--fkd PATH)"
               : node == NULL ? "no node in PATH (--node PATH)"
               : !is_file (sdk_pkg)
                   ? "the E2B SDK is not installed (npm ci --prefix tests/e2b, or --sdk DIR)"
                   : "no SDK script (--script FILE)");
      return 1;
    }
  w.o.fkd_path = fkd;
  w.o.node_path = node;
  w.o.sdk_dir = sdk;
  w.o.script_path = script;

  fk_runtime_t *rt = NULL;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  int ret = 1;
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0
      || fk_fkd_bench_collect (rt, &w.o, &samples, &err) < 0
      || fk_bench_confidence_tag (&samples, &err) < 0
      || fk_trace_artifact_write (artifact, FK_FKD_BENCH_KIND, &samples, &err) < 0)
    {
      ret = fk_cli_fail (&err, 1);
      goto out;
    }
  ret = fk_bench_print_report (artifact);
  if (ret == 0)
    {
      print_summary (&samples, &w.o);
      printf ("\nartifact: %s\n", artifact);
    }
out:
  fk_runtime_close (rt);
  fk_trace_samples_clear (&samples);
  return ret;
}
