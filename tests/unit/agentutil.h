/* tests/unit/agentutil.h: a real fk-agent on a temp socket (--listen) with a temp --root, for
   tests of the client and the agent. $FK_AGENT names the binary (set by meson). */
#ifndef FK_AGENTUTIL_H
#define FK_AGENTUTIL_H

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "firkin/client.h"

extern char **environ;

typedef struct test_agent
{
  char *dir;  /* scratch: sock, root/ */
  char *root; /* the agent's --root (a scratch directory unless given) */
  char *sock;
  pid_t pid;
} test_agent_t;

static inline void
test_sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

/* Starts argv; the child gets SIGKILL when this process dies first, so a test that crashes
   (an assertion, a sanitizer's abort) leaves no agent behind. */
static inline pid_t
test_spawn_agent (char *const argv[])
{
  pid_t parent = getpid ();
  pid_t pid = fork ();
  if (pid == 0)
    {
      if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () != parent)
        _exit (127);
      execve (argv[0], argv, environ);
      _exit (127);
    }
  return pid;
}

/* Starts the agent with --root root (NULL: a scratch directory) and waits (polling, 10 s at
   most) until a client connects. */
static inline int
test_agent_start_in (test_agent_t *a, const char *root, const char *extra_arg)
{
  const char *bin = getenv ("FK_AGENT");
  if (bin == NULL)
    {
      fprintf (stderr, "# FK_AGENT is not set\n");
      return -1;
    }
  const char *base = getenv ("TMPDIR");
  if (asprintf (&a->dir, "%s/fk-agent-test.XXXXXX", base ? base : "/tmp") < 0
      || mkdtemp (a->dir) == NULL)
    return -1;
  if ((root ? (a->root = strdup (root)) == NULL : asprintf (&a->root, "%s/root", a->dir) < 0)
      || asprintf (&a->sock, "%s/sock", a->dir) < 0)
    return -1;
  if (root == NULL)
    mkdir (a->root, 0755);
  char *argv[] = { (char *)bin, (char *)"--listen", a->sock, (char *)"--root",
                   a->root,     (char *)extra_arg,  NULL };
  if ((a->pid = test_spawn_agent (argv)) < 0)
    return -1;
  for (int i = 0; i < 2000; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = NULL;
      if (fk_client_connect (a->sock, &c, &err) == 0)
        {
          fk_client_close (c);
          return 0;
        }
      fk_error_clear (&err);
      int st;
      if (waitpid (a->pid, &st, WNOHANG) == a->pid)
        {
          a->pid = 0;
          return -1;
        }
      test_sleep_ms (5);
    }
  return -1;
}

static inline int
test_agent_start (test_agent_t *a, const char *extra_arg)
{
  return test_agent_start_in (a, NULL, extra_arg);
}

/* Stops the agent with SIGTERM; returns its exit status (-1 if it did not exit cleanly). */
static inline int
test_agent_stop (test_agent_t *a)
{
  int rc = 0; /* already stopped by the test */
  if (a->pid > 0)
    {
      int st = 0;
      rc = -1;
      kill (a->pid, SIGTERM);
      if (waitpid (a->pid, &st, 0) == a->pid && WIFEXITED (st))
        rc = WEXITSTATUS (st);
      a->pid = 0;
    }
  if (a->dir)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_rm_rf_at (AT_FDCWD, a->dir, &err);
      fk_error_clear (&err);
    }
  free (a->dir);
  free (a->root);
  free (a->sock);
  memset (a, 0, sizeof *a);
  return rc;
}

#endif
