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

/* How a fork makes each of its sandboxes: prepare (may be NULL) once, after the snapshot, with
   the source's state and the spec of every fork (template_id the snapshot); then make, from
   several threads at once, for each fork. */
typedef struct fk_fork_maker
{
  int (*prepare) (void *data, const fk_sandbox_state_t *source, const fk_sandbox_spec_t *spec,
                  fk_error_t *err);
  int (*make) (void *data, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb, fk_error_t *err);
  void *data;
} fk_fork_maker_t;

/* fk_sandbox_fork with maker making the sandboxes (fk_sandbox_fork: fk_template_sandbox_create):
   all of them or none. */
int fk_sandbox_fork_with (fk_sandbox_t *sb, unsigned count, const fk_fork_maker_t *maker,
                          char ***ret_ids, fk_error_t *err);

#endif
