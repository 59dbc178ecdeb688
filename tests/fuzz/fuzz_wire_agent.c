/* Fuzz target: the agent's side of the wire: a client byte stream split into frames, each
   request decoded and validated as fk-agent does before acting on it. */
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "wire/frame.h"
#include "wire/msg.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

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
        break; /* a bad header closes the connection; a short one waits for more */
      off += (size_t)used;
      if (fk_wire_type_is_data (f.type))
        continue;
      fk_wire_msg_t m;
      if (fk_wire_frame_decode (&f, &m, &err) == 0)
        {
          /* What the agent reads from a valid request. */
          for (char **a = m.argv; a && *a; a++)
            (void)**a;
          for (char **e = m.env; e && *e; e++)
            (void)**e;
          fk_wire_msg_clear (&m);
        }
      fk_error_clear (&err);
    }
  return 0;
}
