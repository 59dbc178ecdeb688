/* sandbox/capture.h: what the host needs to capture a running sandbox's filesystem changes:
   the lifecycle lock, the freeze, and its overlay's upper dir (which only the agent, PID 1,
   still holds: FK_LAUNCH_UPPER_FD). The template area turns the upper dir into a layer. */
#ifndef FK_SANDBOX_CAPTURE_H
#define FK_SANDBOX_CAPTURE_H

#include <stdint.h>

#include "base/error.h"
#include "firkin/sandbox.h"

typedef struct fk_sandbox_capture
{
  int lockfd;       /* the lifecycle lock, held until the end */
  int pidfd;        /* PID 1 */
  int upperfd;      /* O_PATH of the upper dir (host credentials: read it with care) */
  int froze;        /* the capture froze it (else it was paused already) */
  uint32_t id_base; /* host id of the sandbox's 0 */
  uint32_t id_size;
} fk_sandbox_capture_t;

#define FK_SANDBOX_CAPTURE_INIT                                                                    \
  {                                                                                                \
    .lockfd = -1, .pidfd = -1, .upperfd = -1                                                       \
  }

/* Takes the lifecycle lock, freezes the sandbox (unless it is paused already) and takes its
   upper dir from PID 1. ESRCH when it does not run, ENOTSUP when it has no upper dir to give
   (an init sandbox, one started by an older firkin). On failure nothing is held or frozen. */
int fk_sandbox_capture_begin (fk_sandbox_t *sb, fk_sandbox_capture_t *cap, fk_error_t *err);

/* Thaws what the capture froze and releases everything (the lock last). */
int fk_sandbox_capture_end (fk_sandbox_t *sb, fk_sandbox_capture_t *cap, fk_error_t *err);

/* Pause to disk, the end of a capture that succeeded: kills every process of the sandbox, frees
   its cgroup and id range, and records in its state that it sleeps in the template snapshot,
   with the seconds of timeout it had left (0: none). The lock is released. */
int fk_sandbox_capture_end_to_disk (fk_sandbox_t *sb, fk_sandbox_capture_t *cap,
                                    const char *snapshot, fk_error_t *err);

/* The spec a sandbox was created with, as its state keeps it (template, layers as resolved,
   resources, env, workdir, user, hostname, data plane, seccomp, metadata; no init command).
   Owned by sb. */
const fk_sandbox_spec_t *fk_sandbox_kept_spec (const fk_sandbox_t *sb);

/* When the sandbox sleeps on disk (fk_sandbox_capture_end_to_disk): its snapshot template and
   the seconds of timeout it had left; NULL else. Owned by sb. */
const char *fk_sandbox_disk_snapshot (const fk_sandbox_t *sb, uint64_t *ret_remaining);

#endif
