/* daemon/envd_proc.c: envd's process.Process calls besides Start: List, SendSignal, SendInput
   and CloseStdin (unary, Connect JSON) and Connect (a server stream reattached to a running
   process), through the sandbox's agent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"
#include "daemon/envd.h"
#include "daemon/envdreq.h"
#include "daemon/envelope.h"

#define CONNECT_JSON "application/connect+json"

typedef struct proc_call
{
  fkd_target_t t;
  fkd_proc_req_t *q; /* NULL for List */
  unsigned keepalive_s;
  int close; /* CloseStdin */
} proc_call_t;

static void
proc_call_free (void *p)
{
  proc_call_t *f = p;
  fkd_target_clear (&f->t);
  fkd_proc_req_free (f->q);
  free (f);
}

/* The running processes as ProcessInfo: the agent knows their argv and tag, not the
   environment or the directory they were started with (so `envs' is empty, `cwd' absent). */
static void
list_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  fk_proc_info_t *procs = NULL;
  size_t n = 0;
  if (fk_client_ps (c, &procs, &n, &err) < 0)
    {
      fkd_envd_connect_fail (r, &err);
      fk_error_clear (&err);
      fk_client_close (c);
      return;
    }
  json_t *arr = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      if (!procs[i].running || procs[i].argv == NULL || procs[i].argv[0] == NULL)
        continue;
      json_t *args = json_array ();
      for (size_t k = 1; procs[i].argv[k]; k++)
        json_array_append_new (args, json_string (procs[i].argv[k]));
      json_t *config = json_pack ("{s:s, s:o, s:o}", "cmd", procs[i].argv[0], "args", args, "envs",
                                  json_object ());
      json_t *info = json_pack ("{s:o, s:i}", "config", config, "pid", (int)procs[i].pid);
      if (procs[i].tag)
        json_object_set_new (info, "tag", json_string (procs[i].tag));
      json_array_append_new (arr, info);
    }
  fk_proc_info_free (procs, n);
  fkd_envd_connect_reply (r, json_pack ("{s:o}", "processes", arr));
  fk_client_close (c);
}

/* The signal to the process's group, as envd's kill ends what the command started too. */
static void
signal_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_client_signal (c, f->q->pid, f->q->tag, f->q->signal, 1, &err) < 0)
    fkd_envd_connect_fail (r, &err);
  else
    fkd_envd_connect_reply (r, json_object ());
  fk_error_clear (&err);
  fk_client_close (c);
}

/* SendInput and CloseStdin: through the stream of this fkd that has the process (the only
   request the agent takes its stdin from). A process no stream has is failed_precondition when
   it runs (its output would go to whoever attached to write), not_found when it does not. */
static void
input_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  fk_error_t err = FK_ERROR_INIT;
  if (fkd_envd_stream_input (f->t.id, f->q->pid, f->q->tag, f->q->data, f->q->len, f->close, &err)
      == 0)
    {
      fkd_envd_connect_reply (r, json_object ());
      return;
    }
  if (err.code == ENOENT)
    {
      /* Tell a process that runs detached from one that is not there. */
      fk_client_t *c = NULL;
      if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
        {
          fk_error_clear (&err);
          return;
        }
      fk_proc_info_t *procs = NULL;
      size_t n = 0;
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_client_ps (c, &procs, &n, &e2) == 0)
        for (size_t i = 0; i < n; i++)
          if (procs[i].running
              && (f->q->tag ? procs[i].tag && strcmp (procs[i].tag, f->q->tag) == 0
                            : procs[i].pid == f->q->pid))
            {
              fk_error_clear (&err);
              fk_error_set (&err, EBUSY,
                            "process %d runs with no stream attached: its stdin is reached "
                            "through a Start or Connect stream",
                            (int)procs[i].pid);
              break;
            }
      fk_proc_info_free (procs, n);
      fk_error_clear (&e2);
      fk_client_close (c);
    }
  if (err.code == EPIPE)
    fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "failed_precondition",
                            fk_error_message (&err));
  else
    fkd_envd_connect_fail (r, &err);
  fk_error_clear (&err);
}

/* Reattaches: what the process wrote while detached (as much as the agent kept), then what it
   writes, then its end. A process another stream is attached to is failed_precondition. */
static void
connect_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  fk_proc_t *p = NULL;
  if (fk_client_attach (c, f->q->pid, f->q->tag, &p, &err) < 0)
    {
      const char *code = err.code == ENOENT  ? "not_found"
                         : err.code == EBUSY ? "failed_precondition"
                                             : "internal";
      fkd_envd_stream_error (r, code, fk_error_message (&err));
      fk_error_clear (&err);
      fk_client_close (c);
      return;
    }
  fkd_envd_stream_proc (r, c, p, f->keepalive_s, f->t.id, f->q->tag, 1);
}

static void
route_connect (fkd_req_t *r, fkd_target_t *t)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct == NULL || strcasecmp (ct, CONNECT_JSON) != 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unknown",
                              "process.Process/Connect takes " CONNECT_JSON);
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  unsigned flags;
  const char *msg;
  size_t len;
  fkd_proc_req_t *q = NULL;
  if (fkd_envelope_parse (r->body ? r->body : "", r->len, FKD_ENVELOPE_MAX, &flags, &msg, &len,
                          &err)
          < 0
      || fkd_proc_req_parse (FKD_PROC_SELECT, msg, len, &q, &err) < 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  proc_call_t *f = xcalloc (1, sizeof *f);
  f->t = *t;
  f->q = q;
  f->keepalive_s = fkd_envd_keepalive (r);
  fkd_run_job (r, connect_job, f, proc_call_free);
}

int
fkd_envd_proc_route (fkd_req_t *r, fkd_target_t *t, const char *method)
{
  if (strcmp (method, "Connect") == 0)
    {
      route_connect (r, t);
      return 0;
    }
  int list = strcmp (method, "List") == 0, sig = strcmp (method, "SendSignal") == 0;
  int input = strcmp (method, "SendInput") == 0, close = strcmp (method, "CloseStdin") == 0;
  if (!list && !sig && !input && !close)
    return -1;
  if (fkd_envd_json_body (r, "process.Process") < 0)
    {
      fkd_target_clear (t);
      return 0;
    }
  fk_error_t err = FK_ERROR_INIT;
  fkd_proc_req_t *q = NULL;
  if (!list)
    {
      fkd_proc_kind_t kind = sig ? FKD_PROC_SIGNAL : input ? FKD_PROC_INPUT : FKD_PROC_SELECT;
      if (fkd_proc_req_parse (kind, r->body ? r->body : "", r->len, &q, &err) < 0)
        {
          fkd_target_clear (t);
          fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                                  fk_error_message (&err));
          fk_error_clear (&err);
          return 0;
        }
      if (q->pty)
        {
          fkd_target_clear (t);
          fkd_proc_req_free (q);
          fkd_envd_connect_error (r, MHD_HTTP_NOT_IMPLEMENTED, "unimplemented",
                                  "pty input is not served by this fkd yet");
          return 0;
        }
    }
  else
    {
      /* List takes {} (any object). */
      json_error_t je;
      json_t *j = json_loadb (r->body ? r->body : "", r->len, 0, &je);
      int ok = json_is_object (j);
      json_decref (j);
      if (!ok)
        {
          fkd_target_clear (t);
          fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                                  "process.Process/List takes a JSON object");
          return 0;
        }
    }
  proc_call_t *f = xcalloc (1, sizeof *f);
  f->t = *t;
  f->q = q;
  f->close = close;
  fkd_run_job (r, list ? list_job : sig ? signal_job : input_job, f, proc_call_free);
  return 0;
}
