/* remote/exec.c: commands through envd's process.Process: Start as a Connect server stream read
   with libcurl's multi interface (so the caller can wait on its own input too, as it does with
   fk_proc_next), SendInput, CloseStdin and SendSignal as unary calls. The stream is read only
   as fast as the caller takes events: past STREAM_HIGH buffered bytes the transfer is paused,
   and TCP carries the back-pressure to fkd, which stops reading the agent. */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "remote/http.h"
#include "remote/parse.h"

/* Buffered stream bytes past which the transfer is paused (once an envelope is whole). */
#define STREAM_HIGH (1u << 20)
/* fkd is asked for a keepalive this often while a command is quiet; a stream silent for
   STALL_S (not paused by us) is given up. */
#define KEEPALIVE_S 10
#define STALL_S 60
/* Bytes of stdin per SendInput (fkd takes 1 MiB per call). */
#define INPUT_CHUNK (64u << 10)

struct fk_remote_proc
{
  fk_remote_t *r;
  char *id;
  CURLM *m;
  CURL *h;
  struct curl_slist *hdrs;
  char *req;
  size_t req_len;
  long status; /* the HTTP status, once its line came */
  unsigned char *in;
  size_t in_len;
  int paused, done, broken;
  int rx; /* bytes or a status came since the last look */
  CURLcode result;
  int64_t last_rx;
  int pid, started;
  int have_end;
  fk_exit_status_t end;
  int finished; /* the exit was handed out, or the stream failed */
  char *data;   /* the last data event's bytes */
};

static int64_t
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
on_header (char *data, size_t size, size_t nmemb, void *userdata)
{
  fk_remote_proc_t *p = userdata;
  size_t n = size * nmemb;
  if (n > 9 && strncmp (data, "HTTP/", 5) == 0)
    {
      const char *sp = memchr (data, ' ', n);
      if (sp && (size_t)(sp - data) + 4 <= n)
        p->status = strtol (sp + 1, NULL, 10);
    }
  p->rx = 1;
  return n;
}

static size_t
on_data (char *data, size_t size, size_t nmemb, void *userdata)
{
  fk_remote_proc_t *p = userdata;
  size_t n = size * nmemb;
  p->last_rx = now_s ();
  p->rx = 1;
  if (p->in_len >= STREAM_HIGH)
    {
      unsigned flags;
      const char *body;
      size_t blen, used;
      fk_error_t ignored = FK_ERROR_INIT;
      int whole = fk_remote_envelope_take (p->in, p->in_len, FK_REMOTE_MAX_ENVELOPE, &flags, &body,
                                           &blen, &used, &ignored);
      fk_error_clear (&ignored);
      if (whole != 0)
        {
          p->paused = 1;
          return CURL_WRITEFUNC_PAUSE;
        }
    }
  if (p->in_len + n > FK_REMOTE_MAX_ENVELOPE + 5 + STREAM_HIGH)
    {
      p->broken = 1;
      return 0;
    }
  p->in = xrealloc (p->in, p->in_len + n);
  memcpy (p->in + p->in_len, data, n);
  p->in_len += n;
  return n;
}

/* Connect's error code as an errno value (fkd's Start puts a command's ENOENT, ENOTDIR and
   EINVAL all under invalid_argument: the message tells ENOENT apart, as the local exit code
   127 needs). */
static int
errno_of (const char *code, const char *msg)
{
  if (strcmp (code, "invalid_argument") == 0)
    return strstr (msg, "No such file or directory") || strstr (msg, ": no such user")
                   || strstr (msg, ": no such group")
               ? ENOENT
               : EINVAL;
  if (strcmp (code, "not_found") == 0)
    return ENOENT;
  if (strcmp (code, "already_exists") == 0)
    return EEXIST;
  if (strcmp (code, "permission_denied") == 0 || strcmp (code, "unauthenticated") == 0)
    return EACCES;
  if (strcmp (code, "failed_precondition") == 0)
    return EPIPE;
  if (strcmp (code, "deadline_exceeded") == 0)
    return ETIMEDOUT;
  if (strcmp (code, "resource_exhausted") == 0)
    return ENOBUFS;
  if (strcmp (code, "unavailable") == 0)
    return ECONNRESET;
  if (strcmp (code, "unimplemented") == 0)
    return ENOTSUP;
  return EIO;
}

static int
fail (fk_remote_proc_t *p, fk_error_t *err)
{
  p->finished = 1;
  return -1;
}

