/* cli/run.c: fk run [OPTIONS] [TEMPLATE] -- CMD [ARGS]: create a sandbox, run CMD, delete it;
   exits with CMD's code (128+N for a signal). CMD runs as the sandbox's PID 1, in a session of
   its own: on a terminal of the sandbox's own when fk's stdin and stdout are terminals, else on
   pipes; fk relays them. fk's own terminal and files never reach the sandbox (a command could
   push input into a terminal it holds with TIOCSTI, or grow a file it holds). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli/spec_opts.h"
#include "cli/verbs.h"
#include "cli/open.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"

static volatile sig_atomic_t child_pid, winch;
static struct termios saved_tio;
static int tio_saved;

static void
restore_tty (void)
{
  if (tio_saved)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved_tio);
}

static void
on_signal (int sig)
{
  /* fk going away must not leave the sandbox behind: end it, the wait then returns. */
  if (child_pid > 0)
    kill (child_pid, SIGKILL);
}

static void
on_winch (int sig)
{
  winch = 1;
}

/* Writes all of buf to a blocking fd (fk's stdout or stderr); -1 when it is gone. */
static int
put (int fd, const char *buf, size_t len)
{
  while (len)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      buf += n;
      len -= (size_t)n;
    }
  return 0;
}

/* Relays fk's stdin to the command's input (in), and the command's outputs (out, and err unless
   -1) to fk's stdout and stderr, until the outputs end: at the latest when PID 1 exits, which
   ends every process of the sandbox. With a terminal, in and out are the same master, whose
   read fails with EIO once no process holds the terminal. The command's input is non-blocking
   and written from a buffer, so a command that reads nothing never blocks its output. */
