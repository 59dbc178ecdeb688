/* resolver_spawn: starts fk-resolver through the library, as the egress plane does
   (net_resolver.sh). Usage:
     resolver_spawn NETNS_PATH PID1 RULES TABLE SET4 SET6 UPSTREAMS LOG   prints the pid
     resolver_spawn --rules FILE [allow|deny RULE]...                      writes a rules file
     resolver_spawn --reload PID | --stop PID                               signals it */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "net/resolver.h"

/* pid's parent (field 4 of its stat), or -1. */
static pid_t
parent_of (pid_t pid)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return -1;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  const char *p = strrchr (buf, ')');
  int ppid = -1;
  if (p == NULL || sscanf (p + 1, " %*c %d", &ppid) != 1)
    return -1;
  return (pid_t)ppid;
}

int
main (int argc, char **argv)
{
  fk_log_set_program ("resolver_spawn");
  fk_error_t err = FK_ERROR_INIT;
  if (argc >= 3 && strcmp (argv[1], "--rules") == 0)
    {
      const char **allow = xcalloc ((size_t)argc, sizeof *allow);
      const char **deny = xcalloc ((size_t)argc, sizeof *deny);
      size_t na = 0, nd = 0;
      uint32_t gen = 0;
      for (int i = 3; i + 1 < argc; i += 2)
        {
          if (strcmp (argv[i], "generation") == 0)
            gen = (uint32_t)strtoul (argv[i + 1], NULL, 10);
          else if (strcmp (argv[i], "allow") == 0)
            allow[na++] = argv[i + 1];
          else
            deny[nd++] = argv[i + 1];
        }
      int r = fk_resolver_rules_write (argv[2], gen, allow, deny, &err);
      free (allow);
      free (deny);
      if (r < 0)
        {
          fprintf (stderr, "resolver_spawn: %s\n", fk_error_message (&err));
          return 1;
        }
      return 0;
    }
  if (argc == 3 && (strcmp (argv[1], "--reload") == 0 || strcmp (argv[1], "--stop") == 0))
    {
      pid_t p = (pid_t)atoi (argv[2]);
      int r = strcmp (argv[1], "--reload") == 0 ? fk_resolver_reload (p, &err)
                                                : fk_resolver_stop (p, &err);
      if (r < 0)
        {
          fprintf (stderr, "resolver_spawn: %s\n", fk_error_message (&err));
          return 1;
        }
      return 0;
    }
  if (argc != 9 && argc != 10)
    {
      fprintf (stderr,
               "usage: resolver_spawn NETNS PID1 RULES TABLE SET4 SET6 UPSTREAMS LOG [GEN_SET]\n");
      return 2;
    }
  int nsfd = open (argv[1], O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    {
      perror ("resolver_spawn: open netns");
      return 1;
    }
  fk_resolver_opts_t o = FK_RESOLVER_OPTIONS_INIT;
  o.netns_fd = nsfd;
  o.pid1 = (pid_t)atoi (argv[2]);
  o.rules_path = argv[3];
  o.table = argv[4];
  o.set4 = argv[5];
  o.set6 = argv[6];
  o.upstreams = argv[7][0] ? argv[7] : NULL;
  o.log_path = argv[8];
  o.gen_set = argc == 10 ? argv[9] : NULL;
  o.timeout_ms = 1000;
  pid_t pid;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (fk_resolver_spawn (&o, &pid, &err) < 0)
    {
      fprintf (stderr, "resolver_spawn: %s\n", fk_error_message (&err));
      return 1;
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  close (nsfd);
  /* The resolver is nobody's child, and nothing is left for the caller to reap (the process
     that started it included). */
  if (parent_of (pid) == getpid ())
    {
      fprintf (stderr, "resolver_spawn: the resolver %d is the caller's child\n", (int)pid);
      return 1;
    }
  int status;
  pid_t left = waitpid (-1, &status, WNOHANG);
  if (left != -1 || errno != ECHILD)
    {
      fprintf (stderr, "resolver_spawn: a child is left to reap (%d)\n", (int)left);
      return 1;
    }
  printf ("%d\n", (int)pid);
  /* How long the spawn took, ready included (figures in docs/resolver.md). */
  fprintf (stderr, "resolver_spawn: ready in %ld us\n",
           (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
  return 0;
}
