/* client/conn.c: see conn.h. */
#include "client/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "client/reply.h"
#include "wire/frame.h"

#define RBUF_CHUNK (256u * 1024u)

/* A wait this much shorter than the socket's receive timeout still waits in recv (it may then
   end this much late). */
#define RECV_SLACK_MS 100

struct fk_creq
{
  fk_creq_t *next;
  uint32_t id;
  fk_cframe_t *head, *tail;
  size_t queued; /* bytes held by the queue */
  int ended;     /* the agent sent the frame that ends the request */
  int fail_code; /* the request failed (a frame after its end, too much queued): its error */
  char *fail_msg;
  /* Its own condition: a frame wakes only the thread waiting for it (with many threads on one
     connection, a shared one would wake them all for every frame). */
  pthread_cond_t cond;
  int waiting;
};

struct fk_client
{
  int fd;
  int blocking;    /* fd is in blocking mode: a long wait is one recv, no poll */
  int deadline_ms; /* the connection's deadline, -1: none */
  int rcvtimeo_ms; /* the socket's SO_RCVTIMEO (the deadline), 0: none */
  pid_t agent_pid;
  pthread_mutex_t lock; /* requests, queues, reader role, failure */
  pthread_cond_t cond;
  pthread_mutex_t wlock; /* the socket's write side */
  int reading;
  int failed;
  int fail_code;
  char *fail_msg;
  int hello_done;
  uint32_t next_id;
  int ids_wrapped; /* every id has been given out once */
  fk_creq_t *reqs;
  uint8_t *rbuf; /* the reader's buffer; only the reader touches it */
  size_t rlen, rcap;
  char *file_user; /* fk_client_set_file_user */
};

const char *
fk_client_fmt_secs (char *buf, size_t len, int64_t ms)
{
  if (ms % 1000 == 0)
    snprintf (buf, len, "%lld s", (long long)(ms / 1000));
  else
    snprintf (buf, len, "%.3g s", (double)ms / 1000.0);
  return buf;
}

int
fk_client_timeout_error (fk_error_t *err, const char *what, int64_t timeout_ms)
{
  char secs[32];
  return fk_error_set (err, ETIMEDOUT, "the agent did not answer %s within %s", what,
                       fk_client_fmt_secs (secs, sizeof secs, timeout_ms));
}

/* The socket's receive timeout follows the deadline, so a wait as long as the deadline (or
   longer) is one blocking recv, as without a deadline: no poll on the fast path. */
