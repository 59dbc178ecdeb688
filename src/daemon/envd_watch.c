/* daemon/envd_watch.c: envd's filesystem.Filesystem/WatchDir (a Connect server stream of a
   directory's events) and its non-streaming form CreateWatcher / GetWatcherEvents /
   RemoveWatcher, on the agent's inotify watches (fk_client_watch).

   Bounded everywhere: a stream holds at most STREAM_BUFFER_MAX for a client that reads slowly,
   then stops reading the agent, which stops reading inotify; the kernel's queue then overflows
   and the agent reports the loss, which ends the stream with resource_exhausted (envd ends it on
   an overflow too). A watcher keeps at most WATCHER_EVENTS_MAX events until they are fetched;
   past that, or when the agent reports a loss, the events kept are still handed out and the
   next fetch fails with resource_exhausted and removes the watcher. A sandbox has at most
   WATCHERS_MAX watchers here; the agent caps watches (FK_WATCH_MAX) over both forms.

   Watchers live in this fkd's memory (each holds a connection to the agent and a pump thread):
   a restarted fkd has none, as a restarted envd has none. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
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
#define STREAM_BUFFER_MAX (1u << 20)
#define PUMP_TICK_MS 200
#define MAX_TIMEOUT_MS (24ULL * 3600 * 1000)
#define WATCHER_EVENTS_MAX 10000
#define WATCHERS_MAX 32
/* Watchers in all: each holds a thread and a connection. */
#define WATCHERS_TOTAL_MAX 1024
/* A watcher whose pump ended (its sandbox gone, an error) is dropped this long after, fetched
   or not: nobody may ever ask for it again. */
#define WATCHER_ENDED_KEEP_MS (10 * 60 * 1000)

/* ---- the Connect server stream (as envd_stream.c's, for watch events) ---- */

typedef struct stream
{
  pthread_mutex_t lock;
  pthread_cond_t drained;
  int refs;
  struct MHD_Connection *conn;
  fkd_server_t *srv; /* its response counts as a job until MHD drops it (fkd_jobs_hold) */
  int fd;
  int suspended, ended, gone;
  char *buf;
  size_t len, off;
} stream_t;

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

static ssize_t
stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  (void)pos;
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

/* Queues one envelope; waits while the client is behind. -1 when the client is gone. */
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

/* 1 when the client is gone (a suspended connection is not watched by MHD: its socket is). */
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

static char *
end_error (const char *code, const char *msg)
{
  json_t *j = json_pack ("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  return text;
}

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- events ---- */

/* Connect's code for a failed watch call. */
static const char *
code_of (int e)
{
  switch (e)
    {
    case ENOENT:
      return "not_found";
    case ENOTDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
      return "invalid_argument";
    case EACCES:
    case EPERM:
      return "permission_denied";
    case ENOSPC:
    case ENOBUFS:
    case EMFILE:
      return "resource_exhausted";
    default:
      return "internal";
    }
}

/* The event types of one agent event, in the order envd sends them. */
static const struct
{
  unsigned bit;
  const char *name;
} kinds[] = {
  { FK_WATCH_CREATE, "EVENT_TYPE_CREATE" }, { FK_WATCH_RENAME, "EVENT_TYPE_RENAME" },
  { FK_WATCH_CHMOD, "EVENT_TYPE_CHMOD" },   { FK_WATCH_WRITE, "EVENT_TYPE_WRITE" },
  { FK_WATCH_REMOVE, "EVENT_TYPE_REMOVE" },
};

/* A FilesystemEvent; NULL when the name cannot travel in JSON (not UTF-8). */
static json_t *
fs_event (const char *name, const char *type)
{
  json_t *n = json_string (name);
  if (n == NULL)
    return NULL;
  return json_pack ("{s:o, s:s}", "name", n, "type", type);
}

static char *
dumps (json_t *j)
{
  char *text = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (text == NULL)
    fk_oom (0);
  return text;
}

/* The call's sandbox, its path as the user means it, checked to be a directory, and the agent's
   watch on it. On failure *ret_code and err say why (c is closed). */
static int
open_watch (fkd_req_t *r, fkd_target_t *t, const fkd_fs_req_t *q, fk_client_t **ret_c,
            fk_watch_t **ret_w, const char **ret_code, fk_error_t *err)
{
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, t, &c) < 0)
    return -2; /* replied */
  cleanup_free char *path = NULL;
  int rc = fkd_envd_as_user (c, t->user, q->path, &path, err);
  if (rc < 0)
    {
      *ret_code = rc == -2 ? "unauthenticated" : code_of (err->code);
      fk_client_close (c);
      return -1;
    }
  fk_file_stat_t st;
  fk_watch_t *w = NULL;
  if (fk_client_file_stat (c, path, &st, err) < 0)
    rc = -1;
  else if (st.type != FK_FILE_TYPE_DIR && st.type != FK_FILE_TYPE_SYMLINK)
    rc = fk_error_set (err, ENOTDIR, "path %s is not a directory", path);
  else if (fk_client_watch (c, path, q->recursive ? FK_FILE_RECURSIVE : 0, &w, err) < 0)
    rc = -1;
  if (rc < 0)
    {
      *ret_code = code_of (err->code);
      fk_client_close (c);
      return -1;
    }
  *ret_c = c;
  *ret_w = w;
  return 0;
}

