/* Fuzz target for the trace artifact reader: any bytes either parse into an artifact that
   formats back and parses again to the same samples, or fail with an error message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/artifact.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_artifact_t *a = NULL;
  if (fk_trace_artifact_parse ((const char *)data, size, &a, &err) < 0)
    {
      if (!fk_error_is_set (&err))
        abort ();
      fk_error_clear (&err);
      return 0;
    }
  char *text = NULL;
  if (fk_trace_artifact_format (a->kind, &a->samples, &text, &err) < 0)
    abort (); /* what the reader accepts, the writer can write */
  fk_trace_artifact_t *b = NULL;
  if (fk_trace_artifact_parse (text, strlen (text), &b, &err) < 0)
    abort ();
  if (b->samples.len != a->samples.len || strcmp (a->kind, b->kind) != 0)
    abort ();
  for (size_t i = 0; i < a->samples.len; i++)
    {
      const fk_trace_sample_t *x = a->samples.items[i], *y = b->samples.items[i];
      if (strcmp (x->metric, y->metric) != 0 || x->kind != y->kind || x->unit != y->unit
          || memcmp (&x->value, &y->value, sizeof x->value) != 0 || x->n_tags != y->n_tags)
        abort ();
      for (size_t t = 0; t < x->n_tags; t++)
        if (strcmp (x->tags[t].key, y->tags[t].key) != 0
            || strcmp (x->tags[t].value, y->tags[t].value) != 0)
          abort ();
    }
  free (text);
  fk_trace_artifact_free (a);
  fk_trace_artifact_free (b);
  return 0;
}
