/* Fuzz target: fkd's Connect envelope parser and the process.Process/Start request decoder
   (untrusted: envd request bodies). A parsed envelope rebuilds to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/envelope.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fk_error_t err = FK_ERROR_INIT;
  unsigned flags;
  const char *msg;
  size_t len;
  if (fkd_envelope_parse (data, size, FKD_ENVELOPE_MAX, &flags, &msg, &len, &err) == 0)
    {
      size_t n;
      char *again = fkd_envelope_build (flags, msg, len, &n);
      if (n != len + 5 || memcmp (again, data, n) != 0)
        abort ();
      free (again);
      fkd_start_req_t *r = NULL;
      if (fkd_start_req_parse (msg, len, &r, &err) == 0)
        {
          if (r->argv == NULL || r->argv[0] == NULL || r->argv[0][0] == '\0' || r->env == NULL)
            abort ();
          fkd_start_req_free (r);
        }
    }
  fk_error_clear (&err);
  return 0;
}
