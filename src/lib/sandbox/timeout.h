/* sandbox/timeout.h: the sandbox's deadline, enforced from inside so it holds with no daemon
   running: a small process in the sandbox sleeps until the deadline written in
   sandboxes/<id>/deadline (re-read at every wake, so extending needs no message), then sends
   SIGTERM to PID 1, which stops the sandbox. Any later runtime open cleans what is left. */
#ifndef FK_SANDBOX_TIMEOUT_H
#define FK_SANDBOX_TIMEOUT_H

#include <stdint.h>

#include "base/error.h"

/* Writes deadline (unix seconds) into the open deadline file fd, in place, fixed width. */
int fk_timeout_write (int fd, int64_t deadline, fk_error_t *err);

/* Reads the deadline from fd; < 0 when the file does not hold one. */
int fk_timeout_read (int fd, int64_t *ret_deadline);

/* Forks the watchdog (in the sandbox, before PID 1 execs); it keeps only deadline_fd open (as
   fd 3) and execs the static fk-timeout program from exec_fd (an O_PATH fd opened on the host),
   so it holds a few pages rather than a copy of the creating process; with exec_fd < 0 it runs
   the same loop in the forked copy. */
int fk_timeout_spawn (int deadline_fd, int exec_fd, fk_error_t *err);

/* The watchdog loop on the deadline file fd; SIGTERMs PID 1 at the deadline, then exits. */
void fk_timeout_watch (int fd) __attribute__ ((noreturn));

#endif
