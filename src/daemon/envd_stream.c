/* daemon/envd_stream.c: envd's Connect server streams of a process (process.Process/Start and
   Connect). fkd holds one attachment to a process (a hub) and fans its events out to every
   stream of it: each stream is a response MHD reads from, fed by the hub's pump thread with
   back-pressure, keepalives and hang-up detection. */
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"
#include "daemon/envd.h"
#include "daemon/envelope.h"

#define CONNECT_JSON "application/connect+json"
/* Output a stream holds for a client that reads slowly before it stops reading the agent (the
   agent then stops reading the process: back-pressure down to the command). */
#define STREAM_BUFFER_MAX (1u << 20)
/* How often a stream's pump looks at its client, its input queue and at shutdown. */
#define PUMP_TICK_MS 200

typedef struct stream
{
  pthread_mutex_t lock;
  pthread_cond_t drained;
  int refs;
  struct MHD_Connection *conn;
  fkd_server_t *srv; /* its response counts as a job until MHD drops it (fkd_jobs_hold) */
  int fd;            /* the client's socket (-1: unknown) */
  int suspended, ended, gone;
  char *buf;
  size_t len, off;
  unsigned keepalive_s; /* 0: none */
  int64_t next_ka;
  struct stream *next; /* in its hub's list (hubs_lock) */
} stream_t;

/* fkd's one attachment to a process: the pump that reads its events and the streams it feeds.
   The agent attaches one request at a time to a process, so a second stream of it joins the
   hub instead of attaching. */
typedef struct hub
{
  struct hub *next; /* in the registry while it takes streams */
  char *sandbox_id, *tag;
  pid_t pid;
  int pty;
  stream_t *streams; /* hubs_lock */
} hub_t;

/* The hubs that take streams, and every hub's list of streams. */
static pthread_mutex_t hubs_lock = PTHREAD_MUTEX_INITIALIZER;
static hub_t *hubs;

static void
stream_unref (stream_t *s)
{
  pthread_mutex_lock (&s->lock);
  int last = --s->refs == 0;
  pthread_mutex_unlock (&s->lock);
  if (!last)
    return;
  pthread_mutex_destroy (&s->lock);
  pthread_cond_destroy (&s->drained);
  free (s->buf);
  free (s);
}

/* MHD's content reader: hands out what the pump queued, or suspends the connection until it
   queues more. */
static ssize_t
stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  stream_t *s = cls;
  ssize_t n;
  pthread_mutex_lock (&s->lock);
  if (s->len > s->off)
    {
      size_t k = s->len - s->off < max ? s->len - s->off : max;
      memcpy (buf, s->buf + s->off, k);
      s->off += k;
      if (s->off == s->len)
        s->off = s->len = 0;
      pthread_cond_broadcast (&s->drained);
      n = (ssize_t)k;
    }
  else if (s->ended)
    n = MHD_CONTENT_READER_END_OF_STREAM;
  else
    {
      s->suspended = 1;
      MHD_suspend_connection (s->conn);
      n = 0;
    }
  pthread_mutex_unlock (&s->lock);
  return n;
}

/* MHD drops the response: the stream is done or the client went away. */
static void
stream_release (void *cls)
{
  stream_t *s = cls;
  fkd_server_t *srv = s->srv;
  pthread_mutex_lock (&s->lock);
  s->gone = 1;
  pthread_cond_broadcast (&s->drained);
  pthread_mutex_unlock (&s->lock);
  stream_unref (s);
  fkd_jobs_leave (srv);
}

/* Queues one envelope (the last when flags has FKD_ENVELOPE_END); waits while the client is
   behind. Returns -1 when the client is gone. */
