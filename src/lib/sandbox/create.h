/* sandbox/create.h: sandbox creation (fk_sandbox_create in firkin/sandbox.h) and its helpers. */
#ifndef FK_SANDBOX_CREATE_H
#define FK_SANDBOX_CREATE_H

#include <stdint.h>

#include "base/error.h"
#include "firkin/sandbox.h"
#include "sandbox/plan.h"

/* The plan of a firkin sandbox for spec (resolved: its layers given): the id's hostname and
   cgroup, the host id range at id_base, the default mounts and masks, the spec's limits and
   seccomp, and as the process the init command, or fk-agent (argv only: the caller gives the
   binary as an exec fd and the socket as fd 3) logging to the sandbox's disk. */
int fk_sandbox_plan (const fk_sandbox_spec_t *spec, const char *id, uint32_t id_base,
                     fk_plan_t *ret_plan, fk_error_t *err);

/* The fk-agent binary to run: explicit, else $FIRKIN_AGENT, else next to the running program
   (installed side by side) or in the build tree (src/cli/fk -> src/agent/fk-agent). Caller
   frees. */
int fk_create_find_agent (const char *explicit_path, char **ret_path, fk_error_t *err);

/* The fk-timeout program: $FIRKIN_TIMEOUT, else next to agent_path (installed side by side),
   else in the build tree next to the running program. NULL when there is none (the watchdog
   then runs in a forked copy). Caller frees. */
char *fk_create_find_timeout (const char *agent_path);

/* A new random sandbox id (12 lower-case hex digits). */
void fk_create_new_id (char out[13]);

#endif
