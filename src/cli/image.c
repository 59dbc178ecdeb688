/* cli/image.c: fk image prune: frees the layers and blobs no template uses. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/open.h"
#include "firkin/template.h"

int
fk_verb_image (const fk_cli_globals_t *g, int argc, char **argv)
{
  const char *last = argc >= 2 ? argv[argc - 1] : "";
  int help = (argc == 2 || (argc == 3 && strcmp (argv[1], "prune") == 0))
             && (strcmp (last, "--help") == 0 || strcmp (last, "-h") == 0);
  if (help || argc != 2 || strcmp (argv[1], "prune") != 0)
    {
      fprintf (help ? stdout : stderr,
               "usage: fk image prune\n"
               "  removes the unpacked layers and blobs no template uses\n");
      return help ? 0 : 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_template_gc_stats_t st;
  fk_runtime_t *rt = NULL;
  int r = fk_cli_runtime_open (g, FK_CLI_RUNTIME_NO_SWEEP, NULL, &rt, &err) < 0
              ? -1
              : fk_template_prune (rt, &st, &err);
  fk_runtime_close (rt);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  printf ("freed %u layers, %u blobs, %" PRIu64 " bytes\n", st.layers_removed, st.blobs_removed,
          st.bytes_freed);
  return 0;
}