/* ---- WatchDir ---- */

typedef struct watch_req
{
  fkd_target_t t;
  fkd_fs_req_t *q;
  uint64_t timeout_ms; /* 0: none */
  unsigned keepalive_s;
} watch_req_t;

static void
watch_req_free (void *p)
{
  watch_req_t *w = p;
  fkd_target_clear (&w->t);
  fkd_fs_req_free (w->q);
  free (w);
}

static void
watchdir_job (fkd_req_t *r, void *data)
{
  watch_req_t *wr = data;
  fkd_server_t *srv = r->srv;
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = NULL;
  fk_watch_t *w = NULL;
  const char *code = NULL;
  int rc = open_watch (r, &wr->t, wr->q, &c, &w, &code, &err);
  if (rc == -2)
    return;
  if (rc < 0)
    {
      fkd_envd_stream_error (r, code, fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  stream_t *st = xcalloc (1, sizeof *st);
  pthread_mutex_init (&st->lock, NULL);
  pthread_cond_init (&st->drained, NULL);
  st->refs = 2; /* this pump and the response */
  st->conn = r->conn;
  st->srv = srv;
  fkd_jobs_hold (srv);
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  st->fd = ci ? ci->connect_fd : -1;
  struct MHD_Response *resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16u << 10,
                                                                 stream_read, st, stream_release);
  MHD_add_response_header (resp, "Content-Type", CONNECT_JSON);
  stream_push (srv, st, 0, "{\"start\":{}}");
  fkd_reply (r, MHD_HTTP_OK, resp);
  fkd_job_resume (r);

  int64_t start = now_ms ();
  int64_t next_ka = wr->keepalive_s ? start + (int64_t)wr->keepalive_s * 1000 : 0;
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
      if (wr->timeout_ms && now_ms () - start >= (int64_t)wr->timeout_ms)
        {
          cleanup_free char *e = end_error ("deadline_exceeded", "the watch ran past its timeout");
          stream_push (srv, st, FKD_ENVELOPE_END, e);
          break;
        }
      fk_watch_batch_t b;
      int n = fk_watch_next (w, PUMP_TICK_MS, &b, &err);
      if (n < 0)
        {
          cleanup_free char *e = end_error (code_of (err.code), fk_error_message (&err));
          fk_error_clear (&err);
          stream_push (srv, st, FKD_ENVELOPE_END, e);
          break;
        }
      if (n == 0)
        {
          if (next_ka && now_ms () >= next_ka)
            {
              if (stream_push (srv, st, 0, "{\"keepalive\":{}}") < 0)
                break;
              next_ka = now_ms () + (int64_t)wr->keepalive_s * 1000;
            }
          continue;
        }
      int gone = 0;
      for (size_t i = 0; i < b.n && !gone; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0] && !gone; k++)
          {
            if (!(b.events[i].kind & kinds[k].bit))
              continue;
            json_t *ev = fs_event (b.events[i].name, kinds[k].name);
            if (ev == NULL)
              continue;
            cleanup_free char *text = dumps (json_pack ("{s:o}", "filesystem", ev));
            gone = stream_push (srv, st, 0, text) < 0;
          }
      if (gone)
        break;
      if (b.dropped)
        {
          char msg[256];
          snprintf (msg, sizeof msg,
                    "the watch lost at least %llu events: the sandbox changed files faster than "
                    "they were read (or made more directories than a watch covers)",
                    (unsigned long long)b.dropped);
          cleanup_free char *e = end_error ("resource_exhausted", msg);
          stream_push (srv, st, FKD_ENVELOPE_END, e);
          break;
        }
      if (b.ended)
        {
          stream_push (srv, st, FKD_ENVELOPE_END, "{}");
          break;
        }
      if (next_ka)
        next_ka = now_ms () + (int64_t)wr->keepalive_s * 1000;
    }
  fk_watch_free (w);
  fk_client_close (c);
  stream_unref (st);
}