static void
apply_deadline (fk_client_t *c, int deadline_ms)
{
  c->deadline_ms = deadline_ms == 0 ? FK_CLIENT_DEADLINE_MS : deadline_ms < 0 ? -1 : deadline_ms;
  int want = c->deadline_ms > 0 ? c->deadline_ms : 0;
  if (want == c->rcvtimeo_ms)
    return;
  struct timeval tv = { .tv_sec = want / 1000, .tv_usec = (want % 1000) * 1000 };
  if (setsockopt (c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
    c->rcvtimeo_ms = want;
}

void
fk_client_set_deadline_ms (fk_client_t *c, int deadline_ms)
{
  apply_deadline (c, deadline_ms);
}

int
fk_client_deadline_ms (const fk_client_t *c)
{
  return c->deadline_ms;
}

pid_t
fk_client_agent_pid (const fk_client_t *c)
{
  return c->agent_pid;
}

int
fk_client_poll_fd (const fk_client_t *c)
{
  return c->fd;
}

fk_creq_t *
fk_creq_new (fk_client_t *c)
{
  fk_creq_t *r = xcalloc (1, sizeof *r);
  pthread_cond_init (&r->cond, NULL);
  pthread_mutex_lock (&c->lock);
  if (++c->next_id == 0)
    {
      c->next_id = 1;
      c->ids_wrapped = 1;
    }
  r->id = c->next_id;
  r->next = c->reqs;
  c->reqs = r;
  pthread_mutex_unlock (&c->lock);
  return r;
}

uint32_t
fk_creq_id (const fk_creq_t *r)
{
  return r->id;
}

static void
drop_queue (fk_creq_t *r)
{
  while (r->head)
    {
      fk_cframe_t *f = r->head;
      r->head = f->next;
      free (f);
    }
  r->tail = NULL;
  r->queued = 0;
}

static void
creq_destroy (fk_creq_t *r)
{
  drop_queue (r);
  pthread_cond_destroy (&r->cond);
  free (r->fail_msg);
  free (r);
}

void
fk_creq_free (fk_client_t *c, fk_creq_t *r)
{
  if (r == NULL)
    return;
  pthread_mutex_lock (&c->lock);
  for (fk_creq_t **pp = &c->reqs; *pp; pp = &(*pp)->next)
    if (*pp == r)
      {
        *pp = r->next;
        break;
      }
  pthread_mutex_unlock (&c->lock);
  creq_destroy (r);
}

/* Under c->lock: marks the connection failed and wakes everyone. */
static void
fail_locked (fk_client_t *c, int code, const char *msg)
{
  if (!c->failed)
    {
      c->failed = 1;
      c->fail_code = code;
      c->fail_msg = xstrdup (msg);
    }
  pthread_cond_broadcast (&c->cond);
  for (fk_creq_t *r = c->reqs; r; r = r->next)
    pthread_cond_signal (&r->cond);
}

static void
fail (fk_client_t *c, int code, const char *msg)
{
  pthread_mutex_lock (&c->lock);
  fail_locked (c, code, msg);
  pthread_mutex_unlock (&c->lock);
}

/* Under c->lock: fails one request (what it had queued is dropped; what comes for it later
   too) and wakes its waiter. */
static void fail_req_locked (fk_creq_t *r, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
fail_req_locked (fk_creq_t *r, int code, const char *fmt, ...)
{
  if (r->fail_code == 0)
    {
      char msg[256];
      va_list ap;
      va_start (ap, fmt);
      vsnprintf (msg, sizeof msg, fmt, ap);
      va_end (ap);
      r->fail_msg = xstrdup (msg);
      r->fail_code = code;
    }
  drop_queue (r);
  pthread_cond_signal (&r->cond);
}

/* Under c->lock, after the reader gave up its role: one waiting thread takes it over. */
static void
wake_next_reader_locked (fk_client_t *c)
{
  for (fk_creq_t *r = c->reqs; r; r = r->next)
    if (r->waiting && r->head == NULL)
      {
        pthread_cond_signal (&r->cond);
        return;
      }
}

static fk_creq_t *
find_req (fk_client_t *c, uint32_t id)
{
  for (fk_creq_t *r = c->reqs; r; r = r->next)
    if (r->id == id)
      return r;
  return NULL;
}

/* Under c->lock: an id this connection has given out (its request may be gone since). */
static int
id_issued (const fk_client_t *c, uint32_t id)
{
  return id != 0 && (c->ids_wrapped || id <= c->next_id);
}

static int
ends_request (const fk_wire_frame_t *f)
{
  return (f->flags & FK_WIRE_F_END) || f->type == FK_WIRE_R_ERROR || f->type == FK_WIRE_R_EXIT
         || f->type == FK_WIRE_R_HELLO;
}

/* Under c->lock: hands one frame to its request. Returns -1 when it breaks the protocol for the
   whole connection (recorded in c). */
static int
hand_out_locked (fk_client_t *c, const fk_wire_frame_t *f)
{
  char msg[160];
  if (f->type < FK_WIRE_R_HELLO && f->type != FK_WIRE_DATA)
    {
      snprintf (msg, sizeof msg, "the agent sent a request frame (%s)",
                fk_wire_type_name (f->type));
      fail_locked (c, EPROTO, msg);
      return -1;
    }
  if (!id_issued (c, f->id))
    {
      snprintf (msg, sizeof msg, "the agent sent a %s frame for request %u, which was never made",
                fk_wire_type_name (f->type), f->id);
      fail_locked (c, EPROTO, msg);
      return -1;
    }
  if (f->type == FK_WIRE_R_HELLO && c->hello_done)
    {
      fail_locked (c, EPROTO, "the agent sent a second hello");
      return -1;
    }
  fk_creq_t *req = find_req (c, f->id);
  if (req == NULL || req->fail_code != 0)
    return 0; /* a request given up on (its late frames are expected), or failed already */
  if (req->ended)
    {
      fail_req_locked (req, EPROTO, "the agent sent a %s frame after the end of the request",
                       fk_wire_type_name (f->type));
      return 0;
    }
  size_t size = sizeof (fk_cframe_t) + f->len;
  if (req->queued + size > FK_CLIENT_MAX_QUEUED)
    {
      fail_req_locked (req, ENOBUFS, "more than %u MiB of replies queued unread",
                       FK_CLIENT_MAX_QUEUED >> 20);
      return 0;
    }
  fk_cframe_t *cf = xmalloc (size);
  cf->next = NULL;
  cf->type = f->type;
  cf->flags = f->flags;
  cf->len = f->len;
  if (f->len)
    memcpy (cf->data, f->payload, f->len);
  if (req->tail)
    req->tail->next = cf;
  else
    req->head = cf;
  req->tail = cf;
  req->queued += size;
  if (ends_request (f))
    req->ended = 1;
  if (req->waiting)
    pthread_cond_signal (&req->cond);
  return 0;
}

/* The reader: one socket read (waiting at most timeout_ms: in recv itself, bounded by the
   socket's SO_RCVTIMEO, when the wait is at least that long and the socket blocks; else in
   poll), then hands out every whole frame in the buffer. Called without c->lock; takes it to
   hand out. Returns 0, or -1 when the connection failed (recorded in c). */
static int
read_some (fk_client_t *c, int timeout_ms)
{
  /* A wait of about the deadline (the usual one: a request's answer) is the recv's own. */
  int wait_in_recv
      = c->blocking
        && (timeout_ms < 0 || (c->rcvtimeo_ms > 0 && timeout_ms + RECV_SLACK_MS >= c->rcvtimeo_ms));
  if (!wait_in_recv)
    {
      struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
      int pr = poll (&pfd, 1, timeout_ms);
      if (pr < 0 && errno != EINTR)
        {
          fail (c, errno, "poll the agent connection");
          return -1;
        }
      if (pr <= 0)
        return 0;
    }
  if (c->rcap - c->rlen < RBUF_CHUNK)
    xgrow ((void **)&c->rbuf, &c->rcap, c->rlen + RBUF_CHUNK, 1);
  ssize_t n = recv (c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, wait_in_recv ? 0 : MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_in_recv)
    {
      /* The receive timeout passed, or someone made the socket non-blocking since (an event
         loop watching fk_client_poll_fd): then wait in poll from now on. */
      int fl = fcntl (c->fd, F_GETFL);
      if (c->rcvtimeo_ms == 0 || (fl >= 0 && (fl & O_NONBLOCK)))
        c->blocking = 0;
      return 0;
    }
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n <= 0)
    {
      int e = n == 0 ? EPIPE : errno;
      fail (c, e, n == 0 ? "the agent closed the connection" : strerror (e));
      return -1;
    }
  c->rlen += (size_t)n;
  size_t off = 0;
  int r = 0;
  pthread_mutex_lock (&c->lock);
  for (;;)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_wire_frame_t f;
      long used = fk_wire_frame_parse (c->rbuf + off, c->rlen - off, &f, &err);
      if (used < 0)
        {
          fail_locked (c, EPROTO, fk_error_message (&err));
          fk_error_clear (&err);
          r = -1;
          break;
        }
      if (used == 0)
        break;
      off += (size_t)used;
      if (hand_out_locked (c, &f) < 0)
        {
          r = -1;
          break;
        }
    }
  pthread_mutex_unlock (&c->lock);
  if (r < 0)
    off = c->rlen; /* nothing after a broken frame means anything */
  memmove (c->rbuf, c->rbuf + off, c->rlen - off);
  c->rlen -= off;
  if (c->rlen == 0 && c->rcap > 4 * RBUF_CHUNK)
    {
      free (c->rbuf);
      c->rbuf = NULL;
      c->rcap = 0;
    }
  return r;
}

/* The socket is full (under c->wlock): waits until the agent reads some of it, reading what it
   sends meanwhile when nobody else is (an agent blocked on sending its replies reads nothing: a
   writer that never read would wait on it forever). Returns 1 when writable, 0 when
   timeout_ms passed, -1 when the connection failed. */
static int
wait_writable (fk_client_t *c, int timeout_ms)
{
  int64_t deadline = timeout_ms >= 0 ? (int64_t)fk_now_ms () + timeout_ms : -1;
  for (;;)
    {
      pthread_mutex_lock (&c->lock);
      int failed = c->failed;
      int can_read = !c->reading;
      pthread_mutex_unlock (&c->lock);
      if (failed)
        return -1;
      int left = -1;
      if (deadline >= 0)
        {
          int64_t l = deadline - (int64_t)fk_now_ms ();
          if (l <= 0)
            return 0;
          left = l > INT_MAX ? INT_MAX : (int)l;
        }
      /* Without POLLIN (another thread is the reader), look again now and then in case it
         stops reading. */
      if (!can_read && (left < 0 || left > 100))
        left = 100;
      struct pollfd pfd = { .fd = c->fd, .events = POLLOUT | (can_read ? POLLIN : 0) };
      int pr = poll (&pfd, 1, left);
      if (pr < 0 && errno != EINTR)
        return -1;
      if (pr <= 0)
        continue;
      if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
        return 1;
      fk_client_take_arrived (c);
    }
}

/* Sends b whole under the write lock, never blocking in send: a full socket is waited on for
   timeout_ms. first, when not NULL, is the message of the first send (its ancillary data, fds,
   go with the frame's first byte). */
static int
send_locked (fk_client_t *c, const fk_wire_buf_t *b, struct msghdr *first, int timeout_ms,
             fk_error_t *err)
{
  pthread_mutex_lock (&c->wlock);
  size_t off = 0;
  int r = 0;
  while (off < b->len)
    {
      ssize_t n = off == 0 && first != NULL
                      ? sendmsg (c->fd, first, MSG_NOSIGNAL | MSG_DONTWAIT)
                      : send (c->fd, b->data + off, b->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          int w = wait_writable (c, timeout_ms);
          if (w > 0)
            continue;
          if (w == 0)
            {
              char secs[32];
              r = fk_error_set (err, ETIMEDOUT, "the agent read nothing the client sent for %s",
                                fk_client_fmt_secs (secs, sizeof secs, timeout_ms));
              break;
            }
          int e = errno;
          pthread_mutex_lock (&c->lock);
          if (c->failed)
            r = fk_error_set (err, c->fail_code, "agent connection: %s", c->fail_msg);
          else
            r = fk_error_set (err, e, "wait to send to the agent: %s", strerror (e));
          pthread_mutex_unlock (&c->lock);
          break;
        }
      if (n < 0)
        {
          r = fk_error_set_errno (err, "send to the agent");
          break;
        }
      off += (size_t)n;
    }
  /* A frame cut in the middle leaves the agent reading garbage: nothing more can be sent. */
  if (r < 0 && off > 0)
    fail (c, err != NULL && err->code ? err->code : EPIPE,
          "a request was cut off in the middle: the connection cannot be used any more");
  pthread_mutex_unlock (&c->wlock);
  return r;
}

int
fk_client_send_timeout (fk_client_t *c, const fk_wire_buf_t *b, int timeout_ms, fk_error_t *err)
{
  return send_locked (c, b, NULL, timeout_ms, err);
}

int
fk_client_send_fds (fk_client_t *c, const fk_wire_buf_t *b, const int *fds, size_t n_fds,
                    fk_error_t *err)
{
  if (n_fds == 0 || n_fds > 4 || b->len == 0)
    return fk_error_set (err, EINVAL, "%zu fds to pass with a request", n_fds);
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * 4)];
    struct cmsghdr align;
  } u;
  memset (&u, 0, sizeof u);
  struct iovec iov = { .iov_base = b->data, .iov_len = b->len };
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = CMSG_SPACE (sizeof (int) * n_fds) };
  struct cmsghdr *cm = CMSG_FIRSTHDR (&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
  memcpy (CMSG_DATA (cm), fds, sizeof (int) * n_fds);
  return send_locked (c, b, &msg, c->deadline_ms, err);
}

