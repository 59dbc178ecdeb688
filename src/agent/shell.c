/* agent/shell.c: persistent shells. A shell (bash when there is one, else sh) reads scripts
   on its stdin. Each run gets fresh pipes for stdout and stderr and a stdin of its own, which
   the shell opens through /proc/<agent>/fd/N; the exit status comes back on a separate status
   pipe (fd 63 in the shell, closed for the command itself). So nothing the command prints can
   fake completion, and a background job keeping the run's stdout open cannot delay it: once
   the status arrives, what is in the pipes is read and they are closed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"

#define STATUS_FD 63

struct shell
{
  shell_t *next;
  char *id;
  conn_t *conn;
  pid_t pid; /* 0: not running */
  int cmd_fd; /* the shell's stdin: scripts */
  watch_t status, log;
  char **env;
  char *cwd, *user;
  proc_t *run; /* the run in progress */
  int run_out_w, run_err_w, run_in; /* the agent's ends, held until the shell opened them */
  char sbuf[32];
  size_t slen;
  int dead;
  /* A shell running as another user cannot open the agent's /proc/<pid>/fd: its runs use
     FIFOs and a stdin file in a private directory it owns instead. */
  char *fifo_dir;
  uid_t uid;
  gid_t gid;
  unsigned run_seq;
  int cancel_sig;            /* a cancel waiting for the command's process to appear */
  uint64_t cancel_deadline_ms; /* then the shell itself gets it */
  char *run_paths[4]; /* FIFO mode: stdout, stderr, stdin, script */
  int run_script;     /* the run's script (a memfd the shell sources) */
};

/* Shell ids are per connection. */
static shell_t *
find_shell (conn_t *c, const char *id)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (!s->dead && s->conn == c && strcmp (s->id, id) == 0)
      return s;
  return NULL;
}

static void
close_watch (watch_t *w)
{
  if (w->fd < 0)
    return;
  agent_watch (w, 0);
  close (w->fd);
  w->fd = -1;
}

static void
close_run_fds (shell_t *s)
{
  s->run_out_w = close_and_reset (s->run_out_w);
  s->run_err_w = close_and_reset (s->run_err_w);
  s->run_in = close_and_reset (s->run_in);
  s->run_script = close_and_reset (s->run_script);
  for (int i = 0; i < 4; i++)
    if (s->run_paths[i] != NULL)
      {
        unlink (s->run_paths[i]);
        free (s->run_paths[i]);
        s->run_paths[i] = NULL;
      }
}

/* FIFO mode: a FIFO the shell's user can open, with our read end (and a write end held so
   the reader sees no EOF before the shell opened it). */
static int
make_fifo (shell_t *s, char kind, int fds[2], char **ret_path, fk_error_t *err)
{
  char *path = xasprintf ("%s/%c%u", s->fifo_dir, kind, s->run_seq);
  if (mkfifo (path, 0600) < 0 || chown (path, s->uid, s->gid) < 0)
    {
      fk_error_set_errno (err, "mkfifo `%s'", path);
      unlink (path);
      free (path);
      return -1;
    }
  fds[0] = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  fds[1] = fds[0] < 0 ? -1 : open (path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fds[1] < 0)
    {
      fk_error_set_errno (err, "open `%s'", path);
      fds[0] = close_and_reset (fds[0]);
      unlink (path);
      free (path);
      return -1;
    }
  *ret_path = path;
  return 0;
}

