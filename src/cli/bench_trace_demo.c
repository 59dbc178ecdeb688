/* cli/bench_trace_demo.c: fk bench trace-demo: the density procedure of the reference run on
   the host (concurrent fork+exec of /bin/true), written as an artifact and reported. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "bench/hostspawn.h"
#include "cli/bench.h"
#include "trace/artifact.h"
#include "trace/envparse.h"

#define USAGE                                                                                      \
  "usage: fk bench trace-demo [--artifact FILE] [--repeats N] [--levels L1,L2,...]\n"              \
  "  defaults: --artifact $FIRKIN_STATE_DIR/bench/host-fork-exec-density.json, and the\n"          \
  "  environment's FIRKIN_TRACE_DEMO_REPEATS (10) and FIRKIN_TRACE_DEMO_LEVELS (1,2,4,8)\n"

static const size_t default_levels[] = { 1, 2, 4, 8 };

int
fk_bench_trace_demo (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "artifact", required_argument, NULL, 'a' },
    { "repeats", required_argument, NULL, 'r' },
    { "levels", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *artifact = NULL;
  cleanup_free size_t *levels = NULL;
  size_t n_levels = 0;
  /* The environment follows the reference's rules: anything invalid falls back to the default. */
  size_t repeats = fk_trace_env_repeat_count (getenv ("FIRKIN_TRACE_DEMO_REPEATS"), 10);
  fk_trace_env_levels (getenv ("FIRKIN_TRACE_DEMO_LEVELS"), default_levels,
                       sizeof default_levels / sizeof default_levels[0], &levels, &n_levels);
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    {
      switch (c)
        {
        case 'a':
          free (artifact);
          artifact = xstrdup (optarg);
          break;
        case 'r':
          if (fk_bench_parse_count ("trace-demo", "--repeats", optarg, &repeats) < 0)
            return 2;
          break;
        case 'l':
          if (fk_bench_parse_levels ("trace-demo", "--levels", optarg, &levels, &n_levels) < 0)
            return 2;
          break;
        case 'h':
        default:
          return fk_bench_usage_exit (USAGE, c);
        }
    }
  if (fk_bench_extra_args (USAGE, optind, argc) != 0)
    return 2;
  if (artifact == NULL)
    artifact = xasprintf ("%s/bench/host-fork-exec-density.json", g->state_dir);

  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  int ret = 0;
  if (fk_bench_host_spawn_collect (FK_BENCH_HOST_SPAWN_PROGRAM, levels, n_levels, repeats, &samples,
                                   &err)
          < 0
      || fk_trace_density_artifact_write (&fk_bench_host_spawn_density, artifact, &samples, &err)
             < 0)
    ret = fk_cli_fail (&err, 1);
  fk_trace_samples_clear (&samples);
  if (ret != 0)
    return ret;
  return fk_bench_print_report (artifact);
}
