/* Fuzz target: the client's side of the wire: an agent byte stream split into frames, each
   reply decoded as the client library does, nested list and process entries included. */
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "wire/frame.h"
#include "wire/msg.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
decode_nested (const fk_wire_slice_t *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_wire_msg_t e;
      if (fk_wire_msg_decode (v[i].data, v[i].len, &e, &err) == 0)
        {
          for (char **a = e.argv; a && *a; a++)
            (void)**a;
          if (e.str[FK_TAG_PATH])
            (void)e.str[FK_TAG_PATH][0];
          fk_wire_msg_clear (&e);
        }
      fk_error_clear (&err);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  size_t off = 0;
  while (off < size)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_wire_frame_t f;
      long used = fk_wire_frame_parse (data + off, size - off, &f, &err);
      fk_error_clear (&err);
      if (used <= 0)
        break;
      off += (size_t)used;
      if (fk_wire_type_is_data (f.type))
        continue;
      fk_wire_msg_t m;
      if (fk_wire_frame_decode (&f, &m, &err) == 0)
        {
          decode_nested (m.entries, m.n_entries);
          decode_nested (m.procs, m.n_procs);
          if (m.str[FK_TAG_MESSAGE])
            (void)m.str[FK_TAG_MESSAGE][0];
          fk_wire_msg_clear (&m);
        }
      fk_error_clear (&err);
    }
  return 0;
}
