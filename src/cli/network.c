/* cli/network.c: fk network ID [--allow-out RULE]... [--deny-out RULE]...: replaces a running
   egress sandbox's rules (no option: no rule, every address but the default-denied ranges). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "cli/open.h"
#include "cli/verbs.h"
#include "firkin/sandbox.h"

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk network ID [--allow-out RULE]... [--deny-out RULE]...\n"
                "  replaces the egress rules of a running sandbox at once (docs/network.md)\n"
                "  --allow-out RULE  an address, CIDR block or domain name (*.example.com)\n"
                "  --deny-out RULE   an address or CIDR block; 0.0.0.0/0 denies all\n");
}

static void
push (char ***v, size_t *n, const char *arg)
{
  *v = xrealloc (*v, (*n + 2) * sizeof (char *));
  (*v)[(*n)++] = (char *)arg;
  (*v)[*n] = NULL;
}

int
fk_verb_network (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = { { "allow-out", required_argument, NULL, 'a' },
                                        { "deny-out", required_argument, NULL, 'd' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  char **allow = NULL, **deny = NULL;
  size_t na = 0, nd = 0;
  int c, rc = 0;
  optind = 0; /* 0: getopt starts over (fk parsed its own options first) */
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        push (&allow, &na, optarg);
        break;
      case 'd':
        push (&deny, &nd, optarg);
        break;
      case 'h':
        usage (stdout);
        goto out;
      default:
        usage (stderr);
        rc = 2;
        goto out;
      }
  if (optind + 1 != argc)
    {
      usage (stderr);
      rc = 2;
      goto out;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  if (fk_cli_runtime_open (g, 0, NULL, &rt, &err) < 0
      || fk_sandbox_open (rt, argv[optind], &sb, &err) < 0
      || fk_sandbox_set_network (sb, (const char *const *)allow, (const char *const *)deny, &err)
             < 0)
    rc = fk_cli_fail (&err, 1);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
out:
  free (allow);
  free (deny);
  return rc;
}
