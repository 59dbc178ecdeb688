/* sandbox/spec.h: checks a sandbox spec before anything starts, so bad input fails with a
   message naming the field and nothing is left half made. */
#ifndef FK_SANDBOX_SPEC_H
#define FK_SANDBOX_SPEC_H

#include "base/error.h"
#include "firkin/sandbox.h"

/* Checks every field of spec; the first bad one is named in err (EINVAL). */
int fk_spec_validate (const fk_sandbox_spec_t *spec, fk_error_t *err);

/* Checks a "K=V" entry (K non-empty, no '=' in K); what names the list in the message. */
int fk_spec_check_kv (const char *entry, const char *what, fk_error_t *err);

#endif
