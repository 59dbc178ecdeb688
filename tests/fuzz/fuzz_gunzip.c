/* Fuzz target: fkd's bounded gzip decompression of upload bodies (untrusted: POST /files with
   Content-Encoding: gzip). The output never exceeds the limit, whatever the input inflates to. */
#include <stdint.h>
#include <stdlib.h>

#include "daemon/gzip.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const size_t limits[] = { 0, 1, 100, 64 * 1024 };
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      char *out = NULL;
      size_t n = 0;
      if (fkd_gunzip (data, size, limits[i], &out, &n, &err) == 0)
        {
          if (n > limits[i] || out == NULL)
            abort ();
          free (out);
        }
      fk_error_clear (&err);
    }
  return 0;
}
