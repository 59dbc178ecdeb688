/* Fuzz target: the sandbox spec's JSON decoder (untrusted: HTTP request bodies, spec files).
   What decodes encodes, decodes again to an equal spec, and copies to an equal spec; the
   state file's lenient decode (no value rules) never crashes either. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "firkin/sandbox.h"
#include "sandbox/speccodec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t *spec = NULL;
  if (fk_sandbox_spec_from_json (text, size, &spec, &err) == 0)
    {
      char *out = NULL;
      if (fk_sandbox_spec_to_json (spec, &out, &err) < 0)
        abort ();
      fk_sandbox_spec_t *again = NULL;
      if (fk_sandbox_spec_from_json (out, strlen (out), &again, &err) < 0)
        abort ();
      if (!fk_sandbox_spec_equal (spec, again))
        abort ();
      fk_sandbox_spec_t *copy = NULL;
      fk_sandbox_spec_dup (again, &copy);
      if (!fk_sandbox_spec_equal (spec, copy))
        abort ();
      fk_sandbox_spec_free (copy);
      fk_sandbox_spec_free (again);
      fk_sandbox_spec_free (spec);
      free (out);
    }
  fk_error_clear (&err);

  json_t *j = NULL;
  if (size <= FK_SANDBOX_SPEC_JSON_MAX && fk_json_parse (text, size, &j, &err) == 0)
    {
      if (fk_spec_json_decode (j, &spec, &err) == 0)
        fk_sandbox_spec_free (spec);
      json_decref (j);
    }
  fk_error_clear (&err);
  return 0;
}
