/* Unit tests for port connections (fk_client_port_connect) and the relay (fk_port_relay):
   against a real fk-agent (run on the host, so "inside" is this machine's loopback), and
   against a fake agent that hands over the wrong things: a file, a socket connected elsewhere,
   two fds, none. Every lie is EPROTO and leaves no fd behind; no fd ever reaches the agent. */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agentutil.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* A TCP listener on 127.0.0.1 (or ::1) on a free port. */
static int
listen_tcp (int v6, unsigned *ret_port)
{
  int fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  if (v6)
    {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
      s6->sin6_family = AF_INET6;
      s6->sin6_addr = in6addr_loopback;
      len = sizeof *s6;
    }
  else
    {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
      s4->sin_family = AF_INET;
      s4->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      len = sizeof *s4;
    }
  if (bind (fd, (struct sockaddr *)&ss, len) < 0 || listen (fd, 16) < 0
      || getsockname (fd, (struct sockaddr *)&ss, &len) < 0)
    {
      close (fd);
      return -1;
    }
  *ret_port = ntohs (v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

static int
count_fds (void)
{
  int n = 0;
  DIR *d = opendir ("/proc/self/fd");
  for (struct dirent *e; d && (e = readdir (d));)
    n += e->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

static void
read_exact (int fd, char *buf, size_t n)
{
  size_t got = 0;
  while (got < n)
    {
      ssize_t r = read (fd, buf + got, n - got);
      assert_true (r > 0);
      got += (size_t)r;
    }
}

static void
test_connect_and_talk (void **state)
{
  test_agent_t a = { 0 };
  assert_int_equal (test_agent_start (&a, NULL), 0);
  unsigned port;
  int lfd = listen_tcp (0, &port);
  assert_true (lfd >= 0);
  int before = count_fds ();
  fk_error_t err = FK_ERROR_INIT;
  int fd = -1;
  int r0 = fk_client_port_connect (a.sock, port, AF_UNSPEC, &fd, &err);
  if (r0 < 0)
    print_message ("# %s\n", fk_error_message (&err));
  assert_int_equal (r0, 0);
  assert_int_equal (count_fds (), before + 1);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  assert_false (fcntl (fd, F_GETFL) & O_NONBLOCK);
  int sfd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
  assert_true (sfd >= 0);
  assert_int_equal (write (fd, "ping", 4), 4);
  char buf[8];
  read_exact (sfd, buf, 4);
  assert_memory_equal (buf, "ping", 4);
  assert_int_equal (write (sfd, "pong", 4), 4);
  read_exact (fd, buf, 4);
  assert_memory_equal (buf, "pong", 4);
  /* A half-close reaches the server, which can still answer. */
  shutdown (fd, SHUT_WR);
  assert_int_equal (read (sfd, buf, sizeof buf), 0);
  assert_int_equal (write (sfd, "bye", 3), 3);
  close (sfd);
  read_exact (fd, buf, 3);
  assert_memory_equal (buf, "bye", 3);
  assert_int_equal (read (fd, buf, sizeof buf), 0);
  close (fd);

  /* Many in a row: nothing piles up in the agent or here. */
  for (int i = 0; i < 200; i++)
    {
      assert_int_equal (fk_client_port_connect (a.sock, port, AF_INET, &fd, &err), 0);
      close (fd);
      int s = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      assert_true (s >= 0);
      close (s);
    }
  assert_int_equal (count_fds (), before);
  close (lfd);
  assert_int_equal (test_agent_stop (&a), 0);
}

static void
test_refused_and_bad_ports (void **state)
{
  test_agent_t a = { 0 };
  assert_int_equal (test_agent_start (&a, NULL), 0);
  unsigned port;
  int lfd = listen_tcp (0, &port);
  assert_true (lfd >= 0);
  close (lfd); /* nothing listens there now */
  int before = count_fds ();
  fk_error_t err = FK_ERROR_INIT;
  int fd = -1;
  assert_true (fk_client_port_connect (a.sock, port, AF_UNSPEC, &fd, &err) < 0);
  assert_int_equal (err.code, ECONNREFUSED);
  assert_non_null (strstr (fk_error_message (&err), "refused"));
  fk_error_clear (&err);
  assert_true (fk_client_port_connect (a.sock, port, AF_INET, &fd, &err) < 0);
  assert_int_equal (err.code, ECONNREFUSED);
  fk_error_clear (&err);
  const unsigned bad[] = { 0, 65536, 100000 };
  for (size_t i = 0; i < 3; i++)
    {
      assert_true (fk_client_port_connect (a.sock, bad[i], AF_UNSPEC, &fd, &err) < 0);
      assert_int_equal (err.code, EINVAL);
      fk_error_clear (&err);
    }
  assert_true (fk_client_port_connect (a.sock, 80, AF_UNIX, &fd, &err) < 0);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  assert_int_equal (count_fds (), before);
  assert_int_equal (test_agent_stop (&a), 0);
}

static void
test_ipv6 (void **state)
{
  unsigned port;
  int lfd = listen_tcp (1, &port);
  if (lfd < 0)
    skip (); /* no ::1 here */
  test_agent_t a = { 0 };
  assert_int_equal (test_agent_start (&a, NULL), 0);
  fk_error_t err = FK_ERROR_INIT;
  int fd = -1;
  /* Either: 127.0.0.1 is refused, ::1 answers. */
  assert_int_equal (fk_client_port_connect (a.sock, port, AF_UNSPEC, &fd, &err), 0);
  close (fd);
  assert_int_equal (fk_client_port_connect (a.sock, port, AF_INET6, &fd, &err), 0);
  close (fd);
  assert_true (fk_client_port_connect (a.sock, port, AF_INET, &fd, &err) < 0);
  assert_int_equal (err.code, ECONNREFUSED);
  fk_error_clear (&err);
  close (lfd);
  assert_int_equal (test_agent_stop (&a), 0);
}

/* fds go agent -> client only: one a client attaches to a frame is dropped by the agent (the
   pipe's write end it got would otherwise keep the pipe open). */
static void
test_agent_takes_no_fd (void **state)
{
  test_agent_t a = { 0 };
  assert_int_equal (test_agent_start (&a, NULL), 0);
  int sock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  strcpy (sa.sun_path, a.sock);
  assert_int_equal (connect (sock, (struct sockaddr *)&sa, sizeof sa), 0);
  int p[2];
  assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_HELLO, 0, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&b, FK_TAG_VERSION, FK_WIRE_VERSION);
  fk_wire_end (&b, NULL);
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  memset (&u, 0, sizeof u);
  struct iovec iov = { .iov_base = b.data, .iov_len = b.len };
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *cm = CMSG_FIRSTHDR (&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cm), &p[1], sizeof (int));
  assert_int_equal (sendmsg (sock, &msg, 0), (ssize_t)b.len);
  fk_wire_buf_free (&b);
  close (p[1]);
  /* The hello is answered (the agent read the frame), and the pipe has no writer left. */
  char rbuf[256];
  struct pollfd pfd = { .fd = sock, .events = POLLIN };
  assert_int_equal (poll (&pfd, 1, 10000), 1);
  assert_true (recv (sock, rbuf, sizeof rbuf, 0) > 0);
  pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
  assert_int_equal (poll (&pfd, 1, 10000), 1);
  assert_int_equal (read (p[0], rbuf, 1), 0);
  close (p[0]);
  close (sock);
  assert_int_equal (test_agent_stop (&a), 0);
}

/* ---- a fake agent that hands over the wrong thing ---- */

enum
{
  GIVE_FILE,
  GIVE_OTHER_PORT,
  GIVE_TWO,
  GIVE_NONE,
  GIVE_UNIX,
  GIVE_WITH_HELLO,
  GIVE_WRONG_PORT_FIELD,
};

typedef struct fake
{
  int lfd;
  int variant;
  unsigned port, other_port;
  pthread_t thread;
} fake_t;

static void
send_frame_fds (int sock, fk_wire_buf_t *b, const int *fds, size_t n)
{
  union
  {
    char buf[CMSG_SPACE (4 * sizeof (int))];
    struct cmsghdr align;
  } u;
  memset (&u, 0, sizeof u);
  struct iovec iov = { .iov_base = b->data, .iov_len = b->len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n)
    {
      msg.msg_control = u.buf;
      msg.msg_controllen = CMSG_SPACE (n * sizeof (int));
      struct cmsghdr *cm = CMSG_FIRSTHDR (&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN (n * sizeof (int));
      memcpy (CMSG_DATA (cm), fds, n * sizeof (int));
    }
  sendmsg (sock, &msg, MSG_NOSIGNAL);
  fk_wire_buf_reset (b);
}

static void *
fake_main (void *p)
{
  fake_t *fa = p;
  int sock = accept4 (fa->lfd, NULL, NULL, SOCK_CLOEXEC);
  if (sock < 0)
    return NULL;
  char buf[4096];
  (void)!recv (sock, buf, sizeof buf, 0); /* hello and the port connect, unread */
  int tcp = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons ((uint16_t)fa->other_port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  (void)!connect (tcp, (struct sockaddr *)&sa, sizeof sa);
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int un[2];
  socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, un);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_R_HELLO, FK_WIRE_F_END, 1);
  fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&b, FK_TAG_VERSION, 1);
  fk_wire_put_int (&b, FK_TAG_PID, 1);
  fk_wire_end (&b, NULL);
  send_frame_fds (sock, &b, &tcp, fa->variant == GIVE_WITH_HELLO);
  fk_wire_begin (&b, FK_WIRE_R_PORT, FK_WIRE_F_END, 2);
  fk_wire_put_int (&b, FK_TAG_PORT, fa->variant == GIVE_WRONG_PORT_FIELD ? 1 : fa->port);
  fk_wire_put_int (&b, FK_TAG_FAMILY, FK_WIRE_FAMILY_IPV4);
  fk_wire_put_str (&b, FK_TAG_ADDR, "127.0.0.1");
  fk_wire_end (&b, NULL);
  int two[2] = { tcp, devnull };
  switch (fa->variant)
    {
    case GIVE_FILE:
      send_frame_fds (sock, &b, &devnull, 1);
      break;
    case GIVE_OTHER_PORT:
    case GIVE_WRONG_PORT_FIELD:
    case GIVE_WITH_HELLO:
      send_frame_fds (sock, &b, &tcp, 1);
      break;
    case GIVE_TWO:
      send_frame_fds (sock, &b, two, 2);
      break;
    case GIVE_NONE:
      send_frame_fds (sock, &b, NULL, 0);
      break;
    case GIVE_UNIX:
      send_frame_fds (sock, &b, &un[0], 1);
      break;
    }
  fk_wire_buf_free (&b);
  close (tcp);
  close (devnull);
  close (un[0]);
  close (un[1]);
  (void)!recv (sock, buf, sizeof buf, 0); /* until the client hangs up */
  close (sock);
  return NULL;
}

