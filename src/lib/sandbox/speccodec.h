/* sandbox/speccodec.h: the spec's codec inside the sandbox area (its public part, dup, equal,
   free and the JSON text form, is in firkin/sandbox.h): the JSON value form for files that embed
   a spec, and the size rules of its strings and lists. */
#ifndef FK_SANDBOX_SPECCODEC_H
#define FK_SANDBOX_SPECCODEC_H

#include <jansson.h>

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

/* The spec as a JSON object (caller decrefs). only: the top-level fields to write (a group such
   as "resources" whole), NULL-terminated; NULL writes them all. Errors as
   fk_sandbox_spec_to_json. */
int fk_spec_json_encode (const fk_sandbox_spec_t *spec, const char *const *only, json_t **ret_json,
                         fk_error_t *err);

/* A new spec from a JSON object (free with fk_sandbox_spec_free): types, sizes and unknown
   fields as fk_sandbox_spec_from_json, without the value rules (fk_spec_check_values, which a
   caller runs after when it wants them), so that a file written under older rules still
   loads. */
int fk_spec_json_decode (const json_t *json, fk_sandbox_spec_t **ret_spec, fk_error_t *err);

/* The size rules: the length of each string and list entry, the entries of each list
   (docs/sandbox.md lists them). EINVAL naming the field. */
int fk_spec_check_sizes (const fk_sandbox_spec_t *spec, fk_error_t *err);

#endif
