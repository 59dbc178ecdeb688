/* cli/ls.c: fk ls [-q]: the sandboxes of the state dir, oldest first. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/open.h"
#include "cli/remote.h"
#include "firkin/sandbox.h"

int
fk_verb_ls (const fk_cli_globals_t *g, int argc, char **argv)
{
  int quiet = 0, c;
  while ((c = getopt (argc, argv, "+qh")) != -1)
    switch (c)
      {
      case 'q':
        quiet = 1;
        break;
      case 'h':
        printf ("usage: fk ls [-q]   (-q: ids only)\n");
        return 0;
      default:
        fprintf (stderr, "usage: fk ls [-q]\n");
        return 2;
      }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_remote_t *r = NULL;
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  if (g->remote ? fk_cli_remote_open (g, &r, &err) < 0 || g->remote->list (r, &infos, &n, &err) < 0
                : fk_cli_runtime_open (g, 0, NULL, &rt, &err) < 0
                      || fk_sandbox_list (rt, &infos, &n, &err) < 0)
    {
      if (r)
        g->remote->close (r);
      fk_runtime_close (rt);
      return fk_cli_fail (&err, 1);
    }
  if (r)
    g->remote->close (r);
  if (!quiet)
    printf ("%-14s %-14s %-8s %-20s %-20s %s\n", "ID", "STATUS", "PID", "CREATED", "EXPIRES",
            "TEMPLATE");
  time_t now = time (NULL);
  for (size_t i = 0; i < n; i++)
    {
      fk_sandbox_info_t *s = infos[i];
      if (quiet)
        printf ("%s\n", s->id);
      else
        {
          char created[32], expires[32];
          time_t t = (time_t)s->created;
          strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime (&t));
          if (s->expires)
            snprintf (expires, sizeof expires, "in %llds", (long long)(s->expires - now));
          else
            snprintf (expires, sizeof expires, "never");
          /* fkd's API does not give the pid; one asleep on disk has none. */
          char pid[16] = "-";
          if (s->pid && s->status != FK_SANDBOX_PAUSED_TO_DISK)
            snprintf (pid, sizeof pid, "%d", (int)s->pid);
          printf ("%-14s %-14s %-8s %-20s %-20s %s\n", s->id, fk_sandbox_status_name (s->status),
                  pid, created, expires, s->template_id ? s->template_id : "-");
        }
    }
  fk_sandbox_info_list_free (infos, n);
  fk_runtime_close (rt);
  return 0;
}
