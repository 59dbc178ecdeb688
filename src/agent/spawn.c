/* agent/spawn.c: starting a command: clone with CLONE_VFORK (the parent sleeps only until the
   child has exec'd, and learns why it could not: a bad cwd or user is an error, not a child
   that exits 127), the environment merged over the agent's, PATH searched as the command's
   environment says, the user from the root's /etc/passwd. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/env.h"
#include "base/xalloc.h"

extern char **environ;

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum
{
  STAGE_NONE = 0,
  STAGE_CWD,
  STAGE_USER,
  STAGE_PTY,
};

typedef struct spawn
{
  char *const *argv;
  char *const *envp;
  const char *cwd;
  const agent_user_t *user;
  int fd_in, fd_out, fd_err;
  int pty;
  int extra_fd, extra_target; /* also dup extra_fd to extra_target (when >= 0) */
  int stage, error;           /* written by the child, read after it exec'd or exited */
} spawn_t;

static void
child_write (const char *s)
{
  ssize_t r = write (2, s, strlen (s));
  (void)r;
}

/* Runs in the child, sharing the agent's memory until exec: async-signal-safe calls only. */
static int
child_main (void *arg)
{
  spawn_t *s = arg;
  sigset_t none;
  sigemptyset (&none);
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigaction (SIGPIPE, &dfl, NULL);
  sigprocmask (SIG_SETMASK, &none, NULL);
  setsid ();
  if (s->pty && ioctl (s->fd_out, TIOCSCTTY, 0) < 0)
    {
      s->stage = STAGE_PTY;
      s->error = errno;
      _exit (127);
    }
  if (dup2 (s->fd_in, 0) < 0 || dup2 (s->fd_out, 1) < 0 || dup2 (s->fd_err, 2) < 0)
    _exit (127);
  if (s->extra_fd >= 0 && dup2 (s->extra_fd, s->extra_target) < 0)
    _exit (127);
  if (s->cwd != NULL && chdir (s->cwd) < 0)
    {
      s->stage = STAGE_CWD;
      s->error = errno;
      _exit (127);
    }
  if (s->user != NULL)
    {
      if ((getuid () == 0 && setgroups ((size_t)s->user->n_groups, s->user->groups) < 0)
          || setgid (s->user->gid) < 0 || setuid (s->user->uid) < 0)
        {
          s->stage = STAGE_USER;
          s->error = errno;
          _exit (127);
        }
    }
  agent_child_dies_with_agent ();
  const char *file = s->argv[0];
  int err = ENOENT;
  if (strchr (file, '/') != NULL)
    {
      execve (file, s->argv, s->envp);
      err = errno;
    }
  else
    {
      const char *path = fk_env_get (s->envp, "PATH");
      if (path == NULL)
        path = DEFAULT_PATH;
      char buf[4096];
      size_t fl = strlen (file);
      int seen_eacces = 0;
      for (const char *p = path;; p++)
        {
          const char *end = strchr (p, ':');
          size_t dl = end ? (size_t)(end - p) : strlen (p);
          if (dl + fl + 2 <= sizeof buf)
            {
              memcpy (buf, p, dl);
              size_t o = dl;
              if (dl == 0)
                buf[o++] = '.';
              buf[o++] = '/';
              memcpy (buf + o, file, fl + 1);
              execve (buf, s->argv, s->envp);
              if (errno == EACCES)
                seen_eacces = 1;
            }
          if (end == NULL)
            break;
          p = end;
        }
      err = seen_eacces ? EACCES : ENOENT;
    }
  child_write ("fk-agent: ");
  child_write (file);
  child_write (err == ENOENT && strchr (file, '/') == NULL ? ": command not found\n"
               : err == EACCES                             ? ": permission denied\n"
                                                           : ": cannot execute\n");
  _exit (err == ENOENT ? 127 : 126);
}

static pid_t
spawn (spawn_t *s)
{
  /* A private stack: with CLONE_VM the child must not scribble on ours. The agent is
     single-threaded and the parent sleeps until exec, so one static stack is enough. */
  static char stack[64 * 1024] __attribute__ ((aligned (16)));
  return clone (child_main, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, s);
}

pid_t
proc_spawn (const proc_spawn_t *r, fk_error_t *err)
{
  agent_user_t user;
  memset (&user, 0, sizeof user);
  const char *user_spec = r->user != NULL && r->user[0] != '\0' ? r->user : agent->default_user;
  int have_user = user_spec != NULL;
  if (have_user && agent_user_resolve (agent->rootfd, user_spec, &user, err) < 0)
    return -1;
  /* Like a login: the user's home from /etc/passwd, unless the request sets HOME. */
  cleanup_free char *home = have_user && user.home ? xasprintf ("HOME=%s", user.home) : NULL;
  char *with_home[] = { home, NULL };
  char *const *lists[] = { environ, with_home, r->env };
  cleanup_free char **envp = fk_env_merge (lists, 3);
  spawn_t s = {
    .argv = r->argv,
    .envp = envp,
    .cwd = r->cwd && r->cwd[0] ? r->cwd : NULL,
    .user = have_user ? &user : NULL,
    .fd_in = r->fd_in,
    .fd_out = r->fd_out,
    .fd_err = r->fd_err,
    .pty = r->pty,
    .extra_fd = r->extra_fd,
    .extra_target = r->extra_target,
  };
  pid_t pid = spawn (&s);
  agent_user_clear (&user);
  if (pid < 0)
    return fk_error_set_errno (err, "clone");
  if (s.stage != STAGE_NONE)
    {
      /* The child exits; the reaper collects it as an unknown pid. */
      errno = s.error;
      if (s.stage == STAGE_CWD)
        return fk_error_set_errno (err, "cwd `%s'", s.cwd);
      if (s.stage == STAGE_USER)
        return fk_error_set_errno (err, "switch to user `%s'", user_spec);
      return fk_error_set_errno (err, "set the controlling terminal");
    }
  return pid;
}
