/* agent/main.c: fk-agent: options, the epoll loop (loop.c has its primitives), and PID 1 duties
   (reap everything, stop everything on SIGTERM within a grace period, then exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"

static int
listen_path (const char *path, fk_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return fk_error_set (err, ENAMETOOLONG, "socket path `%s' is too long", path);
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return fk_error_set_errno (err, "socket");
  unlink (path);
  if (bind (fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen (fd, 512) < 0)
    {
      fk_error_set_errno (err, "listen on `%s'", path);
      close (fd);
      return -1;
    }
  return fd;
}

/* Whatever else the agent inherited (a test runner's fds, a launcher's) is not for the
   commands: close-on-exec from fd 3 up. The listening socket is made close-on-exec anyway. */
static void
inherited_fds_cloexec (void)
{
  if (close_range (3, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  for (int fd = 3; fd < 4096; fd++)
    {
      int fl = fcntl (fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC))
        fcntl (fd, F_SETFD, fl | FD_CLOEXEC);
    }
}

/* Children get fds 0-2 by dup2; they must not collide with the agent's own fds. */
static void
ensure_std_fds (void)
{
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0)
      {
        int n = open ("/dev/null", O_RDWR);
        if (n < 0)
          {
            int p[2];
            if (pipe (p) == 0 && p[1] != fd)
              close (p[1]);
          }
      }
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk-agent (--listen-fd N | --listen PATH) [--root DIR] [--grace-ms MS]\n"
                "                [--user SPEC] [--hostname NAME] [--init -- CMD [ARGS...]]\n");
}

/* --init: the workload (an OCI container's process) started as the agent's first child, with
   the agent's own stdio, environment, cwd, ids, capabilities and seccomp filter (the
   container's: the agent is exec'd with them). The agent passes every signal it gets on to it
   and exits with its status once it is gone (128+N for signal N), as the container's init. */
static pid_t workload_pid;
static int workload_status = -1;

static int
init_reaped (pid_t pid, int wstatus)
{
  if (workload_pid > 0 && pid == workload_pid)
    {
      workload_status = WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : 128 + WTERMSIG (wstatus);
      workload_pid = 0;
      return 1;
    }
  return shell_reaped (pid, wstatus);
}

static int
start_workload (char **argv, fk_error_t *err)
{
  int tty = isatty (0);
  if (tty && tcgetsid (0) == getsid (0))
    {
      /* The terminal is the agent's controlling one (the start made it so): handed over to
         the workload's session. Dropping it sends SIGHUP to the agent's foreground group. */
      ioctl (0, TIOCNOTTY);
      /* Those signals are blocked (taken by the signalfd): dropped, not passed on. */
      sigset_t hup;
      sigemptyset (&hup);
      sigaddset (&hup, SIGHUP);
      sigaddset (&hup, SIGCONT);
      struct timespec zero = { 0, 0 };
      while (sigtimedwait (&hup, NULL, &zero) > 0)
        ;
    }
  proc_spawn_t r = {
    .argv = argv,
    .fd_in = 0,
    .fd_out = 1,
    .fd_err = 2,
    .pty = tty && isatty (1),
    .extra_fd = -1,
    .extra_target = -1,
  };
  pid_t pid = proc_spawn (&r, err);
  if (pid < 0)
    return -1;
  workload_pid = pid;
  return 0;
}

/* Outside a pid namespace kill(-1) would reach the whole host: signal our children instead
   (commands, and orphans of commands, which come to us as the subreaper), each with its
   process group. */
static void
signal_everything (int sig)
{
  if (agent->pid1)
    {
      kill (-1, sig);
      return;
    }
  proc_signal_all (sig);
  char path[64];
  snprintf (path, sizeof path, "/proc/self/task/%d/children", (int)getpid ());
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return;
  int pid;
  while (fscanf (f, "%d", &pid) == 1)
    if (pid > 0)
      {
        kill (-pid, sig);
        kill (pid, sig);
      }
  fclose (f);
}

static void
begin_termination (void)
{
  if (agent->terminating)
    return;
  log_info ("terminating: sending SIGTERM to every process");
  agent->terminating = 1;
  agent->term_deadline_ms = fk_now_ms () + agent->grace_ms;
  agent_watch (&agent->listen, 0);
  signal_everything (SIGTERM);
}