static int
shell_spawn (shell_t *s, fk_error_t *err)
{
  int cmd[2] = {-1, -1}, st[2] = {-1, -1}, lg[2] = {-1, -1};
  if (pipe2 (cmd, O_CLOEXEC) < 0 || pipe2 (st, O_CLOEXEC) < 0 || pipe2 (lg, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "pipe");
      goto fail;
    }
  int bash = access ("/bin/bash", X_OK) == 0;
  char *bash_argv[] = {(char *) "/bin/bash", (char *) "--noprofile", (char *) "--norc", NULL};
  char *sh_argv[] = {(char *) "/bin/sh", NULL};
  proc_spawn_t req = {
    .argv = bash ? bash_argv : sh_argv,
    .env = s->env,
    .cwd = s->cwd,
    .user = s->user,
    .fd_in = cmd[0],
    .fd_out = lg[1],
    .fd_err = lg[1],
    .extra_fd = st[1],
    .extra_target = STATUS_FD,
  };
  pid_t pid = proc_spawn (&req, err);
  if (pid < 0)
    goto fail;
  close (cmd[0]);
  close (st[1]);
  close (lg[1]);
  s->pid = pid;
  s->cmd_fd = cmd[1];
  s->status.fd = st[0];
  s->log.fd = lg[0];
  s->slen = 0;
  fcntl (st[0], F_SETFL, O_NONBLOCK);
  fcntl (lg[0], F_SETFL, O_NONBLOCK);
  agent_watch (&s->status, EPOLLIN);
  agent_watch (&s->log, EPOLLIN);
  return 0;
fail:
  for (int i = 0; i < 2; i++)
    {
      close_and_reset (cmd[i]);
      close_and_reset (st[i]);
      close_and_reset (lg[i]);
    }
  return -1;
}

static void
shell_kill (shell_t *s)
{
  if (s->pid > 0)
    {
      kill (-s->pid, SIGKILL);
      kill (s->pid, SIGKILL);
    }
}

/* The shell is gone or going: drop its pipes (the reaper collects the process). */
static void run_done (shell_t *s, int wait_status);

static void
shell_down (shell_t *s)
{
  /* A run in progress ends as killed (its shell is gone with it). */
  if (s->run != NULL)
    run_done (s, SIGKILL);
  s->cmd_fd = close_and_reset (s->cmd_fd);
  close_watch (&s->status);
  close_watch (&s->log);
  close_run_fds (s);
  s->pid = 0;
}

void
shell_open (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  fk_error_t err = FK_ERROR_INIT;
  const char *sid = m->str[FK_TAG_SHELL_ID];
  if (find_shell (c, sid) != NULL)
    {
      conn_send_error (c, id, EEXIST, "a shell with this id exists");
      return;
    }
  shell_t *s = xcalloc (1, sizeof *s);
  s->id = xstrdup (sid);
  s->conn = c;
  s->cmd_fd = s->run_out_w = s->run_err_w = s->run_in = s->run_script = -1;
  s->status.kind = s->log.kind = W_SHELL;
  s->status.owner = s->log.owner = s;
  s->status.fd = s->log.fd = -1;
  size_t n = fk_strv_len (m->env);
  s->env = xcalloc (n + 1, sizeof (char *));
  for (size_t i = 0; i < n; i++)
    s->env[i] = xstrdup (m->env[i]);
  s->cwd = m->str[FK_TAG_CWD] ? xstrdup (m->str[FK_TAG_CWD]) : NULL;
  s->user = m->str[FK_TAG_USER] ? xstrdup (m->str[FK_TAG_USER]) : NULL;
  s->next = agent->shells;
  agent->shells = s;
  const char *spec = s->user && s->user[0] ? s->user : agent->default_user;
  agent_user_t u;
  if (spec != NULL)
    {
      if (agent_user_resolve (agent->rootfd, spec, &u, &err) < 0)
        {
          s->dead = 1;
          conn_send_fk_error (c, id, &err);
          return;
        }
      agent_user_clear (&u);
      if (u.uid != geteuid ())
        {
          char tmpl[] = "/tmp/.fk-shell-XXXXXX";
          if (mkdtemp (tmpl) == NULL || chown (tmpl, u.uid, u.gid) < 0)
            {
              fk_error_set_errno (&err, "a private directory in /tmp for a shell of user `%s'", spec);
              if (tmpl[sizeof tmpl - 2] != 'X')
                rmdir (tmpl);
              s->dead = 1;
              conn_send_fk_error (c, id, &err);
              return;
            }
          s->fifo_dir = xstrdup (tmpl);
          s->uid = u.uid;
          s->gid = u.gid;
        }
    }
  if (shell_spawn (s, &err) < 0)
    {
      s->dead = 1;
      conn_send_fk_error (c, id, &err);
      return;
    }
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  fk_wire_put_int (b, FK_TAG_PID, (uint64_t) s->pid);
  fk_wire_end (b, NULL);
  conn_flush (c);
}

