/* Fuzz target: the remote client's parsers of fkd's answers (untrusted: whatever listens at
   --remote): the first byte picks one: a sandbox, a list, an error body, a Connect stream (its
   envelopes split and each read as a process event or the end of the stream), an EntryInfo, a
   time. Whatever parses holds what the client relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  fk_error_t err = FK_ERROR_INIT;
  switch (data[0] % 6)
    {
    case 0:
      {
        fk_sandbox_info_t *info = NULL;
        char *token = NULL;
        if (fk_remote_parse_sandbox (text, len, &info, &token, &err) == 0)
          {
            if (info->id == NULL || info->id[0] == '\0' || info->metadata == NULL
                || (token && !fk_remote_token_ok (token)))
              abort ();
            fk_sandbox_info_free (info);
            free (token);
          }
        break;
      }
    case 1:
      {
        fk_sandbox_info_t **infos = NULL;
        size_t n = 0;
        if (fk_remote_parse_sandbox_list (text, len, &infos, &n, &err) == 0)
          fk_sandbox_info_list_free (infos, n);
        break;
      }
    case 2:
      {
        char *code = NULL;
        char *msg = fk_remote_parse_error (text, len, &code);
        if (msg && strlen (msg) > 1024)
          abort ();
        free (msg);
        free (code);
        break;
      }
    case 3:
      {
        const unsigned char *p = (const unsigned char *)text;
        size_t left = len;
        for (;;)
          {
            unsigned flags;
            const char *body;
            size_t blen, used;
            if (fk_remote_envelope_take (p, left, 1u << 16, &flags, &body, &blen, &used, &err) <= 0)
              break;
            if (used != blen + 5 || used > left)
              abort ();
            if (flags & FK_REMOTE_ENVELOPE_END)
              {
                char *code = NULL, *msg = NULL;
                fk_remote_parse_end (body, blen, &code, &msg, &err);
                free (code);
                free (msg);
              }
            else
              {
                fk_remote_event_t ev;
                if (fk_remote_parse_event (body, blen, &ev, &err) == 0)
                  {
                    if (ev.kind == FK_REMOTE_EVENT_END
                        && (ev.status.exit_code < 0 || ev.status.exit_code > 255 + 128))
                      abort ();
                    free (ev.data);
                  }
              }
            fk_error_clear (&err);
            p += used;
            left -= used;
          }
        break;
      }
    case 4:
      {
        fk_file_stat_t st;
        if (fk_remote_parse_entry (text, len, &st, &err) == 0 && st.mode > 07777)
          abort ();
        break;
      }
    case 5:
      {
        char *s = strndup (text, len);
        int64_t t;
        fk_remote_parse_time (s, &t, &err);
        free (s);
        break;
      }
    }
  fk_error_clear (&err);
  return 0;
}
