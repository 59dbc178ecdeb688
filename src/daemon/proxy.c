/* daemon/proxy.c: the port proxy: an HTTP request on envd's listener whose Host is
   `{port}-{id}.{domain}' (a port other than envd's) goes to that TCP port inside the sandbox.

   A request: a job thread resolves the sandbox and makes a port connect (the agent connects
   inside and hands the socket over: any data plane, `none' included), writes the request head
   (hop-by-hop headers dropped, `Connection: close' or the client's upgrade), and hands the
   upstream socket to one event-loop thread that serves every proxied connection. The body
   streams through bounded buffers both ways: MHD's connection is suspended while a buffer is
   full or empty and resumed by the loop. A `101 Switching Protocols' answer to an upgrade
   (a WebSocket) is passed to the client and then the connection is a raw byte relay, in the
   same loop. No thread per connection, no whole-body buffering. What the server inside
   answers is hostile: its head is parsed with bounds (proxyhttp.c) and its failures are a 502
   or a cut connection, never more. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/proxy.h"
#include "daemon/proxyhttp.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"

/* Each direction holds at most this much before it stops reading its source. */
#define PROXY_BUF (256u * 1024u)
/* Proxied connections at once (more: 503). */
#define PROXY_MAX 2048
/* How often the loop looks at the clients of suspended connections (MHD does not watch a
   suspended connection, so a client that goes away would not be noticed) and at shutdown. */
#define TICK_MS 250

typedef enum
{
  W_UP = 1, /* the upstream socket */
  W_CLIENT, /* the client's socket, once upgraded */
} wkind_t;

typedef struct watch
{
  struct proxy *p;
  wkind_t kind;
  uint32_t events; /* registered with epoll; 0: not registered */
} watch_t;

typedef struct buf
{
  char *data;
  size_t len, off, cap;
} buf_t;

typedef struct proxy
{
  pthread_mutex_t lock;
  int refs;
  fkd_server_t *srv;
  struct MHD_Connection *conn;
  int client_fd; /* MHD's socket for conn (not ours: looked at, never closed) */
  char *id;
  unsigned port;
  char *method;
  int client_upgrade; /* the request asked for an upgrade */

  int up; /* the upstream socket, -1 until the job connected it */
  watch_t wup, wclient;
  int in_loop, in_dirty, retired;
  struct proxy *dirty_next, *all_next, **all_pprev;

  /* client -> upstream: the request head, then its body (re-chunked when it came chunked) */
  buf_t out;
  int req_chunked, req_done;
  int up_wr_shut;

  /* upstream -> client: the raw head, then the decoded body */
  buf_t raw;
  fkd_http_head_t head;
  int head_ready;
  buf_t body;
  int64_t body_left; /* Content-Length left, -1: chunked or to the close */
  int body_chunked;
  fkd_chunked_t chunk;
  int body_done;
  int up_eof;

  int failed; /* upstream failed before the head: the reply is a 502 with fail_msg */
  char *fail_msg;
  int broken; /* upstream failed in the body: the response ends with an error */
  int client_gone;
  int suspended; /* MHD's connection is suspended by this proxy */
  int req_gone, resp_gone;
  int resp_made; /* a response reads the body (resp_gone once MHD drops it) */

  /* upgraded: a raw relay between client and upstream */
  int relay;
  int usock;
  struct MHD_UpgradeResponseHandle *urh;
  int client_eof, client_wr_shut;
} proxy_t;

static struct
{
  pthread_mutex_t lock; /* the lists and the counters */
  pthread_cond_t idle;
  int epfd, evfd;
  pthread_t thread;
  int started, stopping;
  proxy_t *dirty;
  proxy_t *all;
  unsigned live;
} L = {
  .lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER, .epfd = -1, .evfd = -1
};

static void
buf_free (buf_t *b)
{
  free (b->data);
  memset (b, 0, sizeof *b);
}

static size_t
buf_used (const buf_t *b)
{
  return b->len - b->off;
}

