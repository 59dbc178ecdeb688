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
  fk_template_prepare_opts_t po = { .id = argv[3], .progress = 0 };
  int n = atoi (argv[4]);
  for (int i = 0; i < n; i++)
    {
      struct timespec a, b;
      char *id = NULL;
      fk_error_t err = FK_ERROR_INIT;
      clock_gettime (CLOCK_MONOTONIC, &a);
      int r = fk_template_prepare (argv[1], argv[2], &po, &id, &err);
      clock_gettime (CLOCK_MONOTONIC, &b);
      if (r < 0)
        {
          fprintf (stderr, "prepare_cached: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          return 1;
        }
      free (id);
      printf ("%.3f\n",
              (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    }
  return 0;
}
