/* agent/shell.c: persistent shells. A shell is bash (when the root has it) or sh reading
   commands from a pipe on its stdin. Each run's text (built by agent/shellscript.c) is

     { [builtin] command eval 'CMD'
     } <&8 8<&- 9>&-

   and its exit status arrives on fd 9, a pipe only the shell itself holds: nothing the command
   prints (on stdout, stderr, or anywhere else) can fake or delay completion, and a background
   job keeping stdout open does not hold fd 9 (for sh, a run that defines a function named
   command or printf breaks this; bash calls them as builtins). Fd 8 is /dev/null, kept open:
   duplicating it is much cheaper for the shell than opening /dev/null for every run; like fd 9
   it is closed for the run's commands and restored after, so a run's `exec 8<&-' or `exec
   9>file' does not reach the next run.

   sh gets each run as a line of script followed by `; command printf '%d\n' "$?" >&9'. bash
   reads a script from a pipe a byte at a time, so it runs a driver loop instead (shellscript.c)
   that reads each run as an 8-digit length and that many bytes (two reads) and evals
   it; the loop's condition writes the status. Three nested loops keep a run's `break' or
   `continue' from ending the driver (`break 3' does: the shell exits, and that is reported
   like `exit').

   Stdout and stderr are pipes that live as long as the shell; when the status line arrives,
   everything the command wrote is already in them and is drained before the exit frame. A run
   with env or cwd runs in a subshell, so neither sticks. A run's stdin is a file of its bytes
   that the agent writes in /dev/shm (the sandbox's disk) and removes when the run ends: the
   shell cannot open a pipe of the agent's through /proc/<agent>/fd/N, the agent being not
   dumpable, which is what keeps commands from taking its fds. When the shell dies (`exit 3', a
   timeout's SIGKILL, a signal), the run reports it and a new shell with the same settings takes the
   slot. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/env.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "shellscript.h"

extern char **environ;

/* After a run's status, at most this much more output is drained (a background job writing
   without pause must not keep the run from completing). */
#define SHELL_DRAIN_MAX (4u << 20)

struct shell
{
  shell_t *next;
  char *id;
  conn_t *conn; /* the connection that opened it; the shell dies with it */
  char **env;   /* open settings, kept to respawn */
  char *cwd;
  char *user;
  char *path;       /* the shell binary */
  int driver;       /* bash: runs are read by the driver loop */
  uint64_t born_ms; /* when the process was started */
  int skip_status;  /* status lines still to drop (the driver's first, before any run) */
  pid_t pid;        /* 0 when no process runs */
  watch_t cmd, out, err, status;
  uint8_t *cmdbuf; /* the command text not yet written to the shell */
  size_t cmdlen, cmdoff;
  char sbuf[32]; /* a partial status line */
  size_t slen;
  /* the current run */
  int running;
  uint32_t req_id;
  uint64_t deadline_ms;
  int timed_out;
  int have_status, exit_code;
  char *in_path;  /* the run's stdin: a file the agent wrote, removed when the run ends */
  int dirty;      /* frames queued for conn: sent at the end of the loop turn (shell_flush_all) */
  int other_user; /* the shell runs as another uid than the agent: it cannot open our fds */
};

static void
close_watch (watch_t *w)
{
  if (w->fd < 0)
    return;
  agent_watch (w, 0);
  close (w->fd);
  w->fd = -1;
}

static int
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  return fl < 0 ? -1 : fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

static shell_t *
find_shell (conn_t *c, const char *id)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->conn == c && strcmp (s->id, id) == 0)
      return s;
  return NULL;
}

static const char *
pick_shell (void)
{
  static const char *const candidates[] = { "/bin/bash", "/usr/bin/bash", "/bin/sh" };
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (access (candidates[i], X_OK) == 0)
      return candidates[i];
  return NULL;
}

/* In the child: moves each from[i] to to[i] (clearing close-on-exec), first lifting every
   source above the targets so that no dup2 lands on a source still to be moved (the lifted
   copies are close-on-exec: the shell does not inherit them). */
static int
child_dup_all (int *from, const int *to, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (from[i] < 10 && (from[i] = fcntl (from[i], F_DUPFD_CLOEXEC, 10)) < 0)
      return -1;
  for (size_t i = 0; i < n; i++)
    if (dup2 (from[i], to[i]) < 0)
      return -1;
  return 0;
}

