/* sandbox/seccomp.h: the seccomp filter (BPF built here, syscall names from libseccomp): an
   allow list no looser than the default
   container profile, with the kernel attack surface it leaves open closed too; syscalls it does
   not list fail with ENOSYS, the known-dangerous ones with EPERM. Stricter or looser per
   sandbox. */
#ifndef FK_SANDBOX_SECCOMP_H
#define FK_SANDBOX_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

#include "base/error.h"
#include "firkin/sandbox.h"

/* Checks every name of spec->deny and spec->allow: a syscall libseccomp does not know is an
   EINVAL naming it. Run before the sandbox starts, for a clear error. Also builds the filter
   and keeps it (a few specs per process, thread-safe), so that fk_seccomp_load in a process
   cloned afterwards only loads it. */
int fk_seccomp_validate (const fk_seccomp_spec_t *spec, fk_error_t *err);

/* Only the names check of fk_seccomp_validate: builds and keeps nothing, so untrusted specs
   (a decoder's) cannot fill the kept filters. */
int fk_seccomp_check_names (const fk_seccomp_spec_t *spec, fk_error_t *err);

/* Loads the filter into the calling process (needs no_new_privs or CAP_SYS_ADMIN); a no-op
   when spec->unconfined. spec->deny: refused with EPERM, whatever else says. spec->allow:
   allowed with any arguments (ptrace; ioctl with TIOCSTI; clone or unshare: namespace flags,
   and clone3). */
int fk_seccomp_load (const fk_seccomp_spec_t *spec, fk_error_t *err);

/* Builds the BPF program fk_seccomp_load loads (unconfined aside), for tests and inspection:
   its instructions go to ret_prog (free them), their count to ret_len. */
int fk_seccomp_build (const fk_seccomp_spec_t *spec, struct sock_filter **ret_prog, size_t *ret_len,
                      fk_error_t *err);

/* The default allow list, NULL-terminated (static storage). clone and personality, allowed
   with some arguments only, are not in it. */
const char *const *fk_seccomp_default_allowed (void);

/* The default deny list (EPERM), NULL-terminated (static storage). */
const char *const *fk_seccomp_default_denied (void);

#endif
