/* daemon/envd_stream.c: envd's Connect server streams of a process (process.Process/Start and
   Connect): the response MHD reads from while a pump thread feeds it the process's events, with
   back-pressure, keepalives and hang-up detection, and the registry SendInput and CloseStdin
   find a process's stream in. */
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

/* Input for a stream's process (SendInput, CloseStdin): the agent takes a process's stdin only
   from the request attached to it, and only the stream's pump may use its fk_proc_t, so the
   caller queues the input here and waits for the pump to send it. */
typedef struct input_op
{
  struct input_op *next;
  const void *data;
  size_t len;
  int close, done;
  fk_error_t err;
} input_op_t;

typedef struct stream
{
  pthread_mutex_t lock;
  pthread_cond_t drained, input_done;
  int refs;
  struct MHD_Connection *conn;
  int fd; /* the client's socket (-1: unknown) */
  int suspended, ended, gone;
  char *buf;
  size_t len, off;
  /* In the registry below while its pump runs. */
  struct stream *next;
  char *sandbox_id, *tag;
  pid_t pid;
  int stdin_open;     /* the process has a stdin to write to */
  int input_gone;     /* the pump has ended: input fails */
  input_op_t *inputs; /* queued, oldest first */
} stream_t;

/* The streams whose pumps run, to find a process's stream by sandbox and pid or tag. */
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static stream_t *streams;

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
  pthread_cond_destroy (&s->input_done);
  free (s->buf);
  free (s->sandbox_id);
  free (s->tag);
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
  pthread_mutex_lock (&s->lock);
  s->gone = 1;
  pthread_cond_broadcast (&s->drained);
  pthread_mutex_unlock (&s->lock);
  stream_unref (s);
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

/* The pump sends what was queued for its process's stdin and wakes the callers. */
static void
send_inputs (stream_t *s, fk_proc_t *p)
{
  pthread_mutex_lock (&s->lock);
  input_op_t *ops = s->inputs;
  s->inputs = NULL;
  pthread_mutex_unlock (&s->lock);
  while (ops)
    {
      input_op_t *op = ops;
      ops = op->next;
      if (op->close)
        fk_proc_close_stdin (p, &op->err);
      else
        fk_proc_write_stdin (p, op->data, op->len, &op->err);
      pthread_mutex_lock (&s->lock);
      op->done = 1;
      pthread_cond_broadcast (&s->input_done);
      pthread_mutex_unlock (&s->lock);
    }
}

/* The pump ends: the stream leaves the registry (so no input is queued after), and what was
   queued fails. */
static void
inputs_end (stream_t *s)
{
  pthread_mutex_lock (&streams_lock);
  for (stream_t **pp = &streams; *pp; pp = &(*pp)->next)
    if (*pp == s)
      {
        *pp = s->next;
        break;
      }
  pthread_mutex_unlock (&streams_lock);
  pthread_mutex_lock (&s->lock);
  s->input_gone = 1;
  for (input_op_t *op = s->inputs; op; op = op->next)
    {
      fk_error_set (&op->err, EPIPE, "process %d ended", (int)s->pid);
      op->done = 1;
    }
  s->inputs = NULL;
  pthread_cond_broadcast (&s->input_done);
  pthread_mutex_unlock (&s->lock);
}

int
fkd_envd_stream_input (const char *sandbox_id, pid_t pid, const char *tag, const void *data,
                       size_t len, int close, fk_error_t *err)
{
  input_op_t op = { .data = data, .len = len, .close = close, .err = FK_ERROR_INIT };
  stream_t *s = NULL;
  pthread_mutex_lock (&streams_lock);
  for (s = streams; s; s = s->next)
    if (strcmp (s->sandbox_id, sandbox_id) == 0
        && (tag ? s->tag && strcmp (s->tag, tag) == 0 : s->pid == pid))
      break;
  if (s == NULL)
    {
      pthread_mutex_unlock (&streams_lock);
      if (tag)
        return fk_error_set (err, ENOENT, "no stream of this fkd has the process tagged `%s'", tag);
      return fk_error_set (err, ENOENT, "no stream of this fkd has process %d", (int)pid);
    }
  pthread_mutex_lock (&s->lock);
  if (!s->stdin_open)
    {
      pthread_mutex_unlock (&s->lock);
      pthread_mutex_unlock (&streams_lock);
      return fk_error_set (err, EPIPE, "process %d was started without stdin", (int)s->pid);
    }
  s->refs++;
  input_op_t **tail = &s->inputs;
  while (*tail)
    tail = &(*tail)->next;
  *tail = &op;
  pthread_mutex_unlock (&streams_lock);
  while (!op.done)
    pthread_cond_wait (&s->input_done, &s->lock);
  pthread_mutex_unlock (&s->lock);
  stream_unref (s);
  if (op.err.msg)
    {
      *err = op.err;
      return -1;
    }
  return 0;
}