/* Room for n more bytes at the end (what is consumed is moved out of the way first). */
static void
buf_reserve (buf_t *b, size_t n)
{
  if (b->off && b->off == b->len)
    b->off = b->len = 0;
  if (b->cap - b->len >= n)
    return;
  if (b->off)
    {
      memmove (b->data, b->data + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
      if (b->cap - b->len >= n)
        return;
    }
  size_t want = b->len + n;
  b->data = xrealloc (b->data, want);
  b->cap = want;
}

static void
buf_put (buf_t *b, const void *data, size_t n)
{
  buf_reserve (b, n);
  memcpy (b->data + b->len, data, n);
  b->len += n;
}

static void
proxy_unref (proxy_t *p)
{
  pthread_mutex_lock (&p->lock);
  int last = --p->refs == 0;
  pthread_mutex_unlock (&p->lock);
  if (!last)
    return;
  pthread_mutex_lock (&L.lock);
  if (p->all_pprev)
    {
      *p->all_pprev = p->all_next;
      if (p->all_next)
        p->all_next->all_pprev = p->all_pprev;
    }
  if (--L.live == 0)
    pthread_cond_broadcast (&L.idle);
  pthread_mutex_unlock (&L.lock);
  if (p->up >= 0)
    close (p->up);
  buf_free (&p->out);
  buf_free (&p->raw);
  buf_free (&p->body);
  fkd_http_head_clear (&p->head);
  free (p->fail_msg);
  free (p->id);
  free (p->method);
  pthread_mutex_destroy (&p->lock);
  free (p);
}

static void
wake (void)
{
  uint64_t one = 1;
  if (L.evfd >= 0)
    (void)!write (L.evfd, &one, sizeof one);
}

/* Asks the loop to look at p (its buffers or flags changed). Under p->lock or not. */
static void
mark_dirty (proxy_t *p)
{
  pthread_mutex_lock (&L.lock);
  if (p->in_loop && !p->in_dirty && !p->retired)
    {
      p->in_dirty = 1;
      p->dirty_next = L.dirty;
      L.dirty = p;
    }
  pthread_mutex_unlock (&L.lock);
  wake ();
}

/* Under p->lock: resumes MHD's connection when this proxy suspended it. */
static void
resume (proxy_t *p)
{
  if (p->suspended)
    {
      p->suspended = 0;
      MHD_resume_connection (p->conn);
    }
}

static void
set_watch (proxy_t *p, watch_t *w, int fd, uint32_t events)
{
  if (fd < 0 || w->events == events)
    return;
  struct epoll_event ev = { .events = events, .data.ptr = w };
  int op = w->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl (L.epfd, op, fd, &ev) < 0)
    log_warning_errno (errno, "proxy: epoll_ctl");
  w->events = events;
}

/* Under p->lock: upstream failed before its answer. */
static void fail_head (proxy_t *p, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
fail_head (proxy_t *p, const char *fmt, ...)
{
  if (p->failed)
    return;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&p->fail_msg, fmt, ap) < 0)
    fk_oom (0);
  va_end (ap);
  p->failed = 1;
  resume (p);
}

/* Under p->lock: decodes what raw holds of the body into body. */
static void
take_body (proxy_t *p)
{
  size_t n = buf_used (&p->raw);
  if (n == 0 || p->body_done)
    return;
  char *src = p->raw.data + p->raw.off;
  if (p->body_chunked)
    {
      int done;
      size_t rest;
      long k = fkd_chunked_decode (&p->chunk, src, n, &done, &rest);
      if (k < 0)
        {
          p->broken = 1;
          p->raw.off = p->raw.len = 0;
          return;
        }
      buf_put (&p->body, src, (size_t)k);
      if (done)
        p->body_done = 1;
    }
  else
    {
      size_t k = n;
      if (p->body_left >= 0 && (uint64_t)p->body_left < k)
        k = (size_t)p->body_left;
      buf_put (&p->body, src, k);
      if (p->body_left >= 0)
        {
          p->body_left -= (int64_t)k;
          if (p->body_left == 0)
            p->body_done = 1;
        }
    }
  /* Bytes past the end of the body (a server that lies about its length) are dropped. */
  p->raw.off = p->raw.len = 0;
}

