/* cli/bench_trace_demo.c: fk bench trace-demo: the density procedure of the reference run on
   the host (concurrent fork+exec of /bin/true), written as an artifact and reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    FK_BENCH_OPTION_ARTIFACT, FK_BENCH_OPTION_REPEATS, FK_BENCH_OPTION_LEVELS,
    FK_BENCH_OPTION_HELP,     { NULL, 0, NULL, 0 },
  };
  fk_error_t err = FK_ERROR_INIT;
  /* The environment follows the reference's rules: anything invalid falls back to the default. */
  fk_bench_args_t a = {
    .cmd = "trace-demo",
    .usage = USAGE,
    .repeats = fk_trace_env_repeat_count (getenv ("FIRKIN_TRACE_DEMO_REPEATS"), 10),
  };
  fk_trace_env_levels (getenv ("FIRKIN_TRACE_DEMO_LEVELS"), default_levels,
                       sizeof default_levels / sizeof default_levels[0], &a.levels, &a.n_levels);
  int ret = fk_bench_args_parse (&a, argc, argv, opts, NULL, NULL);
  if (ret < 0)
    {
      if (a.artifact == NULL)
        a.artifact = xasprintf ("%s/bench/host-fork-exec-density.json", g->state_dir);
      fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
      ret = 0;
      if (fk_bench_host_spawn_collect (FK_BENCH_HOST_SPAWN_PROGRAM, a.levels, a.n_levels, a.repeats,
                                       &samples, &err)
              < 0
          || fk_trace_density_artifact_write (&fk_bench_host_spawn_density, a.artifact, &samples,
                                              &err)
                 < 0)
        ret = fk_cli_fail (&err, 1);
      fk_trace_samples_clear (&samples);
      if (ret == 0)
        ret = fk_bench_print_report (a.artifact);
    }
  fk_bench_args_free (&a);
  return ret;
}
