/* client/conn.c: see conn.h. */
#include "client/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "wire/frame.h"

#define RBUF_CHUNK (256u * 1024u)

struct fk_creq
{
  fk_creq_t *next;
  uint32_t id;
  fk_cframe_t *head, *tail;
  /* Its own condition: a frame wakes only the thread waiting for it (with many threads on one
     connection, a shared one would wake them all for every frame). */
  pthread_cond_t cond;
  int waiting;
};

struct fk_client
{
  int fd;
  int blocking; /* fd is in blocking mode: a wait without timeout is one recv, no poll */
  pid_t agent_pid;
  pthread_mutex_t lock; /* requests, queues, reader role, failure */
  pthread_cond_t cond;
  pthread_mutex_t wlock; /* the socket's write side */
  int reading;
  int failed;
  int fail_code;
  char *fail_msg;
  uint32_t next_id;
  fk_creq_t *reqs;
  uint8_t *rbuf; /* the reader's buffer; only the reader touches it */
  size_t rlen, rcap;
};

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
    c->next_id = 1;
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
  drop_queue (r);
  pthread_cond_destroy (&r->cond);
  free (r);
}

int
fk_client_send (fk_client_t *c, const fk_wire_buf_t *b, fk_error_t *err)
{
  pthread_mutex_lock (&c->wlock);
  size_t off = 0;
  int r = 0;
  while (off < b->len)
    {
      ssize_t n = send (c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          r = fk_error_set_errno (err, "send to the agent");
          break;
        }
      off += (size_t)n;
    }
  pthread_mutex_unlock (&c->wlock);
  return r;
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

/* The reader: one socket read (waiting at most timeout_ms; without a timeout on a blocking
   socket the recv itself waits), then hands out every whole frame
   in the buffer. Called without c->lock; takes it to hand out. Returns 0, or -1 when the
   connection failed (recorded in c). */
static int
read_some (fk_client_t *c, int timeout_ms)
{
  int wait_in_recv = timeout_ms < 0 && c->blocking;
  if (!wait_in_recv)
    {
      struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
      int pr = poll (&pfd, 1, timeout_ms);
      if (pr < 0 && errno != EINTR)
        {
          pthread_mutex_lock (&c->lock);
          fail_locked (c, errno, "poll the agent connection");
          pthread_mutex_unlock (&c->lock);
          return -1;
        }
      if (pr <= 0)
        return 0;
    }
  if (c->rcap - c->rlen < RBUF_CHUNK)
    xgrow ((void **)&c->rbuf, &c->rcap, c->rlen + RBUF_CHUNK, 1);
  ssize_t n = recv (c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, wait_in_recv ? 0 : MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN && wait_in_recv)
    {
      /* Someone made the socket non-blocking since (an event loop watching
         fk_client_poll_fd): wait in poll from now on. */
      c->blocking = 0;
      return 0;
    }
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (n <= 0)
    {
      int e = n == 0 ? EPIPE : errno;
      pthread_mutex_lock (&c->lock);
      fail_locked (c, e, n == 0 ? "the agent closed the connection" : strerror (e));
      pthread_mutex_unlock (&c->lock);
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
      if (f.type < FK_WIRE_R_HELLO && f.type != FK_WIRE_DATA)
        {
          fail_locked (c, EPROTO, "the agent sent a request frame");
          r = -1;
          break;
        }
      fk_creq_t *req = find_req (c, f.id);
      if (req == NULL)
        continue; /* a request given up on */
      fk_cframe_t *cf = xmalloc (sizeof *cf + f.len);
      cf->next = NULL;
      cf->type = f.type;
      cf->flags = f.flags;
      cf->len = f.len;
      if (f.len)
        memcpy (cf->data, f.payload, f.len);
      if (req->tail)
        req->tail->next = cf;
      else
        req->head = cf;
      req->tail = cf;
      if (req->waiting)
        pthread_cond_signal (&req->cond);
    }
  pthread_mutex_unlock (&c->lock);
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

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
fk_creq_next (fk_client_t *c, fk_creq_t *r, int timeout_ms, fk_cframe_t **ret, fk_error_t *err)
{
  int64_t deadline = timeout_ms >= 0 ? now_ms () + timeout_ms : -1;
  pthread_mutex_lock (&c->lock);
  for (;;)
    {
      if (r->head != NULL)
        {
          fk_cframe_t *f = r->head;
          r->head = f->next;
          if (r->head == NULL)
            r->tail = NULL;
          pthread_mutex_unlock (&c->lock);
          f->next = NULL;
          *ret = f;
          return 1;
        }
      if (c->failed)
        {
          int code = c->fail_code;
          char *msg = xstrdup (c->fail_msg);
          pthread_mutex_unlock (&c->lock);
          fk_error_set (err, code, "agent connection: %s", msg);
          free (msg);
          return -1;
        }
      int left = -1;
      if (deadline >= 0)
        {
          int64_t l = deadline - now_ms ();
          if (l < 0)
            l = 0;
          left = (int)l;
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
      if (r->head == NULL && !c->failed && deadline >= 0 && now_ms () >= deadline)
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
fk_cframe_error (const fk_cframe_t *f, fk_error_t *err)
{
  fk_wire_frame_t wf = { .type = f->type, .flags = f->flags, .len = f->len, .payload = f->data };
  fk_wire_msg_t m;
  if (fk_wire_frame_decode (&wf, &m, err) < 0)
    return fk_error_wrap (err, "bad error reply from the agent");
  fk_error_set (err, (int)m.num[FK_TAG_ERRNO], "%s", m.str[FK_TAG_MESSAGE]);
  fk_wire_msg_clear (&m);
  return -1;
}

int
fk_client_call (fk_client_t *c, fk_creq_t *r, const fk_wire_buf_t *b,
                int (*on_chunk) (void *ud, const fk_cframe_t *f, fk_error_t *err), void *ud,
                fk_cframe_t **ret_final, fk_error_t *err)
{
  if (b != NULL && fk_client_send (c, b, err) < 0)
    return -1;
  for (;;)
    {
      fk_cframe_t *f;
      if (fk_creq_next (c, r, -1, &f, err) < 0)
        return -1;
      if (f->type == FK_WIRE_R_ERROR)
        {
          fk_cframe_error (f, err);
          free (f);
          return -1;
        }
      if (f->type == FK_WIRE_R_OK && !(f->flags & FK_WIRE_F_END))
        {
          int cr = on_chunk ? on_chunk (ud, f, err) : 0;
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
      return fk_error_set (err, EPROTO, "unexpected %s frame from the agent",
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
    ret = fk_creq_next (c, r, 30000, &f, err);
  fk_creq_free (c, r);
  if (ret == 0)
    return fk_error_set (err, ETIMEDOUT, "the agent did not answer hello");
  if (ret < 0)
    return -1;
  fk_wire_frame_t wf = { .type = f->type, .flags = f->flags, .len = f->len, .payload = f->data };
  fk_wire_msg_t m;
  if (f->type != FK_WIRE_R_HELLO)
    ret = fk_error_set (err, EPROTO, "the agent answered hello with %s",
                        fk_wire_type_name (f->type));
  else if (fk_wire_frame_decode (&wf, &m, err) < 0)
    ret = -1;
  else
    {
      c->agent_pid = (pid_t)m.num[FK_TAG_PID];
      if (m.num[FK_TAG_VERSION] != FK_WIRE_VERSION)
        ret = fk_error_set (err, EPROTO, "the agent speaks protocol version %llu, not %d",
                            (unsigned long long)m.num[FK_TAG_VERSION], FK_WIRE_VERSION);
      fk_wire_msg_clear (&m);
    }
  free (f);
  return ret;
}

int
fk_client_connect_fd (int fd, fk_client_t **ret_client, fk_error_t *err)
{
  fk_client_t *c = xcalloc (1, sizeof *c);
  c->fd = fd;
  int fl = fcntl (fd, F_GETFL);
  c->blocking = fl >= 0 && !(fl & O_NONBLOCK);
  pthread_mutex_init (&c->lock, NULL);
  pthread_mutex_init (&c->wlock, NULL);
  pthread_cond_init (&c->cond, NULL);
  if (hello (c, err) < 0)
    {
      fk_client_close (c);
      return fk_error_wrap (err, "agent handshake");
    }
  *ret_client = c;
  return 0;
}

int
fk_client_connect (const char *socket_path, fk_client_t **ret_client, fk_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "socket path `%s' is too long", socket_path);
  strcpy (sa.sun_path, socket_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket");
  if (connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      fk_error_set_errno (err, "connect to `%s'", socket_path);
      close (fd);
      return -1;
    }
  if (fk_client_connect_fd (fd, ret_client, err) < 0)
    return fk_error_wrap (err, "`%s'", socket_path);
  return 0;
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
      drop_queue (r);
      pthread_cond_destroy (&r->cond);
      free (r);
    }
  pthread_mutex_destroy (&c->lock);
  pthread_mutex_destroy (&c->wlock);
  pthread_cond_destroy (&c->cond);
  free (c->fail_msg);
  free (c->rbuf);
  free (c);
}
