/* daemon/server.c: see server.h. */
#include "daemon/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/proxy.h"

int
fkd_stopping (fkd_server_t *srv)
{
  return __atomic_load_n (&srv->stopping, __ATOMIC_ACQUIRE);
}

int
fkd_jobs_enter (fkd_server_t *srv)
{
  int ok = 0;
  pthread_mutex_lock (&srv->lock);
  if (!fkd_stopping (srv) && srv->jobs < FKD_MAX_JOBS)
    {
      srv->jobs++;
      ok = 1;
    }
  pthread_mutex_unlock (&srv->lock);
  return ok ? 0 : -1;
}

void
fkd_jobs_hold (fkd_server_t *srv)
{
  pthread_mutex_lock (&srv->lock);
  srv->jobs++;
  pthread_mutex_unlock (&srv->lock);
}

void
fkd_jobs_leave (fkd_server_t *srv)
{
  pthread_mutex_lock (&srv->lock);
  if (--srv->jobs == 0)
    pthread_cond_broadcast (&srv->idle);
  pthread_mutex_unlock (&srv->lock);
}

void
fkd_reply (fkd_req_t *r, unsigned status, struct MHD_Response *resp)
{
  if (r->state == FKD_REQ_DONE)
    {
      /* A second reply is a bug of the route; keep the first. */
      MHD_destroy_response (resp);
      return;
    }
  r->status = status;
  r->resp = resp;
  r->state = FKD_REQ_DONE;
}

/* The length of the UTF-8 sequence at p as jansson accepts it (no overlong forms, surrogates
   or code points past U+10FFFF), or 0. */
static size_t
utf8_seq (const unsigned char *p)
{
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    {
      n = 3;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    }
  else if (c >= 0xf0 && c <= 0xf4)
    {
      n = 4;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    }
  else
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

void
fkd_utf8_sanitize (char *s)
{
  unsigned char *p = (unsigned char *)s;
  while (*p)
    {
      size_t n = utf8_seq (p);
      if (n == 0)
        {
          *p++ = '?';
          continue;
        }
      p += n;
    }
}

void
fkd_reply_json (fkd_req_t *r, unsigned status, json_t *j)
{
  if (j == NULL)
    {
      /* A reply that could not be built (a string that is not UTF-8 slipped into it): an error
         the client can read, not an abort. */
      status = MHD_HTTP_INTERNAL_SERVER_ERROR;
      j = r->plane == FKD_PLANE_ENVD
              ? json_pack ("{s:s, s:s}", "code", "internal", "message", "the reply is not UTF-8")
              : json_pack ("{s:i, s:s}", "code", (int)status, "message", "the reply is not UTF-8");
    }
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  struct MHD_Response *resp
      = MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (resp, "Content-Type", "application/json");
  fkd_reply (r, status, resp);
}

void
fkd_reply_error (fkd_req_t *r, unsigned status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    fk_oom (0);
  va_end (ap);
  fkd_utf8_sanitize (msg);
  fkd_reply_json (r, status, json_pack ("{s:i, s:s}", "code", (int)status, "message", msg));
}

void
fkd_reply_empty (fkd_req_t *r, unsigned status)
{
  fkd_reply (r, status, MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT));
}

char *
fkd_header (fkd_req_t *r, const char *name)
{
  const char *v = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, name);
  return v ? xstrdup (v) : NULL;
}

char *
fkd_arg (fkd_req_t *r, const char *name)
{
  const char *v = MHD_lookup_connection_value (r->conn, MHD_GET_ARGUMENT_KIND, name);
  return v ? xstrdup (v) : NULL;
}

struct fkd_job
{
  fkd_req_t *r;
  fkd_job_fn fn;
  void *data;
  void (*data_free) (void *);
  int resumed; /* the job's own: r may be freed once its connection is resumed */
};
typedef struct fkd_job job_t;

void
fkd_job_resume (fkd_req_t *r)
{
  job_t *j = r->job;
  if (j == NULL || j->resumed)
    return;
  j->resumed = 1;
  /* The handler queues the reply once resumed, and r may be freed from then on. */
  MHD_resume_connection (r->conn);
}

