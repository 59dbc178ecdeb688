/* daemon/envd_proc.c: envd's process.Process calls besides Start and StreamInput: List,
   SendSignal, SendInput, CloseStdin and Update (unary, Connect JSON) and Connect (a server
   stream of a running process), through the sandbox's agent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
  int close;  /* CloseStdin */
  int update; /* Update */
} proc_call_t;

static void
proc_call_free (void *p)
{
  proc_call_t *f = p;
  fkd_target_clear (&f->t);
  fkd_proc_req_free (f->q);
  free (f);
}

/* The running processes as ProcessInfo: argv, tag, and the envs and cwd their Start gave. */
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
      json_t *envs = json_object ();
      for (char **e = procs[i].env; e && *e; e++)
        {
          const char *eq = strchr (*e, '=');
          if (eq == NULL)
            continue;
          cleanup_free char *k = xstrndup (*e, (size_t)(eq - *e));
          json_object_set_new (envs, k, json_string (eq + 1));
        }
      json_t *config
          = json_pack ("{s:s, s:o, s:o}", "cmd", procs[i].argv[0], "args", args, "envs", envs);
      if (procs[i].cwd)
        json_object_set_new (config, "cwd", json_string (procs[i].cwd));
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

/* SendInput, CloseStdin and Update: to the process by pid or tag, through an agent connection
   of their own (the agent takes input and a size for a process from any request, and its
   output stays with the streams that have it). */
static void
input_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  int rc;
  if (f->update)
    rc = f->q->pty ? fk_client_resize (c, f->q->pid, f->q->tag, f->q->rows, f->q->cols, &err) : 0;
  else
    rc = fk_client_input (c, f->q->pid, f->q->tag, f->q->data, f->q->len,
                          (f->close ? FK_INPUT_EOF : 0) | (f->q->pty ? FK_INPUT_PTY : 0), &err);
  if (rc == 0)
    fkd_envd_connect_reply (r, json_object ());
  else if (err.code == ENOTTY || err.code == EPIPE)
    fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "failed_precondition",
                            fk_error_message (&err));
  else
    fkd_envd_connect_fail (r, &err);
  fk_error_clear (&err);
  fk_client_close (c);
}

/* The running (or not yet collected) process of the selector: its pid, tag and terminal. */
static int
find_proc (fk_client_t *c, pid_t pid, const char *tag, pid_t *ret_pid, char **ret_tag, int *ret_pty,
           fk_error_t *err)
{
  fk_proc_info_t *procs = NULL;
  size_t n = 0;
  if (fk_client_ps (c, &procs, &n, err) < 0)
    return -1;
  int ret = -1;
  for (size_t i = 0; i < n; i++)
    if (tag ? procs[i].tag && strcmp (procs[i].tag, tag) == 0 : procs[i].pid == pid)
      {
        *ret_pid = procs[i].pid;
        *ret_tag = procs[i].tag ? xstrdup (procs[i].tag) : NULL;
        *ret_pty = procs[i].pty;
        ret = 0;
        break;
      }
  fk_proc_info_free (procs, n);
  if (ret < 0 && tag)
    return fk_error_set (err, ENOENT, "no process tagged `%s'", tag);
  if (ret < 0)
    return fk_error_set (err, ENOENT, "no process %d", (int)pid);
  return 0;
}

/* How long a Connect waits for the process to be let go of by another client (or by a stream
   of this fkd that is ending) before it is failed_precondition. */
#define ATTACH_WAIT_MS 2000

/* A stream of the process: joins the stream of this fkd that has it (from now on: its output,
   its end), else attaches to it (what it wrote while detached, as much as the agent kept, then
   its output and its end). */
static void
connect_job (fkd_req_t *r, void *data)
{
  proc_call_t *f = data;
  if (fkd_envd_stream_join (r, f->t.id, f->q->pid, f->q->tag, f->keepalive_s) == 0)
    return;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  for (int waited = 0;; waited += 100)
    {
      pid_t pid = 0;
      cleanup_free char *tag = NULL;
      int pty = 0;
      if (find_proc (c, f->q->pid, f->q->tag, &pid, &tag, &pty, &err) < 0)
        break;
      if (fkd_envd_stream_join (r, f->t.id, pid, NULL, f->keepalive_s) == 0)
        {
          fk_client_close (c);
          return;
        }
      fk_proc_t *p = NULL;
      if (fk_client_attach (c, pid, NULL, &p, &err) == 0)
        {
          fkd_envd_stream_proc (r, c, p, f->keepalive_s, f->t.id, tag, pty);
          return;
        }
      if (err.code != EBUSY || waited >= ATTACH_WAIT_MS)
        break;
      fk_error_clear (&err);
      nanosleep (&(struct timespec){ .tv_nsec = 100 * 1000000L }, NULL);
    }
  const char *code = err.code == ENOENT  ? "not_found"
                     : err.code == EBUSY ? "failed_precondition"
                                         : "internal";
  fkd_envd_stream_error (r, code, fk_error_message (&err));
  fk_error_clear (&err);
  fk_client_close (c);
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
  int update = strcmp (method, "Update") == 0;
  if (!list && !sig && !input && !close && !update)
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
      fkd_proc_kind_t kind = sig      ? FKD_PROC_SIGNAL
                             : input  ? FKD_PROC_INPUT
                             : update ? FKD_PROC_UPDATE
                                      : FKD_PROC_SELECT;
      if (fkd_proc_req_parse (kind, r->body ? r->body : "", r->len, &q, &err) < 0)
        {
          fkd_target_clear (t);
          fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                                  fk_error_message (&err));
          fk_error_clear (&err);
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
  f->update = update;
  fkd_run_job (r, list ? list_job : sig ? signal_job : input_job, f, proc_call_free);
  return 0;
}
