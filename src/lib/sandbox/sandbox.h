/* sandbox/sandbox.h: the sandbox handle's insides (lifecycle in sandbox.c, creation in
   create.c). */
#ifndef FK_SANDBOX_SANDBOX_H
#define FK_SANDBOX_SANDBOX_H

#include <time.h>

#include "firkin/sandbox.h"
#include "sandbox/cgroup.h"
#include "sandbox/runtime_impl.h"
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

/* EINVAL "`ID' is not a sandbox id" unless id is one (what fk_sandbox_open accepts); 0 else.
   The remote client (remote/) checks ids by the same rule before it asks fkd. */
int fk_sandbox_id_check (const char *id, fk_error_t *err);
/* Sets ENOENT "no sandbox `ID'", the error of an unknown sandbox; returns -1. */
int fk_sandbox_error_missing (fk_error_t *err, const char *id);

/* A handle on a loaded state (takes st and dirfd). */
fk_sandbox_t *fk_sandbox_new_handle (fk_runtime_t *rt, int dirfd, fk_sandbox_state_t *st);

/* 1 when the sandbox was stopped with fk_sandbox_stop (kept until deleted). */
int fk_sandbox_stopped_on_purpose (const fk_sandbox_t *sb);

/* In a sandbox's directory while a capture (capture.c) has it frozen; the sweep thaws a
   sandbox whose capture was killed. */
#define FK_SANDBOX_CAPTURING "capturing"

/* The lifecycle lock: an exclusive flock on a sandbox's directory (dirfd, any mode), held while
   its lifecycle changes: from mkdir until the state is saved in create, and across stop, pause,
   resume, delete, extend and the sweep's delete, so that no two of them interleave. wait 0:
   EWOULDBLOCK when another holds it. ENOENT when the directory was removed before the lock was
   taken. Returns the fd that holds the lock (close it to release). */
int fk_sandbox_lock_dir (int dirfd, int wait, fk_error_t *err);

/* Takes the lifecycle lock (fk_sandbox_lock_dir, waiting) for a change of sb. With reread,
   reads the state again (another holder may have stopped, extended, rerooted or paused it to
   disk) into sb->state: a caller that saves the state or decides on it needs that; pause,
   resume and delete use neither. ENOENT when the sandbox was deleted. Returns the fd that
   holds the lock. */
int fk_sandbox_lock (fk_sandbox_t *sb, int reread, fk_error_t *err);

/* The sweep's decision for one sandbox, made under its lock: deletes it when its PID 1 is gone
   without a stop, or its deadline has passed. 1: deleted; 0: kept (or already deleted). */
int fk_sandbox_sweep_one (fk_sandbox_t *sb, time_t now, fk_error_t *err);

#endif