/* Appends s single-quoted for the shell ('it'\''s'). */
static void
put_quoted (fk_wire_buf_t *b, const char *s)
{
  fk_wire_put_raw (b, "'", 1);
  for (const char *p = s; *p; p++)
    if (*p == '\'')
      fk_wire_put_raw (b, "'\\''", 4);
    else
      fk_wire_put_raw (b, p, 1);
  fk_wire_put_raw (b, "'", 1);
}

static void
put_str (fk_wire_buf_t *b, const char *s)
{
  fk_wire_put_raw (b, s, strlen (s));
}

void
shell_run (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  fk_error_t err = FK_ERROR_INIT;
  shell_t *s = find_shell (c, m->str[FK_TAG_SHELL_ID]);
  if (s == NULL)
    {
      conn_send_error (c, id, ENOENT, "no such shell");
      return;
    }
  if (s->run != NULL)
    {
      conn_send_error (c, id, EBUSY, "the shell is running a command");
      return;
    }
  if (s->pid == 0 && shell_spawn (s, &err) < 0)
    {
      conn_send_fk_error (c, id, &err);
      return;
    }
  int out[2] = {-1, -1}, errp[2] = {-1, -1};
  s->run_seq++;
  if (s->fifo_dir != NULL)
    {
      if (make_fifo (s, 'o', out, &s->run_paths[0], &err) < 0
          || make_fifo (s, 'e', errp, &s->run_paths[1], &err) < 0)
        {
          for (int i = 0; i < 2; i++)
            {
              close_and_reset (out[i]);
              close_and_reset (errp[i]);
            }
          close_run_fds (s);
          conn_send_fk_error (c, id, &err);
          return;
        }
    }
  else if (pipe2 (out, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0)
    {
      int e = errno;
      for (int i = 0; i < 2; i++)
        {
          close_and_reset (out[i]);
          close_and_reset (errp[i]);
        }
      conn_send_error (c, id, e, "pipe");
      return;
    }
  const fk_wire_slice_t *in = &m->bytes[FK_TAG_STDIN_DATA];
  int in_fd = -1;
  if (fk_wire_msg_has (m, FK_TAG_STDIN_DATA))
    {
      /* The run's stdin: a memory file the shell opens (and reads to EOF). */
      if (s->fifo_dir != NULL)
        {
          s->run_paths[2] = xasprintf ("%s/i%u", s->fifo_dir, s->run_seq);
          in_fd = open (s->run_paths[2], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
          if (in_fd >= 0 && fchown (in_fd, s->uid, s->gid) < 0)
            in_fd = close_and_reset (in_fd);
        }
      else
        in_fd = memfd_create ("fk-stdin", MFD_CLOEXEC);
      if (in_fd < 0 || fk_write_all (in_fd, in->data, in->len, &err) < 0
          || lseek (in_fd, 0, SEEK_SET) < 0)
        {
          if (!fk_error_is_set (&err))
            fk_error_set_errno (&err, "memfd for stdin");
          close_and_reset (in_fd);
          for (int i = 0; i < 2; i++)
            {
              close_and_reset (out[i]);
              close_and_reset (errp[i]);
            }
          close_run_fds (s);
          conn_send_fk_error (c, id, &err);
          return;
        }
    }
  /* { eval 'CMD'
     } </proc/P/fd/I >/proc/P/fd/O 2>/proc/P/fd/E 63>&-; printf '%d\n' "$?" >&63
     With env or cwd, the command runs in a subshell so they apply to this run only. */
  int me = (int) getpid ();
  int sub = m->env != NULL || (m->str[FK_TAG_CWD] && m->str[FK_TAG_CWD][0]);
  fk_wire_buf_t script = FK_WIRE_BUF_INIT;
  put_str (&script, sub ? "{ (" : "{ ");
  if (m->str[FK_TAG_CWD] && m->str[FK_TAG_CWD][0])
    {
      put_str (&script, "cd ");
      put_quoted (&script, m->str[FK_TAG_CWD]);
      put_str (&script, " && ");
    }
  for (char **e = m->env; e && *e; e++)
    {
      put_str (&script, "export ");
      put_quoted (&script, *e);
      put_str (&script, " && ");
    }
  put_str (&script, "eval ");
  put_quoted (&script, m->str[FK_TAG_SHELL]);
  char tail[512], pin[128], pout[128], perr[128];
  if (s->fifo_dir != NULL)
    {
      snprintf (pin, sizeof pin, "%s", in_fd >= 0 ? s->run_paths[2] : "/dev/null");
      snprintf (pout, sizeof pout, "%s", s->run_paths[0]);
      snprintf (perr, sizeof perr, "%s", s->run_paths[1]);
    }
  else
    {
      if (in_fd >= 0)
        snprintf (pin, sizeof pin, "/proc/%d/fd/%d", me, in_fd);
      else
        snprintf (pin, sizeof pin, "/dev/null");
      snprintf (pout, sizeof pout, "/proc/%d/fd/%d", me, out[1]);
      snprintf (perr, sizeof perr, "/proc/%d/fd/%d", me, errp[1]);
    }
  snprintf (tail, sizeof tail, "%s\n} <%s >%s 2>%s %d>&-; printf '%%d\\n' \"$?\" >&%d\n",
            sub ? ")" : "", pin, pout, perr, STATUS_FD, STATUS_FD);
  put_str (&script, tail);
  /* The shell sources the script from a file: bash reads a pipe one byte at a time (so as not
     to read past a command), a file in blocks. Only the short `. FILE` line goes down the pipe. */
  char line[160];
  int sfd = -1;
  if (s->fifo_dir != NULL)
    {
      s->run_paths[3] = xasprintf ("%s/s%u", s->fifo_dir, s->run_seq);
      sfd = open (s->run_paths[3], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      snprintf (line, sizeof line, ". %s\n", s->run_paths[3]);
    }
  else
    {
      sfd = memfd_create ("fk-run", MFD_CLOEXEC);
      snprintf (line, sizeof line, ". /proc/%d/fd/%d\n", me, sfd);
    }
  s->run_script = sfd;
  if (sfd < 0)
    fk_error_set_errno (&err, "a script file for the run");
  if (sfd < 0 || fk_write_all (sfd, script.data, script.len, &err) < 0
      || fk_write_all (s->cmd_fd, line, strlen (line), &err) < 0)
    {
      close_run_fds (s);
      fk_wire_buf_free (&script);
      close_and_reset (in_fd);
      for (int i = 0; i < 2; i++)
        {
          close_and_reset (out[i]);
          close_and_reset (errp[i]);
        }
      conn_send_fk_error (c, id, &err);
      return;
    }
  fk_wire_buf_free (&script);
  s->run_out_w = out[1];
  s->run_err_w = errp[1];
  s->run_in = in_fd;
  s->run = proc_new_run (c, id, s, s->pid, out[0], errp[0], m->num[FK_TAG_TIMEOUT_MS]);
}

static void
run_done (shell_t *s, int wait_status)
{
  proc_t *run = s->run;
  s->run = NULL;
  /* The shell has closed its ends; ours go so the pipes end once drained. */
  close_run_fds (s);
  if (run != NULL)
    proc_set_exited (run, wait_status);
}

static void
on_status (shell_t *s)
{
  for (;;)
    {
      ssize_t n = read (s->status.fd, s->sbuf + s->slen, sizeof s->sbuf - 1 - s->slen);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            close_watch (&s->status); /* the shell is exiting; the reaper reports it */
          return;
        }
      s->slen += (size_t) n;
      char *nl;
      while ((nl = memchr (s->sbuf, '\n', s->slen)) != NULL)
        {
          *nl = '\0';
          int code = atoi (s->sbuf) & 0xff;
          size_t used = (size_t) (nl - s->sbuf) + 1;
          memmove (s->sbuf, nl + 1, s->slen - used);
          s->slen -= used;
          run_done (s, W_EXITCODE (code, 0));
        }
      if (s->slen >= sizeof s->sbuf - 1)
        s->slen = 0; /* not ours: nothing but the wrapper writes there */
    }
}

void
shell_on_event (shell_t *s, watch_t *w, uint32_t events)
{
  if (s->dead)
    return;
  if (w == &s->status)
    {
      on_status (s);
      return;
    }
  /* The shell's own output (syntax errors of the wrapper, if any): logged. */
  char buf[4096];
  ssize_t n = read (w->fd, buf, sizeof buf - 1);
  if (n > 0)
    {
      buf[n] = '\0';
      log_debug ("shell `%s': %s", s->id, buf);
    }
  else if (n == 0 || (errno != EAGAIN && errno != EINTR))
    close_watch (w);
}

void
shell_reaped (pid_t pid)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->pid == pid)
      {
        /* The run (if any) got the shell's status from proc_reap; `exit 3` ends up here. */
        s->run = NULL;
        shell_down (s);
        if (!s->dead && !agent->terminating)
          {
            fk_error_t err = FK_ERROR_INIT;
            if (shell_spawn (s, &err) < 0)
              {
                log_warning ("shell `%s': respawn: %s", s->id, fk_error_message (&err));
                fk_error_clear (&err);
              }
          }
        return;
      }
}

