/* template/snapshot.h: what snapshot.c (snapshot, fork, pause to disk) and resume.c share. */
#ifndef FK_TEMPLATE_SNAPSHOT_H
#define FK_TEMPLATE_SNAPSHOT_H

#include <stdint.h>

#include "firkin/template.h"
#include "sandbox/state.h"

/* A spec for a new sandbox from template_id, a snapshot of the sandbox whose state is st: st's
   own spec (limits, hostname, seccomp, metadata), without env, workdir and user (the snapshot
   has them), with timeout_sec. Its strings are st's and template_id. */
void fk_snapshot_spec_from (const fk_sandbox_state_t *st, const char *template_id,
                            uint64_t timeout_sec, fk_sandbox_spec_t *ret);

#endif
