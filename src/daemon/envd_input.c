/* daemon/envd_input.c: process.Process/StreamInput, envd's client-streaming call. Its request
   body is a stream of envelopes (start {process}, then data {input} and keepalive {}), read as
   it arrives (fkd_envelope_feed: each envelope's length checked from its header, the whole
   bounded) and forwarded as each data message comes in, by a worker thread with an agent
   connection of its own; the response, once the body has ended, is one envelope and the end of
   the stream. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/controlreq.h"
#include "daemon/envd.h"
#include "daemon/envdreq.h"
#include "daemon/envelope.h"

#define CONNECT_JSON "application/connect+json"
/* Input read from the client but not yet taken by the agent: above the high mark fkd stops
   reading the body (the connection is suspended) until the worker is under the low mark. */
#define QUEUE_HIGH (2u << 20)
#define QUEUE_LOW (256u << 10)
#define WORKER_TICK_MS 200

typedef struct chunk
{
  struct chunk *next;
  unsigned char *data;
  size_t len;
  int pty;
} chunk_t;

typedef struct sinput
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int refs; /* the request's, and the worker's while it runs */
  fkd_server_t *srv;
  struct MHD_Connection *conn;
  fkd_target_t t;           /* read from the headers when the worker starts */
  fkd_envelope_reader_t rd; /* the MHD thread's */
  int started;
  fkd_proc_req_t *sel; /* the start message's selector */
  chunk_t *head, **tail;
  size_t queued;
  int body_done, abandoned, suspended, worker;
  /* The first error: an HTTP status (the sandbox or its token; answered as a JSON error),
     else a Connect code (answered at the end of the stream). */
  unsigned status;
  char *code, *msg;
} sinput_t;

static void
drop_queue_locked (sinput_t *si)
{
  while (si->head)
    {
      chunk_t *k = si->head;
      si->head = k->next;
      free (k->data);
      free (k);
    }
  si->tail = &si->head;
  si->queued = 0;
}

static void
resume_locked (sinput_t *si)
{
  if (si->suspended && !si->abandoned)
    {
      si->suspended = 0;
      MHD_resume_connection (si->conn);
    }
}

static void
sinput_unref (sinput_t *si)
{
  pthread_mutex_lock (&si->lock);
  int last = --si->refs == 0;
  pthread_mutex_unlock (&si->lock);
  if (!last)
    return;
  drop_queue_locked (si);
  fkd_envelope_reader_clear (&si->rd);
  fkd_proc_req_free (si->sel);
  fkd_target_clear (&si->t);
  free (si->code);
  free (si->msg);
  pthread_mutex_destroy (&si->lock);
  pthread_cond_destroy (&si->cond);
  free (si);
}

/* Records the first error; what is queued is dropped and the rest of the body will be. */
static void
fail_locked (sinput_t *si, unsigned status, const char *code, const char *msg)
{
  if (si->code == NULL && si->status == 0)
    {
      si->status = status;
      si->code = code ? xstrdup (code) : NULL;
      si->msg = xstrdup (msg);
    }
  drop_queue_locked (si);
  resume_locked (si);
  pthread_cond_broadcast (&si->cond);
}

static int
failed_locked (const sinput_t *si)
{
  return si->code != NULL || si->status != 0;
}

static const char *
connect_code (int code)
{
  switch (code)
    {
    case ENOENT:
    case ESRCH:
      return "not_found";
    case EINVAL:
    case EPROTO:
    case EMSGSIZE:
      return "invalid_argument";
    case EPIPE:
    case ENOTTY:
      return "failed_precondition";
    case ENOBUFS:
    case EFBIG:
      return "resource_exhausted";
    case ETIMEDOUT:
      return "deadline_exceeded";
    default:
      return "internal";
    }
}

/* The agent holds a bounded queue of a process's input (ENOBUFS when it is full): a process
   that reads slower than the client sends is waited for, which holds the body back (the queue
   above fills and the request stops being read), until it has read nothing for
   INPUT_STALL_MS. */
#define INPUT_STALL_MS 5000

static int
send_input (fkd_server_t *srv, fk_client_t *c, sinput_t *si, const chunk_t *k, fk_error_t *err)
{
  unsigned wait_ms = 1, waited = 0;
  for (;;)
    {
      int rc = fk_client_input (c, si->sel->pid, si->sel->tag, k->data, k->len,
                                k->pty ? FK_INPUT_PTY : 0, err);
      if (rc == 0 || err->code != ENOBUFS || waited >= INPUT_STALL_MS || fkd_stopping (srv))
        return rc;
      fk_error_clear (err);
      struct timespec ts = { 0, (long)wait_ms * 1000000L };
      nanosleep (&ts, NULL);
      waited += wait_ms;
      wait_ms = wait_ms < 50 ? wait_ms * 2 : 50;
    }
}