/* Under p->lock: a head arrived in raw. */
static void
take_head (proxy_t *p)
{
  for (;;)
    {
      fkd_http_head_t h;
      long n = fkd_http_head_parse (p->raw.data + p->raw.off, buf_used (&p->raw), &h);
      if (n == 0)
        {
          if (p->up_eof)
            fail_head (p,
                       "the server on port %u of sandbox %s closed the connection without "
                       "an answer",
                       p->port, p->id);
          return;
        }
      if (n < 0)
        {
          fail_head (p, "the server on port %u of sandbox %s sent an answer that is not HTTP",
                     p->port, p->id);
          return;
        }
      p->raw.off += (size_t)n;
      /* 1xx other than 101: informational, not passed on. */
      if (h.status >= 100 && h.status < 200 && h.status != 101)
        {
          fkd_http_head_clear (&h);
          continue;
        }
      p->head = h;
      p->head_ready = 1;
      break;
    }
  int no_body = strcmp (p->method, "HEAD") == 0 || p->head.status == 204 || p->head.status == 304
                || p->head.status == 101;
  if (p->head.status == 101)
    {
      /* What follows the 101 is the upgraded stream's first bytes, kept in raw. */
      resume (p);
      return;
    }
  p->body_chunked = !no_body && p->head.chunked;
  p->body_left = no_body ? 0 : p->head.chunked ? -1 : p->head.length;
  if (no_body || p->body_left == 0)
    p->body_done = 1;
  take_body (p);
  resume (p);
}

