/* cli/pause.c: fk pause [--to-disk] ID...: freezes every process of the sandbox, or (--to-disk)
   snapshots its filesystem and stops it (the snapshot needs the layer writer: fk hands that
   over to fk-image). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "cli/each.h"
#include "cli/remote.h"
#include "firkin/template.h"

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

#ifdef FK_IMAGE_VERBS
static int
run_to_disk (fk_sandbox_t *sb, void *ctx, fk_error_t *err)
{
  char *snap = NULL;
  if (fk_sandbox_pause_to_disk (sb, &snap, err) < 0)
    return -1;
  free (snap);
  return 0;
}
#endif

static int
run_remote (const fk_cli_globals_t *g, fk_remote_t *r, const char *id, void *ctx, fk_error_t *err)
{
  return g->remote->pause (r, id, err);
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk pause [--to-disk] ID...\n"
                "  freezes every process of each sandbox (fk resume thaws them); with --to-disk,\n"
                "  snapshots its filesystem (the template disk-ID) and stops it: no process, no\n"
                "  memory; fk resume makes it again from the snapshot, same id, metadata and\n"
                "  remaining timeout (docs/snapshots.md)\n");
}

int
fk_verb_pause (const fk_cli_globals_t *g, int argc, char **argv)
{
  /* --to-disk anywhere among the ids (fk pause ID --to-disk means it too); any other option is
     a mistake, not an id. */
  int to_disk = 0, help = 0, n = 0;
  /* The ids apart (argv itself stays as it is: fk-image is handed fk's own arguments). */
  cleanup_free char **ids = xcalloc ((size_t)argc + 1, sizeof *ids);
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--to-disk") == 0)
      to_disk = 1;
    else if (strcmp (argv[i], "-h") == 0 || strcmp (argv[i], "--help") == 0)
      help = 1;
    else if (argv[i][0] == '-')
      {
        fprintf (stderr, "fk: pause: unknown option `%s'\n", argv[i]);
        usage (stderr);
        return 2;
      }
    else
      ids[n++] = argv[i];
  if (help || n == 0)
    {
      usage (help ? stdout : stderr);
      return help ? 0 : 2;
    }
  if (!to_disk)
    return fk_cli_each (g, ids, n, 0, run, run_remote, NULL);
  if (g->remote_url)
    {
      fprintf (stderr, "fk: pause --to-disk: not available with --remote yet\n");
      return 2;
    }
#ifdef FK_IMAGE_VERBS
  return fk_cli_each (g, ids, n, 0, run_to_disk, NULL, NULL);
#else
  return fk_cli_image_companion (argv[0]);
#endif
}
