/* cli/bench.c: fk bench: dispatches to the subcommands listed in bench_cmds.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cli/bench.h"
#include "trace/artifact.h"
#include "trace/envparse.h"
#include "trace/report.h"

typedef struct bench_cmd
{
  const char *name;
  int (*run) (const fk_cli_globals_t *g, int argc, char **argv);
  const char *summary;
} bench_cmd_t;

static const bench_cmd_t cmds[] = {
#define FK_BENCH_CMD(name, suffix, summary) { name, fk_bench_##suffix, summary },
#include "cli/bench_cmds.h"
#undef FK_BENCH_CMD
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk bench SUBCOMMAND [ARGS...]\n\nsubcommands:\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    fprintf (out, "  %-20s %s\n", cmds[i].name, cmds[i].summary);
}

int
fk_bench_print_report (const char *path)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_artifact_t *artifact = NULL;
  if (fk_trace_artifact_read (path, &artifact, &err) < 0)
    return fk_cli_fail (&err, 1);
  int r = fk_trace_report_print (stdout, path, artifact, &err);
  fk_trace_artifact_free (artifact);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  return fflush (stdout) == 0 ? 0 : 1;
}

int
fk_verb_bench (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc < 2)
    {
      usage (stderr);
      return 2;
    }
  if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0)
    {
      usage (stdout);
      return 0;
    }
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp (cmds[i].name, argv[1]) == 0)
      return cmds[i].run (g, argc - 1, argv + 1);
  fprintf (stderr, "fk: bench: unknown subcommand `%s'\n", argv[1]);
  usage (stderr);
  return 2;
}

int
fk_bench_args_parse (fk_bench_args_t *a, int argc, char **argv, const struct option *opts,
                     fk_bench_option_fn own, void *ctx)
{
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case FK_BENCH_OPT_ARTIFACT:
        free (a->artifact);
        a->artifact = xstrdup (optarg);
        break;
      case FK_BENCH_OPT_REPEATS:
        if (fk_bench_parse_count (a->cmd, "--repeats", optarg, &a->repeats) < 0)
          return 2;
        break;
      case FK_BENCH_OPT_LEVELS:
        if (fk_bench_parse_levels (a->cmd, "--levels", optarg, &a->levels, &a->n_levels) < 0)
          return 2;
        break;
      case 'h':
        fputs (a->usage, stdout);
        return 0;
      case '?':
        fputs (a->usage, stderr);
        return 2;
      default:
        {
          int r = own ? own (ctx, c, optarg) : 2;
          if (r != 0)
            return r;
        }
      }
  if (optind != argc)
    {
      fputs (a->usage, stderr);
      return 2;
    }
  return -1;
}

void
fk_bench_args_free (fk_bench_args_t *a)
{
  free (a->artifact);
  free (a->levels);
  a->artifact = NULL;
  a->levels = NULL;
}

int
fk_bench_parse_count (const char *cmd, const char *flag, const char *value, size_t *ret)
{
  if (fk_trace_parse_usize (value, strlen (value), ret) < 0 || *ret == 0)
    {
      fprintf (stderr, "fk: bench %s: invalid %s `%s' (a positive number)\n", cmd, flag, value);
      return -1;
    }
  return 0;
}

int
fk_bench_parse_levels (const char *cmd, const char *flag, const char *value, size_t **levels,
                       size_t *n_levels)
{
  fk_error_t err = FK_ERROR_INIT;
  free (*levels);
  *levels = NULL;
  if (fk_trace_levels_parse (value, levels, n_levels, &err) == 0)
    return 0;
  fprintf (stderr, "fk: bench %s: %s: %s\n", cmd, flag, fk_error_message (&err));
  fk_error_clear (&err);
  return -1;
}