/* A unary envd call on process pid: body JSON; 0 or the failure. */
static int
unary (fk_remote_t *r, const char *id, const char *method, const char *body, fk_error_t *err)
{
  struct curl_slist *hdrs = NULL;
  if (fk_remote_envd_headers (r, id, "application/json", &hdrs, err) < 0)
    return -1;
  cleanup_free char *url = xasprintf ("%s/process.Process/%s", r->envd_url, method);
  fk_remote_req_t req = FK_REMOTE_REQ_INIT;
  req.method = "POST";
  req.url = url;
  req.headers = hdrs;
  req.body = body;
  req.body_len = strlen (body);
  fk_remote_resp_t resp = { 0 };
  int rc = fk_remote_perform (r, &req, &resp, err);
  curl_slist_free_all (hdrs);
  if (rc == 0 && resp.status != 200)
    {
      cleanup_free char *code = NULL;
      cleanup_free char *msg = fk_remote_parse_error (resp.body ? resp.body : "", resp.len, &code);
      if (code && msg)
        fk_error_set (err, errno_of (code, msg), "%s", msg);
      else
        fk_remote_status_failure (r, method, NULL, &resp, err);
      rc = -1;
    }
  fk_remote_resp_clear (&resp);
  return rc;
}

static int
check_opts (const fk_exec_opts_t *o, fk_error_t *err)
{
  if (fk_options_check_version (o->version, FK_EXEC_OPTIONS_VERSION, "fk_exec_opts_t",
                                "FK_EXEC_OPTIONS_INIT", err)
      < 0)
    return -1;
  if (o->argv == NULL || o->argv[0] == NULL)
    return fk_error_set (err, ENOTSUP, "fkd runs commands in argv form only");
  if (o->pty)
    return fk_error_set (err, ENOTSUP, "fkd's API has no terminal input yet: no -t");
  if (o->tag || o->keep)
    return fk_error_set (err, ENOTSUP, "tagged and kept commands are not run through fkd here");
  if (o->stdin_mode == FK_STDIN_BYTES)
    return fk_error_set (err, ENOTSUP, "stdin bytes: use FK_STDIN_STREAM through fkd");
  return 0;
}

static char *
start_body (const fk_exec_opts_t *o, fk_error_t *err)
{
  json_t *args = json_array ();
  for (size_t i = 1; o->argv[i]; i++)
    json_array_append_new (args, json_string (o->argv[i]));
  json_t *envs = json_object ();
  for (size_t i = 0; o->env && o->env[i]; i++)
    {
      const char *eq = strchr (o->env[i], '=');
      if (eq == NULL)
        continue;
      cleanup_free char *k = xstrndup (o->env[i], (size_t)(eq - o->env[i]));
      json_object_set_new (envs, k, json_string (eq + 1));
    }
  json_t *proc = json_pack ("{s:s?, s:o, s:o}", "cmd", o->argv[0], "args", args, "envs", envs);
  if (proc && o->cwd)
    json_object_set_new (proc, "cwd", json_string (o->cwd));
  json_t *j
      = proc ? json_pack ("{s:o, s:b}", "process", proc, "stdin", o->stdin_mode == FK_STDIN_STREAM)
             : NULL;
  char *text = j ? json_dumps (j, JSON_COMPACT) : NULL;
  json_decref (j);
  if (text == NULL)
    fk_error_set (err, EINVAL, "the command, its env or its cwd is not UTF-8");
  return text;
}

static char *
b64 (const void *data, size_t len)
{
  char *out = xmalloc (4 * ((len + 2) / 3) + 1);
  EVP_EncodeBlock ((unsigned char *)out, data, (int)len);
  return out;
}

/* The next event off the stream (keepalives skipped): 1 with *ev, 0 when timeout_ms passed,
   -1 on failure. The exit comes once the end of the stream did. */
