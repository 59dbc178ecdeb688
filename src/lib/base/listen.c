/* base/listen.c: see listen.h. */
#include "base/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

#define LISTEN_BACKLOG 512

typedef struct parsed
{
  int is_unix;
  struct sockaddr_storage ss;
  socklen_t len;
  const char *path;
} parsed_t;

static int
parse (const char *spec, parsed_t *p, fk_error_t *err)
{
  memset (p, 0, sizeof *p);
  if (strncmp (spec, "unix:", 5) == 0)
    {
      const char *path = spec + 5;
      struct sockaddr_un *sun = (struct sockaddr_un *)&p->ss;
      if (path[0] == '\0')
        return fk_error_set (err, EINVAL, "`%s': unix: needs a path", spec);
      if (strlen (path) >= sizeof sun->sun_path)
        return fk_error_set (err, ENAMETOOLONG, "`%s': the path is too long for a unix socket",
                             spec);
      sun->sun_family = AF_UNIX;
      strcpy (sun->sun_path, path);
      p->len = sizeof *sun;
      p->is_unix = 1;
      p->path = path;
      return 0;
    }
  const char *colon = strrchr (spec, ':');
  if (colon == NULL)
    return fk_error_set (err, EINVAL, "`%s' is not ADDR:PORT or unix:PATH", spec);
  char *end;
  errno = 0;
  unsigned long port = strtoul (colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || port > 65535 || colon[1] == '-' || colon[1] == '+')
    return fk_error_set (err, EINVAL, "`%s': the port is not 0-65535", spec);
  cleanup_free char *host = xstrndup (spec, (size_t)(colon - spec));
  size_t hl = strlen (host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
    {
      host[hl - 1] = '\0';
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->ss;
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons ((uint16_t)port);
      if (inet_pton (AF_INET6, host + 1, &s6->sin6_addr) != 1)
        return fk_error_set (err, EINVAL, "`%s': `%s' is not an IPv6 address", spec, host + 1);
      p->len = sizeof *s6;
      return 0;
    }
  struct sockaddr_in *s4 = (struct sockaddr_in *)&p->ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons ((uint16_t)port);
  if (host[0] == '\0')
    s4->sin_addr.s_addr = htonl (INADDR_ANY);
  else if (inet_pton (AF_INET, host, &s4->sin_addr) != 1)
    return fk_error_set (err, EINVAL, "`%s': `%s' is not an IPv4 address ([...] for IPv6)", spec,
                         host);
  p->len = sizeof *s4;
  return 0;
}

int
fk_listen_parse_check (const char *spec, fk_error_t *err)
{
  parsed_t p;
  return parse (spec, &p, err);
}

/* A socket file at path: removed when nobody listens on it; anything else is refused. */
static int
clear_stale (const parsed_t *p, fk_error_t *err)
{
  struct stat st;
  if (lstat (p->path, &st) < 0)
    return errno == ENOENT ? 0 : fk_error_set_errno (err, "stat `%s'", p->path);
  if (!S_ISSOCK (st.st_mode))
    return fk_error_set (err, EEXIST, "`%s' exists and is not a socket: not replacing it", p->path);
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket");
  if (connect (fd, (const struct sockaddr *)&p->ss, p->len) == 0)
    return fk_error_set (err, EADDRINUSE, "`%s': something listens there already", p->path);
  if (unlink (p->path) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "remove the stale socket `%s'", p->path);
  return 0;
}

static char *
display (const parsed_t *p, int fd)
{
  if (p->is_unix)
    return xasprintf ("unix:%s", p->path);
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  if (getsockname (fd, (struct sockaddr *)&ss, &len) < 0)
    ss = p->ss;
  if (ss.ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
      inet_ntop (AF_INET6, &s6->sin6_addr, host, sizeof host);
      return xasprintf ("[%s]:%u", host, ntohs (s6->sin6_port));
    }
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
  inet_ntop (AF_INET, &s4->sin_addr, host, sizeof host);
  return xasprintf ("%s:%u", host, ntohs (s4->sin_port));
}

int
fk_listen_open (const char *spec, unsigned unix_mode, fk_listen_t *ret, fk_error_t *err)
{
  parsed_t p;
  if (parse (spec, &p, err) < 0)
    return -1;
  if (p.is_unix && clear_stale (&p, err) < 0)
    return -1;
  cleanup_close int fd = socket (p.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket for `%s'", spec);
  int one = 1;
  if (!p.is_unix)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (p.ss.ss_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int r;
  if (p.is_unix)
    {
      /* The file is made with no more than unix_mode: no moment where others may connect. */
      mode_t old = umask ((mode_t)(~unix_mode & 0777));
      r = bind (fd, (const struct sockaddr *)&p.ss, p.len);
      umask (old);
      if (r == 0 && chmod (p.path, unix_mode) < 0)
        {
          fk_error_set_errno (err, "chmod `%s'", p.path);
          unlink (p.path);
          return -1;
        }
    }
  else
    r = bind (fd, (const struct sockaddr *)&p.ss, p.len);
  if (r < 0)
    return fk_error_set_errno (err, "bind `%s'", spec);
  if (listen (fd, LISTEN_BACKLOG) < 0)
    {
      fk_error_set_errno (err, "listen on `%s'", spec);
      if (p.is_unix)
        unlink (p.path);
      return -1;
    }
  ret->display = display (&p, fd);
  ret->path = p.is_unix ? xstrdup (p.path) : NULL;
  ret->fd = steal_fd (&fd);
  return 0;
}

void
fk_listen_close (fk_listen_t *l)
{
  if (l->fd >= 0)
    close (l->fd);
  if (l->path)
    unlink (l->path);
  free (l->path);
  free (l->display);
  l->fd = -1;
  l->path = l->display = NULL;
}
