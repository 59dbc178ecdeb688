/* firkin/runtime.h: a runtime is a handle on one state directory and the programs sandboxes
   need; every sandbox and template call takes one. */
#ifndef FIRKIN_RUNTIME_H
#define FIRKIN_RUNTIME_H

#include <stddef.h> /* NULL, for FK_RUNTIME_OPTIONS_INIT */

#include <firkin/error.h>

typedef struct fk_runtime fk_runtime_t;

typedef struct fk_runtime_opts
{
  unsigned version;      /* FK_RUNTIME_OPTIONS_VERSION */
  const char *state_dir; /* NULL: $FIRKIN_STATE_DIR, else /var/lib/firkin; created when missing */
  /* The fk-agent binary that becomes PID 1 of a sandbox (static; opened on the host, so it needs
     no path inside the image). NULL: the installed one, LIBEXECDIR/firkin/fk-agent (the
     directory fixed at build time). */
  const char *agent_path;
  /* The fk-timeout watchdog of sandboxes with a timeout, run on the host. NULL: the installed
     one, LIBEXECDIR/firkin/fk-timeout, or when that is not there a forked copy of the creating
     process. */
  const char *timeout_path;
  /* 1: do not clean stale sandboxes at open (for callers that sweep themselves, or that only
     use templates). */
  int skip_sweep;
  /* The fk-resolver of egress sandboxes (their DNS, run on the host). NULL: $FIRKIN_RESOLVER,
     else the fk-resolver beside agent_path when that is given and has one, else the installed
     one, LIBEXECDIR/firkin/fk-resolver. Read when version >= 2. */
  const char *resolver_path;
} fk_runtime_opts_t;

#define FK_RUNTIME_OPTIONS_VERSION 2 /* 2: resolver_path */
#define FK_RUNTIME_OPTIONS_INIT                                                                    \
  {                                                                                                \
    .version = FK_RUNTIME_OPTIONS_VERSION                                                          \
  }

/* Opens (creating when missing) the state directory of opts (NULL: the defaults) and, unless
   opts->skip_sweep, cleans sandboxes whose PID 1 died or whose timeout passed (lazy cleanup:
   any process that opens a runtime collects what is stale; what goes wrong there is logged,
   firkin/log.h, not returned). The program paths are checked when a sandbox is created, not
   here. Free with fk_runtime_close. */
int fk_runtime_open (const fk_runtime_opts_t *opts, fk_runtime_t **ret_rt, fk_error_t *err);

/* Closes the handle; sandboxes keep running (they outlive the process that created them). NULL
   is fine. */
void fk_runtime_close (fk_runtime_t *rt);

/* The absolute state directory; owned by rt. */
const char *fk_runtime_state_dir (const fk_runtime_t *rt);

/* The fk-agent, fk-timeout and fk-resolver paths in effect (the options', else the installed
   ones); owned by rt. */
const char *fk_runtime_agent_path (const fk_runtime_t *rt);
const char *fk_runtime_timeout_path (const fk_runtime_t *rt);
const char *fk_runtime_resolver_path (const fk_runtime_t *rt);

#endif
