/* bench/prepare_cached.c: times fk_template_prepare of an image the store already holds, in
   process (so the figure is the library's, not the dynamic loader's start-up of `fk').
   usage: prepare_cached STATE_DIR REF ID N  -> one line per call: milliseconds */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "firkin/template.h"

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: prepare_cached STATE_DIR REF ID N\n");
      return 2;
    }
  fk_template_prepare_opts_t po = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
  po.id = argv[3];
  po.progress = 0;
  fk_runtime_opts_t ro = FK_RUNTIME_OPTIONS_INIT;
  ro.state_dir = argv[1];
  ro.skip_sweep = 1;
  fk_runtime_t *rt = NULL;
  fk_error_t oerr = FK_ERROR_INIT;
  if (fk_runtime_open (&ro, &rt, &oerr) < 0)
    {
      fprintf (stderr, "prepare_cached: %s\n", fk_error_message (&oerr));
      fk_error_clear (&oerr);
      return 1;
    }
  int n = atoi (argv[4]);
  for (int i = 0; i < n; i++)
    {
      struct timespec a, b;
      char *id = NULL;
      fk_error_t err = FK_ERROR_INIT;
      clock_gettime (CLOCK_MONOTONIC, &a);
      int r = fk_template_prepare (rt, argv[2], &po, &id, &err);
      clock_gettime (CLOCK_MONOTONIC, &b);
      if (r < 0)
        {
          fprintf (stderr, "prepare_cached: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          fk_runtime_close (rt);
          return 1;
        }
      free (id);
      printf ("%.3f\n",
              (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    }
  fk_runtime_close (rt);
  return 0;
}
