/* cli/exec.c: fk exec [OPTIONS] ID -- CMD [ARGS]: runs a command in a sandbox through its agent,
   streaming its output; exits with its code (128+N for signal N). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "cli/connect.h"
#include "cli/remote.h"

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk exec [OPTIONS] ID -- CMD [ARGS...]\n"
                "  --env K=V      environment (repeatable)\n"
                "  --cwd DIR      working directory\n"
                "  --user SPEC    uid[:gid] or name[:group]\n"
                "  --timeout S    kill the command after S seconds\n"
                "  -i, --interactive  pass stdin to the command\n"
                "  -t, --tty      run on a terminal\n");
}

static struct termios saved_tio;
static int tio_saved;

static void
restore_tty (void)
{
  if (tio_saved)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved_tio);
}

static int
write_out (int fd, const void *data, size_t len)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_write_all (fd, data, len, &err) < 0)
    {
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

/* The command's handle: the agent's (fk_proc_t), or fkd's under --remote. */
typedef struct proc
{
  const fk_cli_remote_api_t *remote;
  fk_proc_t *local;
  fk_remote_proc_t *rp;
} proc_t;

static int
proc_next (proc_t *p, int timeout_ms, fk_proc_event_t *ev, fk_error_t *err)
{
  return p->remote ? p->remote->proc_next (p->rp, timeout_ms, ev, err)
                   : fk_proc_next (p->local, timeout_ms, ev, err);
}

static int
proc_write_stdin (proc_t *p, const void *data, size_t len, fk_error_t *err)
{
  return p->remote ? p->remote->write_stdin (p->rp, data, len, err)
                   : fk_proc_write_stdin (p->local, data, len, err);
}

static int
proc_close_stdin (proc_t *p, fk_error_t *err)
{
  return p->remote ? p->remote->close_stdin (p->rp, err) : fk_proc_close_stdin (p->local, err);
}

static void
proc_free (proc_t *p)
{
  if (p->remote)
    p->remote->proc_free (p->rp);
  else
    fk_proc_free (p->local);
  p->rp = NULL;
  p->local = NULL;
}

/* Pumps events (and stdin when interactive) until the process exits. */
static int
pump (proc_t *p, int interactive, fk_exit_status_t *ret, fk_error_t *err)
{
  int stdin_open = interactive;
  char buf[65536];
  for (;;)
    {
      if (stdin_open)
        {
          struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
          if (poll (&pfd, 1, 0) > 0)
            {
              ssize_t n = read (STDIN_FILENO, buf, sizeof buf);
              if (n > 0)
                {
                  if (proc_write_stdin (p, buf, (size_t)n, err) < 0)
                    return -1;
                }
              else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                {
                  stdin_open = 0;
                  if (proc_close_stdin (p, err) < 0)
                    return -1;
                }
            }
        }
      fk_proc_event_t ev;
      int r = proc_next (p, stdin_open ? 10 : -1, &ev, err);
      if (r < 0)
        return -1;
      if (r == 0)
        continue;
      switch (ev.kind)
        {
        case FK_PROC_STDOUT:
          if (write_out (STDOUT_FILENO, ev.data, ev.len) < 0)
            return fk_error_set_errno (err, "write stdout");
          break;
        case FK_PROC_STDERR:
          if (write_out (STDERR_FILENO, ev.data, ev.len) < 0)
            return fk_error_set_errno (err, "write stderr");
          break;
        case FK_PROC_EXIT:
          *ret = ev.status;
          return 0;
        }
    }
}

