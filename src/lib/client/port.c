/* client/port.c: connections to TCP ports inside a sandbox (fk_client_port_connect) and the
   byte relay that forwards one (fk_port_relay).

   A port connect has its own connection to the agent: hello, PORT_CONNECT, then R_PORT with
   the socket attached (SCM_RIGHTS) or R_ERROR. The reply is read with recvmsg here rather than
   through the multiplexed reader of conn.c, which reads with recv (the kernel closes what fds a
   plain recv meets). The agent may be hostile: the socket it hands over is checked to be what
   was asked for (a connected TCP socket whose peer is the loopback port asked for), any other
   fd it sends is closed unread, and nothing is ever sent the other way. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "client/reply.h"
#include "firkin/client.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* The most a reply to a port connect may take (hello and R_PORT or R_ERROR are small). */
#define PORT_REPLY_MAX (64u * 1024u)
/* fds taken from one recvmsg at most (a hostile agent's extras are closed). */
#define PORT_MAX_FDS 4

static void
close_fds (int *fds, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0)
      close (fds[i]);
}

/* The socket the agent handed over is what was asked for: a connected TCP stream socket whose
   peer is the loopback address of the family given, on port. */
static int
check_socket (int fd, unsigned port, uint64_t family, const char *addr, fk_error_t *err)
{
  struct stat st;
  int domain = 0, type = 0, proto = 0;
  socklen_t len = sizeof domain;
  if (fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    return fk_error_set (err, EPROTO, "the agent handed over something that is not a socket");
  if (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0
      || (len = sizeof type, getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len)) < 0
      || (len = sizeof proto, getsockopt (fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len)) < 0)
    return fk_error_set_errno (err, "look at the socket the agent handed over");
  int want_domain = family == FK_WIRE_FAMILY_IPV6 ? AF_INET6 : AF_INET;
  if (domain != want_domain || type != SOCK_STREAM || proto != IPPROTO_TCP)
    return fk_error_set (err, EPROTO,
                         "the agent handed over a socket that is not a TCP connection "
                         "(domain %d, type %d, protocol %d)",
                         domain, type, proto);
  struct sockaddr_storage ss;
  len = sizeof ss;
  if (getpeername (fd, (struct sockaddr *)&ss, &len) < 0)
    return fk_error_set_errno (err, "the socket the agent handed over is not connected");
  int ok = 0;
  if (ss.ss_family == AF_INET)
    {
      const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
      ok = sin->sin_addr.s_addr == htonl (INADDR_LOOPBACK) && ntohs (sin->sin_port) == port
           && strcmp (addr, "127.0.0.1") == 0;
    }
  else if (ss.ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
      ok = IN6_IS_ADDR_LOOPBACK (&sin6->sin6_addr) && ntohs (sin6->sin6_port) == port
           && strcmp (addr, "::1") == 0;
    }
  if (!ok)
    return fk_error_set (err, EPROTO,
                         "the agent handed over a connection to something else than port %u "
                         "on the sandbox's loopback",
                         port);
  return 0;
}

/* Reads from the agent until a whole frame after `*off' is in buf; fds that come with the bytes
   are appended to fds (at most PORT_MAX_FDS kept; beyond that: EPROTO). */
static int
read_frame (int sock, uint8_t *buf, size_t *len, fk_wire_frame_t *ret, long *ret_used, int *fds,
            size_t *n_fds, int64_t deadline, fk_error_t *err)
{
  for (;;)
    {
      long used = fk_wire_frame_parse (buf, *len, ret, err);
      if (used < 0)
        return fk_error_wrap (err, "port connect");
      if (used > 0)
        {
          *ret_used = used;
          return 0;
        }
      if (*len >= PORT_REPLY_MAX)
        return fk_error_set (err, EPROTO, "the agent's reply to a port connect is too big");
      int64_t left = deadline - (int64_t)fk_now_ms ();
      if (left <= 0)
        return fk_error_set (err, ETIMEDOUT, "the agent did not answer a port connect within %d s",
                             FK_CLIENT_DEADLINE_MS / 1000);
      struct pollfd pfd = { .fd = sock, .events = POLLIN };
      int pr = poll (&pfd, 1, (int)left);
      if (pr < 0 && errno == EINTR)
        continue;
      if (pr < 0)
        return fk_error_set_errno (err, "poll the agent");
      if (pr == 0)
        continue;
      union
      {
        char b[CMSG_SPACE (PORT_MAX_FDS * sizeof (int))];
        struct cmsghdr align;
      } u;
      struct iovec iov = { .iov_base = buf + *len, .iov_len = PORT_REPLY_MAX - *len };
      struct msghdr msg
          = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
      ssize_t n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read from the agent");
      for (struct cmsghdr *cm = CMSG_FIRSTHDR (&msg); cm; cm = CMSG_NXTHDR (&msg, cm))
        {
          if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
          size_t k = (cm->cmsg_len - CMSG_LEN (0)) / sizeof (int);
          for (size_t i = 0; i < k; i++)
            {
              int fd;
              memcpy (&fd, CMSG_DATA (cm) + i * sizeof (int), sizeof fd);
              if (*n_fds < PORT_MAX_FDS)
                fds[(*n_fds)++] = fd;
              else
                close (fd);
            }
        }
      if (msg.msg_flags & MSG_CTRUNC)
        return fk_error_set (err, EPROTO, "the agent sent more fds than a port connect takes");
      if (n == 0)
        return fk_error_set (err, ECONNRESET, "the agent closed the connection");
      *len += (size_t)n;
    }
}

