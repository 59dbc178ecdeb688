/* sandbox/caps.h: reduces the capabilities of the sandbox's PID 1 (and so of everything it
   starts) to a container-like default set, bounding set included. */
#ifndef FK_SANDBOX_CAPS_H
#define FK_SANDBOX_CAPS_H

#include <stdint.h>

#include "base/error.h"

/* The default set as a mask (bit N: capability N). */
uint64_t fk_caps_default_mask (void);

/* Keeps exactly the capabilities of mask in the bounding, permitted, effective and inheritable
   sets, and clears the ambient set. Needs CAP_SETPCAP (root in the user namespace). */
int fk_caps_apply (uint64_t mask, fk_error_t *err);

/* Only the permitted, effective and inheritable sets. */
int fk_caps_set (uint64_t mask, fk_error_t *err);

/* Effective = permitted (after a change of uid with keepcaps, which clears the effective set). */
int fk_caps_raise_effective (fk_error_t *err);

/* The ambient set = mask (each in the permitted and inheritable sets already): what a process
   running as another uid than root keeps across exec. */
int fk_caps_raise_ambient (uint64_t mask, fk_error_t *err);

/* The default set as libcap text ("cap_chown,cap_kill,...=eip"); static storage. */
const char *fk_caps_default_text (void);

#endif
