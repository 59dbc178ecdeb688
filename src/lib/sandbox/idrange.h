/* sandbox/idrange.h: gives each sandbox its own range of FK_USERNS_SIZE host uids/gids, so the
   kernel's per-user limits (fds in flight over unix sockets, pipe buffers, inotify instances,
   RLIMIT_NPROC, keys) are per sandbox and one sandbox cannot use them up for the others.

   The table is one file per taken slot, <state>/idranges/<slot>, holding the owner's sandbox
   id. A slot is taken by creating its file with O_CREAT|O_EXCL, so two processes creating
   sandboxes at once never get the same one; alloc needs no lock and costs a few syscalls (a
   random start, then linear probing). free and sweep take an flock on the table directory so
   a slot is never removed after its owner changed.

   Slot N is the host range FK_USERNS_HOST_BASE + N * FK_USERNS_SIZE, N from 1 to
   FK_IDRANGE_SLOTS - 1: the last range ends below 2^32-1 (no range wraps or reaches the
   invalid id -1), and slot 0 is never handed out: it is the range every sandbox used before
   ranges were per sandbox, and the one the benchmarks' OCI bundles give crun. */
#ifndef FK_SANDBOX_IDRANGE_H
#define FK_SANDBOX_IDRANGE_H

#include <stdint.h>

#include "base/error.h"
#include "sandbox/userns.h"

/* Slots whose whole range fits below 2^32-1 (0 included): 50277. */
#define FK_IDRANGE_SLOTS ((uint32_t)((0xffffffffu - FK_USERNS_HOST_BASE) / FK_USERNS_SIZE))
/* The first slot alloc hands out. */
#define FK_IDRANGE_FIRST_SLOT 1u

/* The host base of slot (no check). */
static inline uint32_t
fk_idrange_slot_base (uint32_t slot)
{
  return FK_USERNS_HOST_BASE + slot * FK_USERNS_SIZE;
}

/* Takes a free slot for sandbox_id (a sandbox id: [0-9a-z-], 1 to 64 characters) and returns
   its host base. state_dirfd is the state directory (an O_PATH fd is enough); idranges/ is
   made below it when missing. Make the sandbox's directory under sandboxes/ BEFORE calling
   this: a slot whose owner has no directory is taken back by fk_idrange_sweep once it is a
   minute old. The caller
   gives the slot back with fk_idrange_free when the sandbox is deleted. Errors: ENOSPC when
   every slot is taken; EINVAL for a bad id; else the errno of the failing call. */
int fk_idrange_alloc (int state_dirfd, const char *sandbox_id, uint32_t *ret_host_base,
                      fk_error_t *err);

/* Gives back the slot of host_base if sandbox_id still owns it. A slot already free (or no
   table at all) is success, so a delete can be retried. Errors: EPERM when another sandbox owns
   the slot (it is left alone); EINVAL when host_base is not the base of a slot. */
int fk_idrange_free (int state_dirfd, uint32_t host_base, const char *sandbox_id, fk_error_t *err);

/* The host base of the slot sandbox_id owns (a scan of the taken slots, for sandboxes whose
   state does not record it). ENOENT when it owns none. */
int fk_idrange_find (int state_dirfd, const char *sandbox_id, uint32_t *ret_host_base,
                     fk_error_t *err);

/* Crash recovery: frees every slot whose owner has no directory under sandboxes_dirfd any more
   (a create or delete that died half way), and every unreadable or empty slot file. Slots
   changed in the last 60 s are left alone: their create may still be running. Returns how many
   it freed, or -1. Call it after the sweep of stale sandboxes (fk_runtime_sweep). */
int fk_idrange_sweep (int state_dirfd, int sandboxes_dirfd, fk_error_t *err);

/* How many slots are taken (0 when there is no table): a sweep is due when it is more than the
   sandboxes there are. One directory read. */
size_t fk_idrange_count (int state_dirfd);

#endif