/* The worker: connects to the sandbox's agent and hands it the input in order. */
static void *
worker_main (void *p)
{
  sinput_t *si = p;
  fkd_server_t *srv = si->srv;
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = NULL;
  unsigned status = MHD_HTTP_BAD_GATEWAY;
  int ok = si->t.id && fkd_sandbox_id_valid (si->t.id)
           && fkd_envd_open_agent (srv, &si->t, &c, &status, &err) == 0;
  if (!ok && err.code == 0)
    fk_error_set (&err, ENOENT, "sandbox not found");
  pthread_mutex_lock (&si->lock);
  if (!ok)
    fail_locked (si, status, NULL, fk_error_message (&err));
  fk_error_clear (&err);
  for (;;)
    {
      while (si->head == NULL && !si->body_done && !si->abandoned && !failed_locked (si)
             && !fkd_stopping (srv))
        {
          struct timespec ts;
          clock_gettime (CLOCK_REALTIME, &ts);
          ts.tv_nsec += WORKER_TICK_MS * 1000000L;
          if (ts.tv_nsec >= 1000000000L)
            {
              ts.tv_sec++;
              ts.tv_nsec -= 1000000000L;
            }
          pthread_cond_timedwait (&si->cond, &si->lock, &ts);
        }
      if (fkd_stopping (srv))
        fail_locked (si, 0, "unavailable", "fkd is shutting down");
      if (si->abandoned)
        drop_queue_locked (si);
      chunk_t *k = si->head;
      if (k == NULL)
        break;
      si->head = k->next;
      if (si->head == NULL)
        si->tail = &si->head;
      si->queued -= k->len;
      if (si->queued < QUEUE_LOW)
        resume_locked (si);
      pthread_mutex_unlock (&si->lock);
      int rc = send_input (srv, c, si, k, &err);
      free (k->data);
      free (k);
      pthread_mutex_lock (&si->lock);
      if (rc < 0)
        fail_locked (si, 0, connect_code (err.code), fk_error_message (&err));
      fk_error_clear (&err);
    }
  si->worker = 0;
  resume_locked (si);
  pthread_cond_broadcast (&si->cond);
  pthread_mutex_unlock (&si->lock);
  fk_client_close (c);
  sinput_unref (si);
  fkd_jobs_leave (srv);
  return NULL;
}

static int
start_worker_locked (sinput_t *si)
{
  if (fkd_jobs_enter (si->srv) < 0)
    return -1;
  /* Copies: the worker may outlive the request's connection. */
  const char *id = MHD_lookup_connection_value (si->conn, MHD_HEADER_KIND, "E2b-Sandbox-Id");
  const char *tok = MHD_lookup_connection_value (si->conn, MHD_HEADER_KIND, "X-Access-Token");
  si->t.id = id ? xstrdup (id) : NULL;
  si->t.token = tok ? xstrdup (tok) : NULL;
  si->refs++;
  si->worker = 1;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 256u << 10);
  pthread_t th;
  int rc = pthread_create (&th, &attr, worker_main, si);
  pthread_attr_destroy (&attr);
  if (rc != 0)
    {
      log_error_errno (rc, "start a stream input thread");
      si->refs--;
      si->worker = 0;
      fkd_jobs_leave (si->srv);
      return -1;
    }
  return 0;
}

/* One message of the request stream (the MHD thread, si->lock held). */
static int
on_message (void *ud, unsigned flags, const char *msg, size_t len, fk_error_t *err)
{
  sinput_t *si = ud;
  (void)flags;
  fkd_stream_input_kind_t kind;
  fkd_proc_req_t *q = NULL;
  if (fkd_stream_input_parse (msg, len, &kind, &q, err) < 0)
    return -1;
  if (kind == FKD_STREAM_INPUT_KEEPALIVE)
    {
      fkd_proc_req_free (q);
      return 0;
    }
  if (kind == FKD_STREAM_INPUT_START)
    {
      if (si->started)
        {
          fkd_proc_req_free (q);
          return fk_error_set (err, EINVAL, "a second start message");
        }
      si->started = 1;
      si->sel = q;
      if (start_worker_locked (si) < 0)
        {
          fail_locked (si, 0, "unavailable",
                       fkd_stopping (si->srv) ? "fkd is shutting down" : "too many requests");
          return 0;
        }
      return 0;
    }
  if (!si->started)
    {
      fkd_proc_req_free (q);
      return fk_error_set (err, EINVAL, "a data message before the start message");
    }
  chunk_t *k = xcalloc (1, sizeof *k);
  k->data = steal_pointer (&q->data);
  k->len = q->len;
  k->pty = q->pty;
  fkd_proc_req_free (q);
  *si->tail = k;
  si->tail = &k->next;
  si->queued += k->len;
  pthread_cond_broadcast (&si->cond);
  /* The agent is behind: stop reading the body until the worker catches up. */
  if (si->queued > QUEUE_HIGH && !si->suspended)
    {
      log_debug ("stream input: %zu bytes wait for the agent, the body is not read meanwhile",
                 si->queued);
      si->suspended = 1;
      MHD_suspend_connection (si->conn);
    }
  return 0;
}

