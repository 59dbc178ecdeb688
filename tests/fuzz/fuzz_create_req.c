/* Fuzz target: fkd's control-plane decoders (untrusted: request bodies and queries): the create
   request, the set-timeout body, the list's metadata filter, the lifecycle bodies (connect,
   resume, refresh, pause), the metrics map's sandbox ids and the numeric query arguments. */
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

  char *name = NULL;
  if (fkd_snapshot_req_parse (text, size, &name, &err) == 0 && name
      && (name[0] == '\0' || name[0] == '.' || name[0] == '-' || strchr (name, '/')))
    abort ();
  free (name);
  fk_error_clear (&err);
  unsigned count = 0;
  if (fkd_fork_req_parse (text, size, &sec, &count, &err) == 0
      && (count < 1 || count > FKD_MAX_FORKS || sec == 0 || sec > FKD_MAX_TIMEOUT_SEC))
    abort ();
  fk_error_clear (&err);

  for (int kind = FKD_BODY_CONNECT; kind <= FKD_BODY_PAUSE; kind++)
    {
      int memory = -1;
      if (fkd_lifecycle_req_parse ((fkd_body_kind_t)kind, text, size, 300, &sec, &memory, &err) == 0
          && (sec > FKD_MAX_TIMEOUT_SEC || (kind == FKD_BODY_PAUSE ? sec != 0 : sec == 0)
              || (memory != 0 && memory != 1)))
        abort ();
      fk_error_clear (&err);
    }

  char *q = xstrndup (text, size);
  char **ids = NULL;
  if (fkd_sandbox_ids_parse (q, &ids, &err) == 0)
    {
      size_t n = 0;
      for (; ids[n]; n++)
        if (!fkd_sandbox_id_valid (ids[n]))
          abort ();
      if (n == 0 || n > FKD_MAX_METRICS_IDS)
        abort ();
      fk_strv_free (ids);
    }
  fk_error_clear (&err);
  uint64_t v;
  if (fkd_query_u64 (q, 1000, &v) == 0 && v > 1000)
    abort ();
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
