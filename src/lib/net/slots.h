/* net/slots.h: the egress plane's per-sandbox slots. Slot N (1 to max) gives a sandbox its
   addresses (fk_net_slot_addrs) and its interface `fkv<N>'; the table is one file per taken
   slot, <state>/net/slots/<N>, holding the owner's sandbox id. Taking a slot is an O_EXCL create
   (atomic across processes); giving one back and the sweep hold an flock on the table
   directory across read-compare-unlink, so a slot is never removed after another owner took
   it. */
#ifndef FK_NET_SLOTS_H
#define FK_NET_SLOTS_H

#include <stddef.h>

#include "base/error.h"

/* The most slots there can be (interface names hold 5 digits). */
#define FK_NET_SLOTS_MAX 65000u

/* Takes the lowest free slot from 1 to max for sandbox_id ([0-9a-z-], 1 to 64 characters);
   net/slots/ is made below state_dirfd when missing. ENOSPC when all are taken. */
int fk_net_slot_alloc (int state_dirfd, const char *sandbox_id, unsigned max, unsigned *ret_slot,
                       fk_error_t *err);

/* Gives slot back if sandbox_id owns it; a free slot is success. EPERM when another sandbox owns
   it (left alone). */
int fk_net_slot_free (int state_dirfd, unsigned slot, const char *sandbox_id, fk_error_t *err);

/* The slot sandbox_id owns, or 0 when none. */
unsigned fk_net_slot_find (int state_dirfd, const char *sandbox_id);

/* Calls fn for every taken slot whose owner has no directory under sandboxes_dirfd (a create or
   delete that died half way) and is older than grace_sec, then frees it when fn returns 0.
   Returns how many it freed, or -1. */
int fk_net_slot_sweep (int state_dirfd, int sandboxes_dirfd, unsigned grace_sec,
                       int (*fn) (unsigned slot, void *data), void *data, fk_error_t *err);

#endif