static void shell_start (shell_t *s);

/* Starts the shell process with fresh pipes and sends it its first command. */
static int
shell_spawn (shell_t *s, fk_error_t *err)
{
  agent_user_t user;
  memset (&user, 0, sizeof user);
  int have_user = s->user != NULL && s->user[0] != '\0';
  if (have_user && agent_user_resolve (agent->rootfd, s->user, &user, err) < 0)
    return -1;
  /* The user's home unless the shell's settings set HOME, as for a command. */
  cleanup_free char *home = have_user && user.home ? xasprintf ("HOME=%s", user.home) : NULL;
  char *with_home[] = { home, NULL };
  char *const *lists[] = { environ, with_home, s->env };
  cleanup_free char **envp = fk_env_merge (lists, 3);
  int cmdp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, stp[2] = { -1, -1 };
  int ret = -1;
  if (pipe2 (cmdp, O_CLOEXEC) < 0 || pipe2 (outp, O_CLOEXEC) < 0 || pipe2 (errp, O_CLOEXEC) < 0
      || pipe2 (stp, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "pipe");
      goto out;
    }
  /* argv[0] is the binary's name (a shell may act on it); bash is told by it. */
  const char *base = strrchr (s->path, '/') ? strrchr (s->path, '/') + 1 : s->path;
  int is_bash = strncmp (base, "bash", 4) == 0;
  char *argv_bash[] = { (char *)base, (char *)"--noprofile", (char *)"--norc", (char *)"-s", NULL };
  char *argv_sh[] = { (char *)base, (char *)"-s", NULL };
  /* The child reports a failure before exec through this pipe (close-on-exec: EOF means the
     exec worked). */
  int rep[2] = { -1, -1 };
  if (pipe2 (rep, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "pipe");
      goto out;
    }
  pid_t pid = fork ();
  if (pid < 0)
    {
      fk_error_set_errno (err, "fork");
      close (rep[0]);
      close (rep[1]);
      goto out;
    }
  if (pid == 0)
    {
      sigset_t none;
      sigemptyset (&none);
      struct sigaction dfl = { .sa_handler = SIG_DFL };
      sigaction (SIGPIPE, &dfl, NULL);
      sigprocmask (SIG_SETMASK, &none, NULL);
      setsid ();
      int stage = 0, e = 0;
      int from[] = { cmdp[0], outp[1], errp[1], agent->devnull, stp[1] };
      static const int to[] = { 0, 1, 2, SHELL_NULL_FD, SHELL_STATUS_FD };
      if (child_dup_all (from, to, sizeof to / sizeof to[0]) < 0)
        stage = 1;
      else if (s->cwd != NULL && s->cwd[0] != '\0' && chdir (s->cwd) < 0)
        stage = 2;
      else if (have_user
               && ((getuid () == 0 && setgroups ((size_t)user.n_groups, user.groups) < 0)
                   || setgid (user.gid) < 0 || setuid (user.uid) < 0))
        stage = 3;
      else
        {
          agent_child_dies_with_agent ();
          execve (s->path, is_bash ? argv_bash : argv_sh, envp), stage = 4;
        }
      e = errno;
      int msg[2] = { stage, e };
      ssize_t w = write (rep[1], msg, sizeof msg);
      (void)w;
      _exit (127);
    }
  close (rep[1]);
  int msg[2] = { 0, 0 };
  ssize_t n;
  do
    n = read (rep[0], msg, sizeof msg);
  while (n < 0 && errno == EINTR);
  close (rep[0]);
  if (n == (ssize_t)sizeof msg)
    {
      /* The child exits; the reaper collects it as an unknown pid. */
      errno = msg[1];
      if (msg[0] == 2)
        fk_error_set_errno (err, "shell cwd `%s'", s->cwd);
      else if (msg[0] == 3)
        fk_error_set_errno (err, "switch the shell to user `%s'", s->user);
      else
        fk_error_set_errno (err, "start the shell `%s'", s->path);
      goto out;
    }
  s->pid = pid;
  s->other_user = have_user && user.uid != geteuid ();
  s->cmd.fd = steal_fd (&cmdp[1]);
  s->out.fd = steal_fd (&outp[0]);
  s->err.fd = steal_fd (&errp[0]);
  s->status.fd = steal_fd (&stp[0]);
  set_nonblock (s->cmd.fd);
  set_nonblock (s->out.fd);
  set_nonblock (s->err.fd);
  set_nonblock (s->status.fd);
  agent_watch (&s->out, EPOLLIN);
  agent_watch (&s->err, EPOLLIN);
  agent_watch (&s->status, EPOLLIN);
  s->slen = 0;
  s->driver = is_bash;
  s->born_ms = fk_now_ms ();
  shell_start (s);
  ret = 0;
out:
  agent_user_clear (&user);
  for (int i = 0; i < 2; i++)
    {
      close_and_reset (cmdp[i]);
      close_and_reset (outp[i]);
      close_and_reset (errp[i]);
      close_and_reset (stp[i]);
    }
  return ret;
}

