/* cli/each.c: the id loop of stop, pause, resume and rm. */
#include "cli/each.h"

#include <errno.h>
#include <stdio.h>

#include "cli/open.h"
#include "cli/remote.h"

int
fk_cli_each (const fk_cli_globals_t *g, char **ids, int n, unsigned flags, fk_cli_each_fn fn,
             fk_cli_each_remote_fn rfn, void *ctx)
{
  fk_error_t err = FK_ERROR_INIT;
  if (g->remote)
    {
      fk_remote_t *r = NULL;
      if (fk_cli_remote_open (g, &r, &err) < 0)
        return fk_cli_fail (&err, 1);
      int rc = 0;
      for (int i = 0; i < n; i++)
        {
          if (rfn (g, r, ids[i], ctx, &err) < 0
              && !((flags & FK_CLI_EACH_MISSING_OK) && err.code == ENOENT))
            {
              fprintf (stderr, "fk: %s\n", fk_error_message (&err));
              rc = 1;
            }
          fk_error_clear (&err);
        }
      g->remote->close (r);
      return rc;
    }
  fk_runtime_t *rt = NULL;
  if (fk_cli_runtime_open (g, (flags & FK_CLI_EACH_PROGRAMS) ? FK_CLI_RUNTIME_PROGRAMS : 0, NULL,
                           &rt, &err)
      < 0)
    return fk_cli_fail (&err, 1);
  int rc = 0;
  for (int i = 0; i < n; i++)
    {
      fk_sandbox_t *sb = NULL;
      if ((fk_sandbox_open (rt, ids[i], &sb, &err) < 0 || fn (sb, ctx, &err) < 0)
          && !((flags & FK_CLI_EACH_MISSING_OK) && err.code == ENOENT))
        {
          fprintf (stderr, "fk: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          rc = 1;
        }
      fk_error_clear (&err);
      fk_sandbox_free (sb);
    }
  fk_runtime_close (rt);
  return rc;
}
