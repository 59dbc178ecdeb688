/* image/ocilayout.h: imports an image from an OCI image layout directory (`oci:DIR[:TAG]`), an
   OCI layout in a tar archive (`oci-archive:FILE[:TAG]`) or a `docker save` archive
   (`docker-archive:FILE`) into the store, every blob verified against its digest and size.
   Archives are untrusted: they are extracted under the store's tmp/ with libarchive's secure
   flags (no `..`, no absolute paths, no writing through symlinks) and removed after. */
#ifndef FK_IMAGE_OCILAYOUT_H
#define FK_IMAGE_OCILAYOUT_H

#include "base/error.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/store.h"

/* Imports ref (one of the archive kinds). platform NULL: the host's. With skip_unpacked, the
   blobs of layers already unpacked in the store are not copied. Free *ret with fk_image_free. */
int fk_oci_import (fk_store_t *store, const fk_reference_t *ref, const fk_platform_t *platform,
                   int skip_unpacked, fk_image_t **ret, fk_error_t *err);

#endif
