/* cli/bench_report.c: fk bench report FILE: a table per metric of any artifact. */
#include <getopt.h>
#include <stdio.h>

#include "cli/bench.h"

int
fk_bench_report (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    {
      if (c == 'h')
        {
          printf ("usage: fk bench report FILE\n");
          return 0;
        }
      fprintf (stderr, "usage: fk bench report FILE\n");
      return 2;
    }
  if (argc - optind != 1)
    {
      fprintf (stderr, "usage: fk bench report FILE\n");
      return 2;
    }
  return fk_bench_print_report (argv[optind]);
}
