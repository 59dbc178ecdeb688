/* fkd: the daemon agent code reaches: the E2B control plane and envd over HTTP, on libfirkin.
   It parses requests and calls the library; what it must remember of a sandbox is in the
   sandbox's own state, so a restarted fkd serves the same sandboxes. docs/fkd.md. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "cli/open.h"
#include "base/listen.h"
#include "daemon/config.h"
#include "daemon/controlreq.h"
#include "daemon/proxy.h"
#include "daemon/server.h"
#include "firkin/pool.h"
#include "firkin/log.h"
#include "firkin/runtime.h"

/* Per connection: what MHD may use for its headers and buffers (a request whose headers do not
   fit gets 431), idle seconds before it is closed, and connections at once. */
#define CONNECTION_MEMORY (16u << 10)
#define CONNECTION_TIMEOUT_S 120
#define CONNECTION_LIMIT 4000
/* How long shutdown waits for requests in flight (streams end within a tick). */
#define SHUTDOWN_WAIT_S 30

/* Most sandboxes the warm pool keeps ready. */
#define FKD_WARM_MAX 256

/* Deletes the sandboxes an fkd that is gone left in its warm pool (their FKD_META_POOL names
   its pid): nobody else can lease them. */
static void
sweep_pool_orphans (fkd_server_t *srv)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  if (fk_sandbox_list (srv->rt, &infos, &n, &err) < 0)
    {
      log_warning ("list sandboxes: %s", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  for (size_t i = 0; i < n; i++)
    {
      const char *owner = fkd_meta_get (infos[i]->metadata, FKD_META_POOL);
      if (owner == NULL)
        continue;
      pid_t pid = (pid_t)atoi (owner);
      if (pid > 0 && pid != getpid () && kill (pid, 0) == 0)
        continue;
      fk_sandbox_t *sb = NULL;
      if (fk_sandbox_open (srv->rt, infos[i]->id, &sb, &err) < 0
          || fk_sandbox_delete (sb, 1, &err) < 0)
        {
          log_warning ("delete warm sandbox %s: %s", infos[i]->id, fk_error_message (&err));
          fk_error_clear (&err);
        }
      else
        log_info ("deleted sandbox %s, left in the warm pool of fkd %s", infos[i]->id, owner);
      fk_sandbox_free (sb);
    }
  fk_sandbox_info_list_free (infos, n);
}

/* The warm pool: sandboxes of template with E2B's default timeout and nothing else asked, which
   a create that asks for no more (its metadata, envs and timeout are set at the lease) takes. */
static int
open_pool (fkd_server_t *srv, const char *template, size_t depth)
{
  sweep_pool_orphans (srv);
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = template;
  spec.timeout_sec = FKD_DEFAULT_TIMEOUT_SEC;
  /* Egress members wait without rules: a lease sets the create's. */
  if (srv->network_egress)
    spec.data_plane.kind = FK_DATA_PLANE_EGRESS;
  cleanup_free char *label = xasprintf ("%s=%d", FKD_META_POOL, (int)getpid ());
  fk_warm_pool_opts_t o = FK_WARM_POOL_OPTIONS_INIT;
  o.depth = depth;
  o.min_ready = 1;
  o.member_label = label;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_warm_pool_open (srv->rt, &spec, &o, &srv->pool, &err) < 0)
    {
      log_error ("warm pool of template %s: %s", template, fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  log_info ("warm pool: %zu sandboxes of template %s", depth, template);
  return 0;
}

static void
close_pool (fkd_server_t *srv)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_warm_pool_close (srv->pool, &err) < 0)
    {
      log_warning ("close the warm pool: %s", fk_error_message (&err));
      fk_error_clear (&err);
    }
  srv->pool = NULL;
}

