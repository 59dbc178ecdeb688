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

#endif
