/* oci/exec.c: exec, a new process in a running container, as runc's callers use it: --process
   FILE (an OCI process object) or the command after the id; --detach leaves it to the caller's
   subreaper, else fk-oci waits for it, passes signals on and exits with its status. Through the
   container's agent when it has one (a host relay stands for the process), else by joining its
   namespaces (sandbox/enter.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "oci/oci.h"
#include "sandbox/enter.h"

/* The process fk-oci stands for (the exec'd one, or the relay): what fk-oci's caller sends
   fk-oci goes on to it. */
static volatile sig_atomic_t forward_pid;

static void
forward (int sig)
{
  if (forward_pid > 0)
    kill (forward_pid, sig);
}

static void
forward_signals (pid_t pid)
{
  forward_pid = pid;
  struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
  sigemptyset (&sa.sa_mask);
  int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction (sigs[i], &sa, NULL);
}

/* ---- through the agent ----
   When the container's init is fk-agent, exec asks it to start the process (a child of the
   agent: the container's namespaces, cgroup, ids, capabilities and seccomp filter) and a relay
   on the host stands for it: the pid the caller gets (--pid-file), its stdio (or, with a
   terminal, a host pty whose master goes to --console-socket), the signals it gets passed on,
   its exit status (128+N for signal N). Killing the relay ends the process (the agent kills
   the processes of a connection that goes away). */

static int
relay_write (int fd, const void *data, size_t len)
{
  fk_error_t e = FK_ERROR_INIT;
  if (fk_write_all (fd, data, len, &e) < 0)
    {
      fk_error_clear (&e);
      return -1;
    }
  return 0;
}

static void
relay_report (int fd, const char *msg)
{
  if (fd >= 0)
    relay_write (fd, msg, strlen (msg) + 1);
}

/* The relay's body: connects, starts, reports "" or an error on report_fd, then relays until
   the process exits; returns its status. */
static int
relay_run (const char *sock, const fk_plan_process_t *p, int same_user, int tty_slave,
           int report_fd)
{
  fk_error_t err = FK_ERROR_INIT;
  sigset_t mask;
  sigemptyset (&mask);
  int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM };
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset (&mask, sigs[i]);
  sigprocmask (SIG_BLOCK, &mask, NULL);
  cleanup_close int sfd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  int in = tty_slave >= 0 ? tty_slave : 0, out = tty_slave >= 0 ? tty_slave : 1,
      errfd = tty_slave >= 0 ? tty_slave : 2;
  fk_client_t *client = NULL;
  fk_proc_t *proc = NULL;
  char user[32];
  snprintf (user, sizeof user, "%u:%u", (unsigned)p->uid, (unsigned)p->gid);
  fk_exec_opts_t eo = FK_EXEC_OPTIONS_INIT;
  eo.argv = p->argv;
  eo.env = p->env;
  eo.cwd = p->cwd;
  eo.user = same_user ? NULL : user; /* the agent's own: no switch, which may need caps */
  eo.stdin_mode = FK_STDIN_STREAM;
  eo.pty = tty_slave >= 0;
  struct winsize ws = { 0 };
  if (tty_slave >= 0 && ioctl (tty_slave, TIOCGWINSZ, &ws) == 0 && ws.ws_row)
    {
      eo.rows = ws.ws_row;
      eo.cols = ws.ws_col;
    }
  else if (p->rows)
    {
      eo.rows = p->rows;
      eo.cols = p->cols;
    }
  if (sfd < 0 || fk_client_connect (sock, &client, &err) < 0
      || fk_client_exec_start (client, &eo, &proc, &err) < 0)
    {
      if (sfd < 0)
        fk_error_set_errno (&err, "signalfd");
      cleanup_free char *msg = xasprintf ("fk-agent: %s", fk_error_message (&err));
      relay_report (report_fd, msg);
      fk_client_close (client);
      fk_error_clear (&err);
      return 255;
    }
  relay_report (report_fd, "");
  if (report_fd >= 0)
    close (report_fd);
  int status = 255, in_open = 1;
  for (;;)
    {
      fk_proc_event_t ev;
      int r;
      while ((r = fk_proc_next (proc, 0, &ev, &err)) > 0)
        {
          if (ev.kind == FK_PROC_EXIT)
            {
              status = ev.status.exit_code;
              goto done;
            }
          relay_write (ev.kind == FK_PROC_STDERR ? errfd : out, ev.data, ev.len);
        }
      if (r < 0)
        goto done;
      struct pollfd pf[3] = { { .fd = fk_client_poll_fd (client), .events = POLLIN },
                              { .fd = sfd, .events = POLLIN },
                              { .fd = in_open ? in : -1, .events = POLLIN } };
      if (poll (pf, 3, -1) < 0 && errno != EINTR)
        goto done;
      if (pf[1].revents & POLLIN)
        {
          struct signalfd_siginfo si;
          while (read (sfd, &si, sizeof si) == (ssize_t)sizeof si)
            {
              if (si.ssi_signo == SIGWINCH)
                {
                  if (tty_slave >= 0 && ioctl (tty_slave, TIOCGWINSZ, &ws) == 0)
                    fk_proc_resize (proc, ws.ws_row, ws.ws_col, &err);
                }
              else
                fk_proc_signal (proc, (int)si.ssi_signo, 0, &err);
              fk_error_clear (&err);
            }
        }
      if (pf[2].revents & (POLLIN | POLLHUP | POLLERR))
        {
          char buf[16384];
          ssize_t n = read (in, buf, sizeof buf);
          if (n > 0)
            fk_proc_write_stdin (proc, buf, (size_t)n, &err);
          else if (n == 0 || (errno != EINTR && errno != EAGAIN))
            {
              in_open = 0;
              if (tty_slave < 0)
                fk_proc_close_stdin (proc, &err);
            }
          fk_error_clear (&err);
        }
    }
