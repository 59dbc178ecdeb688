/* sandbox/netstate.h: a sandbox's network across its life: the egress plane's slot given back at
   delete, pause-to-disk and the sweep; its rules replaced live; its state read back. */
#ifndef FK_SANDBOX_NETSTATE_H
#define FK_SANDBOX_NETSTATE_H

#include "base/error.h"
#include "sandbox/runtime_impl.h"
#include "sandbox/state.h"

/* Removes the egress plane of st (its rules, interface and slot) once nothing of it runs; a
   sandbox without one is a no-op. st->net_slot is 0 after success. */
int fk_netstate_release (fk_runtime_t *rt, fk_sandbox_state_t *st, fk_error_t *err);

/* Frees the slots (and their rules and interfaces) of sandboxes that are gone (a create or a
   delete that died half way). Returns how many, or -1. */
int fk_netstate_sweep (fk_runtime_t *rt, fk_error_t *err);

#endif
