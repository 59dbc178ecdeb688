/* wire/shellmsg.h: what the shell requests (FK_WIRE_SHELL_OPEN, _RUN, _CLOSE) carry beyond
   frame.h's summary.

   SHELL_OPEN  SHELL_ID, ENV..., CWD, USER, PATH (the shell to run; default bash or sh)
               -> R_OK with PID (the shell's) and PATH (its binary).
               Shell ids belong to the connection; its shells die with it.
   SHELL_RUN   SHELL_ID, SHELL (the command), ENV... and CWD (for this run only: it then runs in
               a subshell), STDIN_MODE = FK_WIRE_STDIN_BYTES with STDIN_DATA (else /dev/null),
               TIMEOUT_MS -> R_STDOUT/R_STDERR..., then R_EXIT (EXIT_CODE or SIGNAL, TIMED_OUT,
               FLAGS). EBUSY when the shell is running a command.
   SIGNAL      with TARGET = a SHELL_RUN's request id signals the shell's process group (the
               shell survives SIGINT; the command gets it).
   SHELL_CLOSE SHELL_ID -> R_OK; a run in progress ends with SIGNAL 9. */
#ifndef FK_WIRE_SHELLMSG_H
#define FK_WIRE_SHELLMSG_H

/* R_EXIT FLAGS of a shell run: the shell itself ended (`exit`, a timeout, a signal) and a new
   one with the same settings took its place. */
#define FK_WIRE_SHELL_RESPAWNED 0x1u

#endif
