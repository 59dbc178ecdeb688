/* sandbox/timeout.h: the sandbox's deadline, enforced from OUTSIDE the sandbox so that nothing
   inside can kill or stop it, and with no daemon running: a small host process (fk-timeout,
   detached from the creator, in the host's pid namespace, which the sandbox cannot see) holds a
   pidfd of the sandbox's PID 1 and the deadline file sandboxes/<id>/deadline (re-read at every
   wake: when the file changes, by inotify, else at most every 30 s, so extending needs no
   message). At the deadline, under the sandbox's lifecycle lock and with the deadline read
   again there, it acts as the sandbox's timeout action says (fk_timeout_action_t): DELETE sends
   SIGTERM to PID 1 (the agent stops its processes), then SIGKILL after a grace; PAUSE freezes
   the sandbox's cgroup through its freezer file. A frozen sandbox is left alone: a paused
   sandbox does not expire. It exits as soon as PID 1 is gone, whoever ended it. Any later
   runtime open cleans what is left. It records what it did in the sandbox's events. */
#ifndef FK_SANDBOX_TIMEOUT_H
#define FK_SANDBOX_TIMEOUT_H

#include <stdint.h>

#include "base/error.h"
#include "firkin/sandbox.h"

/* How long PID 1 gets between SIGTERM and SIGKILL at the deadline. */
#define FK_TIMEOUT_GRACE_MS 5000

/* Writes deadline (unix seconds) into the open deadline file fd, in place, fixed width. */
int fk_timeout_write (int fd, int64_t deadline, fk_error_t *err);

/* Reads the deadline from fd; < 0 when the file does not hold one. */
int fk_timeout_read (int fd, int64_t *ret_deadline);

/* What the watchdog watches, and the fds it runs with (3 to 6). */
typedef struct fk_timeout_fds
{
  int deadline; /* the deadline file, readable */
  int pid1;     /* PID 1's pidfd */
  int dir;      /* the sandbox's directory (the lifecycle lock, the events) */
  int freeze;   /* its cgroup's freezer file (v2 cgroup.freeze, v1 freezer.state), read-write;
                   -1: none (the sandbox counts as never paused, PAUSE acts as DELETE) */
} fk_timeout_fds_t;

/* Host side, once PID 1 runs: starts the watchdog, detached (its own session, reparented away
   from the caller, stdio on /dev/null, nothing of the caller's open but fds). With program (the
   static fk-timeout) it is spawned without copying the caller; with NULL a forked copy of the
   caller runs the same loop. Returns once it runs. */
int fk_timeout_spawn (const char *program, const fk_timeout_fds_t *fds, fk_timeout_action_t action,
                      fk_error_t *err);

/* What one look at the deadline found and did. */
typedef enum
{
  FK_TIMEOUT_WAIT,    /* the deadline has not come, or it is not readable yet */
  FK_TIMEOUT_PAUSED,  /* the sandbox is paused (found so, or paused now at its deadline) */
  FK_TIMEOUT_STOPPED, /* SIGTERM sent to PID 1 (the caller waits the grace, then SIGKILL) */
  FK_TIMEOUT_GONE,    /* the sandbox was deleted */
} fk_timeout_step_t;

/* One look at time now (unix seconds): past the deadline, takes the lifecycle lock, reads the
   deadline again and acts as above; *ret_deadline gets the deadline read (0 unreadable). */
fk_timeout_step_t fk_timeout_check (const fk_timeout_fds_t *fds, fk_timeout_action_t action,
                                    int64_t now, int64_t *ret_deadline);

/* 1 when the freezer file on fd says frozen (v2 "1", v1 FROZEN or FREEZING), else 0. */
int fk_timeout_frozen (int freeze_fd);

/* The watchdog loop. Never returns. */
void fk_timeout_watch (const fk_timeout_fds_t *fds, fk_timeout_action_t action)
    __attribute__ ((noreturn));

/* What fk-timeout runs with the fds of fk_timeout_fds_t on 3, 4, 5 and 6: leaves the spawning
   process (which waits for it) at once and watches in a grandchild. */
void fk_timeout_detach_and_watch (fk_timeout_action_t action) __attribute__ ((noreturn));

#endif
