/* cli/bench.h: `fk bench SUBCOMMAND': one file per subcommand, listed in bench_cmds.h. */
#ifndef FK_CLI_BENCH_H
#define FK_CLI_BENCH_H

#include <getopt.h>
#include <stddef.h>

#include "cli/verbs.h"

/* Each subcommand: argv[0] is the subcommand's name; returns the exit code. */
#define FK_BENCH_CMD(name, suffix, summary)                                                        \
  int fk_bench_##suffix (const fk_cli_globals_t *g, int argc, char **argv);
#include "cli/bench_cmds.h"
#undef FK_BENCH_CMD

/* Reads the artifact at path and prints its report on stdout; exit code 0, or 1 with a
   message naming what is wrong. */
int fk_bench_print_report (const char *path);

/* The options several subcommands share, with getopt codes no short option takes. A
   subcommand lists the ones it has in its option table. */
enum
{
  FK_BENCH_OPT_ARTIFACT = 0x100,
  FK_BENCH_OPT_REPEATS,
  FK_BENCH_OPT_LEVELS,
};
#define FK_BENCH_OPTION_ARTIFACT                                                                   \
  {                                                                                                \
    "artifact", required_argument, NULL, FK_BENCH_OPT_ARTIFACT                                     \
  }
#define FK_BENCH_OPTION_REPEATS                                                                    \
  {                                                                                                \
    "repeats", required_argument, NULL, FK_BENCH_OPT_REPEATS                                       \
  }
#define FK_BENCH_OPTION_LEVELS                                                                     \
  {                                                                                                \
    "levels", required_argument, NULL, FK_BENCH_OPT_LEVELS                                         \
  }
#define FK_BENCH_OPTION_HELP                                                                       \
  {                                                                                                \
    "help", no_argument, NULL, 'h'                                                                 \
  }

/* A subcommand's command line: the shared options' values, set to their defaults (from the
   environment, by its rules) before fk_bench_args_parse; free with fk_bench_args_free. */
typedef struct fk_bench_args
{
  const char *cmd;   /* "trace-demo": named in messages */
  const char *usage; /* printed for --help (stdout) and for a bad option (stderr) */
  char *artifact;    /* --artifact FILE */
  size_t repeats;    /* --repeats N: positive */
  size_t *levels;    /* --levels L1,L2,... */
  size_t n_levels;
} fk_bench_args_t;

/* A subcommand's own option opt (its getopt code) with its argument: 0, or the exit code it
   ends with (2 for a bad value, after a message naming the flag). */
typedef int (*fk_bench_option_fn) (void *ctx, int opt, const char *arg);

/* Parses argv with getopt_long over opts: the shared options into a, every other option of
   opts through own (NULL: there is none). A command line is explicit: a bad value is an
   error, not a fallback. Returns -1 when the subcommand goes on, else the exit code it ends
   with: 0 after --help, 2 after a bad option, value or a left-over argument (the message and
   the usage printed). */
int fk_bench_args_parse (fk_bench_args_t *a, int argc, char **argv, const struct option *opts,
                         fk_bench_option_fn own, void *ctx);
void fk_bench_args_free (fk_bench_args_t *a);

/* Option values for a subcommand's own options, checked as the shared ones are: a positive
   count, and a list of levels "1,2,4". On a bad value they print "fk: bench CMD: ..." naming
   the flag and return -1. */
int fk_bench_parse_count (const char *cmd, const char *flag, const char *value, size_t *ret);
int fk_bench_parse_levels (const char *cmd, const char *flag, const char *value, size_t **levels,
                           size_t *n_levels);

#endif