static void *
job_main (void *p)
{
  job_t *j = p;
  fkd_server_t *srv = j->r->srv;
  j->fn (j->r, j->data);
  if (!j->resumed)
    {
      if (j->r->state != FKD_REQ_DONE)
        fkd_reply_error (j->r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the request gave no reply");
      fkd_job_resume (j->r);
    }
  if (j->data_free)
    j->data_free (j->data);
  free (j);
  fkd_jobs_leave (srv);
  return NULL;
}

void
fkd_run_job (fkd_req_t *r, fkd_job_fn fn, void *data, void (*data_free) (void *))
{
  if (fkd_jobs_enter (r->srv) < 0)
    {
      if (data_free)
        data_free (data);
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       fkd_stopping (r->srv) ? "fkd is shutting down"
                                             : "too many requests at once");
      return;
    }
  job_t *j = xcalloc (1, sizeof *j);
  *j = (job_t){ .r = r, .fn = fn, .data = data, .data_free = data_free };
  r->state = FKD_REQ_RUNNING;
  r->job = j;
  MHD_suspend_connection (r->conn);
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 512u << 10);
  pthread_t t;
  int rc = pthread_create (&t, &attr, job_main, j);
  pthread_attr_destroy (&attr);
  if (rc != 0)
    {
      log_error_errno (rc, "start a job thread");
      free (j);
      if (data_free)
        data_free (data);
      fkd_jobs_leave (r->srv);
      r->job = NULL;
      r->state = FKD_REQ_RECEIVING;
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot start a thread");
      MHD_resume_connection (r->conn);
    }
}

enum MHD_Result
fkd_queue (fkd_req_t *r)
{
  if (r->queued)
    return MHD_YES;
  r->queued = 1;
  enum MHD_Result ret = MHD_queue_response (r->conn, r->status, r->resp);
  MHD_destroy_response (r->resp);
  r->resp = NULL;
  return ret;
}

enum MHD_Result
fkd_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
  fkd_listener_t *l = cls;
  fkd_req_t *r = *con_cls;
  if (r == NULL || r->fresh)
    {
      if (r == NULL)
        r = xcalloc (1, sizeof *r);
      r->fresh = 0;
      r->srv = l->srv;
      r->plane = l->plane;
      r->conn = conn;
      r->max = l->plane == FKD_PLANE_ENVD ? fkd_envd_body_max (method, url) : FKD_BODY_MAX;
      *con_cls = r;
      unsigned port;
      char *id;
      /* A Host `{port}-{id}.{domain}': a port other than envd's goes to the port proxy. */
      if (l->plane == FKD_PLANE_ENVD && fkd_proxy_match (r, &port, &id))
        {
          if (port != FKD_ENVD_PORT)
            {
              fkd_proxy_begin (r, method, r->raw_uri ? r->raw_uri : url, port, id);
              return r->state == FKD_REQ_DONE ? fkd_queue (r) : MHD_YES;
            }
          free (id);
        }
      const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Length");
      if (cl && strtoull (cl, NULL, 10) > r->max)
        {
          fkd_reply_error (r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is over %zu bytes", r->max);
          return fkd_queue (r);
        }
      if (l->plane == FKD_PLANE_ENVD)
        fkd_envd_body_sink (r, method, url);
      return MHD_YES;
    }
  if (r->proxy)
    return fkd_proxy_handle (r, upload_data, upload_data_size);
  if (r->state == FKD_REQ_DONE)
    {
      *upload_data_size = 0;
      return fkd_queue (r);
    }
  if (*upload_data_size)
    {
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      if (r->sink)
        {
          r->sink (r, upload_data, n);
          return MHD_YES;
        }
      if (r->too_big)
        return MHD_YES;
      if (n > r->max - r->len)
        {
          r->too_big = 1;
          free (r->body);
          r->body = NULL;
          r->len = 0;
          return MHD_YES;
        }
      r->body = xrealloc (r->body, r->len + n + 1);
      memcpy (r->body + r->len, upload_data, n);
      r->len += n;
      r->body[r->len] = '\0';
      return MHD_YES;
    }
  if (r->state == FKD_REQ_RUNNING)
    return MHD_YES;
  if (r->too_big)
    fkd_reply_error (r, MHD_HTTP_CONTENT_TOO_LARGE, "the body is over %zu bytes", r->max);
  else if (l->plane == FKD_PLANE_CONTROL)
    fkd_control_route (r, method, url);
  else
    fkd_envd_route (r, method, url);
  if (r->state == FKD_REQ_DONE)
    return fkd_queue (r);
  return MHD_YES;
}

void
fkd_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
  fkd_req_t *r = *con_cls;
  if (r == NULL)
    return;
  fkd_proxy_release (r);
  if (r->resp)
    MHD_destroy_response (r->resp);
  if (r->sink_free)
    r->sink_free (r->sink_data);
  free (r->body);
  free (r->raw_uri);
  free (r);
  *con_cls = NULL;
}

void *
fkd_uri_log (void *cls, const char *uri, struct MHD_Connection *conn)
{
  fkd_req_t *r = xcalloc (1, sizeof *r);
  r->fresh = 1;
  r->raw_uri = xstrdup (uri);
  return r;
}
