/* cli/resume.c: fk resume ID...: thaws a paused sandbox, or makes one paused to disk again from
   its snapshot. */
#include <stdio.h>
#include <string.h>

#include "cli/each.h"
#include "cli/remote.h"
#include "firkin/template.h"

static int
run (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  return fk_template_sandbox_resume (sb, err);
}

static int
run_remote (const fk_cli_globals_t *g, fk_remote_t *r, const char *id, void *ctx, fk_error_t *err)
{
  return g->remote->resume (r, id, err);
}

int
fk_verb_resume (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc < 2 || argv[1][0] == '-')
    {
      int help = argc >= 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0);
      fprintf (help ? stdout : stderr,
               "usage: fk resume ID...\n"
               "  thaws a paused sandbox; one paused to disk (fk pause --to-disk) is made again\n"
               "  from its snapshot with the same id, metadata and remaining timeout\n");
      return help ? 0 : 2;
    }
  return fk_cli_each (g, argv + 1, argc - 1, FK_CLI_EACH_PROGRAMS, run, run_remote, NULL);
}
