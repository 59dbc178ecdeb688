/* agent/port.c: port connections: the agent, inside the sandbox's network namespace, connects
   to a TCP port on the sandbox's loopback and hands the connected socket to its client on the
   reply (SCM_RIGHTS). The client gets only what a process of the sandbox could open itself: a
   connection to a server of the sandbox. fds travel agent -> client only: the agent reads its
   connections with recv(), so the kernel closes any fd a client attaches. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "base/log.h"
#include "base/xalloc.h"

/* A connect that has heard nothing this long fails with ETIMEDOUT (a server whose accept
   queue is full, or a listener that drops SYNs). */
#define PORT_CONNECT_MS 10000

struct pconn
{
  pconn_t *next;
  watch_t w;
  conn_t *conn;
  uint32_t id;
  unsigned port;
  int family;      /* FK_WIRE_FAMILY_* asked for */
  int on_v6;       /* the attempt under way is to ::1 */
  int first_errno; /* the IPv4 attempt's error, when ::1 is tried after it */
  uint64_t deadline_ms;
  int dead; /* answered: freed by port_gc */
};

static pconn_t *pconns;

static void attempt_failed (pconn_t *p, int code);

static void
finish (pconn_t *p)
{
  agent_watch (&p->w, 0);
  if (p->w.fd >= 0)
    close (p->w.fd);
  p->w.fd = -1;
  p->dead = 1;
}

static void
fail (pconn_t *p, int code)
{
  char msg[160];
  if (code == ECONNREFUSED)
    snprintf (msg, sizeof msg,
              "connection to port %u refused: nothing listens on it in the sandbox", p->port);
  else if (code == ETIMEDOUT)
    snprintf (msg, sizeof msg, "connection to port %u timed out", p->port);
  else
    snprintf (msg, sizeof msg, "connect to port %u: %s", p->port, strerror (code));
  if (!p->conn->closed)
    conn_send_error (p->conn, p->id, code, msg);
  finish (p);
}

static void
succeed (pconn_t *p)
{
  conn_t *c = p->conn;
  if (!c->closed)
    {
      fk_wire_buf_t *b = conn_outbuf (c);
      size_t start = b->len;
      fk_wire_begin (b, FK_WIRE_R_PORT, FK_WIRE_F_END, p->id);
      fk_wire_put_int (b, FK_TAG_PORT, p->port);
      fk_wire_put_int (b, FK_TAG_FAMILY, p->on_v6 ? FK_WIRE_FAMILY_IPV6 : FK_WIRE_FAMILY_IPV4);
      fk_wire_put_str (b, FK_TAG_ADDR, p->on_v6 ? "::1" : "127.0.0.1");
      fk_wire_end (b, NULL);
      /* The send queue owns the socket from here and closes it once it is sent. */
      conn_queue_fd (c, start, p->w.fd);
      p->w.fd = -1;
      conn_flush (c);
    }
  finish (p);
}

/* Starts a connect to 127.0.0.1 or ::1 (v6); answers when it ends at once. */
static void
attempt (pconn_t *p, int v6)
{
  p->on_v6 = v6;
  int fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      fail (p, errno);
      return;
    }
  p->w.fd = fd;
  int r;
  if (v6)
    {
      struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
                                 .sin6_port = htons ((uint16_t)p->port),
                                 .sin6_addr = IN6ADDR_LOOPBACK_INIT };
      r = connect (fd, (struct sockaddr *)&sa, sizeof sa);
    }
  else
    {
      struct sockaddr_in sa = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t)p->port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
      r = connect (fd, (struct sockaddr *)&sa, sizeof sa);
    }
  if (r == 0)
    {
      succeed (p);
      return;
    }
  if (errno == EINPROGRESS)
    {
      agent_watch (&p->w, EPOLLOUT);
      return;
    }
  attempt_failed (p, errno);
}

static void
attempt_failed (pconn_t *p, int code)
{
  agent_watch (&p->w, 0);
  close (p->w.fd);
  p->w.fd = -1;
  /* Asked for either: ::1 when 127.0.0.1 has nothing (a server bound to ::1 only). */
  if (!p->on_v6 && p->family == FK_WIRE_FAMILY_ANY)
    {
      p->first_errno = code;
      attempt (p, 1);
      return;
    }
  /* ::1 missing (no IPv6 in the sandbox) says less than the IPv4 refusal. */
  if (p->on_v6 && p->first_errno
      && (code == EADDRNOTAVAIL || code == EAFNOSUPPORT || code == ENETUNREACH))
    code = p->first_errno;
  fail (p, code);
}

void
port_connect (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  pconn_t *p = xcalloc (1, sizeof *p);
  p->w.kind = W_PORT;
  p->w.fd = -1;
  p->w.owner = p;
  p->conn = c;
  p->id = id;
  p->port = (unsigned)m->num[FK_TAG_PORT];
  p->family = (int)m->num[FK_TAG_FAMILY];
  p->deadline_ms = fk_now_ms () + PORT_CONNECT_MS;
  p->next = pconns;
  pconns = p;
  attempt (p, p->family == FK_WIRE_FAMILY_IPV6);
}

void
port_on_event (pconn_t *p, uint32_t events)
{
  if (p->dead || p->w.fd < 0)
    return;
  int code = 0;
  socklen_t len = sizeof code;
  if (getsockopt (p->w.fd, SOL_SOCKET, SO_ERROR, &code, &len) < 0)
    code = errno;
  if (code == 0 && (events & (EPOLLERR | EPOLLHUP)))
    code = ECONNRESET;
  if (code == 0)
    succeed (p);
  else
    attempt_failed (p, code);
}

void
port_timeouts (uint64_t now, uint64_t *next)
{
  for (pconn_t *p = pconns; p; p = p->next)
    {
      if (p->dead)
        continue;
      int timed_out = 0;
      if (agent_deadline_check (&p->deadline_ms, 0, &timed_out, now, next))
        fail (p, ETIMEDOUT);
    }
}

void
port_conn_closed (conn_t *c)
{
  for (pconn_t *p = pconns; p; p = p->next)
    if (p->conn == c && !p->dead)
      finish (p);
}

void
port_gc (void)
{
  for (pconn_t **pp = &pconns; *pp;)
    {
      pconn_t *p = *pp;
      if (!p->dead)
        {
          pp = &p->next;
          continue;
        }
      *pp = p->next;
      free (p);
    }
}