/* Sends out to fd; -1 when the peer is gone. */
static int
flush_to (int fd, buf_t *b)
{
  while (buf_used (b))
    {
      ssize_t n = send (fd, b->data + b->off, buf_used (b), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return 0;
      if (n < 0)
        return -1;
      b->off += (size_t)n;
    }
  b->off = b->len = 0;
  return 0;
}

/* Reads from fd into b (up to PROXY_BUF held): 1 read something, 0 nothing now, -1 EOF or
   error. */
static int
fill_from (int fd, buf_t *b)
{
  if (buf_used (b) >= PROXY_BUF)
    return 0;
  size_t room = PROXY_BUF - buf_used (b);
  buf_reserve (b, room);
  ssize_t n = recv (fd, b->data + b->len, room, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 0;
  if (n <= 0)
    return -1;
  b->len += (size_t)n;
  return 1;
}

/* Under p->lock: the relay is over: the client's socket goes back to MHD to close. */
static void
relay_close (proxy_t *p)
{
  set_watch (p, &p->wclient, p->usock, 0);
  set_watch (p, &p->wup, p->up, 0);
  if (p->urh)
    MHD_upgrade_action (p->urh, MHD_UPGRADE_ACTION_CLOSE);
  p->urh = NULL;
  p->usock = -1;
  p->relay = 0;
  p->resp_gone = 1;
}

/* Under p->lock: one turn of the raw relay after an upgrade. */
static void
relay_step (proxy_t *p)
{
  int bad = 0;
  /* client -> upstream */
  if (flush_to (p->up, &p->out) < 0)
    bad = 1;
  if (!bad && !p->client_eof && buf_used (&p->out) < PROXY_BUF)
    {
      int r = fill_from (p->usock, &p->out);
      if (r < 0)
        p->client_eof = 1;
      if (r > 0 && flush_to (p->up, &p->out) < 0)
        bad = 1;
    }
  if (!bad && p->client_eof && !buf_used (&p->out) && !p->up_wr_shut)
    {
      shutdown (p->up, SHUT_WR);
      p->up_wr_shut = 1;
    }
  /* upstream -> client: what came after the 101 is in raw */
  if (!bad && flush_to (p->usock, &p->raw) < 0)
    bad = 1;
  if (!bad && !p->up_eof && buf_used (&p->raw) < PROXY_BUF)
    {
      int r = fill_from (p->up, &p->raw);
      if (r < 0)
        p->up_eof = 1;
      if (r > 0 && flush_to (p->usock, &p->raw) < 0)
        bad = 1;
    }
  if (!bad && p->up_eof && !buf_used (&p->raw) && !p->client_wr_shut)
    {
      shutdown (p->usock, SHUT_WR);
      p->client_wr_shut = 1;
    }
  if (bad || (p->up_wr_shut && p->client_wr_shut)
      || __atomic_load_n (&L.stopping, __ATOMIC_ACQUIRE))
    {
      relay_close (p);
      return;
    }
  uint32_t ue = 0, ce = 0;
  if (buf_used (&p->out))
    ue |= EPOLLOUT;
  if (!p->up_eof && buf_used (&p->raw) < PROXY_BUF)
    ue |= EPOLLIN | EPOLLRDHUP;
  if (buf_used (&p->raw))
    ce |= EPOLLOUT;
  if (!p->client_eof && buf_used (&p->out) < PROXY_BUF)
    ce |= EPOLLIN | EPOLLRDHUP;
  set_watch (p, &p->wup, p->up, ue);
  set_watch (p, &p->wclient, p->usock, ce);
}

/* Under p->lock: one turn of an HTTP exchange (before any upgrade). */
static void
http_step (proxy_t *p)
{
  if (p->failed || p->broken)
    {
      set_watch (p, &p->wup, p->up, 0);
      return;
    }
  /* request -> upstream */
  size_t before = buf_used (&p->out);
  if (before && flush_to (p->up, &p->out) < 0)
    {
      /* A server may answer and close without reading all of a request: read its answer. */
      p->out.off = p->out.len = 0;
      p->req_done = 1;
    }
  if (buf_used (&p->out) < before && !p->req_done)
    resume (p); /* the handler may wait for room for the body */
  /* upstream -> the response */
  if (!p->up_eof && (!p->head_ready || (!p->body_done && buf_used (&p->body) < PROXY_BUF)))
    {
      if (!p->head_ready && buf_used (&p->raw) >= FKD_PROXY_HEAD_MAX)
        {
          fail_head (p, "the server on port %u of sandbox %s sent a head over %u bytes", p->port,
                     p->id, FKD_PROXY_HEAD_MAX);
          return;
        }
      int r = fill_from (p->up, &p->raw);
      if (r < 0)
        p->up_eof = 1;
      if (r != 0)
        {
          if (!p->head_ready)
            take_head (p);
          else if (p->head.status != 101)
            {
              size_t had = buf_used (&p->body);
              take_body (p);
              if (buf_used (&p->body) != had || p->body_done)
                resume (p);
            }
        }
      if (p->up_eof && p->head_ready && !p->body_done && p->head.status != 101)
        {
          /* To the close: that is the end. Else the body was cut short. */
          if (p->body_left < 0 && !p->body_chunked)
            p->body_done = 1;
          else
            p->broken = 1;
          resume (p);
        }
    }
  uint32_t ev = 0;
  if (buf_used (&p->out))
    ev |= EPOLLOUT;
  if (!p->up_eof && !p->failed && !p->broken
      && (!p->head_ready
          || (p->head.status != 101 && !p->body_done && buf_used (&p->body) < PROXY_BUF)))
    ev |= EPOLLIN | EPOLLRDHUP;
  set_watch (p, &p->wup, p->up, ev);
}

/* Under p->lock: is the proxy done with? (the request and its response are gone, no relay) */
static int
finished (proxy_t *p)
{
  return p->req_gone && !p->relay && (p->resp_gone || !p->resp_made);
}

/* The loop's turn on p. */
static void
step (proxy_t *p)
{
  pthread_mutex_lock (&p->lock);
  if (p->retired)
    {
      pthread_mutex_unlock (&p->lock);
      return;
    }
  if (p->relay)
    relay_step (p);
  else
    http_step (p);
  int done = finished (p);
  if (done)
    {
      set_watch (p, &p->wup, p->up, 0);
      p->retired = 1;
    }
  pthread_mutex_unlock (&p->lock);
  if (done)
    {
      pthread_mutex_lock (&L.lock);
      p->in_loop = 0;
      pthread_mutex_unlock (&L.lock);
      proxy_unref (p); /* the loop's */
    }
}

/* A client gone while its connection is suspended (MHD does not watch it then): looked at
   on each tick, as envd's streams do. */
static void
check_clients (void)
{
  int stopping = __atomic_load_n (&L.stopping, __ATOMIC_ACQUIRE);
  pthread_mutex_lock (&L.lock);
  for (proxy_t *p = L.all; p; p = p->all_next)
    {
      if (pthread_mutex_trylock (&p->lock) != 0)
        continue;
      if (p->suspended && p->client_fd >= 0)
        {
          struct pollfd pfd = { .fd = p->client_fd, .events = POLLRDHUP };
          if (stopping
              || (poll (&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))))
            {
              p->client_gone = 1;
              resume (p);
            }
        }
      if (stopping && p->relay && !p->in_dirty && p->in_loop && !p->retired)
        {
          p->in_dirty = 1;
          p->dirty_next = L.dirty;
          L.dirty = p;
        }
      pthread_mutex_unlock (&p->lock);
    }
  pthread_mutex_unlock (&L.lock);
}

static void *
loop_main (void *arg)
{
  struct epoll_event evs[64];
  struct timespec last;
  clock_gettime (CLOCK_MONOTONIC, &last);
  for (;;)
    {
      int n = epoll_wait (L.epfd, evs, 64, TICK_MS);
      for (int i = 0; i < n; i++)
        {
          if (evs[i].data.ptr == NULL)
            {
              uint64_t v;
              (void)!read (L.evfd, &v, sizeof v);
              continue;
            }
          watch_t *w = evs[i].data.ptr;
          /* Events for p come only while the loop holds its ref (watches go before retiring). */
          step (w->p);
        }
      pthread_mutex_lock (&L.lock);
      proxy_t *d = L.dirty;
      L.dirty = NULL;
      for (proxy_t *p = d; p; p = p->dirty_next)
        p->in_dirty = 0;
      pthread_mutex_unlock (&L.lock);
      while (d)
        {
          proxy_t *next = d->dirty_next;
          step (d);
          d = next;
        }
      struct timespec now;
      clock_gettime (CLOCK_MONOTONIC, &now);
      if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >= TICK_MS)
        {
          last = now;
          check_clients ();
        }
    }
  return NULL;
}