static void
relay (int in, int out, int err, int tty)
{
  char inbuf[16384], buf[65536];
  size_t pending = 0, off = 0;
  int stdin_open = 1;
  fcntl (in, F_SETFL, fcntl (in, F_GETFL) | O_NONBLOCK);
  while (out >= 0 || err >= 0)
    {
      if (tty && winch)
        {
          winch = 0;
          struct winsize ws;
          if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
            ioctl (in, TIOCSWINSZ, &ws);
        }
      struct pollfd p[3];
      nfds_t n = 0;
      int ip = -1, op = -1, ep = -1;
      if (pending && in >= 0)
        p[ip = (int)n++] = (struct pollfd){ .fd = in, .events = POLLOUT };
      else if (stdin_open && in >= 0)
        p[ip = (int)n++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
      if (out >= 0)
        p[op = (int)n++] = (struct pollfd){ .fd = out, .events = POLLIN };
      if (err >= 0)
        p[ep = (int)n++] = (struct pollfd){ .fd = err, .events = POLLIN };
      if (poll (p, n, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return;
        }
      int outs[2] = { op, ep }, *fds[2] = { &out, &err };
      for (int k = 0; k < 2; k++)
        if (outs[k] >= 0 && p[outs[k]].revents)
          {
            ssize_t r = read (*fds[k], buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
              continue;
            /* EOF, or EIO from a terminal nobody holds any more */
            if (r <= 0 || put (k ? STDERR_FILENO : STDOUT_FILENO, buf, (size_t)r) < 0)
              {
                if (!tty || k == 0)
                  close (*fds[k]);
                *fds[k] = -1;
              }
          }
      if (ip < 0 || !p[ip].revents || out < 0)
        continue;
      if (pending)
        {
          ssize_t w = write (in, inbuf + off, pending);
          if (w > 0)
            {
              off += (size_t)w;
              pending -= (size_t)w;
            }
          else if (w < 0 && errno != EAGAIN && errno != EINTR)
            pending = 0, stdin_open = 0; /* the command closed its input */
          if (!stdin_open && !tty && in >= 0)
            {
              close (in);
              in = -1;
            }
          continue;
        }
      ssize_t r = read (STDIN_FILENO, inbuf, sizeof inbuf);
      if (r > 0)
        {
          pending = (size_t)r;
          off = 0;
        }
      else if (r == 0 || (errno != EINTR && errno != EAGAIN))
        {
          stdin_open = 0;
          /* With pipes the command sees its input end; a terminal stays (its EOF is ^D). */
          if (!tty)
            {
              close (in);
              in = -1;
            }
        }
    }
  if (!tty && in >= 0)
    close (in);
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk run [OPTIONS] [TEMPLATE] -- CMD [ARGS...]\n%s", fk_cli_spec_usage);
}

/* The exit code for a wait status; names an OOM kill. */
static int
exit_code (fk_sandbox_t *sb, int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  int sig = WTERMSIG (status);
  uint64_t ooms = 0;
  fk_error_t err = FK_ERROR_INIT;
  if (sig == SIGKILL && fk_sandbox_oom_kills (sb, &ooms, &err) == 0 && ooms > 0)
    fprintf (stderr, "fk: the command was killed by the OOM killer (memory limit reached)\n");
  fk_error_clear (&err);
  return 128 + sig;
}

int
fk_verb_run (const fk_cli_globals_t *g, int argc, char **argv)
{
  fk_cli_spec_t s;
  fk_cli_spec_init (&s);
  int pr = fk_cli_spec_parse (&s, argc, argv, usage);
  if (pr >= 0)
    return pr;
  /* getopt stops at "--" (and consumes it) or at the template. */
  const char *template_id = NULL;
  if (optind < argc && strcmp (argv[optind - 1], "--") != 0)
    {
      template_id = argv[optind++];
      if (optind < argc && strcmp (argv[optind], "--") == 0)
        optind++;
    }
  if (optind >= argc)
    {
      fprintf (stderr, "fk: run: no command (fk run [OPTIONS] [TEMPLATE] -- CMD)\n");
      fk_cli_spec_free (&s);
      return 2;
    }
  fk_cli_spec_finish (&s, template_id);
  s.spec.init = (const char *const *)(argv + optind);
  int tty = isatty (STDIN_FILENO) && isatty (STDOUT_FILENO);
  s.spec.init_stdio = tty ? FK_INIT_STDIO_TTY : FK_INIT_STDIO_PIPES;
  struct winsize ws;
  if (tty && ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
    {
      s.spec.init_rows = ws.ws_row;
      s.spec.init_cols = ws.ws_col;
    }

  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  int rc;
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, s.agent_path, &rt, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      goto out;
    }
  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  if (tty)
    {
      struct sigaction wa = { .sa_handler = on_winch };
      sigemptyset (&wa.sa_mask);
      sigaction (SIGWINCH, &wa, NULL);
    }
  if (fk_template_sandbox_create (rt, &s.spec, &sb, &err) < 0)
    {
      /* A command that does not exist: the shell's 127; one that cannot run: 126. */
      rc = fk_cli_fail (&err, err.code == ENOENT ? 127 : err.code == EACCES ? 126 : 1);
      goto out;
    }
  fk_sandbox_info_t *info = NULL;
  if (fk_sandbox_inspect (sb, &info, &err) == 0)
    child_pid = info->pid;
  fk_sandbox_info_free (info);
  int fds[3];
  if (fk_sandbox_take_stdio (sb, fds, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      kill (child_pid, SIGKILL);
    }
  else
    {
      if (tty && tcgetattr (STDIN_FILENO, &saved_tio) == 0)
        {
          struct termios raw = saved_tio;
          cfmakeraw (&raw);
          tio_saved = tcsetattr (STDIN_FILENO, TCSADRAIN, &raw) == 0;
          atexit (restore_tty);
        }
      relay (fds[0], tty ? fds[0] : fds[1], tty ? -1 : fds[2], tty);
      restore_tty ();
      tio_saved = 0;
    }
  int status = 0;
  if (fk_sandbox_wait (sb, &status, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    rc = exit_code (sb, status);
  child_pid = 0;
  if (fk_sandbox_delete (sb, 1, &err) < 0)
    rc = fk_cli_fail (&err, rc ? rc : 1);
out:
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  fk_cli_spec_free (&s);
  return rc;
}
