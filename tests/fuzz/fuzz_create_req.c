/* Fuzz target: fkd's control-plane decoders (untrusted: request bodies and queries): the create
   request, the set-timeout body, and the list's metadata filter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "daemon/controlreq.h"
#include "firkin/strv.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  fk_error_t err = FK_ERROR_INIT;
  fkd_create_req_t *r = NULL;
  if (fkd_create_req_parse (text, size, &r, &err) == 0)
    {
      if (r->template_id == NULL || r->metadata == NULL || r->env == NULL || r->timeout_sec == 0
          || r->timeout_sec > FKD_MAX_TIMEOUT_SEC)
        abort ();
      for (size_t i = 0; r->metadata[i]; i++)
        if (fkd_meta_reserved (r->metadata[i]) || r->metadata[i][0] == '=')
          abort ();
      fkd_create_req_free (r);
    }
  fk_error_clear (&err);
  uint64_t sec;
  if (fkd_timeout_req_parse (text, size, &sec, &err) == 0
      && (sec == 0 || sec > FKD_MAX_TIMEOUT_SEC))
    abort ();
  fk_error_clear (&err);

  char *q = xstrndup (text, size);
  char **kv = NULL;
  if (fkd_metadata_filter_parse (q, &kv, &err) == 0)
    {
      for (size_t i = 0; kv[i]; i++)
        if (strchr (kv[i], '=') == NULL || kv[i][0] == '=')
          abort ();
      fk_strv_free (kv);
    }
  fk_error_clear (&err);
  free (q);
  return 0;
}