static int
stream_push (fkd_server_t *srv, stream_t *s, unsigned flags, const char *msg)
{
  size_t n;
  cleanup_free char *env = fkd_envelope_build (flags, msg, strlen (msg), &n);
  pthread_mutex_lock (&s->lock);
  while (!s->gone && s->len - s->off > STREAM_BUFFER_MAX && !fkd_stopping (srv))
    {
      struct timespec ts;
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += PUMP_TICK_MS * 1000000L;
      if (ts.tv_nsec >= 1000000000L)
        {
          ts.tv_sec++;
          ts.tv_nsec -= 1000000000L;
        }
      pthread_cond_timedwait (&s->drained, &s->lock, &ts);
    }
  int gone = s->gone;
  if (!gone)
    {
      if (s->off)
        {
          memmove (s->buf, s->buf + s->off, s->len - s->off);
          s->len -= s->off;
          s->off = 0;
        }
      s->buf = xrealloc (s->buf, s->len + n);
      memcpy (s->buf + s->len, env, n);
      s->len += n;
      if (flags & FKD_ENVELOPE_END)
        s->ended = 1;
      if (s->suspended)
        {
          s->suspended = 0;
          MHD_resume_connection (s->conn);
        }
    }
  pthread_mutex_unlock (&s->lock);
  return gone ? -1 : 0;
}

/* 1 when the client is gone. MHD does not watch a suspended connection, so a client that
   closes while its stream waits for output would go unnoticed until the next event: then the
   socket is looked at here (it stays open while suspended), and a peer that hung up ends the
   response (resumed, it finishes and MHD drops it). */