static int
next_event (fk_remote_proc_t *p, int timeout_ms, fk_remote_event_t *ev, fk_error_t *err)
{
  int64_t deadline = timeout_ms >= 0 ? now_ms () + timeout_ms : -1;
  for (;;)
    {
      if (p->status && p->status != 200)
        {
          if (!p->done)
            goto wait;
          fk_remote_resp_t resp = { .status = p->status, .body = (char *)p->in, .len = p->in_len };
          fk_remote_status_failure (p->r, "process.Process/Start", NULL, &resp, err);
          return fail (p, err);
        }
      unsigned flags;
      const char *body;
      size_t blen, used;
      int got = fk_remote_envelope_take (p->in, p->in_len, FK_REMOTE_MAX_ENVELOPE, &flags, &body,
                                         &blen, &used, err);
      if (got < 0)
        return fail (p, err);
      if (got)
        {
          int rc;
          if (flags & FK_REMOTE_ENVELOPE_END)
            {
              cleanup_free char *code = NULL, *msg = NULL;
              rc = fk_remote_parse_end (body, blen, &code, &msg, err);
              if (rc < 0)
                return fail (p, err);
              if (!p->have_end)
                {
                  if (rc == 0)
                    fk_error_set (err, EPROTO, "fkd's stream ended before the command did");
                  else if (!p->started)
                    fk_error_set (err, errno_of (code, msg), "%s", msg);
                  else
                    fk_error_set (err, strcmp (code, "deadline_exceeded") == 0 ? ETIMEDOUT : EPIPE,
                                  "%s", msg);
                  return fail (p, err);
                }
              memset (ev, 0, sizeof *ev);
              ev->kind = FK_REMOTE_EVENT_END;
              ev->status = p->end;
              ev->status.timed_out = rc == 1 && strcmp (code, "deadline_exceeded") == 0;
              p->finished = 1;
              return 1;
            }
          rc = fk_remote_parse_event (body, blen, ev, err);
          p->in_len -= used;
          memmove (p->in, p->in + used, p->in_len);
          if (p->paused && p->in_len < STREAM_HIGH)
            {
              p->paused = 0;
              curl_easy_pause (p->h, CURLPAUSE_CONT);
            }
          if (rc < 0)
            return fail (p, err);
          switch (ev->kind)
            {
            case FK_REMOTE_EVENT_START:
              if (p->started)
                return fail (p, (fk_error_set (err, EPROTO, "fkd sent a second start"), err));
              p->started = 1;
              p->pid = ev->pid;
              return 1;
            case FK_REMOTE_EVENT_KEEPALIVE:
              continue;
            case FK_REMOTE_EVENT_END:
              if (!p->started || p->have_end)
                return fail (p, (fk_error_set (err, EPROTO, "fkd sent an end out of place"), err));
              p->have_end = 1;
              p->end = ev->status;
              continue;
            default:
              if (!p->started || p->have_end)
                {
                  free (ev->data);
                  return fail (p,
                               (fk_error_set (err, EPROTO, "fkd sent output out of place"), err));
                }
              return 1;
            }
        }
      if (p->done)
        {
          if (p->broken)
            fk_error_set (err, EPROTO, "fkd's stream is over its size limit");
          else if (p->result != CURLE_OK)
            fk_remote_curl_failure (p->result, p->r->envd_url, err);
          else
            fk_error_set (err, EPIPE, "fkd's stream ended before the command did");
          return fail (p, err);
        }
    wait:;
      /* Take what libcurl has, then wait on its sockets (a second at a time, for the stall
         check) until something came or the caller's time is up. */
      p->rx = 0;
      int running = 0;
      curl_multi_perform (p->m, &running);
      CURLMsg *msg;
      int q;
      while ((msg = curl_multi_info_read (p->m, &q)))
        if (msg->msg == CURLMSG_DONE)
          {
            p->done = 1;
            p->result = msg->data.result;
          }
      if (p->rx || p->done)
        continue;
      if (!p->paused && now_s () - p->last_rx > STALL_S)
        return fail (p, (fk_error_set (err, ETIMEDOUT, "fkd sent nothing for %d s", STALL_S), err));
      int64_t left = deadline < 0 ? 1000 : deadline - now_ms ();
      if (left <= 0)
        return 0;
      if (curl_multi_poll (p->m, NULL, 0, (int)(left > 1000 ? 1000 : left), NULL) != CURLM_OK)
        return fail (p, (fk_error_set (err, EIO, "curl_multi_poll failed"), err));
    }
}

void
fk_remote_proc_free (fk_remote_proc_t *p)
{
  if (p == NULL)
    return;
  /* A command the caller let go of ends, as fk_proc_free ends one started without keep. */
  if (p->started && !p->finished)
    {
      cleanup_free char *body
          = xasprintf ("{\"process\":{\"pid\":%d},\"signal\":\"SIGNAL_SIGKILL\"}", p->pid);
      fk_error_t ignored = FK_ERROR_INIT;
      unary (p->r, p->id, "SendSignal", body, &ignored);
      fk_error_clear (&ignored);
    }
  if (p->m)
    {
      if (p->h)
        curl_multi_remove_handle (p->m, p->h);
      curl_multi_cleanup (p->m);
    }
  if (p->h)
    curl_easy_cleanup (p->h);
  curl_slist_free_all (p->hdrs);
  free (p->req);
  free (p->in);
  free (p->data);
  free (p->id);
  free (p);
}

FK_DEFINE_CLEANUP (fk_remote_proc_t *, fk_remote_proc_free)