static int
route_watchdir (fkd_req_t *r, fkd_target_t *t)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct == NULL || strcasecmp (ct, CONNECT_JSON) != 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unknown",
                              "filesystem.Filesystem/WatchDir takes " CONNECT_JSON);
      return 0;
    }
  fk_error_t err = FK_ERROR_INIT;
  unsigned flags;
  const char *msg;
  size_t len;
  fkd_fs_req_t *q = NULL;
  if (fkd_envelope_parse (r->body ? r->body : "", r->len, FKD_ENVELOPE_MAX, &flags, &msg, &len,
                          &err)
          < 0
      || fkd_fs_req_parse (FKD_FS_WATCH, msg, len, &q, &err) < 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument", fk_error_message (&err));
      fk_error_clear (&err);
      return 0;
    }
  watch_req_t *wr = xcalloc (1, sizeof *wr);
  wr->t = *t;
  wr->q = q;
  const char *tm = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Connect-Timeout-Ms");
  if (tm)
    {
      char *end;
      errno = 0;
      unsigned long long v = strtoull (tm, &end, 10);
      if (errno || end == tm || *end || tm[0] == '-' || v > MAX_TIMEOUT_MS)
        {
          watch_req_free (wr);
          fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                                  "Connect-Timeout-Ms is not a number of milliseconds");
          return 0;
        }
      wr->timeout_ms = v;
    }
  wr->keepalive_s = fkd_envd_keepalive (r);
  fkd_run_job (r, watchdir_job, wr, watch_req_free);
  return 0;
}

/* ---- CreateWatcher, GetWatcherEvents, RemoveWatcher ---- */

typedef struct wevent
{
  char *name;
  unsigned kind;
} wevent_t;

typedef struct watcher
{
  struct watcher *next;
  char id[33];
  char *sandbox_id;
  fkd_server_t *srv;
  fk_client_t *c;
  fk_watch_t *w;
  pthread_mutex_t lock;
  int refs;
  int stop; /* removed: the pump ends */
  int done; /* the pump has ended */
  int64_t done_at;
  uint64_t lost; /* events dropped (by the agent, or over WATCHER_EVENTS_MAX) */
  char *fail;    /* why the pump ended, when it failed */
  int dir_gone;  /* the watched directory went away */
  wevent_t *ev;
  size_t n, cap;
} watcher_t;

static pthread_mutex_t watchers_lock = PTHREAD_MUTEX_INITIALIZER;
static watcher_t *watchers;

