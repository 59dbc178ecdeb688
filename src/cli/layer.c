/* cli/layer.c: fk layer apply BLOB DIR: unpacks one layer blob into an empty directory (a debug
   verb, and what the layer integration tests drive). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli/verbs.h"
#include "image/layer.h"

static void
layer_usage (FILE *out)
{
  fprintf (out, "usage: fk layer apply [--max-size BYTES] [--ignore-owners] BLOB DIR\n"
                "  unpacks the layer BLOB (tar, tar+gzip, tar+zstd; `-' reads stdin) into the\n"
                "  empty directory DIR (created when missing) and prints its diff_id\n");
}

static int
layer_apply (int argc, char **argv)
{
  static const struct option opts[] = {
    {"max-size", required_argument, NULL, 'm'},
    {"ignore-owners", no_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  fk_layer_opts_t lo = {0};
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    {
      switch (c)
        {
        case 'm':
          {
            char *end;
            errno = 0;
            unsigned long long v = strtoull (optarg, &end, 10);
            if (errno || end == optarg || *end || v == 0)
              {
                fprintf (stderr, "fk: layer apply: bad --max-size `%s'\n", optarg);
                return 2;
              }
            lo.max_size = v;
            break;
          }
        case 'o':
          lo.ignore_owners = 1;
          break;
        case 'h':
          layer_usage (stdout);
          return 0;
        default:
          layer_usage (stderr);
          return 2;
        }
    }
  if (argc - optind != 2)
    {
      layer_usage (stderr);
      return 2;
    }
  const char *blob = argv[optind], *dir = argv[optind + 1];
  fk_error_t err = FK_ERROR_INIT;
  cleanup_close int blobfd = strcmp (blob, "-") == 0 ? dup (0) : open (blob, O_RDONLY | O_CLOEXEC);
  if (blobfd < 0)
    {
      fk_error_set_errno (&err, "open `%s'", blob);
      return fk_cli_fail (&err, 1);
    }
  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    {
      fk_error_set_errno (&err, "mkdir `%s'", dir);
      return fk_cli_fail (&err, 1);
    }
  cleanup_close int rootfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    {
      fk_error_set_errno (&err, "open `%s'", dir);
      return fk_cli_fail (&err, 1);
    }
  fk_layer_stats_t st;
  if (fk_layer_apply (rootfd, blobfd, &lo, &st, &err) < 0)
    return fk_cli_fail (&err, 1);
  printf ("%s\n", st.diff_id);
  fprintf (stderr,
           "fk: layer: %s, %" PRIu64 " tar bytes, %" PRIu64 " entries, %" PRIu64
           " file bytes, %" PRIu64 " whiteouts, %" PRIu64 " opaque dirs, %" PRIu64 " skipped\n",
           fk_layer_compression_name (st.compression), st.tar_size, st.entries,
           st.unpacked_size, st.whiteouts, st.opaque_dirs, st.skipped);
  return 0;
}

int
fk_verb_layer (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      layer_usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "apply") == 0)
    return layer_apply (argc - 1, argv + 1);
  fprintf (stderr, "fk: layer: unknown command `%s'\n", argv[1]);
  layer_usage (stderr);
  return 2;
}
