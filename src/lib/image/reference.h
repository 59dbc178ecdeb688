/* image/reference.h: image references: `[registry/]repository[:tag][@sha256:digest]` with Docker's
   normalisation, and the archive forms `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
   `docker-archive:FILE`. */
#ifndef FK_IMAGE_REFERENCE_H
#define FK_IMAGE_REFERENCE_H

#include "base/cleanup.h"
#include "base/error.h"

typedef enum
{
  FK_REF_REGISTRY = 0,
  FK_REF_OCI_DIR,
  FK_REF_OCI_ARCHIVE,
  FK_REF_DOCKER_ARCHIVE,
} fk_ref_kind_t;

typedef struct fk_reference
{
  fk_ref_kind_t kind;
  /* FK_REF_REGISTRY */
  char *registry;   /* "docker.io", "127.0.0.1:5000", ... */
  char *repository; /* "library/debian" */
  char *tag;        /* "latest" when neither tag nor digest was given; NULL with a digest only */
  char *digest;     /* "sha256:<hex>" or NULL */
  /* archive forms */
  char *path; /* the directory or file */
  char *name; /* oci tag (org.opencontainers.image.ref.name) or NULL */
} fk_reference_t;

/* Parses s; on failure err says which part (registry, repository, tag, digest, path) is wrong.
   Free *ret with fk_reference_free. */
int fk_reference_parse (const char *s, fk_reference_t **ret, fk_error_t *err);
void fk_reference_free (fk_reference_t *ref);
FK_DEFINE_CLEANUP (fk_reference_t *, fk_reference_free)
#define cleanup_reference FK_CLEANUP (fk_reference_free)
/* The fully qualified form ("docker.io/library/debian:bookworm-slim", "oci:/d:tag"); caller frees.
 */
char *fk_reference_format (const fk_reference_t *ref);
/* The host the Distribution API is served from: "registry-1.docker.io" for docker.io, or the
   host[:port] in $FIRKIN_DOCKER_HUB_MIRROR (a mirror of Docker Hub, e.g. on loopback). */
const char *fk_reference_api_host (const fk_reference_t *ref);
/* The tag or the digest to ask the registry for (the digest wins when both are given). */
const char *fk_reference_object (const fk_reference_t *ref);

#endif
