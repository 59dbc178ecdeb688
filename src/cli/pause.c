/* cli/pause.c: fk pause ID...: freezes every process of the sandbox. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/each.h"
#include "cli/remote.h"

/* Pausing a paused sandbox is done, as resuming a running one is (and as fkd's 409 reads over
   --remote). */
static int
run (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  if (fk_sandbox_pause (sb, err) < 0)
    {
      if (err->code != EALREADY)
        return -1;
      fk_error_clear (err);
    }
  return 0;
}

static int
run_remote (const fk_cli_globals_t *g, fk_remote_t *r, const char *id, void *ctx, fk_error_t *err)
{
  return g->remote->pause (r, id, err);
}

int
fk_verb_pause (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc < 2 || argv[1][0] == '-')
    {
      int help = argc >= 2 && strcmp (argv[1], "-h") == 0;
      fprintf (help ? stdout : stderr, "usage: fk pause ID...\n");
      return help ? 0 : 2;
    }
  return fk_cli_each (g, argv + 1, argc - 1, 0, run, run_remote, NULL);
}
