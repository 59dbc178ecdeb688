/* sandbox/timeout_main.c: fk-timeout, the sandbox's deadline watchdog as a program of its own:
   static, libc only, so the process that waits out a sandbox's timeout costs a few pages.
   Started on the host by fk_timeout_spawn with the deadline file as fd 3, PID 1's pidfd as fd 4. */
#include "sandbox/timeout.h"

int
main (void)
{
  fk_timeout_detach_and_watch ();
}