static void
usage (FILE *f)
{
  fprintf (f, "usage: fkd [--listen ADDR:PORT | --listen unix:PATH]...\n"
              "           [--envd-listen ADDR:PORT | --envd-listen unix:PATH]...\n"
              "           [--api-key KEY] [--domain D] [--state-dir DIR] [--agent PATH]\n"
              "           [--log-level LEVEL] [--warm-pool N] [--warm-template ID]\n"
              "           [--network PLANE] [--oci-root DIR] [--config FILE]\n"
              "  --listen       the E2B control plane (default 127.0.0.1:3000); repeatable;\n"
              "                 unix:PATH is a unix socket (mode 0660, removed on exit)\n"
              "  --envd-listen  envd for every sandbox, routed by E2b-Sandbox-Id or a Host\n"
              "                 {port}-{id}.{domain}, and the port proxy (default\n"
              "                 127.0.0.1:49983); repeatable, unix:PATH too\n"
              "  --api-key      the X-API-Key clients must send (default: none asked)\n"
              "  --domain       the domain sandboxes are reported under; a Host\n"
              "                 {port}-{id}.{domain} reaches that port of the sandbox\n"
              "  --state-dir    the state directory (default $FIRKIN_STATE_DIR, else "
              "/var/lib/firkin)\n"
              "  --agent        fk-agent (default $FIRKIN_AGENT, else beside fkd)\n"
              "  --log-level    error, warning (default), info or debug\n"
              "  --warm-pool N  keep N sandboxes of --warm-template ready for creates that ask\n"
              "                 for nothing else of the sandbox (default 0: none)\n"
              "  --warm-template ID  the warm pool's template (default base)\n"
              "  --network      none (default: sandboxes have loopback only) or egress (their\n"
              "                 own addresses, NAT and E2B's network rules; docs/network.md)\n"
              "  --oci-root DIR  envd also reaches the containers fk-oci made below DIR by\n"
              "                 their OCI id (X-Access-Token: the API key; default: not)\n"
              "  --config       `key = value' lines with these settings (flags win)\n");
}

