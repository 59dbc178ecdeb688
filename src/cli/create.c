/* cli/create.c: fk create [OPTIONS] [TEMPLATE]: creates a sandbox and prints its id. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/open.h"
#include "cli/remote.h"
#include "cli/spec_opts.h"
#include "cli/verbs.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk create [OPTIONS] [TEMPLATE]   (TEMPLATE defaults to `base')\n%s",
           fk_cli_spec_usage);
}

int
fk_verb_create (const fk_cli_globals_t *g, int argc, char **argv)
{
  fk_cli_spec_t s;
  fk_cli_spec_init (&s);
  int rc = fk_cli_spec_parse (&s, argc, argv, usage);
  if (rc >= 0)
    return rc;
  rc = 0;
  if (argc - optind > 1)
    {
      fprintf (stderr, "fk: create: one template at most (got `%s' and `%s')\n", argv[optind],
               argv[optind + 1]);
      fk_cli_spec_free (&s);
      return 2;
    }
  fk_cli_spec_finish (&s, optind < argc ? argv[optind] : NULL);
  fk_error_t err = FK_ERROR_INIT;
  if (g->remote)
    {
      fk_remote_t *r = NULL;
      char *id = NULL;
      if (fk_cli_remote_open (g, &r, &err) < 0 || g->remote->create (r, &s.spec, &id, &err) < 0)
        rc = fk_cli_fail (&err, 1);
      else
        printf ("%s\n", id);
      free (id);
      if (r)
        g->remote->close (r);
      fk_cli_spec_free (&s);
      return rc;
    }
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, s.agent_path, &rt, &err) < 0
      || fk_template_sandbox_create (rt, &s.spec, &sb, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    printf ("%s\n", fk_sandbox_id (sb));
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  fk_cli_spec_free (&s);
  return rc;
}