static void
sink (fkd_req_t *r, const char *data, size_t len)
{
  sinput_t *si = r->sink_data;
  fk_error_t err = FK_ERROR_INIT;
  pthread_mutex_lock (&si->lock);
  if (!failed_locked (si) && fkd_envelope_feed (&si->rd, data, len, on_message, si, &err) < 0)
    fail_locked (si, 0, connect_code (err.code), fk_error_message (&err));
  pthread_mutex_unlock (&si->lock);
  fk_error_clear (&err);
}

/* The request is done (answered, or its client gone): the worker stops. */
static void
sink_free (void *p)
{
  sinput_t *si = p;
  pthread_mutex_lock (&si->lock);
  si->abandoned = 1;
  pthread_cond_broadcast (&si->cond);
  pthread_mutex_unlock (&si->lock);
  sinput_unref (si);
}

void
fkd_envd_body_sink (fkd_req_t *r, const char *method, const char *url)
{
  if (strcmp (method, "POST") != 0 || strcmp (url, "/process.Process/StreamInput") != 0)
    return;
  /* Another content type is buffered as usual and refused once in. */
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct == NULL || strcasecmp (ct, CONNECT_JSON) != 0)
    return;
  sinput_t *si = xcalloc (1, sizeof *si);
  pthread_mutex_init (&si->lock, NULL);
  pthread_cond_init (&si->cond, NULL);
  si->refs = 1;
  si->srv = r->srv;
  si->conn = r->conn;
  si->rd.max = FKD_ENVELOPE_MAX;
  si->rd.total_max = FKD_STREAM_INPUT_MAX;
  si->tail = &si->head;
  r->sink = sink;
  r->sink_data = si;
  r->sink_free = sink_free;
}

/* The body is in: waits for the worker to hand on the last input, then answers. */
static void
finish_job (fkd_req_t *r, void *data)
{
  sinput_t *si = data;
  pthread_mutex_lock (&si->lock);
  si->body_done = 1;
  pthread_cond_broadcast (&si->cond);
  while (si->worker)
    pthread_cond_wait (&si->cond, &si->lock);
  unsigned status = si->status;
  cleanup_free char *code = si->code ? xstrdup (si->code) : NULL;
  cleanup_free char *msg = si->msg ? xstrdup (si->msg) : NULL;
  pthread_mutex_unlock (&si->lock);
  if (status)
    {
      fkd_reply_error (r, status, "%s", msg);
      return;
    }
  if (code)
    {
      fkd_envd_stream_error (r, code, msg);
      return;
    }
  size_t n1, n2;
  cleanup_free char *e1 = fkd_envelope_build (0, "{}", 2, &n1);
  cleanup_free char *e2 = fkd_envelope_build (FKD_ENVELOPE_END, "{}", 2, &n2);
  char *body = xmalloc (n1 + n2);
  memcpy (body, e1, n1);
  memcpy (body + n1, e2, n2);
  struct MHD_Response *resp
      = MHD_create_response_from_buffer (n1 + n2, body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (resp, "Content-Type", CONNECT_JSON);
  fkd_reply (r, MHD_HTTP_OK, resp);
}

static void
finish_free (void *p)
{
  sinput_unref (p);
}

void
fkd_envd_input_route (fkd_req_t *r, fkd_target_t *t)
{
  fkd_target_clear (t);
  sinput_t *si = r->sink_data;
  if (si == NULL)
    {
      fkd_envd_connect_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unknown",
                              "process.Process/StreamInput takes " CONNECT_JSON);
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  pthread_mutex_lock (&si->lock);
  if (!failed_locked (si))
    {
      if (fkd_envelope_finish (&si->rd, &err) < 0)
        fail_locked (si, 0, "invalid_argument", fk_error_message (&err));
      else if (!si->started)
        fail_locked (si, 0, "invalid_argument", "the request stream has no start message");
    }
  si->refs++;
  pthread_mutex_unlock (&si->lock);
  fk_error_clear (&err);
  fkd_run_job (r, finish_job, si, finish_free);
}