/* systemd's readiness protocol: a datagram to $NOTIFY_SOCKET (a path, or @abstract). */
static void
notify (const char *msg)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (path == NULL || path[0] == '\0' || strlen (path) >= sizeof sa.sun_path)
    return;
  size_t n = strlen (path);
  memcpy (sa.sun_path, path, n);
  if (sa.sun_path[0] == '@')
    sa.sun_path[0] = '\0';
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  if (sendto (fd, msg, strlen (msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
              (socklen_t)(offsetof (struct sockaddr_un, sun_path) + n))
      < 0)
    log_warning_errno (errno, "notify `%s'", path);
  close (fd);
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
start_listener (fkd_listener_t *l, int fd)
{
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                   | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
  return MHD_start_daemon (
      flags, 0, NULL, NULL, fkd_handle, l, MHD_OPTION_LISTEN_SOCKET, fd,
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

/* The listeners of one plane: their sockets and daemons. */
typedef struct plane_listeners
{
  fk_listen_t socks[FKD_MAX_LISTEN];
  struct MHD_Daemon *daemons[FKD_MAX_LISTEN];
  size_t n;
} plane_listeners_t;

static int
open_plane (fkd_listener_t *l, char *const *specs, size_t n, plane_listeners_t *ret)
{
  for (size_t i = 0; i < n; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      ret->socks[i] = (fk_listen_t)FK_LISTEN_INIT;
      if (fk_listen_open (specs[i], 0660, &ret->socks[i], &err) < 0)
        {
          log_error ("listen: %s", fk_error_message (&err));
          fk_error_clear (&err);
          return -1;
        }
      ret->n = i + 1;
      ret->daemons[i] = start_listener (l, ret->socks[i].fd);
      if (ret->daemons[i] == NULL)
        {
          log_error ("cannot serve HTTP on %s", ret->socks[i].display);
          return -1;
        }
    }
  return 0;
}

static void
close_plane (plane_listeners_t *pl, int stop)
{
  for (size_t i = 0; i < pl->n; i++)
    {
      if (stop && pl->daemons[i])
        MHD_stop_daemon (pl->daemons[i]);
      fk_listen_close (&pl->socks[i]);
    }
  pl->n = 0;
}

static char *
join_displays (const plane_listeners_t *pl)
{
  char *out = xstrdup ("");
  for (size_t i = 0; i < pl->n; i++)
    {
      char *next = xasprintf ("%s%s%s", out, i ? ", " : "", pl->socks[i].display);
      free (out);
      out = next;
    }
  return out;
}

#ifdef __SANITIZE_ADDRESS__
/* Under the address sanitizer only. fkd creates sandboxes from worker threads: the sandbox's
   child is forked from this threaded process and allocates while it builds the root. glibc's
   fork resets its allocator's locks in the child; the sanitizer's allocator (in the compilers
   Debian 12 ships) has no such handler, and its store of allocation stacks takes a spin lock
   on every malloc and free: a child forked while another thread held it spun forever (fkd's
   E2B suite hung about one run in four with 20 parallel creates). Without allocation stacks
   that lock is never taken; errors are still found and reported with their own stacks. The
   environment's ASAN_OPTIONS still set anything else, or this too. */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "malloc_context_size=0";
}
#endif

int
main (int argc, char **argv)
{
  fk_log_set_program ("fkd");
  static char *default_listen[] = { "127.0.0.1:3000" };
  static char *default_envd[] = { "127.0.0.1:49983" };
  /* The flags; each falls back on the config file, then on the default. Static: what the
     server points into lives as long as the process, whichever way it ends. */
  static fkd_config_t flags, file;
  const char *config_path = NULL;
  static const struct option opts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "envd-listen", required_argument, NULL, 'e' },
    { "api-key", required_argument, NULL, 'k' },
    { "domain", required_argument, NULL, 'd' },
    { "state-dir", required_argument, NULL, 's' },
    { "agent", required_argument, NULL, 'a' },
    { "log-level", required_argument, NULL, 'L' },
    { "warm-pool", required_argument, NULL, 'w' },
    { "warm-template", required_argument, NULL, 'W' },
    { "network", required_argument, NULL, 'N' },
    { "oci-root", required_argument, NULL, 'O' },
    { "config", required_argument, NULL, 'c' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'l':
      case 'e':
        {
          size_t *n = c == 'l' ? &flags.n_listen : &flags.n_envd_listen;
          if (*n >= FKD_MAX_LISTEN)
            {
              fprintf (stderr, "fkd: at most %d of each --listen\n", FKD_MAX_LISTEN);
              return 2;
            }
          (c == 'l' ? flags.listen : flags.envd_listen)[(*n)++] = xstrdup (optarg);
          break;
        }
      case 'k':
        free (flags.api_key);
        flags.api_key = xstrdup (optarg);
        break;
      case 'd':
        free (flags.domain);
        flags.domain = xstrdup (optarg);
        break;
      case 's':
        free (flags.state_dir);
        flags.state_dir = xstrdup (optarg);
        break;
      case 'O':
        free (flags.oci_root);
        flags.oci_root = xstrdup (optarg);
        break;
      case 'a':
        free (flags.agent);
        flags.agent = xstrdup (optarg);
        break;
      case 'L':
        free (flags.log_level);
        flags.log_level = xstrdup (optarg);
        break;
      case 'w':
        free (flags.warm_pool);
        flags.warm_pool = xstrdup (optarg);
        break;
      case 'W':
        free (flags.warm_template);
        flags.warm_template = xstrdup (optarg);
        break;
      case 'N':
        free (flags.network);
        flags.network = xstrdup (optarg);
        break;
      case 'c':
        config_path = optarg;
        break;
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
  fk_error_t err = FK_ERROR_INIT;
  if (config_path && fkd_config_load (config_path, &file, &err) < 0)
    {
      fprintf (stderr, "fkd: config: %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      return 2;
    }
#define PICK(field) (flags.field ? flags.field : file.field)
  char *const *listen = flags.n_listen  ? flags.listen
                        : file.n_listen ? file.listen
                                        : default_listen;
  size_t n_listen = flags.n_listen ? flags.n_listen : file.n_listen ? file.n_listen : 1;
  char *const *envd_listen = flags.n_envd_listen  ? flags.envd_listen
                             : file.n_envd_listen ? file.envd_listen
                                                  : default_envd;
  size_t n_envd = flags.n_envd_listen  ? flags.n_envd_listen
                  : file.n_envd_listen ? file.n_envd_listen
                                       : 1;
  const char *log_level = PICK (log_level), *agent = PICK (agent);
  const char *warm_arg = PICK (warm_pool);
  const char *warm_template = PICK (warm_template) ? PICK (warm_template) : "base";
  size_t warm = 0;
  if (warm_arg)
    {
      char *end;
      errno = 0;
      unsigned long v = strtoul (warm_arg, &end, 10);
      if (errno || end == warm_arg || *end || warm_arg[0] == '-' || v > FKD_WARM_MAX)
        {
          fprintf (stderr, "fkd: --warm-pool: a count from 0 to %d\n", FKD_WARM_MAX);
          return 2;
        }
      warm = v;
    }
  fk_cli_globals_t g = { .state_dir = PICK (state_dir) };
  if (g.state_dir == NULL)
    g.state_dir = getenv ("FIRKIN_STATE_DIR");
  if (g.state_dir == NULL || g.state_dir[0] == '\0')
    g.state_dir = "/var/lib/firkin";
  fkd_server_t srv = { 0 };
  srv.api_key = PICK (api_key) && PICK (api_key)[0] ? PICK (api_key) : NULL;
  srv.domain = PICK (domain);
  const char *network = PICK (network);
  if (network && strcmp (network, "egress") != 0 && strcmp (network, "none") != 0)
    {
      fprintf (stderr, "fkd: --network: `%s': expected none or egress\n", network);
      return 2;
    }
  srv.network_egress = network && strcmp (network, "egress") == 0;
  srv.oci_root = PICK (oci_root);
#undef PICK
  if (log_level)
    {
      fk_log_level_t level;
      if (fk_log_level_parse (log_level, &level) < 0)
        {
          fprintf (stderr, "fkd: --log-level: error, warning, info or debug\n");
          return 2;
        }
      fk_log_set_level (level);
    }
  for (size_t i = 0; i < n_listen + n_envd; i++)
    {
      const char *spec = i < n_listen ? listen[i] : envd_listen[i - n_listen];
      if (fk_listen_parse_check (spec, &err) < 0)
        {
          fprintf (stderr, "fkd: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          return 2;
        }
    }

  if (fk_cli_runtime_open (&g, FK_CLI_RUNTIME_PROGRAMS, agent, &srv.rt, &err) < 0)
    {
      log_error ("%s", fk_error_message (&err));
      fk_error_clear (&err);
      return 1;
    }
  /* Before any thread starts: the pool forks its helper. */
  if (warm > 0 && open_pool (&srv, warm_template, warm) < 0)
    {
      fk_runtime_close (srv.rt);
      return 1;
    }
  pthread_mutex_init (&srv.lock, NULL);
  pthread_cond_init (&srv.idle, NULL);
  raise_nofile ();
  /* Requests run on short-lived threads; an allocation arena per thread (up to eight per core)
     would keep what each freed. fkd's own memory stays small with a few shared ones. */
  mallopt (M_ARENA_MAX, 2);
  /* Bodies and files of a MiB or more come and go: a fixed mmap threshold gives them back when
     freed (glibc's moving one would keep serving them from a heap that never shrinks). */
  mallopt (M_MMAP_THRESHOLD, 256 << 10);
  mallopt (M_TRIM_THRESHOLD, 1 << 20);

  /* Signals go to the main thread's sigwait only: block them before any thread starts. */
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);

  fkd_listener_t control = { .srv = &srv, .plane = FKD_PLANE_CONTROL };
  fkd_listener_t envd = { .srv = &srv, .plane = FKD_PLANE_ENVD };
  static plane_listeners_t pc, pe;
  if (open_plane (&control, listen, n_listen, &pc) < 0
      || open_plane (&envd, envd_listen, n_envd, &pe) < 0)
    {
      close_plane (&pc, 1);
      close_plane (&pe, 1);
      close_pool (&srv);
      fk_runtime_close (srv.rt);
      return 1;
    }
  cleanup_free char *cdisp = join_displays (&pc);
  cleanup_free char *edisp = join_displays (&pe);
  log_info ("control plane on %s, envd on %s, state in %s", cdisp, edisp,
            fk_runtime_state_dir (srv.rt));
  /* Readiness for whoever started us (tests, scripts; systemd through NOTIFY_SOCKET). */
  printf ("fkd: listening on %s and %s\n", cdisp, edisp);
  fflush (stdout);
  notify ("READY=1");

  int sig = 0;
  sigwait (&set, &sig);
  log_info ("%s: stopping (sandboxes keep running)", strsignal (sig));
  notify ("STOPPING=1");
  /* Stop accepting, end the streams (their pumps see this), wait for what is in flight. */
  for (size_t i = 0; i < pc.n; i++)
    MHD_quiesce_daemon (pc.daemons[i]);
  for (size_t i = 0; i < pe.n; i++)
    MHD_quiesce_daemon (pe.daemons[i]);
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
      /* A suspended connection must not meet MHD_stop_daemon: leave without stopping (the
         socket files still go). */
      log_warning ("%u requests still running after %d s; exiting", left, SHUTDOWN_WAIT_S);
      close_plane (&pc, 0);
      close_plane (&pe, 0);
      return 1;
    }
  close_plane (&pc, 1);
  close_plane (&pe, 1);
  close_pool (&srv);
  fk_runtime_close (srv.rt);
  pthread_mutex_destroy (&srv.lock);
  pthread_cond_destroy (&srv.idle);
  fkd_config_clear (&flags);
  fkd_config_clear (&file);
  return 0;
}