/* True when no child is left (reaped or none started). */
static int
no_children (void)
{
  siginfo_t si;
  memset (&si, 0, sizeof si);
  return waitid (P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

static void
on_signal (void)
{
  struct signalfd_siginfo si;
  while (read (agent->sig.fd, &si, sizeof si) == (ssize_t)sizeof si)
    {
      int sig = (int)si.ssi_signo;
      if (sig == SIGCHLD)
        continue;
      if (workload_pid > 0)
        {
          /* An init: the signal is the workload's. */
          kill (workload_pid, sig);
          continue;
        }
      if (workload_status >= 0)
        continue;
      if (sig == SIGTERM || sig == SIGINT)
        begin_termination ();
      else
        {
          /* Like an init: what the agent is sent, its commands get. */
          log_info ("forwarding signal %d to every command", sig);
          proc_signal_all (sig);
        }
    }
  proc_reap (init_reaped);
  if (workload_status >= 0 && !agent->terminating)
    {
      /* The workload is gone: so is the container, as when an init exits. */
      agent->terminating = 1;
      agent->term_deadline_ms = fk_now_ms ();
      agent_watch (&agent->listen, 0);
    }
}

int
main (int argc, char **argv)
{
  /* Commands run as the agent's own user, next to it. Not dumpable, no command may trace it,
     read or write its memory, take its fds (pidfd_getfd) or follow /proc/1/{exe,fd,maps,mem}:
     each of those needs ptrace access, which a non-dumpable process grants only to holders of
     CAP_SYS_PTRACE, which no command has. First thing, before anything is worth stealing.
     Commands get dumpable again when they exec. */
  prctl (PR_SET_DUMPABLE, 0);
  fk_log_set_program ("fk-agent");
  static const struct option opts[] = {
    { "listen-fd", required_argument, NULL, 'f' },
    { "listen", required_argument, NULL, 'l' },
    { "root", required_argument, NULL, 'r' },
    { "grace-ms", required_argument, NULL, 'g' },
    { "user", required_argument, NULL, 'u' },
    { "hostname", required_argument, NULL, 'n' },
    { "log-level", required_argument, NULL, 'L' },
    { "init", no_argument, NULL, 'i' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int listen_fd = -1;
  const char *listen_at = NULL, *root = "/", *hostname = NULL, *default_user = NULL;
  unsigned grace_ms = 2000;
  int c, init = 0, log_level_set = 0;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    {
      char *end = NULL;
      switch (c)
        {
        case 'f':
          listen_fd = (int)strtol (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0' || listen_fd < 0)
            {
              fprintf (stderr, "fk-agent: --listen-fd: `%s' is not an fd number\n", optarg);
              return 2;
            }
          break;
        case 'l':
          listen_at = optarg;
          break;
        case 'r':
          root = optarg;
          break;
        case 'g':
          grace_ms = (unsigned)strtoul (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0')
            {
              fprintf (stderr, "fk-agent: --grace-ms: `%s' is not a number\n", optarg);
              return 2;
            }
          break;
        case 'u':
          default_user = optarg;
          break;
        case 'n':
          hostname = optarg;
          break;
        case 'L':
          {
            fk_log_level_t l;
            if (fk_log_level_parse (optarg, &l) < 0)
              {
                fprintf (stderr, "fk-agent: --log-level: unknown level `%s'\n", optarg);
                return 2;
              }
            fk_log_set_level (l);
            log_level_set = 1;
          }
          break;
        case 'i':
          init = 1;
          break;
        case 'h':
          usage (stdout);
          return 0;
        default:
          usage (stderr);
          return 2;
        }
    }
  if ((init ? optind >= argc : optind != argc) || (listen_fd < 0) == (listen_at == NULL))
    {
      usage (stderr);
      return 2;
    }

  /* As an init, the agent's stderr is the workload's: only its errors go there. */
  if (init && !log_level_set)
    fk_log_set_level (FK_LOG_ERROR);
  fk_error_t err = FK_ERROR_INIT;
  static agent_t a;
  agent = &a;
  a.grace_ms = grace_ms;
  a.default_user = default_user;
  a.pid1 = getpid () == 1;
  a.listen.fd = a.sig.fd = -1;
  ensure_std_fds ();
  inherited_fds_cloexec ();
  if (hostname != NULL && sethostname (hostname, strlen (hostname)) < 0)
    log_warning_errno (errno, "sethostname `%s'", hostname);
  /* Outside a pid namespace, orphans of our commands still come to us to be reaped. */
  if (!a.pid1)
    prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  signal (SIGPIPE, SIG_IGN);

  a.root = root;
  a.rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (a.rootfd < 0)
    {
      log_error_errno (errno, "open root `%s'", root);
      return 1;
    }
  a.devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (a.devnull < 0)
    {
      log_error_errno (errno, "open /dev/null (the stdin of commands given none)");
      return 1;
    }
  if (listen_at != NULL)
    {
      listen_fd = listen_path (listen_at, &err);
      if (listen_fd < 0)
        {
          log_error ("%s", fk_error_message (&err));
          return 1;
        }
    }
  else
    {
      int fl = fcntl (listen_fd, F_GETFL);
      if (fl < 0 || fcntl (listen_fd, F_SETFL, fl | O_NONBLOCK) < 0
          || fcntl (listen_fd, F_SETFD, FD_CLOEXEC) < 0)
        {
          log_error_errno (errno, "--listen-fd %d", listen_fd);
          return 1;
        }
    }

  sigset_t mask;
  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  sigaddset (&mask, SIGHUP);
  sigaddset (&mask, SIGUSR1);
  sigaddset (&mask, SIGUSR2);
  sigaddset (&mask, SIGWINCH);
  sigaddset (&mask, SIGQUIT);
  if (init)
    {
      /* Every signal an engine may send is taken, to be passed on: a PID 1 would drop those
         it does not handle. Not the ones a fault raises. */
      static const int more[] = { SIGALRM, SIGPWR,  SIGTSTP, SIGTTIN, SIGTTOU, SIGURG,   SIGVTALRM,
                                  SIGPROF, SIGXCPU, SIGXFSZ, SIGIO,   SIGCONT, SIGSTKFLT };
      for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
        sigaddset (&mask, more[i]);
      for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
        sigaddset (&mask, s);
    }
  sigprocmask (SIG_BLOCK, &mask, NULL);
  a.epfd = epoll_create1 (EPOLL_CLOEXEC);
  a.sig.fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (a.epfd < 0 || a.sig.fd < 0)
    {
      log_error_errno (errno, "epoll/signalfd");
      return 1;
    }
  a.sig.kind = W_SIGNAL;
  a.listen.kind = W_LISTEN;
  a.listen.fd = listen_fd;
  dispatch_init ();
  agent_watch (&a.sig, EPOLLIN);
  agent_watch (&a.listen, EPOLLIN);
  if (init && start_workload (argv + optind, &err) < 0)
    {
      log_error ("%s: %s", argv[optind], fk_error_message (&err));
      return 127;
    }

  struct epoll_event evs[64];
  for (;;)
    {
      uint64_t scan_at = fk_now_ms (), next = 0;
      proc_timeouts (scan_at, &next);
      shell_timeouts (scan_at, &next);
      port_timeouts (scan_at, &next);
      int timeout = next == 0 ? -1 : (int)(next - scan_at);
      if (a.terminating)
        {
          proc_reap (init_reaped);
          if (no_children ())
            break;
          uint64_t now = fk_now_ms ();
          if (now >= a.term_deadline_ms)
            {
              log_info ("grace period over: sending SIGKILL");
              signal_everything (SIGKILL);
              /* Again shortly: orphans reparented meanwhile get theirs too. */
              a.term_deadline_ms = now + 50;
            }
          int left = (int)(a.term_deadline_ms - now);
          if (timeout < 0 || left < timeout)
            timeout = left;
        }
      int n = epoll_wait (a.epfd, evs, 64, timeout);
      if (n < 0 && errno != EINTR)
        {
          log_error_errno (errno, "epoll_wait");
          return 1;
        }
      for (int i = 0; i < n; i++)
        {
          watch_t *w = evs[i].data.ptr;
          switch (w->kind)
            {
            case W_LISTEN:
              conn_accept ();
              break;
            case W_SIGNAL:
              on_signal ();
              break;
            case W_CONN:
              dispatch_on_event (w->owner, evs[i].events);
              break;
            case W_OUT:
            case W_ERR:
            case W_IN:
              proc_on_event (w->owner, w, evs[i].events);
              break;
            case W_SHELL:
              shell_on_event (w->owner, w, evs[i].events);
              break;
            case W_FSWATCH:
              fswatch_on_event (w->owner, evs[i].events);
              break;
            case W_PORT:
              port_on_event (w->owner, evs[i].events);
              break;
            }
        }
      shell_flush_all ();
      conn_free_closed ();
      proc_gc ();
      port_gc ();
    }
  log_info ("every process is gone: exiting");
  return workload_status >= 0 ? workload_status : 0;
}