static void
test_hostile_agent (void **state)
{
  unsigned other;
  int other_lfd = listen_tcp (0, &other);
  assert_true (other_lfd >= 0);
  fcntl (other_lfd, F_SETFL, O_NONBLOCK);
  char dir[] = "/tmp/fk-port-test.XXXXXX";
  assert_non_null (mkdtemp (dir));
  char path[64];
  snprintf (path, sizeof path, "%s/sock", dir);
  for (int v = GIVE_FILE; v <= GIVE_WRONG_PORT_FIELD; v++)
    {
      fake_t fa = { .variant = v, .port = other + 1, .other_port = other };
      if (fa.port > 65535)
        fa.port = 1024;
      fa.lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un sa = { .sun_family = AF_UNIX };
      strcpy (sa.sun_path, path);
      unlink (path);
      assert_int_equal (bind (fa.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
      assert_int_equal (listen (fa.lfd, 1), 0);
      int before = count_fds ();
      assert_int_equal (pthread_create (&fa.thread, NULL, fake_main, &fa), 0);
      fk_error_t err = FK_ERROR_INIT;
      int fd = -1;
      /* The fake agent's port field says `port' except in GIVE_WRONG_PORT_FIELD; the socket is
         connected to `other' (when it is a TCP socket at all): never what was asked for. */
      int r = fk_client_port_connect (path, fa.port, AF_UNSPEC, &fd, &err);
      print_message ("# variant %d: %s\n", v, r < 0 ? fk_error_message (&err) : "accepted");
      assert_true (r < 0);
      assert_int_equal (err.code, EPROTO);
      fk_error_clear (&err);
      pthread_join (fa.thread, NULL);
      /* Nothing the fake agent sent is left open here (the thread closed its own). */
      assert_int_equal (count_fds (), before);
      close (fa.lfd);
      int s;
      while ((s = accept4 (other_lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close (s);
    }
  unlink (path);
  rmdir (dir);
  close (other_lfd);
}

/* ---- the relay ---- */

typedef struct relay_args
{
  int a, b, ret;
} relay_args_t;

static void *
relay_main (void *p)
{
  relay_args_t *ra = p;
  fk_error_t err = FK_ERROR_INIT;
  ra->ret = fk_port_relay (ra->a, ra->b, &err);
  fk_error_clear (&err);
  return NULL;
}

static void
test_relay (void **state)
{
  int x[2], y[2];
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x), 0);
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, y), 0);
  relay_args_t ra = { .a = x[1], .b = y[0], .ret = -2 };
  pthread_t t;
  assert_int_equal (pthread_create (&t, NULL, relay_main, &ra), 0);
  /* 4 MiB one way while the other side echoes nothing yet: the relay buffers a bounded amount,
     so a writer thread is needed. */
  size_t total = 4u << 20;
  char *big = xmalloc (total);
  for (size_t i = 0; i < total; i++)
    big[i] = (char)(i * 31 + 7);
  pid_t pid = fork ();
  if (pid == 0)
    {
      size_t off = 0;
      while (off < total)
        {
          ssize_t n = write (x[0], big + off, total - off);
          if (n <= 0)
            _exit (1);
          off += (size_t)n;
        }
      shutdown (x[0], SHUT_WR);
      _exit (0);
    }
  char *got = xmalloc (total);
  read_exact (y[1], got, total);
  assert_memory_equal (got, big, total);
  char c;
  /* The writer's half-close arrives as an end of file ... */
  assert_int_equal (read (y[1], &c, 1), 0);
  int st;
  waitpid (pid, &st, 0);
  /* ... and the other way still flows. */
  assert_int_equal (write (y[1], "back", 4), 4);
  char buf[4];
  read_exact (x[0], buf, 4);
  assert_memory_equal (buf, "back", 4);
  close (y[1]);
  assert_int_equal (read (x[0], &c, 1), 0);
  pthread_join (t, NULL);
  assert_int_equal (ra.ret, 0);
  free (big);
  free (got);
  for (int i = 0; i < 2; i++)
    {
      close (x[i]);
      close (y[i]);
    }
}

int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_connect_and_talk),
    cmocka_unit_test (test_refused_and_bad_ports),
    cmocka_unit_test (test_ipv6),
    cmocka_unit_test (test_agent_takes_no_fd),
    cmocka_unit_test (test_hostile_agent),
    cmocka_unit_test (test_relay),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
