/* cli/bench.h: `fk bench SUBCOMMAND': one file per subcommand, listed in bench_cmds.h. */
#ifndef FK_CLI_BENCH_H
#define FK_CLI_BENCH_H

#include "cli/verbs.h"

/* Each subcommand: argv[0] is the subcommand's name; returns the exit code. */
#define FK_BENCH_CMD(name, suffix, summary)                                                        \
  int fk_bench_##suffix (const fk_cli_globals_t *g, int argc, char **argv);
#include "cli/bench_cmds.h"
#undef FK_BENCH_CMD

/* Reads the artifact at path and prints its report on stdout; exit code 0, or 1 with a
   message naming what is wrong. */
int fk_bench_print_report (const char *path);

/* The ends of a subcommand's getopt loop. fk_bench_usage_exit: for --help ('h') the usage on
   stdout and 0, for anything else it on stderr and 2. fk_bench_extra_args: 2 (with the usage
   on stderr) when arguments are left after the options, else 0. */
int fk_bench_usage_exit (const char *usage, int opt);
int fk_bench_extra_args (const char *usage, int optind_, int argc);

/* Option values, checked (a command line is explicit: a bad value is an error, not a
   fallback): a positive count, and a list of levels "1,2,4". On a bad value they print
   "fk: bench CMD: ..." naming the flag and return -1. */
int fk_bench_parse_count (const char *cmd, const char *flag, const char *value, size_t *ret);
int fk_bench_parse_levels (const char *cmd, const char *flag, const char *value, size_t **levels,
                           size_t *n_levels);

#endif