static int
stream_gone (stream_t *s)
{
  pthread_mutex_lock (&s->lock);
  int g = s->gone;
  if (!g && s->suspended && s->fd >= 0)
    {
      struct pollfd pfd = { .fd = s->fd, .events = POLLRDHUP };
      if (poll (&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        {
          g = 1;
          s->ended = 1;
          s->suspended = 0;
          MHD_resume_connection (s->conn);
        }
    }
  pthread_mutex_unlock (&s->lock);
  return g;
}

/* The end-of-stream message with an error of Connect code `code'. */
static char *
end_error (const char *code, const char *msg)
{
  cleanup_free char *m = xstrdup (msg);
  fkd_utf8_sanitize (m);
  json_t *j = json_pack ("{s:{s:s, s:s}}", "error", "code", code, "message", m);
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  return text;
}

static const char *
signal_word (int sig)
{
  switch (sig)
    {
    case SIGKILL:
      return "killed";
    case SIGTERM:
      return "terminated";
    case SIGINT:
      return "interrupt";
    case SIGHUP:
      return "hangup";
    case SIGSEGV:
      return "segmentation fault";
    case SIGABRT:
      return "aborted";
    case SIGPIPE:
      return "broken pipe";
    default:
      return NULL;
    }
}

/* The end event as envd sends it (Go's exec status strings). */
static char *
end_event (const fk_exit_status_t *st)
{
  char status[64];
  json_t *end;
  if (st->signal)
    {
      const char *w = signal_word (st->signal);
      if (w)
        snprintf (status, sizeof status, "signal: %s", w);
      else
        snprintf (status, sizeof status, "signal: %d", st->signal);
      end = json_pack ("{s:i, s:b, s:s, s:s}", "exitCode", -1, "exited", 0, "status", status,
                       "error", status);
    }
  else
    {
      snprintf (status, sizeof status, "exit status %d", st->exit_code);
      end = json_pack ("{s:i, s:b, s:s}", "exitCode", st->exit_code, "exited", 1, "status", status);
    }
  json_t *j = json_pack ("{s:{s:o}}", "event", "end", end);
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  return text;
}

static char *
data_event (const char *which, const void *data, size_t len)
{
  size_t b64 = 4 * ((len + 2) / 3);
  char *text = xmalloc (b64 + 64);
  int k = snprintf (text, 64, "{\"event\":{\"data\":{\"%s\":\"", which);
  EVP_EncodeBlock ((unsigned char *)text + k, data, (int)len);
  strcpy (text + k + b64, "\"}}}");
  return text;
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
fkd_envd_stream_error (fkd_req_t *r, const char *code, const char *msg)
{
  cleanup_free char *text = end_error (code, msg);
  size_t n;
  char *env = fkd_envelope_build (FKD_ENVELOPE_END, text, strlen (text), &n);
  struct MHD_Response *resp = MHD_create_response_from_buffer (n, env, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (resp, "Content-Type", CONNECT_JSON);
  fkd_reply (r, MHD_HTTP_OK, resp);
}

/* A stream for r's client with its start event queued; one reference for its response, one for
   the caller. */
static stream_t *
stream_new (fkd_req_t *r, pid_t pid, unsigned keepalive_s)
{
  stream_t *st = xcalloc (1, sizeof *st);
  pthread_mutex_init (&st->lock, NULL);
  pthread_cond_init (&st->drained, NULL);
  st->refs = 2;
  st->conn = r->conn;
  st->srv = r->srv;
  fkd_jobs_hold (r->srv);
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  st->fd = ci ? ci->connect_fd : -1;
  st->keepalive_s = keepalive_s;
  st->next_ka = keepalive_s ? now_ms () + (int64_t)keepalive_s * 1000 : 0;
  /* Queued before the client can read: the start event comes first. */
  char first[64];
  snprintf (first, sizeof first, "{\"event\":{\"start\":{\"pid\":%d}}}", (int)pid);
  stream_push (r->srv, st, 0, first);
  return st;
}

/* Answers r with st's response, which takes its reference. */
static void
stream_reply (fkd_req_t *r, stream_t *st)
{
  struct MHD_Response *resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16u << 10,
                                                                 stream_read, st, stream_release);
  MHD_add_response_header (resp, "Content-Type", CONNECT_JSON);
  fkd_reply (r, MHD_HTTP_OK, resp);
}

static hub_t *
hub_find_locked (const char *sandbox_id, pid_t pid, const char *tag)
{
  for (hub_t *h = hubs; h; h = h->next)
    if (strcmp (h->sandbox_id, sandbox_id) == 0
        && (tag ? h->tag && strcmp (h->tag, tag) == 0 : h->pid == pid))
      return h;
  return NULL;
}

static void
hub_unregister_locked (hub_t *h)
{
  for (hub_t **pp = &hubs; *pp; pp = &(*pp)->next)
    if (*pp == h)
      {
        *pp = h->next;
        break;
      }
}

/* The hub's streams, each with a reference the caller drops (streams_unref); *ret_n of them. */
static stream_t **
hub_streams (hub_t *h, size_t *ret_n)
{
  pthread_mutex_lock (&hubs_lock);
  size_t n = 0;
  for (stream_t *s = h->streams; s; s = s->next)
    n++;
  stream_t **v = xcalloc (n ? n : 1, sizeof *v);
  n = 0;
  for (stream_t *s = h->streams; s; s = s->next)
    {
      pthread_mutex_lock (&s->lock);
      s->refs++;
      pthread_mutex_unlock (&s->lock);
      v[n++] = s;
    }
  pthread_mutex_unlock (&hubs_lock);
  *ret_n = n;
  return v;
}

static void
streams_unref (stream_t **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    stream_unref (v[i]);
  free (v);
}

/* Drops the streams whose clients went away. Returns how many are left; with none, the hub
   leaves the registry (no stream joins it any more) and the pump lets go of the process. */
static size_t
hub_prune (hub_t *h)
{
  stream_t *gone = NULL;
  size_t left = 0;
  pthread_mutex_lock (&hubs_lock);
  for (stream_t **pp = &h->streams; *pp;)
    {
      stream_t *s = *pp;
      if (stream_gone (s))
        {
          *pp = s->next;
          s->next = gone;
          gone = s;
        }
      else
        {
          left++;
          pp = &s->next;
        }
    }
  if (left == 0)
    hub_unregister_locked (h);
  pthread_mutex_unlock (&hubs_lock);
  while (gone)
    {
      stream_t *s = gone;
      gone = s->next;
      stream_unref (s);
    }
  return left;
}

/* One envelope to every stream (each waits while its own client is behind). */
static void
hub_send (fkd_server_t *srv, hub_t *h, const char *msg)
{
  size_t n;
  stream_t **v = hub_streams (h, &n);
  for (size_t i = 0; i < n; i++)
    stream_push (srv, v[i], 0, msg);
  streams_unref (v, n);
}

static void
hub_keepalives (fkd_server_t *srv, hub_t *h)
{
  size_t n;
  stream_t **v = hub_streams (h, &n);
  int64_t now = now_ms ();
  for (size_t i = 0; i < n; i++)
    if (v[i]->keepalive_s && now >= v[i]->next_ka)
      {
        stream_push (srv, v[i], 0, "{\"event\":{\"keepalive\":{}}}");
        v[i]->next_ka = now_ms () + (int64_t)v[i]->keepalive_s * 1000;
      }
  streams_unref (v, n);
}

/* The last envelopes of every stream: the end event (NULL: none), then the end of the stream
   fin. The hub leaves the registry first, so no stream joins it after. */
static void
hub_end (fkd_server_t *srv, hub_t *h, const char *event, const char *fin)
{
  pthread_mutex_lock (&hubs_lock);
  hub_unregister_locked (h);
  stream_t *list = h->streams;
  h->streams = NULL;
  pthread_mutex_unlock (&hubs_lock);
  while (list)
    {
      stream_t *s = list;
      list = s->next;
      if (event == NULL || stream_push (srv, s, 0, event) == 0)
        stream_push (srv, s, FKD_ENVELOPE_END, fin);
      stream_unref (s);
    }
}

/* Reads the process's events and fans them out until it ends, fkd stops, or every stream is
   gone (then the process runs on detached, for a later Connect). */
static void
hub_pump (fkd_server_t *srv, hub_t *h, fk_proc_t *p)
{
  fk_error_t err = FK_ERROR_INIT;
  for (;;)
    {
      if (fkd_stopping (srv))
        {
          cleanup_free char *e = end_error ("unavailable", "fkd is shutting down");
          hub_end (srv, h, NULL, e);
          return;
        }
      if (hub_prune (h) == 0)
        return;
      hub_keepalives (srv, h);
      fk_proc_event_t ev;
      int rc = fk_proc_next (p, PUMP_TICK_MS, &ev, &err);
      if (rc < 0)
        {
          cleanup_free char *e = end_error (
              err.code == ETIMEDOUT ? "deadline_exceeded" : "internal", fk_error_message (&err));
          fk_error_clear (&err);
          hub_end (srv, h, NULL, e);
          return;
        }
      if (rc == 0)
        continue;
      if (ev.kind == FK_PROC_STDOUT || ev.kind == FK_PROC_STDERR)
        {
          /* A terminal's output is one stream: the pty event. */
          const char *which = h->pty ? "pty" : ev.kind == FK_PROC_STDOUT ? "stdout" : "stderr";
          cleanup_free char *e = data_event (which, ev.data, ev.len);
          hub_send (srv, h, e);
          continue;
        }
      cleanup_free char *e = end_event (&ev.status);
      if (ev.status.timed_out)
        {
          cleanup_free char *te
              = end_error ("deadline_exceeded", "the process ran past Connect-Timeout-Ms");
          hub_end (srv, h, e, te);
        }
      else
        hub_end (srv, h, e, "{}");
      return;
    }
}

int
fkd_envd_stream_join (fkd_req_t *r, const char *sandbox_id, pid_t pid, const char *tag,
                      unsigned keepalive_s)
{
  pthread_mutex_lock (&hubs_lock);
  hub_t *h = hub_find_locked (sandbox_id, pid, tag);
  if (h == NULL)
    {
      pthread_mutex_unlock (&hubs_lock);
      return -1;
    }
  /* Its start event is queued before it joins: the pump's events come after it. */
  stream_t *st = stream_new (r, h->pid, keepalive_s);
  st->next = h->streams;
  h->streams = st;
  pthread_mutex_unlock (&hubs_lock);
  stream_reply (r, st);
  return 0;
}

void
fkd_envd_stream_proc (fkd_req_t *r, fk_client_t *c, fk_proc_t *p, unsigned keepalive_s,
                      const char *sandbox_id, const char *tag, int pty)
{
  fkd_server_t *srv = r->srv;
  hub_t *h = xcalloc (1, sizeof *h);
  h->sandbox_id = xstrdup (sandbox_id);
  h->tag = tag ? xstrdup (tag) : NULL;
  h->pid = fk_proc_pid (p);
  h->pty = pty;
  stream_t *st = stream_new (r, h->pid, keepalive_s);
  h->streams = st;
  pthread_mutex_lock (&hubs_lock);
  h->next = hubs;
  hubs = h;
  pthread_mutex_unlock (&hubs_lock);
  stream_reply (r, st);
  fkd_job_resume (r);
  hub_pump (srv, h, p);
  fk_proc_free (p);
  fk_client_close (c);
  free (h->sandbox_id);
  free (h->tag);
  free (h);
}