int
fk_verb_exec (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "env", required_argument, NULL, 'e' },   { "cwd", required_argument, NULL, 'w' },
    { "user", required_argument, NULL, 'u' },  { "timeout", required_argument, NULL, 'T' },
    { "interactive", no_argument, NULL, 'i' }, { "tty", no_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
  };
  char **env = NULL;
  size_t n_env = 0;
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .stdin_mode = FK_STDIN_CLOSED };
  int interactive = 0, c;
  while ((c = getopt_long (argc, argv, "+e:w:u:ith", opts, NULL)) != -1)
    switch (c)
      {
      case 'e':
        if (strchr (optarg, '=') == NULL || optarg[0] == '=')
          {
            fprintf (stderr, "fk: exec: --env `%s': expected K=V\n", optarg);
            free (env);
            return 2;
          }
        env = xrealloc (env, (n_env + 2) * sizeof *env);
        env[n_env++] = optarg;
        env[n_env] = NULL;
        break;
      case 'w':
        eo.cwd = optarg;
        break;
      case 'u':
        eo.user = optarg;
        break;
      case 'T':
        {
          char *end;
          double s = strtod (optarg, &end);
          if (*optarg == '\0' || *end || !(s > 0))
            {
              fprintf (stderr, "fk: exec: --timeout `%s': expected seconds\n", optarg);
              free (env);
              return 2;
            }
          eo.timeout_ms = (uint64_t)(s * 1000);
          break;
        }
      case 'i':
        interactive = 1;
        break;
      case 't':
        eo.pty = 1;
        break;
      case 'h':
        usage (stdout);
        free (env);
        return 0;
      default:
        usage (stderr);
        free (env);
        return 2;
      }
  if (optind < argc && strcmp (argv[optind], "--") == 0)
    optind++;
  if (argc - optind < 2)
    {
      usage (stderr);
      free (env);
      return 2;
    }
  const char *id = argv[optind++];
  if (strcmp (argv[optind], "--") == 0)
    optind++;
  if (optind >= argc)
    {
      fprintf (stderr, "fk: exec: no command\n");
      free (env);
      return 2;
    }
  eo.argv = argv + optind;
  eo.env = env;
  if (interactive)
    eo.stdin_mode = FK_STDIN_STREAM;
  if (eo.pty)
    {
      struct winsize ws;
      if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
        {
          eo.rows = ws.ws_row;
          eo.cols = ws.ws_col;
        }
      if (interactive && isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved_tio) == 0)
        {
          struct termios raw = saved_tio;
          cfmakeraw (&raw);
          tio_saved = tcsetattr (STDIN_FILENO, TCSADRAIN, &raw) == 0;
          atexit (restore_tty);
        }
    }

  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  fk_client_t *client = NULL;
  fk_remote_t *remote = NULL;
  int rc;
  uint64_t ooms_before = 0;
  proc_t p = { .remote = g->remote };
  if (g->remote)
    {
      if (fk_cli_remote_open (g, &remote, &err) < 0 || g->remote->attach (remote, id, &err) < 0)
        {
          rc = fk_cli_fail (&err, 1);
          goto out;
        }
    }
  else if (fk_cli_connect (g, id, &rt, &sb, &client, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      goto out;
    }
  if (sb)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_sandbox_oom_kills (sb, &ooms_before, &ignored);
      fk_error_clear (&ignored);
    }
  fk_exit_status_t st = { 0 };
  if ((g->remote ? g->remote->exec_start (remote, id, &eo, &p.rp, &err)
                 : fk_client_exec_start (client, &eo, &p.local, &err))
      < 0)
    {
      rc = fk_cli_fail (&err, err.code == ENOENT ? 127 : 1);
      goto out;
    }
  if (pump (&p, interactive, &st, &err) < 0)
    {
      proc_free (&p);
      restore_tty ();
      if (err.code == EPIPE || err.code == ECONNRESET)
        {
          fprintf (stderr, "fk: exec: sandbox `%s' ended while the command ran (%s)\n", id,
                   fk_error_message (&err));
          fk_error_clear (&err);
          rc = 255;
        }
      else if (err.code == ETIMEDOUT && eo.timeout_ms)
        {
          /* The agent did not end the command at its --timeout: it is not to be trusted. */
          fprintf (stderr, "fk: exec: gave up on sandbox `%s': %s\n", id, fk_error_message (&err));
          fk_error_clear (&err);
          rc = 124;
        }
      else
        rc = fk_cli_fail (&err, 1);
      goto out;
    }
  proc_free (&p);
  restore_tty ();
  rc = st.exit_code;
  if (st.timed_out)
    fprintf (stderr, "fk: exec: the command timed out and was killed\n");
  else if (st.signal == SIGKILL && sb)
    {
      uint64_t ooms = 0;
      fk_error_t ignored = FK_ERROR_INIT;
      if (fk_sandbox_oom_kills (sb, &ooms, &ignored) == 0 && ooms > ooms_before)
        fprintf (stderr, "fk: exec: the command was killed by the OOM killer (the sandbox's "
                         "memory limit)\n");
      fk_error_clear (&ignored);
    }
out:
  fk_cli_disconnect (rt, sb, client);
  if (remote)
    g->remote->close (remote);
  free (env);
  return rc;
}
