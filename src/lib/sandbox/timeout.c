/* sandbox/timeout.c: the host-side watchdog. It wakes at the deadline, every 30 s, or when PID 1
   exits, whichever comes first, so a deadline moved earlier is honoured within 30 s too. */
#include "sandbox/timeout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WIDTH 20

int
fk_timeout_write (int fd, int64_t deadline, fk_error_t *err)
{
  char buf[WIDTH + 2];
  snprintf (buf, sizeof buf, "%*" PRId64 "\n", WIDTH, deadline);
  if (pwrite (fd, buf, WIDTH + 1, 0) != WIDTH + 1)
    return fk_error_set_errno (err, "write the deadline");
  return 0;
}

int
fk_timeout_read (int fd, int64_t *ret_deadline)
{
  char buf[WIDTH + 2];
  ssize_t n = pread (fd, buf, WIDTH + 1, 0);
  if (n != WIDTH + 1 || buf[WIDTH] != '\n')
    return -1;
  buf[WIDTH] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll (buf, &end, 10);
  if (errno || *end != '\0')
    return -1;
  *ret_deadline = v;
  return 0;
}

static int
wait_gone (int pidfd, int64_t ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int r;
  do
    r = poll (&p, 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
  while (r < 0 && errno == EINTR);
  return r != 0; /* readable (PID 1 exited), or an error: nothing left to watch either way */
}

void
fk_timeout_watch (int deadline_fd, int pidfd)
{
  prctl (PR_SET_NAME, "fk-timeout");
  for (;;)
    {
      int64_t deadline;
      struct timespec now;
      clock_gettime (CLOCK_REALTIME, &now);
      if (fk_timeout_read (deadline_fd, &deadline) < 0)
        deadline = now.tv_sec + 1; /* a write in progress: look again soon */
      else if (now.tv_sec >= deadline)
        {
          /* PID 1 (the agent) stops every process and exits; the sandbox ends with it. */
          pidfd_send_signal (pidfd, SIGTERM, NULL, 0);
          if (!wait_gone (pidfd, FK_TIMEOUT_GRACE_MS))
            pidfd_send_signal (pidfd, SIGKILL, NULL, 0);
          _exit (0);
        }
      int64_t wake = deadline < now.tv_sec + 30 ? deadline : now.tv_sec + 30;
      int64_t ms = (wake - now.tv_sec) * 1000 - now.tv_nsec / 1000000;
      if (wait_gone (pidfd, ms > 0 ? ms : 0))
        _exit (0);
    }
}

/* Fds 3 and 4 only, stdio on /dev/null, default signals: what the watchdog starts with. */
static void
settle_fds (void)
{
  syscall (SYS_close_range, 5, ~0U, 0);
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0)
    for (int fd = 0; fd < 3; fd++)
      dup2 (null, fd);
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

void
fk_timeout_detach_and_watch (void)
{
  settle_fds ();
  setsid ();
  pid_t pid = fork ();
  if (pid != 0)
    _exit (pid < 0);
  fk_timeout_watch (3, 4);
}

int
fk_timeout_spawn (const char *program, int deadline_fd, int pidfd, fk_error_t *err)
{
  pid_t pid;
  if (program)
    {
      /* posix_spawn is a vfork and an exec: nothing of the caller is copied. fk-timeout then
         forks itself away, a few pages. */
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init (&fa);
      posix_spawn_file_actions_adddup2 (&fa, deadline_fd, 3);
      posix_spawn_file_actions_adddup2 (&fa, pidfd, 4);
      posix_spawnattr_t attr;
      posix_spawnattr_init (&attr);
      sigset_t all, none;
      sigfillset (&all);
      sigemptyset (&none);
      posix_spawnattr_setsigdefault (&attr, &all);
      posix_spawnattr_setsigmask (&attr, &none);
      posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
      char *const argv[] = { (char *)"fk-timeout", NULL };
      char *const envp[] = { NULL };
      int r = posix_spawn (&pid, program, &fa, &attr, argv, envp);
      posix_spawnattr_destroy (&attr);
      posix_spawn_file_actions_destroy (&fa);
      if (r != 0)
        return fk_error_set (err, r, "start the timeout watchdog `%s': %s", program, strerror (r));
    }
  else
    {
      pid = fork ();
      if (pid < 0)
        return fk_error_set_errno (err, "fork the timeout watchdog");
      if (pid == 0)
        {
          if (dup2 (deadline_fd, 3) < 0 || dup2 (pidfd, 4) < 0)
            _exit (1);
          fk_timeout_detach_and_watch ();
        }
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "wait for the timeout watchdog to start");
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return fk_error_set (err, ECHILD, "the timeout watchdog did not start (status %d)", status);
  return 0;
}