static int
loop_start (void)
{
  pthread_mutex_lock (&L.lock);
  int ok = L.started;
  if (!ok)
    {
      L.epfd = epoll_create1 (EPOLL_CLOEXEC);
      L.evfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
      if (L.epfd >= 0 && L.evfd >= 0 && epoll_ctl (L.epfd, EPOLL_CTL_ADD, L.evfd, &ev) == 0
          && pthread_create (&L.thread, NULL, loop_main, NULL) == 0)
        ok = L.started = 1;
      else
        log_error_errno (errno, "proxy: start the event loop");
    }
  pthread_mutex_unlock (&L.lock);
  return ok ? 0 : -1;
}

/* ---- the request side (MHD's thread and a job) ---- */

static enum MHD_Result
add_header (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  buf_t *b = cls;
  if (fkd_http_hop_header (key) || strcasecmp (key, "Expect") == 0 || value == NULL)
    return MHD_YES;
  buf_put (b, key, strlen (key));
  buf_put (b, ": ", 2);
  buf_put (b, value, strlen (value));
  buf_put (b, "\r\n", 2);
  return MHD_YES;
}

/* The port connect, on a thread of its own counted as a job (it waits for the agent) while
   MHD goes on taking the request's body into p->out: the loop sends it once connected. */
static void *
connect_main (void *arg)
{
  proxy_t *p = arg;
  fkd_server_t *srv = p->srv;
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *sb = NULL;
  fk_sandbox_info_t *info = NULL;
  int fd = -1;
  cleanup_free char *msg = NULL;
  if (fk_sandbox_open (srv->rt, p->id, &sb, &err) < 0 || fk_sandbox_inspect (sb, &info, &err) < 0)
    msg = err.code == ENOENT ? xasprintf ("sandbox %s not found", p->id)
                             : xasprintf ("sandbox %s: %s", p->id, fk_error_message (&err));
  else if (info->status != FK_SANDBOX_RUNNING || info->socket_path == NULL)
    msg = xasprintf ("sandbox %s is %s", p->id, fk_sandbox_status_name (info->status));
  else if (fk_client_port_connect (info->socket_path, p->port, AF_UNSPEC, &fd, &err) < 0)
    msg = xasprintf ("%s: %s",
                     err.code == ECONNREFUSED ? "the sandbox is running but port is not open"
                                              : "cannot reach the port",
                     fk_error_message (&err));
  fk_error_clear (&err);
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  pthread_mutex_lock (&p->lock);
  if (msg)
    fail_head (p, "%s", msg);
  else
    {
      int fl = fcntl (fd, F_GETFL);
      fcntl (fd, F_SETFL, fl | O_NONBLOCK);
      p->up = fd;
      p->refs++; /* the loop's */
    }
  pthread_mutex_unlock (&p->lock);
  if (msg == NULL)
    {
      pthread_mutex_lock (&L.lock);
      p->in_loop = 1;
      pthread_mutex_unlock (&L.lock);
      mark_dirty (p);
    }
  proxy_unref (p); /* this thread's */
  fkd_jobs_leave (srv);
  return NULL;
}

