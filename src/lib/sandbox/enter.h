/* sandbox/enter.h: a new process in a running sandbox (an OCI runtime's `exec'): into its
   cgroup, through the pidfd of its first process into every namespace it does not share with
   the caller, then confined as a plan's process is (groups, ids, capabilities, no_new_privs,
   seccomp, rlimits), and exec'd. */
#ifndef FK_SANDBOX_ENTER_H
#define FK_SANDBOX_ENTER_H

#include <sys/types.h>

#include "base/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/plan.h"

/* Starts proc (argv, env, cwd, ids, caps, rlimits, umask; stdio the caller's, or with
   proc->stdio FK_INIT_STDIO_TTY a terminal of the sandbox's devpts whose master goes to
   *ret_tty_master) in the sandbox whose first process is target, made from plan, cgroup
   `cgroup'. Returns once it has exec'd (or failed: err says why). The process is a grandchild:
   the caller reaps it as a subreaper (PR_SET_CHILD_SUBREAPER) or not at all. */
int fk_plan_enter (const fk_plan_t *plan, pid_t target, const fk_cgroup_layout_t *cgroups,
                   const char *cgroup, const fk_plan_process_t *proc, pid_t *ret_pid,
                   int *ret_tty_master, fk_error_t *err);

#endif
