/* sandbox/spec.h: checks a sandbox spec before anything starts, so bad input fails with a
   message naming the field and nothing is left half made. */
#ifndef FK_SANDBOX_SPEC_H
#define FK_SANDBOX_SPEC_H

#include "base/error.h"
#include "firkin/sandbox.h"
#include "sandbox/speccodec.h" /* the defaults, FK_SPEC_DEFAULT_* */

/* Checks every field of spec; the first bad one is named in err (EINVAL). Also builds and
   keeps its seccomp filter (fk_seccomp_validate), for fk_sandbox_create. */
int fk_spec_validate (const fk_sandbox_spec_t *spec, fk_error_t *err);

/* Parses a size: digits with an optional K, M, G or T suffix (powers of 1024, an optional
   trailing "B" or "iB"). For front ends reading sizes from people; not in the public API. */
int fk_size_parse (const char *s, uint64_t *ret_bytes, fk_error_t *err);

/* The value rules of fk_spec_validate (sizes, ranges, names, syscall names), without asking for
   a template or a layer (a front end may add them after decoding) and building nothing: what
   a decoder of untrusted input runs. */
int fk_spec_check_values (const fk_sandbox_spec_t *spec, fk_error_t *err);

/* Checks a "K=V" entry (K non-empty, no '=' in K); what names the list in the message. */
int fk_spec_check_kv (const char *entry, const char *what, fk_error_t *err);

#endif