int
fk_client_send (fk_client_t *c, const fk_wire_buf_t *b, fk_error_t *err)
{
  return fk_client_send_timeout (c, b, c->deadline_ms, err);
}

/* Under c->lock: takes r's first frame, or fills err when r or the connection failed. Returns 1
   (a frame), 0 (none yet) or -1. A broken protocol wins over frames queued before it: they
   came from the same liar. */
static int
take_locked (fk_client_t *c, fk_creq_t *r, fk_cframe_t **ret, fk_error_t *err)
{
  if (r->fail_code != 0)
    {
      fk_error_set (err, r->fail_code, "%s", r->fail_msg ? r->fail_msg : strerror (r->fail_code));
      return -1;
    }
  if (r->head != NULL && !(c->failed && c->fail_code == EPROTO))
    {
      fk_cframe_t *f = r->head;
      r->head = f->next;
      if (r->head == NULL)
        r->tail = NULL;
      r->queued -= sizeof *f + f->len;
      f->next = NULL;
      *ret = f;
      return 1;
    }
  if (c->failed)
    {
      fk_error_set (err, c->fail_code, "agent connection: %s", c->fail_msg);
      return -1;
    }
  return 0;
}

void
fk_client_take_arrived (fk_client_t *c)
{
  pthread_mutex_lock (&c->lock);
  int take = !c->reading && !c->failed;
  if (take)
    c->reading = 1;
  pthread_mutex_unlock (&c->lock);
  if (!take)
    return;
  read_some (c, 0);
  pthread_mutex_lock (&c->lock);
  c->reading = 0;
  wake_next_reader_locked (c);
  pthread_mutex_unlock (&c->lock);
}

