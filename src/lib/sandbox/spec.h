/* sandbox/spec.h: checks a sandbox spec before anything starts, so bad input fails with a
   message naming the field and nothing is left half made. */
#ifndef FK_SANDBOX_SPEC_H
#define FK_SANDBOX_SPEC_H

#include "base/error.h"
#include "firkin/sandbox.h"

/* The limits of fk_sandbox_spec_init, which a spec may raise, lower, or lift (0: no limit).
   They bound what one runaway or hostile sandbox takes from its neighbours, and stay out of the
   way of an agent's ordinary work (builds, test runs, language servers):
   - pids 1024: a shell, an editor's servers, `make -j` and a threaded test runner fit in a few
     hundred tasks; a fork bomb stops at 1024 instead of the host's pid space.
   - memory 2 GiB: the writable layer and /tmp are tmpfs, charged to the sandbox's memory, so the
     limit must exceed the 1 GiB default disk or filling the disk would end in the OOM killer
     instead of ENOSPC; 1 GiB more holds a compiler or a language runtime.
   - 2 CPUs: enough to run a build in parallel; the quota keeps one busy sandbox from taking
     every core from its neighbours.
   - disk 1 GiB (see fk_resources_t). */
#define FK_SPEC_DEFAULT_PIDS 1024u
#define FK_SPEC_DEFAULT_MEMORY_BYTES (2ULL << 30)
#define FK_SPEC_DEFAULT_VCPUS 2.0
#define FK_SPEC_DEFAULT_DISK_BYTES (1ULL << 30)

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