/* Queues text for the shell's stdin and writes what the pipe takes now. */
static void
send_cmd (shell_t *s, const char *text, size_t len)
{
  if (s->cmdoff == s->cmdlen)
    s->cmdoff = s->cmdlen = 0;
  s->cmdbuf = xrealloc (s->cmdbuf, s->cmdlen + len);
  memcpy (s->cmdbuf + s->cmdlen, text, len);
  s->cmdlen += len;
  /* A write error means the shell is gone: its death is reported by the reaper. */
  if (s->cmd.fd >= 0 && agent_write_out (&s->cmd, s->cmdbuf, s->cmdlen, &s->cmdoff) < 0)
    agent_watch (&s->cmd, 0);
}

static void
end_run_io (shell_t *s)
{
  if (s->in_path)
    unlink (s->in_path);
  free (s->in_path);
  s->in_path = NULL;
}

/* Writes a run's stdin into a new file (mode 0600, O_EXCL: never an existing file or a
   symlink someone placed) and returns its path, or NULL with errno set. */
static char *
stdin_file (const void *data, size_t len)
{
  static const char *const dirs[] = { "/dev/shm", "/tmp" };
  for (size_t i = 0; i < 2; i++)
    {
      char *path = xasprintf ("%s/.fk-run-stdin-XXXXXX", dirs[i]);
      int fd = mkostemp (path, O_CLOEXEC);
      if (fd < 0)
        {
          free (path);
          continue;
        }
      const char *p = data;
      size_t left = len;
      while (left)
        {
          ssize_t n = write (fd, p, left);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            break;
          p += n;
          left -= (size_t)n;
        }
      int saved = left ? (errno ? errno : EIO) : 0;
      close (fd);
      if (left == 0)
        return path;
      unlink (path);
      free (path);
      errno = saved;
      return NULL;
    }
  return NULL;
}

/* Reads one chunk of out or err: into the run's reply, or dropped between runs. Returns 1 when
   more may follow (a whole chunk came), 0 when the pipe has nothing now (a short read, EAGAIN,
   or closed), -1 when paused by the connection's back-pressure. */
static int
read_chunk (shell_t *s, watch_t *w, size_t *drained)
{
  if (w->fd < 0)
    return 0;
  ssize_t n;
  if (s->running && s->conn != NULL)
    {
      if (conn_queued (s->conn) >= AGENT_SENDQ_HIGH)
        {
          agent_watch (w, 0);
          return -1;
        }
      fk_wire_buf_t *b = conn_outbuf (s->conn);
      xgrow ((void **)&b->data, &b->cap, b->len + FK_WIRE_HEADER_LEN + FK_WIRE_CHUNK, 1);
      n = read (w->fd, b->data + b->len + FK_WIRE_HEADER_LEN, FK_WIRE_CHUNK);
      if (n > 0)
        {
          uint16_t type = w == &s->err ? FK_WIRE_R_STDERR : FK_WIRE_R_STDOUT;
          fk_wire_header_write (b->data + b->len, type, 0, s->req_id, (uint32_t)n);
          b->len += FK_WIRE_HEADER_LEN + (size_t)n;
        }
    }
  else
    {
      static uint8_t scratch[FK_WIRE_CHUNK];
      n = read (w->fd, scratch, sizeof scratch);
    }
  if (n > 0)
    {
      if (drained != NULL && (*drained += (size_t)n) > SHELL_DRAIN_MAX)
        return 0;
      if ((size_t)n == FK_WIRE_CHUNK)
        return 1;
      /* A pipe's read returns all it holds: a short one leaves it empty (no read for EAGAIN). */
      if (w->events == 0)
        agent_watch (w, EPOLLIN);
      return 0;
    }
  if (n < 0 && errno == EINTR)
    return 1;
  if (n < 0 && errno == EAGAIN)
    {
      if (w->events == 0)
        agent_watch (w, EPOLLIN);
      return 0;
    }
  /* EOF: every writer is gone (the shell died and no job holds the pipe). */
  close_watch (w);
  return 0;
}