int
fkd_proxy_begin (fkd_req_t *r, const char *method, const char *raw_uri, unsigned port, char *id)
{
  if (loop_start () < 0)
    {
      free (id);
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "the port proxy is not running");
      return -1;
    }
  pthread_mutex_lock (&L.lock);
  int full = L.live >= PROXY_MAX;
  pthread_mutex_unlock (&L.lock);
  if (full)
    {
      free (id);
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "too many proxied connections at once");
      return -1;
    }
  proxy_t *p = xcalloc (1, sizeof *p);
  pthread_mutex_init (&p->lock, NULL);
  p->refs = 1; /* the request's */
  p->srv = r->srv;
  p->conn = r->conn;
  p->id = id;
  p->port = port;
  p->method = xstrdup (method);
  p->up = -1;
  p->usock = -1;
  p->body_left = -1;
  p->wup = (watch_t){ .p = p, .kind = W_UP };
  p->wclient = (watch_t){ .p = p, .kind = W_CLIENT };
  const union MHD_ConnectionInfo *ci
      = MHD_get_connection_info (r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  p->client_fd = ci ? ci->connect_fd : -1;

  /* The head the server inside gets: the client's, hop-by-hop headers dropped. */
  const char *conn_h = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Connection");
  const char *upg = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Upgrade");
  p->client_upgrade = conn_h && upg && fkd_http_list_has (conn_h, "upgrade");
  const char *cl = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Length");
  const char *te = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Transfer-Encoding");
  buf_t *b = &p->out;
  buf_put (b, method, strlen (method));
  buf_put (b, " ", 1);
  buf_put (b, raw_uri, strlen (raw_uri));
  buf_put (b, " HTTP/1.1\r\n", 11);
  MHD_get_connection_values (r->conn, MHD_HEADER_KIND, add_header, b);
  if (p->client_upgrade)
    {
      buf_put (b, "Connection: Upgrade\r\nUpgrade: ", 30);
      buf_put (b, upg, strlen (upg));
      buf_put (b, "\r\n", 2);
    }
  else
    buf_put (b, "Connection: close\r\n", 19);
  if (te && strcasecmp (te, "identity") != 0)
    {
      /* MHD hands over the body de-chunked: it goes on chunked again. */
      p->req_chunked = 1;
      buf_put (b, "Transfer-Encoding: chunked\r\n", 28);
    }
  else if (cl)
    {
      char line[64];
      int n = snprintf (line, sizeof line, "Content-Length: %llu\r\n", strtoull (cl, NULL, 10));
      buf_put (b, line, (size_t)n);
    }
  buf_put (b, "\r\n", 2);

  pthread_mutex_lock (&L.lock);
  L.live++;
  p->all_next = L.all;
  if (L.all)
    L.all->all_pprev = &p->all_next;
  p->all_pprev = &L.all;
  L.all = p;
  pthread_mutex_unlock (&L.lock);
  r->proxy = p;
  if (fkd_jobs_enter (r->srv) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE,
                       fkd_stopping (r->srv) ? "fkd is shutting down"
                                             : "too many requests at once");
      return -1;
    }
  p->refs++; /* the connecting thread's */
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, 512u << 10);
  pthread_t t;
  int rc = pthread_create (&t, &attr, connect_main, p);
  pthread_attr_destroy (&attr);
  if (rc != 0)
    {
      p->refs--;
      fkd_jobs_leave (r->srv);
      fkd_reply_error (r, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot start a thread");
      return -1;
    }
  return 0;
}

