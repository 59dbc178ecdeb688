/* cli/rm.c: fk rm [-f] ID...: deletes sandboxes (-f: kill them if running). */
#include <getopt.h>
#include <stdio.h>

#include "cli/each.h"
#include "cli/remote.h"

static int
rm (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  return fk_sandbox_delete (sb, *(int *)ctx, err);
}

static int
rm_remote (const fk_cli_globals_t *g, fk_remote_t *r, const char *id, void *ctx, fk_error_t *err)
{
  return g->remote->delete (r, id, *(int *)ctx, err);
}

int
fk_verb_rm (const fk_cli_globals_t *g, int argc, char **argv)
{
  int force = 0, c;
  while ((c = getopt (argc, argv, "+fh")) != -1)
    switch (c)
      {
      case 'f':
        force = 1;
        break;
      case 'h':
        printf ("usage: fk rm [-f] ID...   (-f: kill a running sandbox; one that is gone is no "
                "error)\n");
        return 0;
      default:
        fprintf (stderr, "usage: fk rm [-f] ID...\n");
        return 2;
      }
  if (optind >= argc)
    {
      fprintf (stderr, "usage: fk rm [-f] ID...\n");
      return 2;
    }
  return fk_cli_each (g, argv + optind, argc - optind, force ? FK_CLI_EACH_MISSING_OK : 0, rm,
                      rm_remote, &force);
}
