/* cli/bench.c: fk bench (filled in by the trace area). */
#include <stdio.h>

#include "cli/verbs.h"

int
fk_verb_bench (const fk_cli_globals_t *g, int argc, char **argv)
{
  fprintf (stderr, "fk: bench: not built yet\n");
  return 2;
}
