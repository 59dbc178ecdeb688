/* cli/open.h: opens the runtime of fk's --state-dir; for the verbs that create sandboxes it
   first finds fk-agent and fk-timeout, which the library takes as options. */
#ifndef FK_CLI_OPEN_H
#define FK_CLI_OPEN_H

#include "cli/verbs.h"
#include "firkin/runtime.h"

/* Find fk-agent (agent_path, else $FIRKIN_AGENT, else beside fk or in the build tree) and
   fk-timeout ($FIRKIN_TIMEOUT, else beside that agent or fk, or in the build tree). What is not
   found is left to the runtime's default, the installed one. */
#define FK_CLI_RUNTIME_PROGRAMS 0x1u
/* Do not clean stale sandboxes (the template and image verbs). */
#define FK_CLI_RUNTIME_NO_SWEEP 0x2u

/* agent_path: --agent, or NULL; used with FK_CLI_RUNTIME_PROGRAMS only. */
int fk_cli_runtime_open (const fk_cli_globals_t *g, unsigned flags, const char *agent_path,
                         fk_runtime_t **ret_rt, fk_error_t *err);

#endif