static void
watcher_unref (watcher_t *w)
{
  pthread_mutex_lock (&w->lock);
  int last = --w->refs == 0;
  pthread_mutex_unlock (&w->lock);
  if (!last)
    return;
  for (size_t i = 0; i < w->n; i++)
    free (w->ev[i].name);
  free (w->ev);
  free (w->fail);
  free (w->sandbox_id);
  pthread_mutex_destroy (&w->lock);
  free (w);
}

static void *
watcher_pump (void *arg)
{
  watcher_t *w = arg;
  fk_error_t err = FK_ERROR_INIT;
  for (;;)
    {
      pthread_mutex_lock (&w->lock);
      int stop = w->stop;
      pthread_mutex_unlock (&w->lock);
      if (stop || fkd_stopping (w->srv))
        break;
      fk_watch_batch_t b;
      int n = fk_watch_next (w->w, PUMP_TICK_MS, &b, &err);
      if (n == 0)
        continue;
      pthread_mutex_lock (&w->lock);
      if (n < 0)
        {
          w->fail = xstrdup (fk_error_message (&err));
          fk_error_clear (&err);
          pthread_mutex_unlock (&w->lock);
          break;
        }
      w->lost += b.dropped;
      for (size_t i = 0; i < b.n; i++)
        {
          if (w->n >= WATCHER_EVENTS_MAX)
            {
              w->lost++;
              continue;
            }
          xgrow ((void **)&w->ev, &w->cap, w->n + 1, sizeof *w->ev);
          w->ev[w->n].name = xstrdup (b.events[i].name);
          w->ev[w->n].kind = b.events[i].kind;
          w->n++;
        }
      w->dir_gone = b.ended;
      pthread_mutex_unlock (&w->lock);
      if (b.ended)
        break;
    }
  fk_watch_free (w->w);
  fk_client_close (w->c);
  w->w = NULL;
  w->c = NULL;
  pthread_mutex_lock (&w->lock);
  w->done = 1;
  w->done_at = now_ms ();
  pthread_mutex_unlock (&w->lock);
  fkd_jobs_leave (w->srv);
  watcher_unref (w);
  return NULL;
}

/* Takes the watcher id of sandbox_id out of the registry (remove) or refs it; NULL: none. */
static watcher_t *
watcher_find (const char *sandbox_id, const char *id, int remove)
{
  pthread_mutex_lock (&watchers_lock);
  watcher_t *w = NULL;
  for (watcher_t **pp = &watchers; *pp; pp = &(*pp)->next)
    if (strcmp ((*pp)->sandbox_id, sandbox_id) == 0 && strlen (id) == strlen ((*pp)->id)
        && CRYPTO_memcmp ((*pp)->id, id, strlen (id)) == 0)
      {
        w = *pp;
        if (remove)
          *pp = w->next;
        else
          {
            pthread_mutex_lock (&w->lock);
            w->refs++;
            pthread_mutex_unlock (&w->lock);
          }
        break;
      }
  pthread_mutex_unlock (&watchers_lock);
  return w;
}

/* Out of the registry: the pump stops, the registry's ref goes. */
static void
watcher_remove (watcher_t *w)
{
  pthread_mutex_lock (&w->lock);
  w->stop = 1;
  pthread_mutex_unlock (&w->lock);
  watcher_unref (w);
}

typedef struct watcher_call
{
  fkd_target_t t;
  fkd_fs_req_t *q;
} watcher_call_t;

static void
watcher_call_free (void *p)
{
  watcher_call_t *f = p;
  fkd_target_clear (&f->t);
  fkd_fs_req_free (f->q);
  free (f);
}

