/* sandbox/runtime_impl.h: the runtime handle's insides, shared by the sandbox lifecycle. */
#ifndef FK_SANDBOX_RUNTIME_IMPL_H
#define FK_SANDBOX_RUNTIME_IMPL_H

#include "firkin/runtime.h"
#include "sandbox/cgroup.h"

struct fk_runtime
{
  char *state_dir;            /* absolute */
  char *agent_path;           /* the options', else the installed one */
  char *timeout_path;         /* likewise */
  int timeout_explicit;       /* timeout_path came from the options */
  char *resolver_path;        /* the options', $FIRKIN_RESOLVER, beside the agent, or installed */
  int state_fd;               /* O_PATH of state_dir */
  int sandboxes_fd;           /* O_PATH of state_dir/sandboxes */
  fk_cgroup_layout_t cgroups; /* where new sandboxes get their cgroup */
};

/* The fk-timeout program a sandbox's watchdog runs: the options' path, else the installed one
   when it is an executable file, else NULL (a forked copy of the caller watches). Caller
   frees. */
char *fk_runtime_timeout_program (const fk_runtime_t *rt);

/* Cleans every sandbox whose PID 1 died, whose host rebooted, or whose deadline passed, and
   directories a crashed create left (older than a minute). Returns how many it removed. */
int fk_runtime_sweep (fk_runtime_t *rt, fk_error_t *err);

#endif
