/* sandbox/timeout.c: the host-side watchdog. It wakes at the deadline, when the deadline file
   is written (inotify), every 30 s, or when PID 1 exits, whichever comes first, so a deadline
   moved earlier is honoured at once (within 30 s without inotify). */
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
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/events.h"

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
wait_gone (int pidfd, int wake_fd, int64_t ms)
{
  struct pollfd p[2] = { { .fd = pidfd, .events = POLLIN }, { .fd = wake_fd, .events = POLLIN } };
  int r;
  do
    r = poll (p, wake_fd >= 0 ? 2 : 1, ms > INT32_MAX ? INT32_MAX : (int)ms);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return 1; /* nothing left to watch */
  if (p[1].revents & POLLIN)
    {
      char buf[4096];
      while (read (wake_fd, buf, sizeof buf) > 0)
        ;
    }
  return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0; /* PID 1 exited */
}

int
fk_timeout_frozen (int freeze_fd)
{
  char buf[16];
  if (freeze_fd < 0)
    return 0;
  ssize_t n = pread (freeze_fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return 0;
  /* v2 cgroup.freeze: "1" asked; v1 freezer.state: FROZEN, or FREEZING on the way there. */
  return buf[0] == '1' || buf[0] == 'F';
}

/* Freezes through the freezer file, whichever version it is (told by what it holds). v2 freezes
   as asked; v1 may stay FREEZING while a task is busy, and writing again retries it. */
static void
freeze (int freeze_fd)
{
  char buf[16] = "";
  ssize_t n = pread (freeze_fd, buf, sizeof buf - 1, 0);
  int v1 = n > 0 && (buf[0] == 'T' || buf[0] == 'F');
  for (int i = 0; i < 2000; i++)
    {
      if (v1 ? pwrite (freeze_fd, "FROZEN", 6, 0) < 0 : pwrite (freeze_fd, "1", 1, 0) < 0)
        return;
      if (!v1)
        return;
      n = pread (freeze_fd, buf, sizeof buf - 1, 0);
      if (n <= 0 || strncmp (buf, "FROZEN", 6) == 0)
        return;
      struct timespec ms = { 0, 1000000 };
      nanosleep (&ms, NULL);
    }
}

fk_timeout_step_t
fk_timeout_check (const fk_timeout_fds_t *fds, fk_timeout_action_t action, int64_t now,
                  int64_t *ret_deadline)
{
  int64_t deadline;
  *ret_deadline = 0;
  if (fk_timeout_read (fds->deadline, &deadline) < 0)
    return FK_TIMEOUT_WAIT; /* a write in progress: look again soon */
  *ret_deadline = deadline;
  if (now < deadline)
    return FK_TIMEOUT_WAIT;
  /* Decided under the lifecycle lock, on the deadline read again: a resume or an extend holds
     it across its whole change, so none is ever half seen. */
  int lock = openat (fds->dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0)
    return FK_TIMEOUT_GONE;
  while (flock (lock, LOCK_EX) < 0 && errno == EINTR)
    ;
  fk_timeout_step_t step;
  struct stat st;
  if (fstat (lock, &st) < 0 || st.st_nlink == 0)
    step = FK_TIMEOUT_GONE;
  else if (fk_timeout_read (fds->deadline, &deadline) == 0 && now < deadline)
    {
      *ret_deadline = deadline;
      step = FK_TIMEOUT_WAIT;
    }
  else if (fk_timeout_frozen (fds->freeze))
    step = FK_TIMEOUT_PAUSED; /* a paused sandbox does not expire */
  else if (action == FK_TIMEOUT_PAUSE && fds->freeze >= 0)
    {
      freeze (fds->freeze);
      fk_events_append (fds->dir, "expired", "paused at its deadline");
      step = FK_TIMEOUT_PAUSED;
    }
  else
    {
      /* PID 1 (the agent) stops every process and exits; the sandbox ends with it. */
      pidfd_send_signal (fds->pid1, SIGTERM, NULL, 0);
      fk_events_append (fds->dir, "expired", "stopped at its deadline");
      step = FK_TIMEOUT_STOPPED;
    }
  close (lock);
  return step;
}

/* An inotify instance that wakes on writes to the deadline file, or -1 (then the 30 s wake is
   the only one: the instances per user are few, 128 by default). */
static int
watch_deadline (int deadline_fd)
{
  int fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0)
    return -1;
  char path[64];
  snprintf (path, sizeof path, "/proc/self/fd/%d", deadline_fd);
  if (inotify_add_watch (fd, path, IN_MODIFY | IN_CLOSE_WRITE) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

void
fk_timeout_watch (const fk_timeout_fds_t *fds, fk_timeout_action_t action)
{
  prctl (PR_SET_NAME, "fk-timeout");
  int wake = watch_deadline (fds->deadline);
  for (;;)
    {
      struct timespec now;
      clock_gettime (CLOCK_REALTIME, &now);
      int64_t deadline;
      fk_timeout_step_t step = fk_timeout_check (fds, action, now.tv_sec, &deadline);
      if (step == FK_TIMEOUT_GONE)
        _exit (0);
      if (step == FK_TIMEOUT_STOPPED)
        {
          if (!wait_gone (fds->pid1, -1, FK_TIMEOUT_GRACE_MS))
            pidfd_send_signal (fds->pid1, SIGKILL, NULL, 0);
          _exit (0);
        }
      int64_t next = now.tv_sec + 30;
      if (step == FK_TIMEOUT_WAIT && deadline == 0)
        next = now.tv_sec + 1;
      else if (step == FK_TIMEOUT_WAIT && deadline < next)
        next = deadline;
      int64_t ms = (next - now.tv_sec) * 1000 - now.tv_nsec / 1000000;
      if (wait_gone (fds->pid1, wake, ms > 0 ? ms : 0))
        _exit (0);
    }
}

/* Fds 3 to 6 only, stdio on /dev/null, default signals: what the watchdog starts with. */
static void
settle_fds (void)
{
  syscall (SYS_close_range, 7, ~0U, 0);
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0)
    for (int fd = 0; fd < 3; fd++)
      dup2 (null, fd);
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

void
fk_timeout_detach_and_watch (fk_timeout_action_t action)
{
  settle_fds ();
  setsid ();
  pid_t pid = fork ();
  if (pid != 0)
    _exit (pid < 0);
  fk_timeout_fds_t fds = { .deadline = 3, .pid1 = 4, .dir = 5, .freeze = 6 };
  if (fcntl (6, F_GETFD) < 0)
    fds.freeze = -1;
  fk_timeout_watch (&fds, action);
}

/* Puts fds on 3 to 6 in a child (dup2 clears close-on-exec; a missing freezer file closes 6). */
static int
place_fds (const fk_timeout_fds_t *fds)
{
  /* Moved above 6 first, so that one fd already on 3 to 6 is not overwritten before its dup. */
  int src[4] = { fds->deadline, fds->pid1, fds->dir, fds->freeze };
  for (int i = 0; i < 4; i++)
    if (src[i] >= 0 && (src[i] = fcntl (src[i], F_DUPFD, 7)) < 0)
      return -1;
  for (int i = 0; i < 4; i++)
    {
      if (src[i] < 0)
        close (3 + i);
      else if (dup2 (src[i], 3 + i) < 0)
        return -1;
    }
  return 0;
}

int
fk_timeout_spawn (const char *program, const fk_timeout_fds_t *fds, fk_timeout_action_t action,
                  fk_error_t *err)
{
  pid_t pid;
  const char *action_arg = action == FK_TIMEOUT_PAUSE ? "pause" : "delete";
  if (program)
    {
      /* posix_spawn is a vfork and an exec: nothing of the caller is copied. fk-timeout then
         forks itself away, a few pages. */
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init (&fa);
      posix_spawn_file_actions_adddup2 (&fa, fds->deadline, 3);
      posix_spawn_file_actions_adddup2 (&fa, fds->pid1, 4);
      posix_spawn_file_actions_adddup2 (&fa, fds->dir, 5);
      if (fds->freeze >= 0)
        posix_spawn_file_actions_adddup2 (&fa, fds->freeze, 6);
      else
        posix_spawn_file_actions_addclose (&fa, 6);
      posix_spawnattr_t attr;
      posix_spawnattr_init (&attr);
      sigset_t all, none;
      sigfillset (&all);
      sigemptyset (&none);
      posix_spawnattr_setsigdefault (&attr, &all);
      posix_spawnattr_setsigmask (&attr, &none);
      posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
      char *const argv[] = { (char *)"fk-timeout", (char *)action_arg, NULL };
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
          if (place_fds (fds) < 0)
            _exit (1);
          fk_timeout_detach_and_watch (action);
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
