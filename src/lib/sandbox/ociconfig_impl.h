/* sandbox/ociconfig_impl.h: what ociconfig.c and ocilinux.c share (not part of the library's
   interface): strict JSON getters whose errors name the config's field, and the linux
   section's conversion. */
#ifndef FK_SANDBOX_OCICONFIG_IMPL_H
#define FK_SANDBOX_OCICONFIG_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "sandbox/ociconfig.h"
#include "sandbox/plan.h"

/* Refuses keys of o not in known: "`where.key' is not supported". */
int oci_only_keys (json_t *o, const char *where, const char *const *known, fk_error_t *err);
/* Refuses key when present and not empty (null, "", [], {}, 0, false). */
int oci_refuse_set (json_t *o, const char *where, const char *key, fk_error_t *err);
/* A list of strings into *ret (replaced); 1 when present, 0 when not. */
int oci_get_strv (json_t *o, const char *key, const char *where, char ***ret, fk_error_t *err);
/* An integer in 0..UINT32_MAX; 1 when present. */
int oci_get_u32 (json_t *o, const char *key, const char *where, int required, uint32_t *ret,
                 fk_error_t *err);
/* "config.json: where: " before err; returns -1. */
int oci_wrap (fk_error_t *err, const char *where);
/* An absolute path inside the container with no `..' component. */
int oci_check_dest (const char *path, const char *what, fk_error_t *err);
/* Appends a mount step (data copied). */
void oci_add_mount (fk_plan_t *plan, fk_plan_mount_kind_t kind, const char *dest,
                    const char *source, char **data, int ro, const char *fstype, unsigned attrs,
                    int flags);

/* The linux section onto plan. */
int oci_linux (json_t *lin, const fk_oci_opts_t *opts, fk_plan_t *plan, fk_error_t *err);

#endif
