/* Fuzz target: fkd's Connect envelope parser, the incremental reader of a stream of envelopes
   (StreamInput's body) and the process.Process/Start request decoder (untrusted: envd request
   bodies). A parsed envelope rebuilds to the same bytes; the reader, fed the input in pieces
   of sizes taken from the input, hands on the same messages as fed whole, each within its
   bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/envelope.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define READER_MAX 4096
#define READER_TOTAL 65536

typedef struct seen
{
  size_t n, bytes;
  uint32_t sum;
} seen_t;

static int
on_msg (void *ud, unsigned flags, const char *msg, size_t len, fk_error_t *err)
{
  seen_t *s = ud;
  if (len > READER_MAX || (flags & (FKD_ENVELOPE_COMPRESSED | FKD_ENVELOPE_END))
      || msg[len] != '\0')
    abort ();
  s->n++;
  s->bytes += len;
  for (size_t i = 0; i < len; i++)
    s->sum = s->sum * 31 + (unsigned char)msg[i];
  return 0;
}

/* Feeds data whole, then in pieces whose sizes come from the data itself: the same messages and
   the same outcome. */
static void
reader (const uint8_t *data, size_t size)
{
  seen_t whole = { 0 }, parts = { 0 };
  fk_error_t err = FK_ERROR_INIT;
  fkd_envelope_reader_t a = { .max = READER_MAX, .total_max = READER_TOTAL };
  int ra = fkd_envelope_feed (&a, data, size, on_msg, &whole, &err);
  if (ra == 0)
    ra = fkd_envelope_finish (&a, &err);
  fk_error_clear (&err);
  fkd_envelope_reader_t b = { .max = READER_MAX, .total_max = READER_TOTAL };
  int rb = 0;
  for (size_t off = 0, i = 0; off < size && rb == 0; i++)
    {
      size_t n = 1 + data[i % size] % 7;
      if (n > size - off)
        n = size - off;
      rb = fkd_envelope_feed (&b, data + off, n, on_msg, &parts, &err);
      off += n;
    }
  if (rb == 0)
    rb = fkd_envelope_finish (&b, &err);
  fk_error_clear (&err);
  if (ra != rb || whole.n != parts.n || whole.bytes != parts.bytes || whole.sum != parts.sum)
    abort ();
  fkd_envelope_reader_clear (&a);
  fkd_envelope_reader_clear (&b);
}

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
  reader (data, size);
  return 0;
}
