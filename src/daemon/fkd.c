/* fkd: the daemon agent code reaches: the E2B control plane and envd over HTTP, on libfirkin.
   It parses requests and calls the library; what it must remember of a sandbox is in the
   sandbox's own state, so a restarted fkd serves the same sandboxes. docs/fkd.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "cli/open.h"
#include "daemon/proxy.h"
#include "daemon/server.h"
#include "firkin/log.h"
#include "firkin/runtime.h"

/* Per connection: what MHD may use for its headers and buffers (a request whose headers do not
   fit gets 431), idle seconds before it is closed, and connections at once. */
#define CONNECTION_MEMORY (64u << 10)
#define CONNECTION_TIMEOUT_S 120
#define CONNECTION_LIMIT 4000
/* How long shutdown waits for requests in flight (streams end within a tick). */
#define SHUTDOWN_WAIT_S 30

static void
usage (FILE *f)
{
  fprintf (f, "usage: fkd [--listen ADDR:PORT] [--envd-listen ADDR:PORT] [--api-key KEY]\n"
              "           [--domain D] [--state-dir DIR] [--agent PATH] [--log-level LEVEL]\n"
              "  --listen       the E2B control plane (default 127.0.0.1:3000)\n"
              "  --envd-listen  envd for every sandbox, routed by E2b-Sandbox-Id\n"
              "                 (default 127.0.0.1:49983)\n"
              "  --api-key      the X-API-Key clients must send (default: none asked)\n"
              "  --state-dir    the state directory (default $FIRKIN_STATE_DIR, else "
              "/var/lib/firkin)\n"
              "  --agent        fk-agent (default $FIRKIN_AGENT, else beside fkd)\n");
}

static int
parse_addr (const char *s, struct sockaddr_in *ret)
{
  const char *colon = strrchr (s, ':');
  if (colon == NULL)
    return -1;
  cleanup_free char *host = xstrndup (s, (size_t)(colon - s));
  char *end;
  errno = 0;
  unsigned long port = strtoul (colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end || port > 65535)
    return -1;
  memset (ret, 0, sizeof *ret);
  ret->sin_family = AF_INET;
  ret->sin_port = htons ((uint16_t)port);
  if (host[0] == '\0')
    ret->sin_addr.s_addr = htonl (INADDR_ANY);
  else if (inet_pton (AF_INET, host, &ret->sin_addr) != 1)
    return -1;
  return 0;
}

/* libmicrohttpd's messages: fmt is the library's own format (the callback's contract). */
static void mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
mhd_log (void *cls, const char *fmt, va_list ap)
{
  cleanup_free char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    return;
  size_t n = strlen (msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = '\0';
  log_debug ("http: %s", msg);
}

static struct MHD_Daemon *
start_listener (fkd_listener_t *l, const struct sockaddr_in *addr)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                   | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
  return MHD_start_daemon (
      flags, ntohs (addr->sin_port), NULL, NULL, fkd_handle, l, MHD_OPTION_SOCK_ADDR, addr,
      MHD_OPTION_NOTIFY_COMPLETED, fkd_completed, l, MHD_OPTION_URI_LOG_CALLBACK, fkd_uri_log, l,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
      MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
      MHD_OPTION_END);
}