int
fk_client_port_connect (const char *socket_path, unsigned port, int family, int *ret_fd,
                        fk_error_t *err)
{
  if (port < 1 || port > 65535)
    return fk_error_set (err, EINVAL, "port %u is not 1-65535", port);
  uint64_t wire_family = family == AF_INET     ? FK_WIRE_FAMILY_IPV4
                         : family == AF_INET6  ? FK_WIRE_FAMILY_IPV6
                         : family == AF_UNSPEC ? FK_WIRE_FAMILY_ANY
                                               : UINT64_MAX;
  if (wire_family == UINT64_MAX)
    return fk_error_set (err, EINVAL, "address family %d: AF_UNSPEC, AF_INET or AF_INET6", family);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "socket path `%s' is too long", socket_path);
  strcpy (sa.sun_path, socket_path);
  cleanup_close int sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0)
    return fk_error_set_errno (err, "socket");
  struct timeval tv = { .tv_sec = FK_CLIENT_DEADLINE_MS / 1000 };
  setsockopt (sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect (sock, (struct sockaddr *)&sa, sizeof sa) < 0)
    return fk_error_set_errno (err, "connect to `%s'", socket_path);

  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&b, FK_TAG_VERSION, FK_WIRE_VERSION);
  fk_wire_end (&b, NULL);
  fk_wire_begin (&b, FK_WIRE_PORT_CONNECT, 0, 2);
  fk_wire_put_int (&b, FK_TAG_PORT, port);
  fk_wire_put_int (&b, FK_TAG_FAMILY, wire_family);
  fk_wire_end (&b, NULL);
  size_t off = 0;
  while (off < b.len)
    {
      ssize_t n = send (sock, b.data + off, b.len - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          fk_wire_buf_free (&b);
          return fk_error_set_errno (err, "send to the agent");
        }
      off += (size_t)n;
    }
  fk_wire_buf_free (&b);

  cleanup_free uint8_t *buf = xmalloc (PORT_REPLY_MAX);
  size_t len = 0;
  int fds[PORT_MAX_FDS];
  size_t n_fds = 0;
  int64_t deadline = (int64_t)fk_now_ms () + FK_CLIENT_DEADLINE_MS;
  int ret = -1;
  for (int want_hello = 1;; want_hello = 0)
    {
      fk_wire_frame_t f;
      long used = 0;
      if (read_frame (sock, buf, &len, &f, &used, fds, &n_fds, deadline, err) < 0)
        break;
      uint32_t want_id = want_hello ? 1 : 2;
      if (f.id != want_id || !(f.flags & FK_WIRE_F_END))
        {
          fk_error_set (err, EPROTO, "the agent answered a port connect with a stray %s frame",
                        fk_wire_type_name (f.type));
          break;
        }
      fk_cframe_t *cf = xmalloc (sizeof *cf + f.len);
      cf->next = NULL;
      cf->type = f.type;
      cf->flags = f.flags;
      cf->len = f.len;
      memcpy (cf->data, f.payload, f.len);
      memmove (buf, buf + used, len - (size_t)used);
      len -= (size_t)used;
      fk_wire_msg_t m;
      if (f.type == FK_WIRE_R_ERROR)
        {
          fk_cframe_error (cf, err);
          if (!want_hello)
            fk_error_wrap (err, "port %u", port);
          free (cf);
          break;
        }
      if (f.type != (want_hello ? FK_WIRE_R_HELLO : FK_WIRE_R_PORT))
        {
          fk_error_set (err, EPROTO, "the agent answered a port connect with a %s frame",
                        fk_wire_type_name (f.type));
          free (cf);
          break;
        }
      /* m points into cf: cf goes once m is done with. */
      int r = fk_cframe_decode (cf, &m, err);
      if (r < 0)
        {
          free (cf);
          break;
        }
      if (want_hello)
        {
          /* The socket may come in the same read as the hello: it is counted with R_PORT. */
          fk_wire_msg_clear (&m);
          free (cf);
          continue;
        }
      if (m.num[FK_TAG_PORT] != port || n_fds != 1 || !fk_wire_msg_has (&m, FK_TAG_ADDR)
          || (wire_family != FK_WIRE_FAMILY_ANY && m.num[FK_TAG_FAMILY] != wire_family)
          || m.num[FK_TAG_FAMILY] == FK_WIRE_FAMILY_ANY)
        {
          fk_error_set (err, EPROTO, "the agent's reply to a port connect does not fit it");
          fk_wire_msg_clear (&m);
          free (cf);
          break;
        }
      r = check_socket (fds[0], port, m.num[FK_TAG_FAMILY], m.str[FK_TAG_ADDR], err);
      fk_wire_msg_clear (&m);
      free (cf);
      if (r < 0)
        break;
      /* The agent made it non-blocking; the caller gets a plain blocking socket. */
      int fl = fcntl (fds[0], F_GETFL);
      if (fl < 0 || fcntl (fds[0], F_SETFL, fl & ~O_NONBLOCK) < 0)
        {
          fk_error_set_errno (err, "make the port's socket blocking");
          break;
        }
      *ret_fd = fds[0];
      fds[0] = -1;
      ret = 0;
      break;
    }
  close_fds (fds, n_fds);
  return ret;
}

