/* sandbox/seccomp.h: the seccomp filter (libseccomp): everything allowed but the kernel attack
   surface a default container profile blocks; stricter or looser per sandbox. */
#ifndef FK_SANDBOX_SECCOMP_H
#define FK_SANDBOX_SECCOMP_H

#include "base/error.h"
#include "firkin/sandbox.h"

/* Checks every name of spec->deny and spec->allow (unknown syscalls, an allow of a syscall the
   default profile does not deny): run before the sandbox starts, for a clear error. */
int fk_seccomp_validate (const fk_seccomp_spec_t *spec, fk_error_t *err);

/* Loads the filter into the calling process (needs no_new_privs or CAP_SYS_ADMIN); a no-op
   when spec->unconfined. */
int fk_seccomp_load (const fk_seccomp_spec_t *spec, fk_error_t *err);

/* The default deny list, NULL-terminated (static storage). */
const char *const *fk_seccomp_default_denied (void);

#endif
