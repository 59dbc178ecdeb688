/* sandbox/timeout.c: the in-sandbox watchdog. It wakes at the deadline or every 30 s, whichever
   comes first, so a deadline moved earlier is honoured within 30 s too. */
#include "sandbox/timeout.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

void
fk_timeout_watch (int fd)
{
  prctl (PR_SET_NAME, "fk-timeout");
  for (;;)
    {
      int64_t deadline;
      struct timespec now;
      clock_gettime (CLOCK_REALTIME, &now);
      if (fk_timeout_read (fd, &deadline) < 0)
        deadline = now.tv_sec + 1; /* a write in progress: look again soon */
      else if (now.tv_sec >= deadline)
        {
          /* PID 1 (the agent) stops every process and exits; the sandbox ends with it. */
          kill (1, SIGTERM);
          _exit (0);
        }
      int64_t wake = deadline < now.tv_sec + 30 ? deadline : now.tv_sec + 30;
      struct timespec ts = { .tv_sec = (time_t)wake, .tv_nsec = 0 };
      while (clock_nanosleep (CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
    }
}

int
fk_timeout_spawn (int deadline_fd, int exec_fd, fk_error_t *err)
{
  pid_t pid = fork ();
  if (pid < 0)
    return fk_error_set_errno (err, "fork the timeout watchdog");
  if (pid == 0)
    {
      /* Keep nothing of PID 1's: above all not the agent's socket or the create pipe. */
      if (exec_fd >= 0 && exec_fd != 4 && dup2 (exec_fd, 4) < 0)
        _exit (1);
      if (dup2 (deadline_fd, 3) < 0)
        _exit (1);
      syscall (SYS_close_range, 0, 2, 0);
      syscall (SYS_close_range, exec_fd >= 0 ? 5 : 4, ~0U, 0);
      if (exec_fd >= 0)
        {
          char *const argv[] = { "fk-timeout", NULL };
          char *const envp[] = { NULL };
          syscall (SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
          close (4);
        }
      fk_timeout_watch (3);
    }
  return 0;
}
