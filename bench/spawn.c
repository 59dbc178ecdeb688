/* bench/spawn.c: timed child processes for the peers. */
#include "bench/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/* In the child: only async-signal-safe calls, then exec or _exit. */
static void __attribute__ ((noreturn)) child (char *const *argv, unsigned flags, int err_fd)
{
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2 (null, 0) < 0 || dup2 (null, 1) < 0 || dup2 (err_fd, 2) < 0)
    _exit (126);
  if (flags & FK_BENCH_SPAWN_HIDE_CGROUP2)
    {
      static const char msg[] = "fk bench: cannot hide the cgroup2 mount in a mount namespace\n";
      /* Slave, not private: the host's later mounts still reach the peer; its unmount of
         the cgroup2 mount stays here. */
      if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        {
          if (write (2, msg, sizeof msg - 1) < 0)
            _exit (126);
          _exit (126);
        }
      /* EINVAL: not a mount point here (pure v1 or v2 host), nothing to hide. */
      if (umount2 (FK_BENCH_UNIFIED_MOUNT, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        {
          if (write (2, msg, sizeof msg - 1) < 0)
            _exit (126);
          _exit (126);
        }
    }
  execvp (argv[0], argv);
  _exit (errno == ENOENT ? 127 : 126);
}

int
fk_bench_spawn (char *const *argv, unsigned flags, uint64_t *ret_elapsed_ns, fk_error_t *err)
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
    child (argv, flags, err_fd);
  int status;
  pid_t r;
  do
    r = waitpid (pid, &status, 0);
  while (r < 0 && errno == EINTR);
  uint64_t t1 = fk_now_ns ();
  if (r < 0)
    return fk_error_set_errno (err, "wait for `%s'", argv[0]);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    {
      if (ret_elapsed_ns)
        *ret_elapsed_ns = t1 - t0;
      return 0;
    }
  char keep[STDERR_KEEP + 1];
  ssize_t n = pread (err_fd, keep, STDERR_KEEP, 0);
  size_t kept = n > 0 ? (size_t)n : 0;
  while (kept > 0 && (keep[kept - 1] == '\n' || keep[kept - 1] == ' '))
    kept--;
  keep[kept] = '\0';
  if (WIFSIGNALED (status))
    return fk_error_set (err, EIO, "`%s' was killed by signal %d%s%s", argv[0], WTERMSIG (status),
                         kept ? ": " : "", keep);
  return fk_error_set (err, EIO, "`%s' exited %d%s%s", argv[0], WEXITSTATUS (status),
                       kept ? ": " : "", keep);
}
