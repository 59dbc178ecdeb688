/* oci/console.c: runc's console socket, for create and exec with a terminal: the caller's unix
   socket gets the terminal's master. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "oci/oci.h"

int
oci_console_connect (const char *path, fk_error_t *err)
{
  struct stat st;
  if (stat (path, &st) < 0)
    return fk_error_set_errno (err, "console socket `%s'", path);
  if (!S_ISSOCK (st.st_mode))
    return fk_error_set (err, ENOTSOCK, "console socket `%s' is not a socket", path);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "console socket `%s': path too long", path);
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    {
      fk_error_set_errno (err, "connect to console socket `%s'", path);
      if (fd >= 0)
        close (fd);
      return -1;
    }
  return fd;
}

int
oci_send_console (int sock, int master, fk_error_t *err)
{
  unsigned n = 0;
  char name[64] = "/dev/pts/ptmx";
  if (ioctl (master, TIOCGPTN, &n) == 0)
    snprintf (name, sizeof name, "/dev/pts/%u", n);
  struct iovec iov = { .iov_base = name, .iov_len = strlen (name) };
  char cbuf[CMSG_SPACE (sizeof (int))];
  memset (cbuf, 0, sizeof cbuf);
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &master, sizeof (int));
  if (sendmsg (sock, &msg, MSG_NOSIGNAL) < 0)
    return fk_error_set_errno (err, "send the terminal on the console socket");
  return 0;
}
