/* cli/stop.c: fk stop [-t SECONDS] ID...: SIGTERM to the sandbox, SIGKILL after the grace. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/each.h"

static int
stop (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  return fk_sandbox_stop (sb, *(unsigned *)ctx, err);
}

int
fk_verb_stop (const fk_cli_globals_t *g, int argc, char **argv)
{
  unsigned grace_ms = 10000;
  int c;
  while ((c = getopt (argc, argv, "+t:h")) != -1)
    switch (c)
      {
      case 't':
        {
          char *end;
          double s = strtod (optarg, &end);
          if (*optarg == '\0' || *end || s < 0 || s > 3600)
            {
              fprintf (stderr, "fk: stop: -t `%s': expected seconds (0 to 3600)\n", optarg);
              return 2;
            }
          grace_ms = (unsigned)(s * 1000);
          break;
        }
      case 'h':
        printf ("usage: fk stop [-t SECONDS] ID...   (grace before SIGKILL, default 10)\n");
        return 0;
      default:
        fprintf (stderr, "usage: fk stop [-t SECONDS] ID...\n");
        return 2;
      }
  if (optind >= argc)
    {
      fprintf (stderr, "usage: fk stop [-t SECONDS] ID...\n");
      return 2;
    }
  return fk_cli_each (g, argv + optind, argc - optind, 0, stop, NULL, &grace_ms);
}
