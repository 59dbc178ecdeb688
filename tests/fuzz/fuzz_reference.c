/* Fuzz target: image reference parsing (untrusted: references come from users and API calls). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = xstrndup ((const char *) data, size);
  fk_error_t err = FK_ERROR_INIT;
  fk_reference_t *ref = NULL;
  if (fk_reference_parse (s, &ref, &err) == 0)
    {
      /* What parses formats, and the formatted form parses to the same reference. */
      char *f = fk_reference_format (ref);
      fk_reference_t *again = NULL;
      if (fk_reference_parse (f, &again, &err) < 0)
        abort ();
      char *g = fk_reference_format (again);
      if (strcmp (f, g) != 0)
        abort ();
      (void) fk_reference_api_host (ref);
      (void) fk_reference_object (ref);
      free (g);
      free (f);
      fk_reference_free (again);
      fk_reference_free (ref);
    }
  fk_error_clear (&err);
  free (s);
  return 0;
}