int
fk_creq_ready (fk_client_t *c, fk_creq_t *r, fk_error_t *err)
{
  pthread_mutex_lock (&c->lock);
  int ret = r->fail_code != 0 || (c->failed && (c->fail_code == EPROTO || r->head == NULL));
  if (ret)
    {
      fk_cframe_t *f = NULL;
      take_locked (c, r, &f, err);
      ret = -1;
    }
  else
    ret = r->head != NULL;
  pthread_mutex_unlock (&c->lock);
  return ret;
}

int
fk_creq_next (fk_client_t *c, fk_creq_t *r, int timeout_ms, fk_cframe_t **ret, fk_error_t *err)
{
  int64_t deadline = -1;
  pthread_mutex_lock (&c->lock);
  for (;;)
    {
      int t = take_locked (c, r, ret, err);
      if (t != 0)
        {
          pthread_mutex_unlock (&c->lock);
          return t;
        }
      /* The deadline is computed only once there is something to wait for. */
      if (timeout_ms >= 0 && deadline < 0)
        deadline = (int64_t)fk_now_ms () + timeout_ms;
      int left = -1;
      if (deadline >= 0)
        {
          int64_t l = deadline - (int64_t)fk_now_ms ();
          left = l < 0 ? 0 : l > INT_MAX ? INT_MAX : (int)l;
        }
      if (!c->reading)
        {
          c->reading = 1;
          pthread_mutex_unlock (&c->lock);
          read_some (c, left);
          pthread_mutex_lock (&c->lock);
          c->reading = 0;
          /* Someone waiting may need to take over reading. */
          wake_next_reader_locked (c);
        }
      else if (left < 0)
        {
          r->waiting = 1;
          pthread_cond_wait (&r->cond, &c->lock);
          r->waiting = 0;
        }
      else if (left > 0)
        {
          struct timespec ts;
          clock_gettime (CLOCK_REALTIME, &ts);
          ts.tv_sec += left / 1000;
          ts.tv_nsec += (long)(left % 1000) * 1000000;
          if (ts.tv_nsec >= 1000000000)
            {
              ts.tv_sec++;
              ts.tv_nsec -= 1000000000;
            }
          r->waiting = 1;
          pthread_cond_timedwait (&r->cond, &c->lock, &ts);
          r->waiting = 0;
        }
      if (r->head == NULL && r->fail_code == 0 && !c->failed && deadline >= 0
          && (int64_t)fk_now_ms () >= deadline)
        {
          /* It may have been woken to take over reading: pass that on. */
          if (!c->reading)
            wake_next_reader_locked (c);
          pthread_mutex_unlock (&c->lock);
          return 0;
        }
    }
}