/* Signals pid's descendants (children first found, then theirs), not pid itself. */
static int
signal_descendants (pid_t pid, int sig, int depth)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int) pid, (int) pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return 0;
  int n = 0, child;
  while (fscanf (f, "%d", &child) == 1)
    {
      if (depth < 16)
        n += signal_descendants (child, sig, depth + 1);
      if (kill (child, sig) == 0)
        n++;
    }
  fclose (f);
  return n;
}

void
shell_signal_run (shell_t *s, int sig)
{
  if (s->pid <= 0)
    return;
  /* The command's processes get it; a shell keeps its state when its child dies of SIGINT.
     The command may not have forked yet: look again for a while before falling back to the
     shell itself (a command of builtins only has no process of its own). */
  if (signal_descendants (s->pid, sig, 0) > 0)
    return;
  s->cancel_sig = sig;
  s->cancel_deadline_ms = agent_now_ms () + 100;
}

int
shell_timeouts (void)
{
  int next = -1;
  uint64_t now = agent_now_ms ();
  for (shell_t *s = agent->shells; s; s = s->next)
    {
      if (s->cancel_sig == 0)
        continue;
      if (s->run == NULL || s->pid <= 0 || s->dead)
        {
          s->cancel_sig = 0;
          continue;
        }
      if (signal_descendants (s->pid, s->cancel_sig, 0) > 0)
        s->cancel_sig = 0;
      else if (now >= s->cancel_deadline_ms)
        {
          kill (s->pid, s->cancel_sig);
          s->cancel_sig = 0;
        }
      else
        next = 2;
    }
  return next;
}

void
shell_close (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  shell_t *s = find_shell (c, m->str[FK_TAG_SHELL_ID]);
  if (s == NULL)
    {
      conn_send_error (c, id, ENOENT, "no such shell");
      return;
    }
  s->dead = 1;
  shell_kill (s);
  shell_down (s);
  conn_send_ok (c, id);
}

void
shell_conn_closed (conn_t *c)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->conn == c && !s->dead)
      {
        s->dead = 1;
        shell_kill (s);
        shell_down (s);
      }
}

void
shell_gc (void)
{
  for (shell_t **pp = &agent->shells; *pp;)
    {
      shell_t *s = *pp;
      if (!s->dead)
        {
          pp = &s->next;
          continue;
        }
      *pp = s->next;
      /* A run still draining refers to the shell only as a marker, never through it. */
      shell_down (s);
      if (s->fifo_dir != NULL)
        {
          fk_error_t err = FK_ERROR_INIT;
          fk_rm_rf_at (AT_FDCWD, s->fifo_dir, &err);
          fk_error_clear (&err);
          free (s->fifo_dir);
        }
      free (s->id);
      fk_strv_free (s->env);
      free (s->cwd);
      free (s->user);
      free (s);
    }
}