static unsigned
status_of (const char *code)
{
  if (strcmp (code, "not_found") == 0)
    return MHD_HTTP_NOT_FOUND;
  if (strcmp (code, "invalid_argument") == 0)
    return MHD_HTTP_BAD_REQUEST;
  if (strcmp (code, "permission_denied") == 0)
    return MHD_HTTP_FORBIDDEN;
  if (strcmp (code, "unauthenticated") == 0)
    return MHD_HTTP_UNAUTHORIZED;
  if (strcmp (code, "resource_exhausted") == 0)
    return MHD_HTTP_TOO_MANY_REQUESTS;
  return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* Drops the watchers that ended long ago. */
static void
watchers_sweep (void)
{
  int64_t now = now_ms ();
  watcher_t *old = NULL;
  pthread_mutex_lock (&watchers_lock);
  for (watcher_t **pp = &watchers; *pp;)
    {
      watcher_t *w = *pp;
      pthread_mutex_lock (&w->lock);
      int stale = w->done && now - w->done_at > WATCHER_ENDED_KEEP_MS;
      pthread_mutex_unlock (&w->lock);
      if (stale)
        {
          *pp = w->next;
          w->next = old;
          old = w;
        }
      else
        pp = &w->next;
    }
  pthread_mutex_unlock (&watchers_lock);
  while (old)
    {
      watcher_t *w = old;
      old = w->next;
      watcher_remove (w);
    }
}

static void
create_watcher_job (fkd_req_t *r, void *data)
{
  watcher_call_t *f = data;
  watchers_sweep ();
  unsigned count = 0, total = 0;
  pthread_mutex_lock (&watchers_lock);
  for (watcher_t *o = watchers; o; o = o->next)
    {
      count += strcmp (o->sandbox_id, f->t.id) == 0;
      total++;
    }
  pthread_mutex_unlock (&watchers_lock);
  if (count >= WATCHERS_MAX || total >= WATCHERS_TOTAL_MAX)
    {
      char msg[128];
      snprintf (msg, sizeof msg, "too many watchers (at most %d in a sandbox, %d in all)",
                WATCHERS_MAX, WATCHERS_TOTAL_MAX);
      fkd_envd_connect_error (r, MHD_HTTP_TOO_MANY_REQUESTS, "resource_exhausted", msg);
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = NULL;
  fk_watch_t *fw = NULL;
  const char *code = NULL;
  int rc = open_watch (r, &f->t, f->q, &c, &fw, &code, &err);
  if (rc == -2)
    return;
  if (rc < 0)
    {
      fkd_envd_connect_error (r, status_of (code), code, fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  if (fkd_jobs_enter (r->srv) < 0)
    {
      fk_watch_free (fw);
      fk_client_close (c);
      fkd_envd_connect_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "fkd is busy or shutting down");
      return;
    }
  watcher_t *w = xcalloc (1, sizeof *w);
  unsigned char rnd[16];
  if (RAND_bytes (rnd, sizeof rnd) != 1)
    fk_oom (0);
  for (int i = 0; i < 16; i++)
    snprintf (w->id + 2 * i, 3, "%02x", rnd[i]);
  w->sandbox_id = xstrdup (f->t.id);
  w->srv = r->srv;
  w->c = c;
  w->w = fw;
  w->refs = 2; /* the registry and the pump */
  pthread_mutex_init (&w->lock, NULL);
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 256u << 10);
  pthread_t th;
  if (pthread_create (&th, &attr, watcher_pump, w) != 0)
    {
      pthread_attr_destroy (&attr);
      fkd_jobs_leave (r->srv);
      fk_watch_free (fw);
      fk_client_close (c);
      pthread_mutex_destroy (&w->lock);
      free (w->sandbox_id);
      free (w);
      fkd_envd_connect_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "cannot start the watcher");
      return;
    }
  pthread_attr_destroy (&attr);
  pthread_mutex_lock (&watchers_lock);
  w->next = watchers;
  watchers = w;
  pthread_mutex_unlock (&watchers_lock);
  fkd_envd_connect_reply (r, json_pack ("{s:s}", "watcherId", w->id));
}

/* The sandbox and its token, for the calls that name a watcher (a watcher is found only by the
   sandbox it was made in). */
static int
check_sandbox (fkd_req_t *r, const fkd_target_t *t)
{
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, t, &c) < 0)
    return -1;
  fk_client_close (c);
  return 0;
}

