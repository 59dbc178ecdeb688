/* Fuzz target: the Dockerfile parser and word expansion (untrusted: a Dockerfile comes from
   whoever asks for a build). */
#include <stdint.h>
#include <stdlib.h>

#include "template/dockerfile.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_dockerfile_t *df = NULL;
  static const char *const vars[] = { "A=1", "B=two words", "EMPTY=", NULL };
  if (fk_dockerfile_parse ((const char *)data, size, &df, &err) == 0)
    {
      for (size_t i = 0; i < df->n; i++)
        for (size_t k = 0; k < df->instrs[i].n_args; k++)
          {
            char *w = NULL;
            if (df->instrs[i].args[k]
                && fk_dockerfile_word (df->instrs[i].args[k], df->escape, vars, &w, &err) == 0)
              free (w);
            fk_error_clear (&err);
          }
      fk_dockerfile_free (df);
    }
  fk_error_clear (&err);
  return 0;
}
