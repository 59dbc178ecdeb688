/* sandbox/timeout_main.c: fk-timeout, the sandbox's deadline watchdog as a program of its own:
   static, libc only, so the process that waits out a sandbox's timeout costs a few pages.
   Started on the host by fk_timeout_spawn with the fds of fk_timeout_fds_t on 3 to 6 and the
   timeout action (`pause' or `delete') as its argument. */
#include <string.h>

#include "sandbox/timeout.h"

int
main (int argc, char **argv)
{
  fk_timeout_detach_and_watch (argc > 1 && strcmp (argv[1], "pause") == 0 ? FK_TIMEOUT_PAUSE
                                                                          : FK_TIMEOUT_DELETE);
}
