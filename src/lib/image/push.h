/* image/push.h: pushes an image from the store to a Distribution API v2 registry: each blob
   not already there (HEAD), mounted from another repository of the same registry when one is
   named, else uploaded (POST, then one PUT, or PATCHes of a chunk each and a closing PUT); then
   the manifest. The registry is untrusted: an upload location on another host, a Range that is
   not what was sent, a digest that is not the blob's, or a body past its bound ends the push
   with the reason. Hosts, credentials and timeouts are image/registry_http.h's. */
#ifndef FK_IMAGE_PUSH_H
#define FK_IMAGE_PUSH_H

#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"
#include "image/reference.h"
#include "image/store.h"

/* One blob of the store to push. */
typedef struct fk_push_blob
{
  const char *digest;
  const char *mount_from; /* a repository of the same registry that holds it, or NULL */
} fk_push_blob_t;

typedef struct fk_push_image
{
  const char *manifest_digest; /* a stored blob */
  const char *manifest_type;   /* its media type (the Content-Type of the PUT) */
  const fk_push_blob_t *blobs; /* the config and the layers, any order */
  size_t n_blobs;
} fk_push_image_t;

typedef struct fk_push_stats
{
  unsigned present, mounted, uploaded; /* blobs */
  uint64_t bytes_uploaded;
} fk_push_stats_t;

/* Blobs larger than this go up in PATCHes of this size. */
#define FK_PUSH_CHUNK_DEFAULT (16u << 20)

/* Pushes im to ref (FK_REF_REGISTRY; the manifest under its tag, or its digest, which must be
   the manifest's), asking the token service for pull and push of ref's repository (and pull of
   the repositories blobs are mounted from). chunk 0: FK_PUSH_CHUNK_DEFAULT. ret_stats may be
   NULL. Errors: unauthorised (EACCES), unreachable (EHOSTUNREACH), timeout (ETIMEDOUT), an answer
   that breaks the protocol (EBADMSG, EPROTO). */
int fk_registry_push (fk_store_t *store, const fk_reference_t *ref, const fk_push_image_t *im,
                      uint64_t chunk, fk_push_stats_t *ret_stats, fk_error_t *err);

#endif
