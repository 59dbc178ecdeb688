/* template/buildown.h: what a running build owns outside its own memory (temporary records
   `build-step-TOKEN-N' and `build-snap-TOKEN-N', the RUN sandboxes, whose metadata says
   `fk.build=TOKEN') is tied to the lock locks/build-TOKEN that the build holds for its whole
   life. A build killed at any point leaves them with a lock nobody holds: the sweep (run at
   the start of every build and by fk image prune) removes them, and the half-written files
   of atomic writes a killed process left in templates/ and build-cache/. */
#ifndef FK_TEMPLATE_BUILDOWN_H
#define FK_TEMPLATE_BUILDOWN_H

#include "base/error.h"
#include "firkin/runtime.h"
#include "image/store.h"

#define FK_BUILD_TOKEN_LEN 12        /* hex digits */
#define FK_BUILD_META_KEY "fk.build" /* a RUN sandbox's metadata key */

/* Makes a token and takes its lock: *ret_fd holds it (fk_build_token_release gives it up and
   removes the lock file). */
int fk_build_token_take (fk_store_t *store, char ret_token[FK_BUILD_TOKEN_LEN + 1], int *ret_fd,
                         fk_error_t *err);
void fk_build_token_release (fk_store_t *store, const char *token, int fd);

/* Removes what builds that are gone left behind; *ret_removed (may be NULL) counts records,
   sandboxes, locks and files removed. Errors on one item are logged, not returned. */
int fk_build_sweep (fk_runtime_t *rt, fk_store_t *store, unsigned *ret_removed, fk_error_t *err);

#endif
