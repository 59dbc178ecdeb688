/* cli/snapshot.c: fk snapshot ID [--id NAME] and fk fork ID [--count N] (in fk-image: they
   need the layer writer). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/open.h"
#include "cli/verbs.h"
#include "firkin/template.h"

static void
snapshot_usage (FILE *out)
{
  fprintf (out,
           "usage: fk snapshot ID [--id NAME]\n"
           "  captures what sandbox ID changed in its filesystem (frozen for the capture only)\n"
           "  as a new template NAME (default: snap-ID-XXXXXXXX) on top of its template, with\n"
           "  its env, cwd and user; prints the template id. `fk create NAME' starts from it.\n"
           "  The snapshot holds what the sandbox's code wrote: treat it as untrusted.\n");
}

int
fk_verb_snapshot (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "id", required_argument, NULL, 'i' }, { "help", no_argument, NULL, 'h' }, { 0 } };
  fk_snapshot_opts_t so = FK_SNAPSHOT_OPTIONS_INIT;
  int c;
  while ((c = getopt_long (argc, argv, "hi:", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        so.id = optarg;
        break;
      case 'h':
        snapshot_usage (stdout);
        return 0;
      default:
        snapshot_usage (stderr);
        return 2;
      }
  if (optind + 1 != argc)
    {
      snapshot_usage (stderr);
      return 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  char *id = NULL;
  int rc = 0;
  if (fk_cli_runtime_open (g, 0, NULL, &rt, &err) < 0
      || fk_sandbox_open (rt, argv[optind], &sb, &err) < 0
      || fk_sandbox_snapshot (sb, &so, &id, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    printf ("%s\n", id);
  free (id);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  return rc;
}

static void
fork_usage (FILE *out)
{
  fprintf (out,
           "usage: fk fork ID [--count N]\n"
           "  N (default 1, at most %d) new sandboxes that start from ID's filesystem now,\n"
           "  sharing one snapshot layer; same limits, metadata and remaining timeout.\n"
           "  Prints their ids, one a line.\n",
           FK_FORK_MAX);
}

int
fk_verb_fork (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[]
      = { { "count", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { 0 } };
  unsigned long count = 1;
  int c;
  char *end;
  while ((c = getopt_long (argc, argv, "hn:", opts, NULL)) != -1)
    switch (c)
      {
      case 'n':
        errno = 0;
        count = strtoul (optarg, &end, 10);
        if (optarg[0] < '0' || optarg[0] > '9' || *end || errno || count < 1 || count > FK_FORK_MAX)
          {
            fprintf (stderr, "fk: fork: --count `%s' is not a number from 1 to %d\n", optarg,
                     FK_FORK_MAX);
            return 2;
          }
        break;
      case 'h':
        fork_usage (stdout);
        return 0;
      default:
        fork_usage (stderr);
        return 2;
      }
  if (optind + 1 != argc)
    {
      fork_usage (stderr);
      return 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  char **ids = NULL;
  int rc = 0;
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0
      || fk_sandbox_open (rt, argv[optind], &sb, &err) < 0
      || fk_sandbox_fork (sb, (unsigned)count, &ids, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    for (char **p = ids; *p; p++)
      printf ("%s\n", *p);
  fk_strv_free (ids);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  return rc;
}