/* Reads out and err until they have nothing more now. Returns -1 when paused by
   back-pressure. */
static int
drain (shell_t *s)
{
  size_t drained = 0;
  watch_t *ws[2] = { &s->out, &s->err };
  for (int i = 0; i < 2; i++)
    for (;;)
      {
        int r = read_chunk (s, ws[i], &drained);
        if (r < 0)
          return -1;
        if (r == 0)
          break;
      }
  return 0;
}

/* Ends the run: the exit frame. status is a wait status when respawned, else unused. */
static void
emit_exit (shell_t *s, int respawned, int wstatus)
{
  conn_t *c = s->conn;
  s->running = 0;
  s->deadline_ms = 0;
  end_run_io (s);
  if (c == NULL)
    return;
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_EXIT, FK_WIRE_F_END, s->req_id);
  if (respawned && WIFSIGNALED (wstatus))
    fk_wire_put_int (b, FK_TAG_SIGNAL, (uint64_t)WTERMSIG (wstatus));
  else
    fk_wire_put_int (b, FK_TAG_EXIT_CODE,
                     (uint64_t)(respawned ? WEXITSTATUS (wstatus) : s->exit_code & 0xff));
  if (s->timed_out)
    fk_wire_put_int (b, FK_TAG_TIMED_OUT, 1);
  if (respawned)
    fk_wire_put_int (b, FK_TAG_FLAGS, FK_WIRE_SHELL_RESPAWNED);
  fk_wire_end (b, NULL);
  s->timed_out = 0;
  s->dirty = 1;
}

/* The status line came: finish the run once the output written before it is read. */
static void
try_finish (shell_t *s)
{
  if (!s->running || !s->have_status)
    return;
  if (drain (s) < 0)
    return; /* resumed by shell_conn_drained */
  s->have_status = 0;
  emit_exit (s, 0, 0);
}

static void
read_status (shell_t *s)
{
  for (;;)
    {
      if (s->slen == sizeof s->sbuf)
        s->slen = 0; /* only the shell writes here: a line this long is not one of ours */
      size_t room = sizeof s->sbuf - s->slen;
      ssize_t n = read (s->status.fd, s->sbuf + s->slen, room);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            close_watch (&s->status);
          break;
        }
      s->slen += (size_t)n;
      char *nl;
      while ((nl = memchr (s->sbuf, '\n', s->slen)) != NULL)
        {
          *nl = '\0';
          int code = atoi (s->sbuf);
          size_t used = (size_t)(nl - s->sbuf) + 1;
          memmove (s->sbuf, nl + 1, s->slen - used);
          s->slen -= used;
          if (s->skip_status > 0)
            s->skip_status--;
          else if (s->running && !s->have_status)
            {
              s->have_status = 1;
              s->exit_code = code;
            }
        }
      if ((size_t)n < room)
        break; /* a short read emptied the pipe */
    }
  try_finish (s);
}

static void
kill_shell (shell_t *s)
{
  if (s->pid > 0)
    {
      kill (-s->pid, SIGKILL);
      kill (s->pid, SIGKILL);
    }
  s->pid = 0;
  close_watch (&s->cmd);
  close_watch (&s->out);
  close_watch (&s->err);
  close_watch (&s->status);
  free (s->cmdbuf);
  s->cmdbuf = NULL;
  s->cmdlen = s->cmdoff = 0;
}

static void
shell_free (shell_t *s)
{
  kill_shell (s);
  end_run_io (s);
  free (s->id);
  free (s->path);
  fk_strv_free (s->env);
  free (s->cwd);
  free (s->user);
  free (s);
}

static void
unlink_shell (shell_t *s)
{
  for (shell_t **pp = &agent->shells; *pp; pp = &(*pp)->next)
    if (*pp == s)
      {
        *pp = s->next;
        return;
      }
}