/* ---- relay ---- */

#define RELAY_BUF (64u * 1024u)

typedef struct half
{
  int from, to;
  char buf[RELAY_BUF];
  size_t len, off;
  int eof;  /* `from' has ended: once buf is written, `to' is shut for writing */
  int done; /* this direction is over */
} half_t;

/* Moves what it can one way without blocking: 0, or -1 with err on a failure that ends the
   relay. */
static int
half_step (half_t *h, short rev_from, short rev_to, fk_error_t *err)
{
  if (h->done)
    return 0;
  if (h->len == 0 && !h->eof && (rev_from & (POLLIN | POLLHUP | POLLERR)))
    {
      ssize_t n = recv (h->from, h->buf, sizeof h->buf, MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          if (errno != ECONNRESET)
            return fk_error_set_errno (err, "relay: read");
          n = 0; /* a reset ends this direction like an end of file */
        }
      if (n == 0)
        h->eof = 1;
      else if (n > 0)
        {
          h->len = (size_t)n;
          h->off = 0;
        }
    }
  if (h->len > h->off && (rev_to & (POLLOUT | POLLERR | POLLHUP)))
    {
      ssize_t n = send (h->to, h->buf + h->off, h->len - h->off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          if (errno != EPIPE && errno != ECONNRESET)
            return fk_error_set_errno (err, "relay: write");
          /* The reader is gone: what is left of this direction is dropped. */
          h->len = h->off = 0;
          h->eof = 1;
        }
      else if (n > 0)
        {
          h->off += (size_t)n;
          if (h->off == h->len)
            h->len = h->off = 0;
        }
    }
  if (h->eof && h->len == 0)
    {
      shutdown (h->to, SHUT_WR);
      h->done = 1;
    }
  return 0;
}

int
fk_port_relay (int a, int b, fk_error_t *err)
{
  half_t *h = xcalloc (2, sizeof *h);
  h[0].from = a;
  h[0].to = b;
  h[1].from = b;
  h[1].to = a;
  int ret = 0;
  while (!h[0].done || !h[1].done)
    {
      /* Each fd: readable when its outgoing half wants bytes, writable when the other half has
         bytes for it. */
      struct pollfd pfd[2] = { { .fd = a }, { .fd = b } };
      for (int i = 0; i < 2; i++)
        {
          if (!h[i].done && h[i].len == 0 && !h[i].eof)
            pfd[i].events |= POLLIN;
          if (!h[i].done && h[i].len > h[i].off)
            pfd[1 - i].events |= POLLOUT;
        }
      /* A hung-up fd nobody waits on is left out: poll would report it at once, forever. */
      for (int i = 0; i < 2; i++)
        if (pfd[i].events == 0)
          pfd[i].fd = -1;
      if (poll (pfd, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          ret = fk_error_set_errno (err, "relay: poll");
          break;
        }
      if (half_step (&h[0], pfd[0].revents, pfd[1].revents, err) < 0
          || half_step (&h[1], pfd[1].revents, pfd[0].revents, err) < 0)
        {
          ret = -1;
          break;
        }
    }
  free (h);
  return ret;
}
