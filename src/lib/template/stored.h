/* template/stored.h: a template's image as the store holds it (manifest, config and layer blob
   digests), what export.c writes out and push.c sends to a registry. */
#ifndef FK_TEMPLATE_STORED_H
#define FK_TEMPLATE_STORED_H

#include <stddef.h>

#include "base/error.h"
#include "image/store.h"

typedef struct fk_template_image
{
  char *manifest_digest, *config_digest, *manifest_type;
  size_t manifest_size;
  char **layers; /* blob digests, bottom first, NULL-terminated */
} fk_template_image_t;

/* Reads template id's record and manifest; every layer blob must be in the store. Clear *im
   (zeroed by the caller) with fk_template_image_clear, on failure too. */
int fk_template_image_load (fk_store_t *store, const char *id, fk_template_image_t *im,
                            fk_error_t *err);
void fk_template_image_clear (fk_template_image_t *im);

#endif
