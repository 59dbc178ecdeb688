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

/* A sandbox made again under an id it had (a resume from disk): its directory exists and the
   caller holds its lifecycle lock; a failure leaves the directory and its state as they were. */
typedef struct fk_create_as
{
  const char *id;
  int64_t created; /* the first create's time, kept */
} fk_create_as_t;

/* fk_sandbox_create, or with as: under as->id. */
int fk_sandbox_create_as (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, const fk_create_as_t *as,
                          fk_sandbox_t **ret_sb, fk_error_t *err);

/* The agent's listening socket at path (0600, made by the caller's user): fd 3 of the agent.
   ENAMETOOLONG when path does not fit a socket address. */
int fk_agent_listen_socket (const char *path, int *ret_fd, fk_error_t *err);

/* A new random sandbox id (12 lower-case hex digits). */
void fk_create_new_id (char out[13]);

#endif
