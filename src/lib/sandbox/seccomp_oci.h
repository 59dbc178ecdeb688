/* sandbox/seccomp_oci.h: an OCI runtime-spec seccomp profile (config.json's linux.seccomp:
   defaultAction, defaultErrnoRet, architectures, syscalls with names, action, errnoRet and
   argument conditions) compiled with libseccomp to the BPF program the sandbox loads. */
#ifndef FK_SANDBOX_SECCOMP_OCI_H
#define FK_SANDBOX_SECCOMP_OCI_H

#include <linux/filter.h>
#include <stddef.h>

#include "base/error.h"

/* Checks the profile's shape (actions, architectures, operators, flags known; sizes bounded)
   without building anything: for a config parser. Syscall names the running libseccomp does
   not know are skipped at compile time, as other runtimes do (profiles name syscalls of every
   architecture). */
int fk_seccomp_oci_check (const char *json_text, fk_error_t *err);

/* Compiles the profile: *ret_prog (free it) holds *ret_len instructions. */
int fk_seccomp_oci_compile (const char *json_text, struct sock_filter **ret_prog, size_t *ret_len,
                            fk_error_t *err);

#endif
