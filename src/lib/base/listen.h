/* base/listen.h: listening sockets from an address as a user writes it: `ADDR:PORT' (an IPv4
   address, `[IPv6]:PORT', or `:PORT' for every IPv4 address; port 0 picks a free one) or
   `unix:PATH'. A unix socket is made with the mode asked for (no window with a wider one), an
   existing socket file at PATH that nobody listens on is replaced, anything else there (a
   file, a live socket) is refused; fk_listen_close removes the file again. */
#ifndef FK_BASE_LISTEN_H
#define FK_BASE_LISTEN_H

#include "base/error.h"

typedef struct fk_listen
{
  int fd;        /* listening, close-on-exec, blocking */
  char *path;    /* unix: the socket file (removed by fk_listen_close); else NULL */
  char *display; /* "127.0.0.1:41234" (the port bound), "[::1]:80", "unix:/run/x.sock" */
} fk_listen_t;

#define FK_LISTEN_INIT                                                                             \
  {                                                                                                \
    .fd = -1                                                                                       \
  }

/* Checks that spec is a listen address, without opening anything. */
int fk_listen_parse_check (const char *spec, fk_error_t *err);
/* Opens a listener on spec (backlog 512); unix_mode is the socket file's mode (e.g. 0660). */
int fk_listen_open (const char *spec, unsigned unix_mode, fk_listen_t *ret, fk_error_t *err);
/* Closes the socket and removes its file (unix). Fine on FK_LISTEN_INIT. */
void fk_listen_close (fk_listen_t *l);

#endif
