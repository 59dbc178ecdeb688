/* image/manifest.h: parses and validates the OCI and Docker schema-2 documents an image is made
   of (image index / manifest list, image manifest, image config) and selects a platform.
   All input is untrusted: every field used is type- and range-checked. */
#ifndef FK_IMAGE_MANIFEST_H
#define FK_IMAGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/cleanup.h"
#include "base/error.h"

#define FK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define FK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define FK_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define FK_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define FK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define FK_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define FK_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"
/* What the registry client sends as Accept. */
#define FK_MT_ACCEPT_ALL                                                                           \
  FK_MT_OCI_INDEX ", " FK_MT_OCI_MANIFEST ", " FK_MT_DOCKER_LIST ", " FK_MT_DOCKER_MANIFEST

/* Manifests, indexes and configs are small; larger documents are rejected. */
#define FK_MANIFEST_MAX_SIZE (4u << 20)

typedef struct fk_platform
{
  char *os, *architecture, *variant; /* variant may be NULL */
} fk_platform_t;

typedef struct fk_descriptor
{
  char *media_type;
  char *digest;
  int64_t size;
  fk_platform_t platform; /* index entries only; os NULL when absent */
  char *ref_name;         /* annotation org.opencontainers.image.ref.name, or NULL */
} fk_descriptor_t;

typedef enum
{
  FK_DOC_INDEX = 1,
  FK_DOC_MANIFEST = 2,
} fk_doc_kind_t;

typedef struct fk_index
{
  size_t n_manifests;
  fk_descriptor_t *manifests;
} fk_index_t;

typedef struct fk_manifest
{
  fk_descriptor_t config;
  size_t n_layers;
  fk_descriptor_t *layers; /* bottom first */
} fk_manifest_t;

typedef struct fk_image_config
{
  char *os, *architecture, *variant;
  char **env, **entrypoint, **cmd; /* NULL-terminated; NULL when absent */
  char *workdir, *user;            /* NULL when absent */
  size_t n_diff_ids;
  char **diff_ids; /* "sha256:<hex>", bottom first, NULL-terminated */
} fk_image_config_t;

/* Which kind a document is: from media_type when given (a Content-Type), else from the
   document's own mediaType / shape. Returns FK_DOC_* or < 0 when it is neither. */
int fk_manifest_doc_kind (const char *buf, size_t len, const char *media_type, fk_error_t *err);

/* Parse an index / manifest list. Free with fk_index_free. */
int fk_index_parse (const char *buf, size_t len, fk_index_t **ret, fk_error_t *err);
void fk_index_free (fk_index_t *idx);
FK_DEFINE_CLEANUP (fk_index_t *, fk_index_free)
#define cleanup_index FK_CLEANUP (fk_index_free)

/* Parse an image manifest (OCI or Docker schema 2). Free with fk_manifest_free. */
int fk_manifest_parse (const char *buf, size_t len, fk_manifest_t **ret, fk_error_t *err);
void fk_manifest_free (fk_manifest_t *m);
FK_DEFINE_CLEANUP (fk_manifest_t *, fk_manifest_free)
#define cleanup_manifest FK_CLEANUP (fk_manifest_free)

/* Parse an image config. Free with fk_image_config_free. */
int fk_image_config_parse (const char *buf, size_t len, fk_image_config_t **ret, fk_error_t *err);
void fk_image_config_free (fk_image_config_t *c);
FK_DEFINE_CLEANUP (fk_image_config_t *, fk_image_config_free)
#define cleanup_image_config FK_CLEANUP (fk_image_config_free)

/* Parses "os/arch[/variant]" into ret (fields allocated; free with fk_platform_clear). */
int fk_platform_parse (const char *s, fk_platform_t *ret, fk_error_t *err);
/* The host's platform: linux/<GOARCH-style arch>[/variant]. */
void fk_platform_host (fk_platform_t *ret);
void fk_platform_clear (fk_platform_t *p);
/* "os/arch[/variant]"; caller frees. */
char *fk_platform_format (const fk_platform_t *p);

/* Picks the index entry for platform (an entry without variant matches any variant wanted;
   amd64 has no variant). Returns its index, or < 0 with an error listing what the index has.
   Entries that are not image manifests (attestations: os "unknown") are skipped. */
int fk_index_select (const fk_index_t *idx, const fk_platform_t *platform, fk_error_t *err);

/* A resolved image: the documents a template is made from, all of them in the store. */
typedef struct fk_image
{
  char *index_digest;    /* the index the manifest was picked from, or NULL */
  char *manifest_digest; /* digest of the manifest bytes as stored */
  fk_manifest_t *manifest;
  fk_image_config_t *config; /* config->diff_ids pairs with manifest->layers */
} fk_image_t;
void fk_image_free (fk_image_t *img);
FK_DEFINE_CLEANUP (fk_image_t *, fk_image_free)
#define cleanup_image FK_CLEANUP (fk_image_free)

/* Checks that config and manifest agree (as many diff-ids as layers) and that the config's
   platform is the one wanted (want may be NULL). */
int fk_image_check (const fk_image_t *img, const fk_platform_t *want, fk_error_t *err);

/* True for the layer media types firkin unpacks (tar, tar+gzip, tar+zstd; OCI and Docker). */
int fk_layer_media_type_ok (const char *media_type);

#endif
