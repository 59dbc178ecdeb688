/* sandbox/runtime.h: the runtime handle's insides, shared by the sandbox lifecycle. */
#ifndef FK_SANDBOX_RUNTIME_H
#define FK_SANDBOX_RUNTIME_H

#include "firkin/runtime.h"
#include "sandbox/cgroup.h"

struct fk_runtime
{
  char *state_dir;            /* absolute */
  int state_fd;               /* O_PATH of state_dir */
  int sandboxes_fd;           /* O_PATH of state_dir/sandboxes */
  fk_cgroup_layout_t cgroups; /* where new sandboxes get their cgroup */
};

/* Cleans every sandbox whose PID 1 died, whose host rebooted, or whose deadline passed, and
   directories a crashed create left (older than a minute). Returns how many it removed. */
int fk_runtime_sweep (fk_runtime_t *rt, fk_error_t *err);

#endif