/* ---- the response ---- */

static ssize_t
body_read (void *cls, uint64_t pos, char *out, size_t max)
{
  proxy_t *p = cls;
  ssize_t n;
  pthread_mutex_lock (&p->lock);
  if (buf_used (&p->body))
    {
      size_t k = buf_used (&p->body) < max ? buf_used (&p->body) : max;
      int was_full = buf_used (&p->body) >= PROXY_BUF;
      memcpy (out, p->body.data + p->body.off, k);
      p->body.off += k;
      n = (ssize_t)k;
      if (was_full && buf_used (&p->body) < PROXY_BUF)
        {
          pthread_mutex_unlock (&p->lock);
          mark_dirty (p); /* room again: read upstream */
          return n;
        }
    }
  else if (p->body_done)
    n = MHD_CONTENT_READER_END_OF_STREAM;
  else if (p->broken || p->client_gone || __atomic_load_n (&L.stopping, __ATOMIC_ACQUIRE))
    n = MHD_CONTENT_READER_END_WITH_ERROR;
  else
    {
      p->suspended = 1;
      MHD_suspend_connection (p->conn);
      n = 0;
    }
  pthread_mutex_unlock (&p->lock);
  return n;
}

static void
body_release (void *cls)
{
  proxy_t *p = cls;
  pthread_mutex_lock (&p->lock);
  p->resp_gone = 1;
  pthread_mutex_unlock (&p->lock);
  mark_dirty (p);
  proxy_unref (p);
}

static void
upgraded (void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
          size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
  proxy_t *p = cls;
  pthread_mutex_lock (&p->lock);
  p->relay = 1;
  p->usock = sock;
  p->urh = urh;
  p->out.off = p->out.len = 0;
  if (extra_in_size)
    buf_put (&p->out, extra_in, extra_in_size);
  pthread_mutex_unlock (&p->lock);
  mark_dirty (p);
}

/* Under p->lock: the response to queue from the head the server inside sent. */
static struct MHD_Response *
make_response (proxy_t *p, unsigned *ret_status)
{
  struct MHD_Response *resp;
  if (p->head.status == 101)
    {
      /* The relay runs on the loop's ref: the loop keeps p until the relay is over. */
      resp = MHD_create_response_for_upgrade (upgraded, p);
      if (resp)
        {
          const char *upg = NULL;
          for (size_t i = 0; i < p->head.n_headers; i++)
            if (strcasecmp (p->head.headers[i].name, "Upgrade") == 0)
              upg = p->head.headers[i].value;
          MHD_add_response_header (resp, "Upgrade", upg ? upg : "websocket");
        }
    }
  else if (p->body_done && buf_used (&p->body) == 0 && p->head.length <= 0)
    resp = MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT);
  else
    {
      uint64_t size
          = p->head.length >= 0 && !p->head.chunked ? (uint64_t)p->head.length : MHD_SIZE_UNKNOWN;
      resp = MHD_create_response_from_callback (size, 64 * 1024, body_read, p, body_release);
      if (resp)
        {
          p->refs++; /* the response's */
          p->resp_made = 1;
        }
    }
  if (resp == NULL)
    fk_oom (0);
  for (size_t i = 0; i < p->head.n_headers; i++)
    if (!fkd_http_hop_header (p->head.headers[i].name))
      MHD_add_response_header (resp, p->head.headers[i].name, p->head.headers[i].value);
  *ret_status = p->head.status;
  return resp;
}

