/* sandbox/caps.h: reduces the capabilities of the sandbox's PID 1 (and so of everything it
   starts) to a container-like default set, bounding set included. */
#ifndef FK_SANDBOX_CAPS_H
#define FK_SANDBOX_CAPS_H

#include "base/error.h"

/* Drops every capability outside the default set from the bounding, permitted, effective and
   inheritable sets, and clears the ambient set. Needs CAP_SETPCAP (root in the user namespace). */
int fk_caps_apply_default (fk_error_t *err);

/* The default set as libcap text ("cap_chown,cap_kill,...=eip"); static storage. */
const char *fk_caps_default_text (void);

#endif