void
fkd_envd_stream_proc (fkd_req_t *r, fk_client_t *c, fk_proc_t *p, unsigned keepalive_s,
                      const char *sandbox_id, const char *tag, int stdin_open)
{
  fkd_server_t *srv = r->srv;
  fk_error_t err = FK_ERROR_INIT;
  stream_t *st = xcalloc (1, sizeof *st);
  pthread_mutex_init (&st->lock, NULL);
  pthread_cond_init (&st->drained, NULL);
  pthread_cond_init (&st->input_done, NULL);
  st->refs = 2; /* this pump and the response */
  st->sandbox_id = xstrdup (sandbox_id);
  st->tag = tag ? xstrdup (tag) : NULL;
  st->pid = fk_proc_pid (p);
  st->stdin_open = stdin_open;
  pthread_mutex_lock (&streams_lock);
  st->next = streams;
  streams = st;
  pthread_mutex_unlock (&streams_lock);
  st->conn = r->conn;
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  st->fd = ci ? ci->connect_fd : -1;
  struct MHD_Response *resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16u << 10,
                                                                 stream_read, st, stream_release);
  MHD_add_response_header (resp, "Content-Type", CONNECT_JSON);
  /* The first envelope is queued before the client can read: the start event comes first. */
  char first[64];
  snprintf (first, sizeof first, "{\"event\":{\"start\":{\"pid\":%d}}}", (int)fk_proc_pid (p));
  stream_push (srv, st, 0, first);
  fkd_reply (r, MHD_HTTP_OK, resp);
  fkd_job_resume (r);

  int64_t next_ka = keepalive_s ? now_ms () + (int64_t)keepalive_s * 1000 : 0;
  for (;;)
    {
      if (fkd_stopping (srv))
        {
          cleanup_free char *e = end_error ("unavailable", "fkd is shutting down");
          stream_push (srv, st, FKD_ENVELOPE_END, e);
          break;
        }
      if (stream_gone (st))
        break;
      send_inputs (st, p);
      fk_proc_event_t ev;
      int rc = fk_proc_next (p, PUMP_TICK_MS, &ev, &err);
      if (rc < 0)
        {
          cleanup_free char *e = end_error (
              err.code == ETIMEDOUT ? "deadline_exceeded" : "internal", fk_error_message (&err));
          fk_error_clear (&err);
          stream_push (srv, st, FKD_ENVELOPE_END, e);
          break;
        }
      if (rc == 0)
        {
          if (next_ka && now_ms () >= next_ka)
            {
              if (stream_push (srv, st, 0, "{\"event\":{\"keepalive\":{}}}") < 0)
                break;
              next_ka = now_ms () + (int64_t)keepalive_s * 1000;
            }
          continue;
        }
      if (ev.kind == FK_PROC_STDOUT || ev.kind == FK_PROC_STDERR)
        {
          cleanup_free char *e
              = data_event (ev.kind == FK_PROC_STDOUT ? "stdout" : "stderr", ev.data, ev.len);
          if (stream_push (srv, st, 0, e) < 0)
            break;
          continue;
        }
      cleanup_free char *e = end_event (&ev.status);
      if (stream_push (srv, st, 0, e) < 0)
        break;
      if (ev.status.timed_out)
        {
          cleanup_free char *te
              = end_error ("deadline_exceeded", "the process ran past Connect-Timeout-Ms");
          stream_push (srv, st, FKD_ENVELOPE_END, te);
        }
      else
        stream_push (srv, st, FKD_ENVELOPE_END, "{}");
      break;
    }
  inputs_end (st);
  fk_proc_free (p);
  fk_client_close (c);
  stream_unref (st);
}