int
fk_remote_exec_start (fk_remote_t *r, const char *id, const fk_exec_opts_t *o,
                      fk_remote_proc_t **ret_proc, fk_error_t *err)
{
  if (check_opts (o, err) < 0)
    return -1;
  __attribute__ ((cleanup (fk_remote_proc_freep))) fk_remote_proc_t *p = xcalloc (1, sizeof *p);
  p->r = r;
  p->id = xstrdup (id);
  if (fk_remote_envd_headers (r, id, "application/connect+json", &p->hdrs, err) < 0)
    return -1;
  cleanup_free char *tm = xasprintf ("Connect-Timeout-Ms: %llu", (unsigned long long)o->timeout_ms);
  cleanup_free char *ka = xasprintf ("Keepalive-Ping-Interval: %d", KEEPALIVE_S);
  p->hdrs = curl_slist_append (p->hdrs, tm);
  p->hdrs = curl_slist_append (p->hdrs, ka);
  p->hdrs = curl_slist_append (p->hdrs, "Connect-Protocol-Version: 1");
  if (o->user)
    {
      if (strchr (o->user, ':') && strchr (o->user, ':') != o->user + strlen (o->user) - 1)
        return fk_error_set (err, ENOTSUP, "fkd takes a user name, not `%s'", o->user);
      cleanup_free char *cred = xasprintf ("%s:", o->user);
      cleanup_free char *enc = b64 (cred, strlen (cred));
      cleanup_free char *auth = xasprintf ("Authorization: Basic %s", enc);
      p->hdrs = curl_slist_append (p->hdrs, auth);
    }
  cleanup_free char *body = start_body (o, err);
  if (body == NULL)
    return -1;
  p->req = fk_remote_envelope_build (body, strlen (body), &p->req_len);
  cleanup_free char *url = xasprintf ("%s/process.Process/Start", r->envd_url);
  p->h = curl_easy_init ();
  p->m = curl_multi_init ();
  if (p->h == NULL || p->m == NULL)
    return fk_error_set (err, ENOMEM, "curl init failed");
  fk_remote_setup (r, p->h, url);
  /* A command may be quiet for long: the stall check is ours (keepalives), not libcurl's. */
  curl_easy_setopt (p->h, CURLOPT_LOW_SPEED_LIMIT, 0L);
  curl_easy_setopt (p->h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt (p->h, CURLOPT_HTTPHEADER, p->hdrs);
  curl_easy_setopt (p->h, CURLOPT_POSTFIELDS, p->req);
  curl_easy_setopt (p->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->req_len);
  curl_easy_setopt (p->h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (p->h, CURLOPT_WRITEDATA, p);
  curl_easy_setopt (p->h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (p->h, CURLOPT_HEADERDATA, p);
  curl_multi_add_handle (p->m, p->h);
  p->last_rx = now_s ();
  /* The start event comes first: until then a failure is the start's (a missing command's
     cwd, an unknown user), as with fk_client_exec_start. */
  fk_remote_event_t ev;
  for (;;)
    {
      int rc = next_event (p, -1, &ev, err);
      if (rc < 0)
        return -1;
      if (rc > 0 && ev.kind == FK_REMOTE_EVENT_START)
        break;
      if (rc > 0)
        {
          free (ev.data);
          return fk_error_set (err, EPROTO, "fkd's stream did not start with the start event");
        }
    }
  *ret_proc = steal_pointer (&p);
  return 0;
}

int
fk_remote_proc_next (fk_remote_proc_t *p, int timeout_ms, fk_proc_event_t *ret, fk_error_t *err)
{
  if (p->finished)
    return fk_error_set (err, EPIPE, "the command has ended");
  fk_remote_event_t ev;
  int rc = next_event (p, timeout_ms, &ev, err);
  if (rc <= 0)
    return rc;
  free (p->data);
  p->data = NULL;
  memset (ret, 0, sizeof *ret);
  switch (ev.kind)
    {
    case FK_REMOTE_EVENT_STDOUT:
    case FK_REMOTE_EVENT_STDERR:
      ret->kind = ev.kind == FK_REMOTE_EVENT_STDOUT ? FK_PROC_STDOUT : FK_PROC_STDERR;
      ret->data = p->data = ev.data;
      ret->len = ev.len;
      return 1;
    case FK_REMOTE_EVENT_END:
      ret->kind = FK_PROC_EXIT;
      ret->status = ev.status;
      return 1;
    default:
      return fail (p, (fk_error_set (err, EPROTO, "fkd sent an event out of place"), err));
    }
}

int
fk_remote_proc_write_stdin (fk_remote_proc_t *p, const void *data, size_t len, fk_error_t *err)
{
  for (size_t off = 0; off < len;)
    {
      size_t n = len - off < INPUT_CHUNK ? len - off : INPUT_CHUNK;
      cleanup_free char *enc = b64 ((const char *)data + off, n);
      cleanup_free char *body
          = xasprintf ("{\"process\":{\"pid\":%d},\"input\":{\"stdin\":\"%s\"}}", p->pid, enc);
      if (unary (p->r, p->id, "SendInput", body, err) < 0)
        return -1;
      off += n;
    }
  return 0;
}

int
fk_remote_proc_close_stdin (fk_remote_proc_t *p, fk_error_t *err)
{
  cleanup_free char *body = xasprintf ("{\"process\":{\"pid\":%d}}", p->pid);
  return unary (p->r, p->id, "CloseStdin", body, err);
}
