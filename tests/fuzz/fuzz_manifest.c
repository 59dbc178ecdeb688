/* Fuzz target: the OCI / Docker documents a registry or an archive hands over (index, manifest,
   config), parsed as each kind, plus platform selection on what parses as an index. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *buf = (const char *) data;
  fk_error_t err = FK_ERROR_INIT;
  (void) fk_manifest_doc_kind (buf, size, NULL, &err);
  fk_error_clear (&err);

  fk_index_t *idx = NULL;
  if (fk_index_parse (buf, size, &idx, &err) == 0)
    {
      fk_platform_t p = {0};
      fk_platform_host (&p);
      (void) fk_index_select (idx, &p, &err);
      fk_platform_clear (&p);
      fk_index_free (idx);
    }
  fk_error_clear (&err);

  fk_manifest_t *m = NULL;
  if (fk_manifest_parse (buf, size, &m, &err) == 0)
    fk_manifest_free (m);
  fk_error_clear (&err);

  fk_image_config_t *c = NULL;
  if (fk_image_config_parse (buf, size, &c, &err) == 0)
    fk_image_config_free (c);
  fk_error_clear (&err);

  fk_platform_t p = {0};
  if (size < 64)
    {
      char s[65];
      memcpy (s, buf, size);
      s[size] = '\0';
      if (fk_platform_parse (s, &p, &err) == 0)
        fk_platform_clear (&p);
      fk_error_clear (&err);
    }
  return 0;
}