int
fk_creq_wait (fk_client_t *c, fk_creq_t *r, const char *what, fk_cframe_t **ret, fk_error_t *err)
{
  int n = fk_creq_next (c, r, c->deadline_ms, ret, err);
  if (n == 0)
    return fk_client_timeout_error (err, what, c->deadline_ms);
  return n;
}

int
fk_client_call (fk_client_t *c, fk_creq_t *r, const fk_wire_buf_t *b,
                int (*on_chunk) (void *ud, const fk_cframe_t *f, fk_error_t *err), void *ud,
                fk_cframe_t **ret_final, fk_error_t *err)
{
  const char *what = "the request";
  if (b != NULL && b->len >= FK_WIRE_HEADER_LEN)
    what = fk_wire_type_name ((uint16_t)(b->data[4] | b->data[5] << 8));
  if (b != NULL && fk_client_send (c, b, err) < 0)
    return -1;
  for (;;)
    {
      fk_cframe_t *f;
      if (fk_creq_wait (c, r, what, &f, err) < 0)
        return -1;
      if (f->type == FK_WIRE_R_ERROR)
        {
          fk_cframe_error (f, err);
          free (f);
          return -1;
        }
      if (f->type == FK_WIRE_R_OK && !(f->flags & FK_WIRE_F_END))
        {
          int cr = on_chunk
                       ? on_chunk (ud, f, err)
                       : fk_error_set (err, EPROTO, "the agent sent a partial reply to %s", what);
          free (f);
          if (cr < 0)
            return -1;
          continue;
        }
      if (f->type == FK_WIRE_R_OK)
        {
          if (ret_final)
            *ret_final = f;
          else
            free (f);
          return 0;
        }
      int t = f->type;
      free (f);
      return fk_error_set (err, EPROTO, "the agent answered %s with a %s frame", what,
                           fk_wire_type_name ((uint16_t)t));
    }
}

