/* sandbox/timeout_main.c: fk-timeout, the sandbox's deadline watchdog as a program of its own:
   static, libc only, so the process that waits out a sandbox's timeout costs a few pages.
   Started by the sandbox (timeout.c) with the deadline file as fd 3. */
#include "sandbox/timeout.h"

int
main (void)
{
  fk_timeout_watch (3);
}
