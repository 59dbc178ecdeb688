/* cli/extend.c: fk extend ID SECONDS: the sandbox now expires SECONDS from now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/each.h"
#include "cli/remote.h"

static int
extend (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  return fk_sandbox_extend (sb, *(unsigned long long *)ctx, err);
}

static int
extend_remote (const fk_cli_globals_t *g, fk_remote_t *r, const char *id, void *ctx,
               fk_error_t *err)
{
  return g->remote->extend (r, id, *(unsigned long long *)ctx, err);
}

int
fk_verb_extend (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc != 3)
    {
      int help = argc == 2 && strcmp (argv[1], "-h") == 0;
      fprintf (help ? stdout : stderr, "usage: fk extend ID SECONDS   (expire SECONDS from now)\n");
      return help ? 0 : 2;
    }
  char *end;
  unsigned long long s = strtoull (argv[2], &end, 10);
  if (argv[2][0] < '0' || argv[2][0] > '9' || *end)
    {
      fprintf (stderr, "fk: extend: `%s' is not a number of seconds\n", argv[2]);
      return 2;
    }
  return fk_cli_each (g, argv + 1, 1, 0, extend, extend_remote, &s);
}