/* Room for the connection limit: raise the soft open-files limit to the hard one. */
static void
raise_nofile (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

int
main (int argc, char **argv)
{
  fk_log_set_program ("fkd");
  const char *listen = "127.0.0.1:3000", *envd_listen = "127.0.0.1:49983";
  const char *agent = NULL;
  fk_cli_globals_t g = { .state_dir = getenv ("FIRKIN_STATE_DIR") };
  if (g.state_dir == NULL || g.state_dir[0] == '\0')
    g.state_dir = "/var/lib/firkin";
  fkd_server_t srv = { 0 };
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "envd-listen", required_argument, NULL, 'e' },
    { "api-key", required_argument, NULL, 'k' },
    { "domain", required_argument, NULL, 'd' },
    { "state-dir", required_argument, NULL, 's' },
    { "agent", required_argument, NULL, 'a' },
    { "log-level", required_argument, NULL, 'L' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'l':
        listen = optarg;
        break;
      case 'e':
        envd_listen = optarg;
        break;
      case 'k':
        srv.api_key = optarg[0] ? optarg : NULL;
        break;
      case 'd':
        srv.domain = optarg;
        break;
      case 's':
        g.state_dir = optarg;
        break;
      case 'a':
        agent = optarg;
        break;
      case 'L':
        {
          fk_log_level_t level;
          if (fk_log_level_parse (optarg, &level) < 0)
            {
              fprintf (stderr, "fkd: --log-level: error, warning, info or debug\n");
              return 2;
            }
          fk_log_set_level (level);
          break;
        }
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (optind != argc)
    {
      usage (stderr);
      return 2;
    }
  struct sockaddr_in control_addr, envd_addr;
  if (parse_addr (listen, &control_addr) < 0 || parse_addr (envd_listen, &envd_addr) < 0)
    {
      fprintf (stderr, "fkd: an address is IPV4:PORT (`%s', `%s')\n", listen, envd_listen);
      return 2;
    }

  fk_error_t err = FK_ERROR_INIT;
  if (fk_cli_runtime_open (&g, FK_CLI_RUNTIME_PROGRAMS, agent, &srv.rt, &err) < 0)
    {
      log_error ("%s", fk_error_message (&err));
      fk_error_clear (&err);
      return 1;
    }
  pthread_mutex_init (&srv.lock, NULL);
  pthread_cond_init (&srv.idle, NULL);
  raise_nofile ();

  /* Signals go to the main thread's sigwait only: block them before any thread starts. */
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);

  fkd_listener_t control = { .srv = &srv, .plane = FKD_PLANE_CONTROL };
  fkd_listener_t envd = { .srv = &srv, .plane = FKD_PLANE_ENVD };
  struct MHD_Daemon *dc = start_listener (&control, &control_addr);
  struct MHD_Daemon *de = dc ? start_listener (&envd, &envd_addr) : NULL;
  if (dc == NULL || de == NULL)
    {
      log_error ("cannot listen on %s", dc == NULL ? listen : envd_listen);
      if (dc)
        MHD_stop_daemon (dc);
      fk_runtime_close (srv.rt);
      return 1;
    }
  log_info ("control plane on %s, envd on %s, state in %s", listen, envd_listen,
            fk_runtime_state_dir (srv.rt));
  /* Readiness for whoever started us (tests, scripts). */
  printf ("fkd: listening on %s and %s\n", listen, envd_listen);
  fflush (stdout);

  int sig = 0;
  sigwait (&set, &sig);
  log_info ("%s: stopping (sandboxes keep running)", strsignal (sig));
  /* Stop accepting, end the streams (their pumps see this), wait for what is in flight. */
  MHD_quiesce_daemon (dc);
  MHD_quiesce_daemon (de);
  __atomic_store_n (&srv.stopping, 1, __ATOMIC_RELEASE);
  /* Proxied connections end now (relays closed, waiting requests failed). */
  fkd_proxy_stop (SHUTDOWN_WAIT_S * 1000);
  pthread_mutex_lock (&srv.lock);
  struct timespec deadline;
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += SHUTDOWN_WAIT_S;
  while (srv.jobs > 0)
    if (pthread_cond_timedwait (&srv.idle, &srv.lock, &deadline) == ETIMEDOUT)
      break;
  unsigned left = srv.jobs;
  pthread_mutex_unlock (&srv.lock);
  if (left)
    {
      /* A suspended connection must not meet MHD_stop_daemon: leave without stopping. */
      log_warning ("%u requests still running after %d s; exiting", left, SHUTDOWN_WAIT_S);
      return 1;
    }
  MHD_stop_daemon (dc);
  MHD_stop_daemon (de);
  fk_runtime_close (srv.rt);
  pthread_mutex_destroy (&srv.lock);
  pthread_cond_destroy (&srv.idle);
  return 0;
}
