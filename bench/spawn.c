/* bench/spawn.c: timed child processes for the peers. */
#include "bench/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"

#define STDERR_KEEP 2048

char *
fk_bench_which (const char *name)
{
  if (strchr (name, '/'))
    return access (name, X_OK) == 0 ? xstrdup (name) : NULL;
  const char *path = getenv ("PATH");
  cleanup_free char *copy = xstrdup (path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL;
  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char *p = xasprintf ("%s/%s", dir, name);
      struct stat st;
      if (stat (p, &st) == 0 && S_ISREG (st.st_mode) && access (p, X_OK) == 0)
        return p;
      free (p);
    }
  return NULL;
}

static void
say (const char *msg)
{
  if (write (2, msg, strlen (msg)) < 0)
    _exit (126);
}

/* In the child: only async-signal-safe calls, then exec or _exit. */
static void __attribute__ ((noreturn))
child (char *const *argv, int mntns_fd, int out_fd, int err_fd)
{
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2 (null, 0) < 0 || dup2 (out_fd >= 0 ? out_fd : null, 1) < 0
      || dup2 (err_fd, 2) < 0)
    _exit (126);
  if (mntns_fd >= 0 && setns (mntns_fd, CLONE_NEWNS) < 0)
    {
      say ("fk bench: cannot enter the peer's mount namespace: ");
      say (strerror (errno));
      _exit (126);
    }
  execvp (argv[0], argv);
  _exit (errno == ENOENT ? 127 : 126);
}

int
fk_bench_proc_start (char *const *argv, int mntns_fd, int out_fd, fk_bench_proc_t *ret_proc,
                     fk_error_t *err)
{
  /* stderr goes to a memory file, not a pipe: a detached peer (crun run -d) hands it on to a
     container that outlives the command, and a pipe would never reach EOF. */
  cleanup_close int err_fd = memfd_create ("fk-bench-stderr", MFD_CLOEXEC);
  if (err_fd < 0)
    return fk_error_set_errno (err, "memfd_create");
  uint64_t t0 = fk_now_ns ();
  pid_t pid = fork ();
  if (pid < 0)
    return fk_error_set_errno (err, "fork `%s'", argv[0]);
  if (pid == 0)
    child (argv, mntns_fd, out_fd, err_fd);
  /* Our own child, not yet waited for: the pid cannot have been reused. */
  int pidfd = pidfd_open (pid, 0);
  if (pidfd < 0)
    {
      int e = errno;
      kill (pid, SIGKILL);
      while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
      errno = e;
      return fk_error_set_errno (err, "pidfd_open `%s'", argv[0]);
    }
  *ret_proc = (fk_bench_proc_t){ .name = xstrdup (argv[0]),
                                 .pid = pid,
                                 .pidfd = pidfd,
                                 .err_fd = steal_fd (&err_fd),
                                 .start_ns = t0 };
  return 0;
}

/* The error for a child that ended with status, quoting its stderr. */
static int
failed (const fk_bench_proc_t *p, int status, fk_error_t *err)
{
  char keep[STDERR_KEEP + 1];
  ssize_t n = pread (p->err_fd, keep, STDERR_KEEP, 0);
  size_t kept = n > 0 ? (size_t)n : 0;
  while (kept > 0 && (keep[kept - 1] == '\n' || keep[kept - 1] == ' '))
    kept--;
  keep[kept] = '\0';
  if (WIFSIGNALED (status))
    return fk_error_set (err, EIO, "`%s' was killed by signal %d%s%s", p->name, WTERMSIG (status),
                         kept ? ": " : "", keep);
  return fk_error_set (err, EIO, "`%s' exited %d%s%s", p->name, WEXITSTATUS (status),
                       kept ? ": " : "", keep);
}

int
fk_bench_procs_wait (fk_bench_proc_t *procs, size_t n, fk_error_t *err)
{
  cleanup_free struct pollfd *pfds = xcalloc (n ? n : 1, sizeof *pfds);
  for (size_t i = 0; i < n; i++)
    pfds[i] = (struct pollfd){ .fd = procs[i].pidfd, .events = POLLIN };
  /* Stamp each exit as poll reports it: the end times stay exact whatever the order. */
  for (size_t left = n; left > 0;)
    {
      if (poll (pfds, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          /* Cannot happen with valid fds; reap below without end times. */
          break;
        }
      uint64_t t = fk_now_ns ();
      for (size_t i = 0; i < n; i++)
        if (pfds[i].fd >= 0 && pfds[i].revents)
          {
            procs[i].end_ns = t;
            pfds[i].fd = -1;
            left--;
          }
    }
  int ret = 0;
  for (size_t i = 0; i < n; i++)
    {
      fk_bench_proc_t *p = &procs[i];
      int status = 0;
      pid_t r;
      while ((r = waitpid (p->pid, &status, 0)) < 0 && errno == EINTR)
        ;
      if (p->end_ns == 0)
        p->end_ns = fk_now_ns ();
      if (ret == 0 && r < 0)
        ret = fk_error_set_errno (err, "wait for `%s'", p->name);
      else if (ret == 0 && !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
        ret = failed (p, status, err);
      p->pidfd = close_and_reset (p->pidfd);
      p->err_fd = close_and_reset (p->err_fd);
      free (p->name);
      p->name = NULL;
    }
  return ret;
}

int
fk_bench_spawn (char *const *argv, int mntns_fd, uint64_t *ret_elapsed_ns, fk_error_t *err)
{
  fk_bench_proc_t p;
  if (fk_bench_proc_start (argv, mntns_fd, -1, &p, err) < 0 || fk_bench_procs_wait (&p, 1, err) < 0)
    return -1;
  if (ret_elapsed_ns)
    *ret_elapsed_ns = p.end_ns - p.start_ns;
  return 0;
}