done:
  fk_error_clear (&err);
  fk_proc_free (proc);
  fk_client_close (client);
  return status;
}

/* A host pty for the relay: the master to the console socket, the slave raw (the terminal's
   discipline is the agent's pty's) and the relay's controlling terminal, for SIGWINCH. */
static int
relay_pty (int console_fd, int *ret_slave, fk_error_t *err)
{
  cleanup_close int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0)
    return fk_error_set_errno (err, "make a terminal");
  char name[64];
  if (ptsname_r (master, name, sizeof name) != 0)
    return fk_error_set_errno (err, "ptsname");
  int slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return fk_error_set_errno (err, "open `%s'", name);
  struct termios tio;
  if (tcgetattr (slave, &tio) == 0)
    {
      cfmakeraw (&tio);
      tcsetattr (slave, TCSANOW, &tio);
    }
  if (oci_send_console (console_fd, master, err) < 0)
    {
      close (slave);
      return -1;
    }
  *ret_slave = slave;
  return 0;
}

/* exec through the agent; returns the exit status for fk-oci. */
static int
exec_via_agent (oci_container_t *c, const fk_plan_process_t *p, int same_user, int detach,
                int console_fd, const char *pid_file, fk_error_t *err)
{
  cleanup_close int slave = -1;
  if (console_fd >= 0 && relay_pty (console_fd, &slave, err) < 0)
    return 1;
  int rep[2];
  if (pipe2 (rep, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe"), 1;
  cleanup_free char *sock = xstrdup (c->state.agent_socket);
  oci_container_close (c); /* the lock is not held while the process runs */
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (rep[0]);
      close (rep[1]);
      return fk_error_set_errno (err, "fork"), 1;
    }
  if (pid == 0)
    {
      close (rep[0]);
      prctl (PR_SET_NAME, "fk-oci-relay");
      setsid ();
      if (slave >= 0)
        ioctl (slave, TIOCSCTTY, 0);
      _exit (relay_run (sock, p, same_user, slave, rep[1]));
    }
  close (rep[1]);
  char msg[2048];
  ssize_t n = read (rep[0], msg, sizeof msg - 1);
  close (rep[0]);
  if (n <= 0 || msg[0] != '\0')
    {
      msg[n > 0 ? n : 0] = '\0';
      waitpid (pid, NULL, 0);
      return fk_error_set (err, EIO, "exec: %s", n > 0 ? msg : "the relay ended"), 1;
    }
  if (pid_file && oci_write_pid_file (pid_file, pid, err) < 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      return 1;
    }
  if (detach)
    return 0;
  forward_signals (pid);
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return 255;
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

/* The agent can run it: a running container with the agent, a process asking for nothing
   the agent's children do not have already (they have the container's process's
   capabilities, no_new_privs, rlimits and groups). */
static int
same_rlimits (const fk_plan_process_t *a, const fk_plan_process_t *b)
{
  if (a->n_rlimits != b->n_rlimits)
    return 0;
  for (size_t i = 0; i < a->n_rlimits; i++)
    {
      size_t j = 0;
      while (j < b->n_rlimits && b->rlimits[j].resource != a->rlimits[i].resource)
        j++;
      if (j == b->n_rlimits || b->rlimits[j].soft != a->rlimits[i].soft
          || b->rlimits[j].hard != a->rlimits[i].hard)
        return 0;
    }
  return 1;
}

static int
agent_can_run (const oci_container_t *c, fk_oci_status_t s, const fk_plan_process_t *container,
               const fk_plan_process_t *p)
{
  return c->state.agent_socket != NULL && s == FK_OCI_RUNNING && p->caps == container->caps
         && p->ambient == container->ambient && p->no_new_privs == container->no_new_privs
         && p->n_groups == 0 && same_rlimits (p, container);
}

int
oci_exec (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "process", required_argument, NULL, 'p' },
    { "detach", no_argument, NULL, 'd' },
    { "pid-file", required_argument, NULL, 'P' },
    { "console-socket", required_argument, NULL, 'c' },
    { "tty", no_argument, NULL, 't' },
    { "cwd", required_argument, NULL, 'w' },
    { "env", required_argument, NULL, 'e' },
    { "user", required_argument, NULL, 'u' },
    { "preserve-fds", required_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  const char *process = NULL, *pid_file = NULL, *console = NULL, *cwd = NULL, *user = NULL;
  int detach = 0, tty = 0, opt;
  cleanup_strv char **envs = NULL;
  optind = 0;
  while ((opt = getopt_long_only (argc, argv, "+dtp:e:u:", longopts, NULL)) != -1)
    switch (opt)
      {
      case 'p':
        process = optarg;
        break;
      case 'd':
        detach = 1;
        break;
      case 'P':
        pid_file = optarg;
        break;
      case 'c':
        console = optarg;
        break;
      case 't':
        tty = 1;
        break;
      case 'w':
        cwd = optarg;
        break;
      case 'e':
        {
          size_t n = fk_strv_len (envs);
          envs = xrealloc (envs, (n + 2) * sizeof *envs);
          envs[n] = xstrdup (optarg);
          envs[n + 1] = NULL;
        }
        break;
      case 'u':
        user = optarg;
        break;
      case 'f':
        if (strcmp (optarg, "0") != 0)
          return oci_failf ("exec: --preserve-fds is not supported");
        break;
      default:
        return oci_failf ("exec: unknown option");
      }
  if (optind >= argc || (process == NULL && optind + 1 >= argc))
    return oci_failf ("exec: usage: exec [--process FILE | ID CMD...] [--detach] [--pid-file F] "
                      "[--tty --console-socket S] ID");
  const char *id = argv[optind];
  fk_error_t err = FK_ERROR_INIT;
  oci_container_t c;
  fk_cgroup_layout_t cg;
  fk_oci_status_t s;
  if (oci_container_attach (id, 0, &c, &cg, &s, &err) < 0)
    return oci_fail (&err);
  fk_plan_t plan;
  fk_oci_info_t info;
  int have_plan = 0, status = 1, console_fd = -1, master = -1;
  cleanup_free fk_plan_rlimit_t *container_rlimits = NULL; /* declared before any goto out */
  if (s != FK_OCI_RUNNING && s != FK_OCI_CREATED)
    {
      fk_error_set (&err, EINVAL, "container `%s' is %s: nothing can be run in it", id,
                    fk_oci_status_name (s));
      goto out;
    }
  if (oci_container_plan (&c, &plan, &info, &err) < 0)
    goto out;
  have_plan = 1;
  fk_plan_process_t *p = &plan.process;
  /* What the container's process has, to compare the exec'd one with (its own copy of the
     rlimits: the process file replaces p's). */
  container_rlimits = p->n_rlimits ? xmemdup (p->rlimits, p->n_rlimits * sizeof *p->rlimits) : NULL;
  fk_plan_process_t container = { .caps = p->caps,
                                  .ambient = p->ambient,
                                  .no_new_privs = p->no_new_privs,
                                  .rlimits = container_rlimits,
                                  .n_rlimits = p->n_rlimits };
  p->inherit_stdio = 1;
  p->stdio = FK_INIT_STDIO_NULL;
  if (process)
    {
      cleanup_free char *text = NULL;
      size_t len;
      int terminal = 0;
      if (fk_read_file_at (AT_FDCWD, process, FK_OCI_CONFIG_MAX, &text, &len, &err) < 0
          || fk_oci_process (text, len, p, &terminal, &err) < 0)
        goto out;
      tty |= terminal;
    }
  else
    {
      fk_strv_free (p->argv);
      p->argv = xstrvdup ((const char *const *)argv + optind + 1);
    }
  if (cwd)
    {
      free (p->cwd);
      p->cwd = xstrdup (cwd);
    }
  for (size_t i = 0; envs && envs[i]; i++)
    {
      size_t n = fk_strv_len (p->env);
      p->env = xrealloc (p->env, (n + 2) * sizeof *p->env);
      p->env[n] = xstrdup (envs[i]);
      p->env[n + 1] = NULL;
    }
  if (user)
    {
      unsigned uid, gid = 0;
      int k = sscanf (user, "%u:%u", &uid, &gid);
      if (k < 1)
        {
          fk_error_set (&err, EINVAL, "exec: --user `%s' is not UID[:GID]", user);
          goto out;
        }
      p->uid = uid;
      p->gid = gid;
    }
  if (tty)
    {
      if (console == NULL)
        {
          fk_error_set (&err, EINVAL, "exec: a terminal needs --console-socket");
          goto out;
        }
      console_fd = oci_console_connect (console, &err);
      if (console_fd < 0)
        goto out;
    }
  if (agent_can_run (&c, s, &container, p))
    {
      int same_user = p->uid == container.uid && p->gid == container.gid;
      status = exec_via_agent (&c, p, same_user, detach, console_fd, pid_file, &err);
      goto out;
    }
  if (tty)
    {
      p->stdio = FK_INIT_STDIO_TTY;
      p->inherit_stdio = 0;
    }
  /* The exec'd process is a grandchild: as a subreaper fk-oci can wait for it. */
  if (!detach)
    prctl (PR_SET_CHILD_SUBREAPER, 1);
  pid_t pid;
  if (fk_plan_enter (&plan, c.state.pid, &cg, c.state.cgroup, p, &pid, &master, &err) < 0)
    goto out;
  if (tty && oci_send_console (console_fd, master, &err) < 0)
    {
      kill (pid, SIGKILL);
      goto out;
    }
  if (master >= 0)
    master = close_and_reset (master);
  if (pid_file && oci_write_pid_file (pid_file, pid, &err) < 0)
    {
      kill (pid, SIGKILL);
      goto out;
    }
  oci_container_close (&c); /* the lock is not held while the process runs */
  if (detach)
    {
      status = 0;
      goto out;
    }
  forward_signals (pid);
  for (;;)
    {
      int st;
      pid_t w = waitpid (-1, &st, 0);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          status = 255;
          break;
        }
      if (w == pid)
        {
          status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
          break;
        }
    }
out:
  if (status == 1 && err.code)
    oci_fail (&err);
  if (master >= 0)
    close (master);
  if (console_fd >= 0)
    close (console_fd);
  if (have_plan)
    {
      fk_plan_clear (&plan);
      fk_oci_info_clear (&info);
    }
  oci_container_detach (&c, &cg);
  return status;
}
