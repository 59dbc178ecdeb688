/* sandbox/reroot.h: a running agent sandbox moved onto another root: the root a create of spec
   would give it (spec's layers, a fresh disk of the same size), its /proc, /sys and /dev moved
   over (/dev/shm the new disk's), and the old root detached. What a warm pool's sandbox becomes
   when a fork leases it (pool/warm.h): it keeps its namespaces, cgroup, id range, network and
   agent.

   The host builds the new root as a create does (sandbox/start.c: idmapped layers, the disk, the
   overlay, in the host's user namespace); a short-lived process of the host joins the sandbox's
   user and mount namespaces, attaches it, and pivots every process of the sandbox onto it.
   Nothing of the sandbox's code takes part: the host never acts on a path the sandbox chose
   (the moved mounts are the plan's own, the staging point a directory it makes), so the
   sandbox must not have run code of its own yet that changed its mounts; a warm pool's sandbox has
   run nothing but the pool's readiness check. */
#ifndef FK_SANDBOX_REROOT_H
#define FK_SANDBOX_REROOT_H

#include "base/error.h"
#include "firkin/sandbox.h"

/* Moves sb (running, with an agent) onto the root of spec (resolved: spec->layers set; its
   workdir, hostname, data plane and disk size are used), kills every other process of sb's
   cgroup first (seen gone within 2 s, else it fails; sb stays frozen until the move is done,
   moved or not; no freeze when the agent is alone in the cgroup, see reroot.c), and records spec
   (its template id, layers) as what sb is made of, with spec's metadata as its labels and its
   deadline restarted at spec's timeout (when both have one). On success *ret_upper_fd (O_PATH) and
   *ret_log_fd are the new disk's upper dir and agent log, for the agent (fk_client_reroot), which
   still holds the old ones. On failure sb may be half moved: delete it. */
int fk_sandbox_reroot (fk_sandbox_t *sb, const fk_sandbox_spec_t *spec, int *ret_upper_fd,
                       int *ret_log_fd, fk_error_t *err);

#endif