static int
hello (fk_client_t *c, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, r->id);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&b, FK_TAG_VERSION, FK_WIRE_VERSION);
  fk_wire_end (&b, NULL);
  int ret = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  fk_cframe_t *f = NULL;
  if (ret == 0)
    ret = fk_creq_wait (c, r, "hello", &f, err) < 0 ? -1 : 0;
  fk_creq_free (c, r);
  if (ret < 0)
    return -1;
  fk_wire_msg_t m;
  if (f->type != FK_WIRE_R_HELLO)
    ret = fk_error_set (err, EPROTO, "the agent answered hello with %s",
                        fk_wire_type_name (f->type));
  else if (fk_cframe_decode (f, &m, err) < 0)
    ret = -1;
  else
    {
      if (m.num[FK_TAG_VERSION] != FK_WIRE_VERSION)
        ret = fk_error_set (err, EPROTO, "the agent speaks protocol version %llu, not %d",
                            (unsigned long long)m.num[FK_TAG_VERSION], FK_WIRE_VERSION);
      else
        ret = fk_client_check_pid (&m, "hello", &c->agent_pid, err);
      fk_wire_msg_clear (&m);
    }
  free (f);
  if (ret == 0)
    {
      pthread_mutex_lock (&c->lock);
      c->hello_done = 1;
      pthread_mutex_unlock (&c->lock);
    }
  return ret;
}

