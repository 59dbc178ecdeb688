/* sandbox/sandbox.h: the sandbox handle's insides (lifecycle in sandbox.c, creation in
   create.c). */
#ifndef FK_SANDBOX_SANDBOX_H
#define FK_SANDBOX_SANDBOX_H

#include "firkin/sandbox.h"
#include "sandbox/cgroup.h"
#include "sandbox/runtime.h"
#include "sandbox/state.h"

struct fk_sandbox
{
  fk_runtime_t *rt;
  int dirfd; /* O_PATH of sandboxes/<id> */
  fk_sandbox_state_t *state;
  fk_cgroup_layout_t cgroups; /* the layout the sandbox was created on */
  int is_child;               /* PID 1 is this process's child: reap it */
  int stdio_fds[3];           /* an init sandbox's host ends of stdio, until taken; else -1 */
};

/* A handle on a loaded state (takes st and dirfd). */
fk_sandbox_t *fk_sandbox_new_handle (fk_runtime_t *rt, int dirfd, fk_sandbox_state_t *st);

/* 1 when the sandbox was stopped with fk_sandbox_stop (kept until deleted). */
int fk_sandbox_stopped_on_purpose (const fk_sandbox_t *sb);

#endif
