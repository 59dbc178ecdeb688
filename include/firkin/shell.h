/* firkin/shell.h: persistent shells in a sandbox and pools of them.

   A shell is a long-lived bash (when the sandbox has it, else sh) run by the agent. Each run
   returns exactly the bytes its command wrote to stdout and stderr and its exit code; state
   (cwd, shell and exported variables, functions) persists between runs of one shell.
   Completion is reported by the shell on a private pipe, so nothing a command prints can fake
   or delay it, and a background job holding stdout open does not hold a run open.

   A run that ends the shell (`exit 3`, a timeout, a signal) is reported with `respawned` set;
   a new shell with the open settings takes its place (its state starts afresh).

   Threads: one shell runs one command at a time (fk_shell_run serializes callers); a pool's
   slots run in parallel, from several threads at once, over the one connection. */
#ifndef FIRKIN_SHELL_H
#define FIRKIN_SHELL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <firkin/client.h>
#include <firkin/error.h>

typedef struct fk_shell fk_shell_t;
typedef struct fk_shell_pool fk_shell_pool_t;
typedef struct fk_shell_pending fk_shell_pending_t; /* a run begun, not yet finished */

/* Settings of a shell for its whole life (NULL: the agent's). Versioned as firkin/client.h
   says. */
typedef struct fk_shell_opts
{
  unsigned version; /* FK_SHELL_OPTIONS_VERSION */
  char *const *env; /* "K=V" added to (or overriding) the agent's environment */
  const char *cwd;
  const char *user;    /* "uid[:gid]" or "name[:group]" */
  const char *program; /* the shell, a path in the sandbox (NULL: bash when the root has it,
                          else /bin/sh); bash is told by its name */
} fk_shell_opts_t;

#define FK_SHELL_OPTIONS_VERSION 1
#define FK_SHELL_OPTIONS_INIT                                                                      \
  {                                                                                                \
    .version = FK_SHELL_OPTIONS_VERSION                                                            \
  }

typedef struct fk_shell_run_opts
{
  unsigned version;       /* FK_SHELL_RUN_OPTIONS_VERSION */
  const char *command;    /* shell text, run as if typed (any bytes but NUL) */
  char *const *env;       /* "K=V" for this run only (the run then runs in a subshell) */
  const char *cwd;        /* for this run only (likewise); a cwd that fails exits 1 */
  int has_stdin;          /* stdin_data (may be empty) then EOF; else stdin is /dev/null */
  const void *stdin_data; /* at most about 1 MiB */
  size_t stdin_len;
  uint64_t timeout_ms; /* 0: none; at the deadline the shell's processes are SIGKILLed and
                          the shell replaced (and the client gives up
                          FK_CLIENT_TIMEOUT_GRACE_MS later: ETIMEDOUT) */
} fk_shell_run_opts_t;

#define FK_SHELL_RUN_OPTIONS_VERSION 1
/* Then set command (and what else the run needs). */
#define FK_SHELL_RUN_OPTIONS_INIT                                                                  \
  {                                                                                                \
    .version = FK_SHELL_RUN_OPTIONS_VERSION                                                        \
  }

/* fk_shell_run (and fk_shell_pool_run, fk_shell_run_finish) collect at most this many bytes of
   each of stdout and stderr: a run writing more is killed (the shell is replaced) and fails
   with EFBIG. fk_shell_run_stream has no such bound. Opening and closing a shell wait for the
   agent within the connection's deadline (firkin/client.h); a run without a timeout may take
   as long as it likes. */
#define FK_SHELL_MAX_OUTPUT (64u << 20)

typedef struct fk_shell_result
{
  fk_exit_status_t status;
  int respawned; /* the shell ended during the run and was replaced */
  char *out;     /* stdout, NUL-terminated for convenience (may contain NULs); caller frees */
  size_t out_len;
  char *err; /* stderr, likewise */
  size_t err_len;
} fk_shell_result_t;

/* Streaming callbacks for fk_shell_run_stream; a non-zero return cancels the run (SIGKILL to
   the shell's processes: the shell is replaced). */
typedef struct fk_shell_callbacks
{
  int (*on_stdout) (void *userdata, const void *data, size_t len);
  int (*on_stderr) (void *userdata, const void *data, size_t len);
  void *userdata;
} fk_shell_callbacks_t;

/* Starts a shell through the connection c (which must outlive it). opts may be NULL. */
int fk_shell_open (fk_client_t *c, const fk_shell_opts_t *opts, fk_shell_t **ret_shell,
                   fk_error_t *err);
/* Runs a command to completion and collects its output (free with fk_shell_result_free). */
int fk_shell_run (fk_shell_t *sh, const fk_shell_run_opts_t *opts, fk_shell_result_t *ret_result,
                  fk_error_t *err);
/* Runs a command, handing output to the callbacks as it arrives. */
int fk_shell_run_stream (fk_shell_t *sh, const fk_shell_run_opts_t *opts,
                         const fk_shell_callbacks_t *cbs, fk_exit_status_t *ret_status,
                         int *ret_respawned, fk_error_t *err);
/* Starts a run and returns at once (EBUSY when the shell has a run in progress): with
   several shells, one thread can have a run going on each (the outputs of the others queue
   while it waits for one). Every begun run must be finished, by any thread; until then
   fk_shell_run on that shell fails with EBUSY, and fk_shell_close ends the run (SIGKILL) and
   leaves freeing the shell to the finish. */
int fk_shell_run_begin (fk_shell_t *sh, const fk_shell_run_opts_t *opts,
                        fk_shell_pending_t **ret_pending, fk_error_t *err);
/* Waits for a begun run to complete and collects it, as fk_shell_run does; frees pending. */
int fk_shell_run_finish (fk_shell_pending_t *pending, fk_shell_result_t *ret_result,
                         fk_error_t *err);
/* Sends SIGINT to the command the shell is running (from any thread); the shell stays. As in
   a script with an INT trap, the interrupted command ends (status 130) and the rest of the
   command text goes on. Returns 0 when nothing runs. */
int fk_shell_cancel (fk_shell_t *sh, fk_error_t *err);
/* The shell's pid as the agent sees it (changes when it is replaced: the value of the last
   open, or 0 after a respawn until the next open). */
pid_t fk_shell_pid (const fk_shell_t *sh);
/* The shell's binary in the sandbox ("/bin/bash", "/bin/sh"). Owned by sh. */
const char *fk_shell_path (const fk_shell_t *sh);
/* Ends the shell and everything it started. NULL is fine. */
void fk_shell_close (fk_shell_t *sh);
void fk_shell_result_free (fk_shell_result_t *r);

/* Opens n shells (n >= 1) with the same settings. */
int fk_shell_pool_open (fk_client_t *c, size_t n, const fk_shell_opts_t *opts,
                        fk_shell_pool_t **ret_pool, fk_error_t *err);
size_t fk_shell_pool_slots (const fk_shell_pool_t *pool);
/* Slot i (< slots), owned by the pool; fk_shell_run on it bypasses leasing. */
fk_shell_t *fk_shell_pool_slot (fk_shell_pool_t *pool, size_t i);
/* Leases a free slot (waiting for one), runs the command on it, gives it back. */
int fk_shell_pool_run (fk_shell_pool_t *pool, const fk_shell_run_opts_t *opts,
                       fk_shell_result_t *ret_result, fk_error_t *err);
/* Closes every slot. NULL is fine. */
void fk_shell_pool_close (fk_shell_pool_t *pool);

#endif