static void
init_watches (shell_t *s)
{
  watch_t *ws[] = { &s->cmd, &s->out, &s->err, &s->status };
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
    {
      ws[i]->kind = W_SHELL;
      ws[i]->fd = -1;
      ws[i]->owner = s;
      ws[i]->events = 0;
    }
}

/* Sends a freshly spawned shell its first command. */
static void
shell_start (shell_t *s)
{
  size_t len;
  const char *text = shell_script_prelude (s->driver, &len, &s->skip_status);
  send_cmd (s, text, len);
}

void
shell_open (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  fk_error_t err = FK_ERROR_INIT;
  if (agent->terminating)
    {
      conn_send_error (c, id, ESHUTDOWN, "the agent is shutting down");
      return;
    }
  const char *sid = m->str[FK_TAG_SHELL_ID];
  if (find_shell (c, sid) != NULL)
    {
      conn_send_error (c, id, EEXIST, "shell id already in use");
      return;
    }
  const char *want = m->str[FK_TAG_PATH];
  if (want != NULL && (want[0] != '/' || access (want, X_OK) < 0))
    {
      char msg[256];
      snprintf (msg, sizeof msg, "shell `%.200s': %s", want,
                want[0] != '/' ? "not an absolute path" : strerror (errno));
      conn_send_error (c, id, want[0] != '/' ? EINVAL : errno, msg);
      return;
    }
  const char *path = want != NULL ? want : pick_shell ();
  if (path == NULL)
    {
      conn_send_error (c, id, ENOENT, "no shell in the root (/bin/bash, /usr/bin/bash, /bin/sh)");
      return;
    }
  shell_t *s = xcalloc (1, sizeof *s);
  s->id = xstrdup (sid);
  s->conn = c;
  s->path = xstrdup (path);
  size_t ne = fk_strv_len (m->env);
  s->env = xcalloc (ne + 1, sizeof (char *));
  for (size_t i = 0; i < ne; i++)
    s->env[i] = xstrdup (m->env[i]);
  s->cwd = m->str[FK_TAG_CWD] ? xstrdup (m->str[FK_TAG_CWD]) : NULL;
  s->user = m->str[FK_TAG_USER] ? xstrdup (m->str[FK_TAG_USER]) : NULL;
  init_watches (s);
  if (shell_spawn (s, &err) < 0)
    {
      shell_free (s);
      conn_send_fk_error (c, id, &err);
      return;
    }
  s->next = agent->shells;
  agent->shells = s;
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  fk_wire_put_int (b, FK_TAG_PID, (uint64_t)s->pid);
  fk_wire_put_str (b, FK_TAG_PATH, s->path);
  fk_wire_end (b, NULL);
  conn_flush (c);
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
  if (s->running)
    {
      conn_send_error (c, id, EBUSY, "the shell is running a command");
      return;
    }
  const char *bad = shell_script_bad_env (m->env);
  if (bad != NULL)
    {
      char msg[256];
      snprintf (msg, sizeof msg, "environment entry `%.200s' does not name a shell variable", bad);
      conn_send_error (c, id, EINVAL, msg);
      return;
    }
  if (s->pid == 0 && shell_spawn (s, &err) < 0)
    {
      conn_send_fk_error (c, id, &err);
      return;
    }
  int stdin_bytes = m->num[FK_TAG_STDIN_MODE] == FK_WIRE_STDIN_BYTES;
  if (stdin_bytes && s->other_user)
    {
      conn_send_error (c, id, EPERM,
                       "stdin for a run: the shell runs as another user than the agent and "
                       "cannot read the agent's file (give the shell no user, or no stdin)");
      return;
    }
  if (stdin_bytes)
    {
      const fk_wire_slice_t *d = &m->bytes[FK_TAG_STDIN_DATA];
      s->in_path = stdin_file (d->data, d->len);
      if (s->in_path == NULL)
        {
          conn_send_error (c, id, errno, "a file for the run's stdin");
          return;
        }
    }
  shell_script_t script = {
    .cmd = m->str[FK_TAG_SHELL],
    .env = m->env,
    .cwd = m->str[FK_TAG_CWD],
    .stdin_path = s->in_path,
    .driver = s->driver,
  };
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  shell_script_build (&b, &script);

  s->running = 1;
  s->req_id = id;
  s->have_status = 0;
  s->timed_out = 0;
  s->deadline_ms = m->num[FK_TAG_TIMEOUT_MS] ? fk_now_ms () + m->num[FK_TAG_TIMEOUT_MS] : 0;
  /* Output left over from before this run (a background job) is not this run's. */
  size_t scratch_drained = 0;
  s->running = 0;
  watch_t *ws[2] = { &s->out, &s->err };
  for (int i = 0; i < 2; i++)
    while (read_chunk (s, ws[i], &scratch_drained) > 0)
      ;
  s->running = 1;
  send_cmd (s, (const char *)b.data, b.len);
  fk_wire_buf_free (&b);
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
  if (s->running)
    {
      /* The run ends as killed. */
      kill_shell (s);
      emit_exit (s, 1, SIGKILL);
    }
  unlink_shell (s);
  shell_free (s);
  conn_send_ok (c, id);
}

