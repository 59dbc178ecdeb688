/* agent/shellscript.h: the text fk-agent sends a persistent shell (agent/shell.c): the shell's
   first command (bash's driver loop, or sh's trap alone) and each run's script, with every
   string a request gives (the command, env entries, cwd) quoted so the shell sees exactly its
   bytes. No I/O: built into fk-agent and unit-tested on its own. */
#ifndef FK_AGENT_SHELLSCRIPT_H
#define FK_AGENT_SHELLSCRIPT_H

#include <stddef.h>

#include "wire/msg.h"

/* The fd on which the shell reports each run's status (sh only redirects fds 0-9). */
#define SHELL_STATUS_FD 9
/* The fd of /dev/null, the stdin of runs given none. */
#define SHELL_NULL_FD 8

/* The first command of a fresh shell (driver: bash's driver loop; else sh's trap), *ret_len
   bytes long; *ret_skip_status is the number of status lines it writes before any run's. */
const char *shell_script_prelude (int driver, size_t *ret_len, int *ret_skip_status);

typedef struct shell_script
{
  const char *cmd;        /* the run's command text, evaluated by the shell */
  char *const *env;       /* "K=V" exported for this run only (each K a shell name); may be NULL */
  const char *cwd;        /* NULL or "": the shell's own */
  const char *stdin_path; /* a file the run reads as stdin; NULL: /dev/null */
  int driver;             /* for bash's driver loop (length-framed, ASCII); else a line for sh */
} shell_script_t;

/* The first env entry whose name (the text before `=') is not a shell variable name, or NULL
   when all are. Such an entry cannot be exported and must be refused before building. */
const char *shell_script_bad_env (char *const *env);

/* Appends the run's text to b. A run with env or cwd runs in a subshell so neither sticks; its
   stdin, fd 8 and fd 9 are set for it alone; for sh the text ends by writing the status to fd 9
   (the driver writes it itself). */
void shell_script_build (fk_wire_buf_t *b, const shell_script_t *s);

#endif
