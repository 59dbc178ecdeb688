/* cli/port.c: fk port ID PORT [--listen ADDR:PORT | --listen unix:PATH] [--once]: forwards the
   connections made to a host address to a TCP port inside a sandbox, in any data plane: each
   one is a port connect through the sandbox's agent (fk_client_port_connect), then bytes both
   ways (fk_port_relay) until both sides are done, half-closes passed on. A thread per
   forwarded connection: fk port serves a person or a script, not thousands of clients. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/listen.h"
#include "base/xalloc.h"
#include "cli/open.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk port ID PORT [--listen ADDR:PORT | --listen unix:PATH] [--once]\n"
                "  forwards connections to ADDR:PORT (default 127.0.0.1:0, a free port) to\n"
                "  TCP port PORT inside sandbox ID; prints `fk: forwarding ADDR -> ID:PORT'\n"
                "  --listen unix:PATH  a unix socket (mode 0660, removed on exit)\n"
                "  --once              forward one connection, then exit (1 when the port\n"
                "                      could not be reached)\n");
}

typedef struct fwd
{
  char *socket_path, *id;
  unsigned port;
  int client;
} fwd_t;

/* Forwards one accepted connection; 0, or 1 when the port could not be reached. */
static int
forward (const fwd_t *f)
{
  fk_error_t err = FK_ERROR_INIT;
  int fd = -1;
  if (fk_client_port_connect (f->socket_path, f->port, AF_UNSPEC, &fd, &err) < 0)
    {
      fprintf (stderr, "fk: port: sandbox %s, port %u: %s\n", f->id, f->port,
               fk_error_message (&err));
      fk_error_clear (&err);
      close (f->client);
      return 1;
    }
  if (fk_port_relay (f->client, fd, &err) < 0)
    {
      fprintf (stderr, "fk: port: %s\n", fk_error_message (&err));
      fk_error_clear (&err);
    }
  close (fd);
  close (f->client);
  return 0;
}

static void *
forward_main (void *p)
{
  fwd_t *f = p;
  forward (f);
  free (f);
  return NULL;
}

static volatile sig_atomic_t stop_sig;

static void
on_stop (int sig)
{
  stop_sig = sig;
}

int
fk_verb_port (const fk_cli_globals_t *g, int argc, char **argv)
{
  const char *listen = "127.0.0.1:0";
  int once = 0;
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "once", no_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  /* Options may follow ID and PORT: 0 makes getopt start afresh, forgetting the `+' of fk's
     own option scan. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'l':
        listen = optarg;
        break;
      case 'o':
        once = 1;
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (argc - optind != 2)
    {
      usage (stderr);
      return 2;
    }
  const char *id = argv[optind];
  char *end;
  errno = 0;
  unsigned long port = strtoul (argv[optind + 1], &end, 10);
  if (errno || *end || argv[optind + 1][0] < '0' || argv[optind + 1][0] > '9' || port < 1
      || port > 65535)
    {
      fprintf (stderr, "fk: port: `%s' is not a port (1-65535)\n", argv[optind + 1]);
      return 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  if (fk_listen_parse_check (listen, &err) < 0)
    {
      fprintf (stderr, "fk: port: --listen %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      return 2;
    }

  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  fk_sandbox_info_t *info = NULL;
  fk_listen_t l = FK_LISTEN_INIT;
  int rc = 1;
  if (fk_cli_runtime_open (g, 0, NULL, &rt, &err) < 0 || fk_sandbox_open (rt, id, &sb, &err) < 0
      || fk_sandbox_inspect (sb, &info, &err) < 0)
    goto fail;
  if (info->status != FK_SANDBOX_RUNNING || info->socket_path == NULL)
    {
      fk_error_set (&err, ESRCH, "sandbox `%s' is %s", id,
                    info->socket_path ? fk_sandbox_status_name (info->status)
                                      : "not running an agent");
      goto fail;
    }
  if (fk_listen_open (listen, 0660, &l, &err) < 0)
    goto fail;

  /* SIGINT and SIGTERM end the accept loop (no SA_RESTART), so the socket file is removed. */
  struct sigaction sa = { .sa_handler = on_stop };
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  printf ("fk: forwarding %s -> %s:%lu\n", l.display, id, port);
  fflush (stdout);

  rc = 0;
  while (!stop_sig)
    {
      int cfd = accept4 (l.fd, NULL, NULL, SOCK_CLOEXEC);
      if (cfd < 0)
        {
          if (errno == EINTR || errno == ECONNABORTED)
            continue;
          fprintf (stderr, "fk: port: accept: %s\n", strerror (errno));
          rc = 1;
          break;
        }
      fwd_t *f = xcalloc (1, sizeof *f);
      *f = (fwd_t){
        .socket_path = info->socket_path, .id = info->id, .port = (unsigned)port, .client = cfd
      };
      if (once)
        {
          rc = forward (f);
          free (f);
          break;
        }
      pthread_attr_t attr;
      pthread_attr_init (&attr);
      pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
      pthread_t t;
      int e = pthread_create (&t, &attr, forward_main, f);
      pthread_attr_destroy (&attr);
      if (e != 0)
        {
          fprintf (stderr, "fk: port: start a thread: %s\n", strerror (e));
          close (cfd);
          free (f);
        }
    }
  fk_listen_close (&l);
  /* Threads still forwarding end with the process: the sandbox's side sees its connections
     close. */
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  return rc;

fail:
  fprintf (stderr, "fk: port: %s\n", fk_error_message (&err));
  fk_error_clear (&err);
  fk_listen_close (&l);
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  return rc;
}
