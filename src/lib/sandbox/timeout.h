/* sandbox/timeout.h: the sandbox's deadline, enforced from OUTSIDE the sandbox so that nothing
   inside can kill or stop it, and with no daemon running: a small host process (fk-timeout,
   detached from the creator, in the host's pid namespace, which the sandbox cannot see) holds a
   pidfd of the sandbox's PID 1 and the deadline file sandboxes/<id>/deadline (re-read at every
   wake, at most every 30 s, so extending needs no message). At the deadline it sends SIGTERM to
   PID 1 (the agent stops its processes), then SIGKILL after a grace; it exits as soon as PID 1
   is gone, whoever ended it. Any later runtime open cleans what is left. */
#ifndef FK_SANDBOX_TIMEOUT_H
#define FK_SANDBOX_TIMEOUT_H

#include <stdint.h>

#include "base/error.h"

/* How long PID 1 gets between SIGTERM and SIGKILL at the deadline. */
#define FK_TIMEOUT_GRACE_MS 5000

/* Writes deadline (unix seconds) into the open deadline file fd, in place, fixed width. */
int fk_timeout_write (int fd, int64_t deadline, fk_error_t *err);

/* Reads the deadline from fd; < 0 when the file does not hold one. */
int fk_timeout_read (int fd, int64_t *ret_deadline);

/* Host side, once PID 1 runs: starts the watchdog for the sandbox whose PID 1 pidfd is pidfd,
   detached (its own session, reparented away from the caller, stdio on /dev/null, nothing of
   the caller's open). With program (the static fk-timeout) it is spawned without copying the
   caller; with NULL a forked copy of the caller runs the same loop. Returns once it runs. */
int fk_timeout_spawn (const char *program, int deadline_fd, int pidfd, fk_error_t *err);

/* The watchdog loop: deadline file on deadline_fd, PID 1 on pidfd. Never returns. */
void fk_timeout_watch (int deadline_fd, int pidfd) __attribute__ ((noreturn));

/* What fk-timeout runs with the deadline file on fd 3 and the pidfd on fd 4: leaves the
   spawning process (which waits for it) at once and watches in a grandchild. */
void fk_timeout_detach_and_watch (void) __attribute__ ((noreturn));

#endif