enum MHD_Result
fkd_proxy_handle (fkd_req_t *r, const char *upload_data, size_t *upload_data_size)
{
  proxy_t *p = r->proxy;
  if (r->state == FKD_REQ_DONE)
    {
      /* Replied already (a 502): the rest of the body is dropped. */
      *upload_data_size = 0;
      return fkd_queue (r);
    }
  pthread_mutex_lock (&p->lock);
  if (p->client_gone)
    {
      pthread_mutex_unlock (&p->lock);
      return MHD_NO;
    }
  if (*upload_data_size)
    {
      size_t n = *upload_data_size;
      if (p->failed)
        {
          /* The answer is a 502: the rest of the body is not needed. */
          *upload_data_size = 0;
          pthread_mutex_unlock (&p->lock);
          return MHD_YES;
        }
      size_t room = buf_used (&p->out) < PROXY_BUF ? PROXY_BUF - buf_used (&p->out) : 0;
      size_t take = n < room ? n : room;
      if (p->req_chunked && take)
        {
          char line[32];
          int k = snprintf (line, sizeof line, "%zx\r\n", take);
          buf_put (&p->out, line, (size_t)k);
        }
      buf_put (&p->out, upload_data, take);
      if (p->req_chunked && take)
        buf_put (&p->out, "\r\n", 2);
      *upload_data_size = n - take;
      if (take < n)
        {
          p->suspended = 1;
          MHD_suspend_connection (p->conn);
        }
      pthread_mutex_unlock (&p->lock);
      mark_dirty (p);
      return MHD_YES;
    }
  if (!p->req_done)
    {
      p->req_done = 1;
      if (p->req_chunked)
        buf_put (&p->out, "0\r\n\r\n", 5);
      mark_dirty (p);
    }
  if (p->failed)
    {
      cleanup_free char *msg = xstrdup (p->fail_msg);
      pthread_mutex_unlock (&p->lock);
      fkd_reply_json (r, MHD_HTTP_BAD_GATEWAY,
                      json_pack ("{s:i, s:s, s:s, s:i}", "code", MHD_HTTP_BAD_GATEWAY, "message",
                                 msg, "sandboxId", p->id, "port", (int)p->port));
      return fkd_queue (r);
    }
  if (!p->head_ready)
    {
      p->suspended = 1;
      MHD_suspend_connection (p->conn);
      pthread_mutex_unlock (&p->lock);
      return MHD_YES;
    }
  if (p->head.status == 101 && !p->client_upgrade)
    {
      pthread_mutex_unlock (&p->lock);
      fkd_reply_error (r, MHD_HTTP_BAD_GATEWAY,
                       "the server on port %u switched protocols without being asked", p->port);
      return fkd_queue (r);
    }
  unsigned status;
  struct MHD_Response *resp = make_response (p, &status);
  pthread_mutex_unlock (&p->lock);
  fkd_reply (r, status, resp);
  return fkd_queue (r);
}

void
fkd_proxy_release (fkd_req_t *r)
{
  proxy_t *p = r->proxy;
  if (p == NULL)
    return;
  r->proxy = NULL;
  pthread_mutex_lock (&p->lock);
  p->req_gone = 1;
  p->client_gone = 1;
  pthread_mutex_unlock (&p->lock);
  mark_dirty (p);
  proxy_unref (p);
}

int
fkd_proxy_stop (unsigned wait_ms)
{
  __atomic_store_n (&L.stopping, 1, __ATOMIC_RELEASE);
  if (!L.started)
    return 0;
  pthread_mutex_lock (&L.lock);
  for (proxy_t *p = L.all; p; p = p->all_next)
    if (p->in_loop && !p->in_dirty && !p->retired)
      {
        p->in_dirty = 1;
        p->dirty_next = L.dirty;
        L.dirty = p;
      }
  pthread_mutex_unlock (&L.lock);
  wake ();
  struct timespec deadline;
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += wait_ms / 1000;
  deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L)
    {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  pthread_mutex_lock (&L.lock);
  while (L.live > 0)
    if (pthread_cond_timedwait (&L.idle, &L.lock, &deadline) == ETIMEDOUT)
      break;
  unsigned left = L.live;
  pthread_mutex_unlock (&L.lock);
  return left ? -1 : 0;
}

int
fkd_proxy_match (fkd_req_t *r, unsigned *ret_port, char **ret_id)
{
  const char *host = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Host");
  return fkd_proxy_host_parse (host, r->srv->domain, ret_port, ret_id);
}
