/* tests/fuzz/driver.c: runs a fuzz target over files (its seed corpus and any crash inputs) so
   the targets run in the ordinary and sanitizer suites; `make fuzz` links libFuzzer instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
run_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  if (f == NULL)
    return -1;
  size_t cap = 1 << 16, len = 0;
  uint8_t *buf = malloc (cap);
  size_t n;
  while (buf && (n = fread (buf + len, 1, cap - len, f)) > 0)
    {
      len += n;
      if (len == cap)
        buf = realloc (buf, cap *= 2);
    }
  fclose (f);
  if (buf == NULL)
    abort ();
  LLVMFuzzerTestOneInput (buf, len);
  free (buf);
  return 0;
}

int
main (int argc, char **argv)
{
  int count = 0;
  for (int i = 1; i < argc; i++)
    {
      struct stat st;
      if (stat (argv[i], &st) < 0)
        {
          fprintf (stderr, "fuzz driver: cannot stat %s\n", argv[i]);
          return 1;
        }
      if (!S_ISDIR (st.st_mode))
        {
          count += run_file (argv[i]) == 0;
          continue;
        }
      DIR *d = opendir (argv[i]);
      struct dirent *de;
      while (d && (de = readdir (d)) != NULL)
        {
          if (de->d_name[0] == '.')
            continue;
          char p[4096];
          snprintf (p, sizeof p, "%s/%s", argv[i], de->d_name);
          count += run_file (p) == 0;
        }
      if (d)
        closedir (d);
    }
  /* Empty and tiny inputs always, whatever the corpus holds. */
  LLVMFuzzerTestOneInput ((const uint8_t *)"", 0);
  LLVMFuzzerTestOneInput ((const uint8_t *)"\0", 1);
  printf ("1..1\nok 1 - %d corpus inputs ran clean\n", count);
  return 0;
}