int
shell_signal (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  if (!fk_wire_msg_has (m, FK_TAG_TARGET))
    return 0;
  uint32_t target = (uint32_t)m->num[FK_TAG_TARGET];
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->conn == c && s->running && s->req_id == target)
      {
        /* The shell leads its process group; it survives SIGINT by its trap. */
        if (s->pid > 0)
          kill (-s->pid, (int)m->num[FK_TAG_SIGNAL]);
        conn_send_ok (c, id);
        return 1;
      }
  return 0;
}

/* The shell process is gone: report the run (if any), then start a new one in its place. */
static void
shell_died (shell_t *s, int wstatus)
{
  /* What the shell left running in its group (background jobs) goes with it. */
  kill (-s->pid, SIGKILL);
  s->pid = 0;
  if (s->status.fd >= 0)
    read_status (s); /* a status written just before dying still counts */
  int was_running = s->running;
  if (s->running)
    {
      drain (s);
      emit_exit (s, 1, wstatus);
    }
  kill_shell (s);
  if (agent->terminating)
    return;
  /* A shell that dies on its own within a second of starting (one that cannot start, or a bash
     too old for the driver) is not started again in a loop: the next run starts it and
     reports what happens. */
  if (!was_running && fk_now_ms () - s->born_ms < 1000)
    {
      log_warning ("shell %s: exited %d ms after it started; started again at the next run", s->id,
                   (int)(fk_now_ms () - s->born_ms));
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  if (shell_spawn (s, &err) < 0)
    {
      /* The next run tries again and reports why. */
      log_warning ("shell %s: respawn: %s", s->id, fk_error_message (&err));
      fk_error_clear (&err);
    }
}

int
shell_reaped (pid_t pid, int wstatus)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->pid == pid)
      {
        shell_died (s, wstatus);
        return 1;
      }
  return 0;
}

void
shell_on_event (shell_t *s, watch_t *w, uint32_t events)
{
  if (w->fd < 0)
    return;
  if (w == &s->cmd)
    send_cmd (s, "", 0);
  else if (w == &s->status)
    read_status (s);
  else
    {
      for (int i = 0; i < 4; i++)
        if (read_chunk (s, w, NULL) <= 0)
          break;
      s->dirty = 1;
      try_finish (s);
    }
}

void
shell_conn_drained (conn_t *c)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->conn == c && s->running)
      {
        if (s->out.fd >= 0 && s->out.events == 0)
          agent_watch (&s->out, EPOLLIN);
        if (s->err.fd >= 0 && s->err.events == 0)
          agent_watch (&s->err, EPOLLIN);
        try_finish (s);
      }
}

void
shell_conn_closed (conn_t *c)
{
  for (shell_t **pp = &agent->shells; *pp;)
    {
      shell_t *s = *pp;
      if (s->conn != c)
        {
          pp = &s->next;
          continue;
        }
      *pp = s->next;
      s->conn = NULL;
      shell_free (s);
    }
}

void
shell_timeouts (uint64_t now, uint64_t *next)
{
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->running)
      agent_deadline_check (&s->deadline_ms, s->pid, &s->timed_out, now, next);
}

void
shell_flush_all (void)
{
  /* Output and the exit of a run usually arrive in one loop turn: one send for both. */
  for (shell_t *s = agent->shells; s; s = s->next)
    if (s->dirty)
      {
        s->dirty = 0;
        if (s->conn != NULL)
          conn_flush (s->conn);
      }
}