static void
get_events_job (fkd_req_t *r, void *data)
{
  watcher_call_t *f = data;
  if (check_sandbox (r, &f->t) < 0)
    return;
  watcher_t *w = watcher_find (f->t.id, f->q->watcher_id, 0);
  if (w == NULL)
    {
      fkd_envd_connect_error (r, MHD_HTTP_NOT_FOUND, "not_found", "no such watcher");
      return;
    }
  json_t *arr = json_array ();
  pthread_mutex_lock (&w->lock);
  size_t n = w->n;
  for (size_t i = 0; i < n; i++)
    {
      for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (w->ev[i].kind & kinds[k].bit)
          {
            json_t *ev = fs_event (w->ev[i].name, kinds[k].name);
            if (ev)
              json_array_append_new (arr, ev);
          }
      free (w->ev[i].name);
    }
  w->n = 0;
  uint64_t lost = w->lost;
  int done = w->done, dir_gone = w->dir_gone;
  cleanup_free char *fail = w->fail ? xstrdup (w->fail) : NULL;
  pthread_mutex_unlock (&w->lock);
  /* What was kept goes out first; the failure once nothing is left, and it ends the watcher. */
  char msg[256];
  const char *code = NULL;
  if (n == 0 && lost)
    {
      snprintf (msg, sizeof msg,
                "the watcher lost at least %llu events: the sandbox changed files faster than "
                "they were fetched; the watcher is removed",
                (unsigned long long)lost);
      code = "resource_exhausted";
    }
  else if (n == 0 && done && !dir_gone)
    {
      snprintf (msg, sizeof msg, "the watcher ended: %s", fail ? fail : "fkd is shutting down");
      code = "internal";
    }
  if (code)
    {
      json_decref (arr);
      watcher_unref (w);
      watcher_t *gone = watcher_find (f->t.id, f->q->watcher_id, 1);
      if (gone)
        watcher_remove (gone);
      fkd_envd_connect_error (r, status_of (code), code, msg);
      return;
    }
  watcher_unref (w);
  fkd_envd_connect_reply (r, json_pack ("{s:o}", "events", arr));
}

static void
remove_watcher_job (fkd_req_t *r, void *data)
{
  watcher_call_t *f = data;
  if (check_sandbox (r, &f->t) < 0)
    return;
  watcher_t *w = watcher_find (f->t.id, f->q->watcher_id, 1);
  if (w == NULL)
    {
      fkd_envd_connect_error (r, MHD_HTTP_NOT_FOUND, "not_found", "no such watcher");
      return;
    }
  watcher_remove (w);
  fkd_envd_connect_reply (r, json_object ());
}

int
fkd_envd_watch_route (fkd_req_t *r, fkd_target_t *t, const char *method)
{
  if (strcmp (method, "WatchDir") == 0)
    return route_watchdir (r, t);
  fkd_fs_kind_t kind;
  fkd_job_fn fn;
  if (strcmp (method, "CreateWatcher") == 0)
    kind = FKD_FS_WATCH, fn = create_watcher_job;
  else if (strcmp (method, "GetWatcherEvents") == 0)
    kind = FKD_FS_WATCHER, fn = get_events_job;
  else if (strcmp (method, "RemoveWatcher") == 0)
    kind = FKD_FS_WATCHER, fn = remove_watcher_job;
  else
    return -1;
  if (fkd_envd_json_body (r, "filesystem.Filesystem") < 0)
    {
      fkd_target_clear (t);
      return 0;
    }
  fk_error_t err = FK_ERROR_INIT;
  fkd_fs_req_t *q = NULL;
  if (fkd_fs_req_parse (kind, r->body ? r->body : "", r->len, &q, &err) < 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument", fk_error_message (&err));
      fk_error_clear (&err);
      return 0;
    }
  watcher_call_t *f = xcalloc (1, sizeof *f);
  f->t = *t;
  f->q = q;
  fkd_run_job (r, fn, f, watcher_call_free);
  return 0;
}
