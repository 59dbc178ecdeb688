/* sandbox/speccodec.h: the spec's codec inside the sandbox area (its public part, dup, equal,
   free and the JSON text form, is in firkin/sandbox.h): the JSON value form for files that embed
   a spec, and the size rules of its strings and lists. */
#ifndef FK_SANDBOX_SPECCODEC_H
#define FK_SANDBOX_SPECCODEC_H

#include <jansson.h>

#include "base/error.h"
#include "firkin/sandbox.h"

/* The spec as a JSON object (caller decrefs). only: the top-level fields to write (a group such
   as "resources" whole), NULL-terminated; NULL writes them all. Errors as
   fk_sandbox_spec_to_json. */
int fk_spec_json_encode (const fk_sandbox_spec_t *spec, const char *const *only, json_t **ret_json,
                         fk_error_t *err);

/* A new spec from a JSON object (free with fk_sandbox_spec_free): types, sizes and unknown
   fields as fk_sandbox_spec_from_json; the value rules (fk_spec_check_values) only when check,
   so that a file written under older rules still loads. */
int fk_spec_json_decode (const json_t *json, int check, fk_sandbox_spec_t **ret_spec,
                         fk_error_t *err);

/* The size rules: the length of each string and list entry, the entries of each list
   (docs/sandbox.md lists them). EINVAL naming the field. */
int fk_spec_check_sizes (const fk_sandbox_spec_t *spec, fk_error_t *err);

#endif
