/* image/registry.h: pulls an image from a Distribution API v2 registry into the store: the
   manifest (an index resolved to the platform), the config and the layer blobs, several at once,
   each verified before the store takes it. How hosts, credentials and timeouts are chosen is in
   image/registry_http.h. The pull never prints: progress goes to the callback in its options. */
#ifndef FK_IMAGE_REGISTRY_H
#define FK_IMAGE_REGISTRY_H

#include "base/error.h"
#include "firkin/progress.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/registry_http.h"
#include "image/store.h"

typedef struct fk_pull_opts
{
  const fk_platform_t *platform; /* NULL: the host's */
  /* Called for each layer blob downloaded (none for the config), on the pulling thread; NULL:
     no reports. */
  fk_pull_progress_fn progress;
  void *progress_data;
  int parallel; /* concurrent blob downloads; 0: 4 */
  /* Layers whose diff-id the store has unpacked are not downloaded again when true. */
  int skip_unpacked;
} fk_pull_opts_t;

/* Pulls ref (FK_REF_REGISTRY) into the store: manifest (index resolved to the platform), config
   and every layer blob, each verified against its digest and size and renamed into blobs/ only
   then. Errors say which of: unknown repository, unknown tag, unauthorised, wrong platform,
   digest mismatch, unreachable, timeout (err->code ENOENT, EACCES, ENOEXEC, EBADMSG,
   EHOSTUNREACH, ETIMEDOUT). Free *ret with fk_image_free. */
int fk_registry_pull (fk_store_t *store, const fk_reference_t *ref, const fk_pull_opts_t *opts,
                      fk_image_t **ret, fk_error_t *err);

#endif
