/* Fuzz target: fkd's decoders of envd's unary call bodies (untrusted: envd request bodies): the
   filesystem requests of each kind, the process requests of each kind (Update's pty size too),
   StreamInput's messages, and base64. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/envdreq.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  fk_error_t err = FK_ERROR_INIT;
  for (int k = FKD_FS_PATH; k <= FKD_FS_WATCHER; k++)
    {
      fkd_fs_req_t *r = NULL;
      if (fkd_fs_req_parse ((fkd_fs_kind_t)k, text, size, &r, &err) == 0)
        {
          if (k == FKD_FS_WATCHER
                  ? (r->path != NULL || r->watcher_id == NULL || r->watcher_id[0] == '\0'
                     || strlen (r->watcher_id) > FKD_WATCHER_ID_MAX)
                  : (r->path == NULL || r->path[0] == '\0' || r->depth < 1
                     || r->depth > FKD_LIST_DEPTH_MAX
                     || (k == FKD_FS_MOVE
                         && (r->destination == NULL || r->destination[0] == '\0'))))
            abort ();
          fkd_fs_req_free (r);
        }
      fk_error_clear (&err);
    }
  for (int k = FKD_PROC_SELECT; k <= FKD_PROC_UPDATE; k++)
    {
      fkd_proc_req_t *r = NULL;
      if (fkd_proc_req_parse ((fkd_proc_kind_t)k, text, size, &r, &err) == 0)
        {
          if ((r->pid > 0) == (r->tag != NULL) || r->pid < 0)
            abort ();
          if (k == FKD_PROC_SIGNAL && r->signal != SIGKILL && r->signal != SIGTERM)
            abort ();
          if (k == FKD_PROC_INPUT && (r->len > FKD_INPUT_MAX || (r->len && r->data == NULL)))
            abort ();
          if (k == FKD_PROC_UPDATE && r->pty
              && (r->rows < 1 || r->cols < 1 || r->rows > FKD_PTY_SIZE_MAX
                  || r->cols > FKD_PTY_SIZE_MAX))
            abort ();
          fkd_proc_req_free (r);
        }
      fk_error_clear (&err);
    }
  fkd_stream_input_kind_t kind;
  fkd_proc_req_t *q = NULL;
  if (fkd_stream_input_parse (text, size, &kind, &q, &err) == 0)
    {
      if (kind == FKD_STREAM_INPUT_START && (q->pid > 0) == (q->tag != NULL))
        abort ();
      if (kind == FKD_STREAM_INPUT_DATA && q->len > FKD_INPUT_MAX)
        abort ();
      fkd_proc_req_free (q);
    }
  fk_error_clear (&err);
  unsigned char *out = NULL;
  size_t n;
  if (fkd_base64_decode (text, size, 4096, &out, &n) == 0)
    {
      if (n > 4096 || n > size)
        abort ();
      free (out);
    }
  return 0;
}