static int
check_opts (const fk_client_opts_t *opts, fk_error_t *err)
{
  if (opts == NULL)
    return 0;
  return fk_options_check_version (opts->version, FK_CLIENT_OPTIONS_VERSION, "fk_client_opts_t",
                                   "FK_CLIENT_OPTIONS_INIT", err);
}

int
fk_client_connect_fd_opts (int fd, const fk_client_opts_t *opts, fk_client_t **ret_client,
                           fk_error_t *err)
{
  if (check_opts (opts, err) < 0)
    {
      close (fd);
      return -1;
    }
  fk_client_t *c = xcalloc (1, sizeof *c);
  c->fd = fd;
  int fl = fcntl (fd, F_GETFL);
  c->blocking = fl >= 0 && !(fl & O_NONBLOCK);
  pthread_mutex_init (&c->lock, NULL);
  pthread_mutex_init (&c->wlock, NULL);
  pthread_cond_init (&c->cond, NULL);
  apply_deadline (c, opts ? opts->deadline_ms : 0);
  if (hello (c, err) < 0)
    {
      fk_client_close (c);
      return fk_error_wrap (err, "agent handshake");
    }
  *ret_client = c;
  return 0;
}

int
fk_client_connect_fd (int fd, fk_client_t **ret_client, fk_error_t *err)
{
  return fk_client_connect_fd_opts (fd, NULL, ret_client, err);
}

int
fk_client_connect_opts (const char *socket_path, const fk_client_opts_t *opts,
                        fk_client_t **ret_client, fk_error_t *err)
{
  if (check_opts (opts, err) < 0)
    return -1;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "socket path `%s' is too long", socket_path);
  strcpy (sa.sun_path, socket_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket");
  /* A unix connect waits (in the send timeout) while the listener's backlog is full: an agent
     that stopped accepting. */
  int deadline = opts ? opts->deadline_ms : 0;
  deadline = deadline == 0 ? FK_CLIENT_DEADLINE_MS : deadline;
  if (deadline > 0)
    {
      struct timeval tv = { .tv_sec = deadline / 1000, .tv_usec = (deadline % 1000) * 1000 };
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
  if (connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      if (errno == EAGAIN || errno == EINPROGRESS)
        {
          char secs[32];
          fk_error_set (err, ETIMEDOUT, "the agent at `%s' did not accept the connection within %s",
                        socket_path, fk_client_fmt_secs (secs, sizeof secs, deadline));
        }
      else
        fk_error_set_errno (err, "connect to `%s'", socket_path);
      close (fd);
      return -1;
    }
  if (fk_client_connect_fd_opts (fd, opts, ret_client, err) < 0)
    return fk_error_wrap (err, "`%s'", socket_path);
  return 0;
}

int
fk_client_connect (const char *socket_path, fk_client_t **ret_client, fk_error_t *err)
{
  return fk_client_connect_opts (socket_path, NULL, ret_client, err);
}

void
fk_client_close (fk_client_t *c)
{
  if (c == NULL)
    return;
  close (c->fd);
  while (c->reqs)
    {
      fk_creq_t *r = c->reqs;
      c->reqs = r->next;
      creq_destroy (r);
    }
  pthread_mutex_destroy (&c->lock);
  pthread_mutex_destroy (&c->wlock);
  pthread_cond_destroy (&c->cond);
  free (c->fail_msg);
  free (c->rbuf);
  free (c->file_user);
  free (c);
}

void
fk_client_set_file_user (fk_client_t *c, const char *user)
{
  free (c->file_user);
  c->file_user = user ? xstrdup (user) : NULL;
}

const char *
fk_client_file_user (const fk_client_t *c)
{
  return c->file_user;
}
