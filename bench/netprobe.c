/* bench/netprobe.c: the network benchmark's probe, static and libc only so it runs inside any
   sandbox and in any namespace the benchmark makes. Numeric addresses only (no resolver).

     netprobe connect ADDR PORT N   N TCP connects (connect, then close), one latency a line (us)
     netprobe rtt ADDR PORT N       one connection, N one-byte round trips, one latency a line (us)
     netprobe serve PORT            echo server on every address, any number of connections

   Each latency is measured with CLOCK_MONOTONIC around the calls alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
parse_addr (const char *text, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
  memset (ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton (AF_INET, text, &in4->sin_addr) == 1)
    {
      in4->sin_family = AF_INET;
      in4->sin_port = htons ((unsigned short)port);
      *len = sizeof *in4;
      return 0;
    }
  if (inet_pton (AF_INET6, text, &in6->sin6_addr) == 1)
    {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons ((unsigned short)port);
      *len = sizeof *in6;
      return 0;
    }
  fprintf (stderr, "netprobe: `%s' is not a numeric address\n", text);
  return -1;
}

static int
open_conn (const struct sockaddr_storage *ss, socklen_t len)
{
  int fd = socket (ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (const struct sockaddr *)ss, len) < 0)
    {
      int e = errno;
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

static int
do_connect (const struct sockaddr_storage *ss, socklen_t len, long n)
{
  for (long i = 0; i < n; i++)
    {
      double t0 = now_us ();
      int fd = open_conn (ss, len);
      if (fd < 0)
        {
          perror ("netprobe: connect");
          return 1;
        }
      close (fd);
      printf ("%.1f\n", now_us () - t0);
    }
  return 0;
}

static int
do_rtt (const struct sockaddr_storage *ss, socklen_t len, long n)
{
  int fd = open_conn (ss, len);
  if (fd < 0)
    {
      perror ("netprobe: connect");
      return 1;
    }
  for (long i = 0; i < n; i++)
    {
      char c = 'x';
      double t0 = now_us ();
      if (write (fd, &c, 1) != 1 || read (fd, &c, 1) != 1)
        {
          perror ("netprobe: round trip");
          return 1;
        }
      printf ("%.1f\n", now_us () - t0);
    }
  close (fd);
  return 0;
}

#define MAX_CLIENTS 64

static int
do_serve (unsigned port)
{
  int lfd = socket (AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt (lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 a;
  memset (&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons ((unsigned short)port);
  a.sin6_addr = in6addr_any;
  if (bind (lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen (lfd, 128) < 0)
    {
      perror ("netprobe: listen");
      return 1;
    }
  struct pollfd p[MAX_CLIENTS + 1];
  size_t n = 1;
  p[0].fd = lfd;
  p[0].events = POLLIN;
  for (;;)
    {
      if (poll (p, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return 1;
        }
      for (size_t i = n; i-- > 1;)
        if (p[i].revents)
          {
            char buf[4096];
            ssize_t r = read (p[i].fd, buf, sizeof buf);
            if (r <= 0 || write (p[i].fd, buf, (size_t)r) != r)
              {
                close (p[i].fd);
                p[i] = p[--n];
              }
          }
      if (p[0].revents & POLLIN)
        {
          int c = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
          if (c < 0)
            continue;
          if (n > MAX_CLIENTS)
            {
              close (c);
              continue;
            }
          setsockopt (c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          p[n].fd = c;
          p[n].events = POLLIN;
          p[n].revents = 0;
          n++;
        }
    }
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOFBF, 1 << 16);
  if (argc == 3 && strcmp (argv[1], "serve") == 0)
    return do_serve ((unsigned)strtoul (argv[2], NULL, 10));
  if (argc == 5 && (strcmp (argv[1], "connect") == 0 || strcmp (argv[1], "rtt") == 0))
    {
      struct sockaddr_storage ss;
      socklen_t len;
      if (parse_addr (argv[2], (unsigned)strtoul (argv[3], NULL, 10), &ss, &len) < 0)
        return 2;
      long n = strtol (argv[4], NULL, 10);
      return argv[1][0] == 'c' ? do_connect (&ss, len, n) : do_rtt (&ss, len, n);
    }
  fprintf (stderr, "usage: netprobe connect|rtt ADDR PORT N | netprobe serve PORT\n");
  return 2;
}
