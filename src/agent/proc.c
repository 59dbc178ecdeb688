/* agent/proc.c: commands: starting them (spawn.c), output streaming with back-pressure,
   stdin, exit reporting, timeouts, signals, detaching and reattaching. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"

/* After a process exits, its pipes are read at most this much more (a background job holding
   them open must not keep the exit from being reported). */
#define DRAIN_MAX (4u << 20)
/* A ps entry's environment stops before the entry reaches this size. */
#define PS_ENTRY_MAX (256u * 1024u)

static proc_t *
find_proc (conn_t *c, uint32_t id, pid_t pid, const char *tag)
{
  for (proc_t *p = agent->procs; p; p = p->next)
    {
      if (p->dead)
        continue;
      if (c != NULL && p->conn == c && p->req_id == id)
        return p;
      if (pid > 0 && p->pid == pid)
        return p;
      if (tag != NULL && p->tag != NULL && strcmp (p->tag, tag) == 0)
        return p;
    }
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

static fk_wire_buf_t *
sink (proc_t *p)
{
  return p->conn ? conn_outbuf (p->conn) : &p->pending;
}

static int
can_read (const proc_t *p)
{
  if (p->discard)
    return 1;
  return p->conn ? conn_queued (p->conn) < AGENT_SENDQ_HIGH : p->pending.len < AGENT_DETACHED_MAX;
}

static void
emit_exit (proc_t *p)
{
  fk_wire_buf_t *b = sink (p);
  fk_wire_begin (b, FK_WIRE_R_EXIT, FK_WIRE_F_END, p->conn ? p->req_id : 0);
  if (WIFSIGNALED (p->status))
    fk_wire_put_int (b, FK_TAG_SIGNAL, (uint64_t)WTERMSIG (p->status));
  else
    fk_wire_put_int (b, FK_TAG_EXIT_CODE, (uint64_t)WEXITSTATUS (p->status));
  if (p->timed_out)
    fk_wire_put_int (b, FK_TAG_TIMED_OUT, 1);
  fk_wire_end (b, NULL);
}

static void
maybe_finish (proc_t *p)
{
  if (!p->exited || p->finished || p->out.fd >= 0 || p->err.fd >= 0)
    return;
  p->finished = 1;
  close_watch (&p->in);
  free (p->inbuf);
  p->inbuf = NULL;
  if (p->discard)
    {
      p->dead = 1;
      return;
    }
  emit_exit (p);
  if (p->conn != NULL)
    {
      conn_t *c = p->conn;
      p->dead = 1;
      conn_flush (c);
    }
}

/* Reads one chunk. Returns 1 when more may follow, 0 when nothing more now (or the pipe
   is closed), -1 when output is paused by back-pressure. */
static int
read_once (proc_t *p, watch_t *w, size_t *drained)
{
  if (!can_read (p))
    {
      agent_watch (w, 0);
      return -1;
    }
  ssize_t n;
  if (p->discard)
    {
      static uint8_t scratch[FK_WIRE_CHUNK];
      n = read (w->fd, scratch, sizeof scratch);
    }
  else
    {
      /* Read straight into the send queue behind a header written afterwards. */
      fk_wire_buf_t *b = sink (p);
      xgrow ((void **)&b->data, &b->cap, b->len + FK_WIRE_HEADER_LEN + FK_WIRE_CHUNK, 1);
      n = read (w->fd, b->data + b->len + FK_WIRE_HEADER_LEN, FK_WIRE_CHUNK);
      if (n > 0)
        {
          uint16_t type = w->kind == W_ERR ? FK_WIRE_R_STDERR : FK_WIRE_R_STDOUT;
          fk_wire_header_write (b->data + b->len, type, 0, p->conn ? p->req_id : 0, (uint32_t)n);
          b->len += FK_WIRE_HEADER_LEN + (size_t)n;
        }
    }
  if (n > 0)
    {
      if (drained != NULL)
        {
          *drained += (size_t)n;
          if (*drained > DRAIN_MAX)
            {
              close_watch (w);
              return 0;
            }
        }
      return 1;
    }
  if (n < 0 && errno == EINTR)
    return 1;
  if (n < 0 && errno == EAGAIN && !p->draining)
    {
      if (w->events == 0)
        agent_watch (w, EPOLLIN);
      return 0;
    }
  /* EOF, EIO (a pty whose other side is gone), or drained after exit. */
  close_watch (w);
  return 0;
}

static void
drain (proc_t *p)
{
  static size_t drained;
  drained = 0;
  watch_t *ws[2] = { &p->out, &p->err };
  for (int i = 0; i < 2; i++)
    while (ws[i]->fd >= 0)
      if (read_once (p, ws[i], &drained) < 0)
        goto out;
out:
  if (p->conn)
    conn_flush (p->conn);
  maybe_finish (p);
}

static void
write_stdin (proc_t *p)
{
  if (p->in.fd >= 0)
    {
      int r = agent_write_out (&p->in, p->inbuf, p->inlen, &p->inoff);
      if (r == 0)
        return;
      if (r < 0)
        close_watch (&p->in); /* the command closed its stdin: what is left is dropped */
    }
  free (p->inbuf);
  p->inbuf = NULL;
  p->inlen = p->inoff = 0;
  if (p->in.fd >= 0)
    {
      agent_watch (&p->in, 0);
      if (p->in_eof)
        {
          if (p->pty)
            {
              /* A terminal has no EOF to close: send the EOF character. */
              ssize_t r = write (p->in.fd, "\x04", 1);
              (void)r;
              p->in_eof = 0;
            }
          else
            close_watch (&p->in);
        }
    }
  if (p->conn)
    conn_resume_reading (p->conn);
}

static void
queue_stdin (proc_t *p, const uint8_t *data, size_t len)
{
  if (p->in.fd < 0 || len == 0)
    return;
  if (p->inoff > 0 && p->inoff == p->inlen)
    p->inlen = p->inoff = 0;
  p->inbuf = xrealloc (p->inbuf, p->inlen + len);
  memcpy (p->inbuf + p->inlen, data, len);
  p->inlen += len;
}

static int
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  return fl < 0 ? -1 : fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

void
proc_exec (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  fk_error_t err = FK_ERROR_INIT;
  if (agent->terminating)
    {
      conn_send_error (c, id, ESHUTDOWN, "the agent is shutting down");
      return;
    }
  if (find_proc (c, id, 0, NULL) != NULL)
    {
      conn_send_error (c, id, EEXIST, "request id already in use");
      return;
    }
  const char *tag = m->str[FK_TAG_TAG];
  if (tag != NULL && find_proc (NULL, 0, 0, tag) != NULL)
    {
      conn_send_error (c, id, EEXIST, "tag already in use");
      return;
    }
  int pty = m->num[FK_TAG_PTY] != 0;
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
  int master = -1, slave = -1;
  unsigned mode = (unsigned)m->num[FK_TAG_STDIN_MODE];
  /* No stdin: the agent's /dev/null (one pipe fewer to make, watch and close). */
  int null_in = !pty && mode == FK_WIRE_STDIN_CLOSED;
  if (pty)
    {
      master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
      char name[128];
      if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0
          || ptsname_r (master, name, sizeof name) != 0)
        {
          fk_error_set_errno (&err, "open a pseudo-terminal");
          goto fail;
        }
      slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0)
        {
          fk_error_set_errno (&err, "open `%s'", name);
          goto fail;
        }
      struct winsize ws = {
        .ws_row = (unsigned short)(m->num[FK_TAG_ROWS] ? m->num[FK_TAG_ROWS] : 24),
        .ws_col = (unsigned short)(m->num[FK_TAG_COLS] ? m->num[FK_TAG_COLS] : 80),
      };
      ioctl (master, TIOCSWINSZ, &ws);
    }
  else if ((!null_in && pipe2 (in, O_CLOEXEC) < 0) || pipe2 (out, O_CLOEXEC) < 0
           || pipe2 (errp, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (&err, "pipe");
      goto fail;
    }
  char *shell_argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)m->str[FK_TAG_SHELL], NULL };
  char *const *argv = m->argv ? m->argv : shell_argv;
  proc_spawn_t req = {
    .argv = argv,
    .env = m->env,
    .cwd = m->str[FK_TAG_CWD],
    .user = m->str[FK_TAG_USER],
    .fd_in = pty       ? slave
             : null_in ? agent->devnull
                       : in[0],
    .fd_out = pty ? slave : out[1],
    .fd_err = pty ? slave : errp[1],
    .pty = pty,
    .extra_fd = -1,
  };
  pid_t pid = proc_spawn (&req, &err);
  if (pid < 0)
    goto fail;
  proc_t *p = xcalloc (1, sizeof *p);
  p->pid = pid;
  p->conn = c;
  p->req_id = id;
  p->tag = tag ? xstrdup (tag) : NULL;
  p->keep = m->num[FK_TAG_KEEP] != 0;
  p->pty = pty;
  size_t argc = fk_strv_len (argv);
  p->argv = xcalloc (argc + 1, sizeof (char *));
  for (size_t i = 0; i < argc; i++)
    p->argv[i] = xstrdup (argv[i]);
  if (m->env)
    {
      size_t envc = fk_strv_len (m->env);
      p->env = xcalloc (envc + 1, sizeof (char *));
      for (size_t i = 0; i < envc; i++)
        p->env[i] = xstrdup (m->env[i]);
    }
  p->cwd = m->str[FK_TAG_CWD] && m->str[FK_TAG_CWD][0] ? xstrdup (m->str[FK_TAG_CWD]) : NULL;
  p->out.kind = W_OUT;
  p->err.kind = W_ERR;
  p->in.kind = W_IN;
  p->out.owner = p->err.owner = p->in.owner = p;
  if (pty)
    {
      close (slave);
      p->out.fd = master;
      p->err.fd = -1;
      p->in.fd = fcntl (master, F_DUPFD_CLOEXEC, 3);
      set_nonblock (master);
    }
  else
    {
      close_and_reset (in[0]);
      close (out[1]);
      close (errp[1]);
      p->out.fd = out[0];
      p->err.fd = errp[0];
      p->in.fd = in[1]; /* -1 with /dev/null */
      set_nonblock (out[0]);
      set_nonblock (errp[0]);
      if (in[1] >= 0)
        set_nonblock (in[1]);
    }
  if (m->num[FK_TAG_TIMEOUT_MS] > 0)
    p->deadline_ms = fk_now_ms () + m->num[FK_TAG_TIMEOUT_MS];
  p->next = agent->procs;
  agent->procs = p;

  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_STARTED, 0, id);
  fk_wire_put_int (b, FK_TAG_PID, (uint64_t)pid);
  fk_wire_end (b, NULL);

  if (mode == FK_WIRE_STDIN_BYTES)
    {
      queue_stdin (p, m->bytes[FK_TAG_STDIN_DATA].data, m->bytes[FK_TAG_STDIN_DATA].len);
      p->in_eof = 1;
      write_stdin (p);
    }
  else if (mode == FK_WIRE_STDIN_CLOSED)
    {
      p->in_eof = 1;
      write_stdin (p);
    }
  agent_watch (&p->out, EPOLLIN);
  agent_watch (&p->err, EPOLLIN);
  conn_flush (c);
  return;

fail:
  for (int i = 0; i < 2; i++)
    {
      close_and_reset (in[i]);
      close_and_reset (out[i]);
      close_and_reset (errp[i]);
    }
  close_and_reset (master);
  close_and_reset (slave);
  conn_send_fk_error (c, id, &err);
}

void
proc_on_event (proc_t *p, watch_t *w, uint32_t events)
{
  if (p->dead)
    return;
  if (w->kind == W_IN)
    {
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        write_stdin (p);
      return;
    }
  for (int i = 0; i < 4 && w->fd >= 0; i++)
    if (read_once (p, w, NULL) <= 0)
      break;
  if (p->conn)
    conn_flush (p->conn);
  if (p->exited)
    drain (p);
}

void
proc_set_exited (proc_t *p, int status)
{
  if (p->exited)
    return;
  p->exited = 1;
  p->status = status;
  p->draining = 1;
  drain (p);
}

void
proc_reap (int (*claimed) (pid_t pid, int wstatus))
{
  for (;;)
    {
      int st;
      pid_t pid = waitpid (-1, &st, WNOHANG);
      if (pid <= 0)
        return;
      if (claimed && claimed (pid, st))
        continue;
      for (proc_t *p = agent->procs; p; p = p->next)
        if (p->pid == pid && !p->exited)
          {
            proc_set_exited (p, st);
            break;
          }
    }
}

void
proc_timeouts (uint64_t now, uint64_t *next)
{
  for (proc_t *p = agent->procs; p; p = p->next)
    if (!p->exited && agent_deadline_check (&p->deadline_ms, p->pid, &p->timed_out, now, next))
      log_debug ("pid %d: timeout, killed its process group", (int)p->pid);
}

void
proc_signal_all (int sig)
{
  for (proc_t *p = agent->procs; p; p = p->next)
    if (!p->exited)
      {
        kill (-p->pid, sig);
        kill (p->pid, sig);
      }
}

int
proc_count (void)
{
  int n = 0;
  for (proc_t *p = agent->procs; p; p = p->next)
    n += !p->dead;
  return n;
}

static void
detach (proc_t *p)
{
  p->conn = NULL;
  if (p->finished)
    {
      p->dead = 1;
      return;
    }
  if (p->tag == NULL && !p->keep)
    {
      p->discard = 1;
      if (!p->exited)
        {
          kill (-p->pid, SIGKILL);
          kill (p->pid, SIGKILL);
        }
    }
  /* Output continues into p->pending (or is discarded); reading resumes if it was paused. */
  if (p->out.fd >= 0 && p->out.events == 0)
    agent_watch (&p->out, EPOLLIN);
  if (p->err.fd >= 0 && p->err.events == 0)
    agent_watch (&p->err, EPOLLIN);
}

void
proc_conn_closed (conn_t *c)
{
  for (proc_t *p = agent->procs; p; p = p->next)
    if (p->conn == c && !p->dead)
      detach (p);
}

void
proc_cancel (conn_t *c, uint32_t target)
{
  proc_t *p = find_proc (c, target, 0, NULL);
  if (p != NULL)
    detach (p);
}

void
proc_conn_drained (conn_t *c)
{
  for (proc_t *p = agent->procs; p; p = p->next)
    {
      if (p->conn != c || p->dead)
        continue;
      if (p->exited)
        drain (p);
      else
        {
          if (p->out.fd >= 0 && p->out.events == 0)
            agent_watch (&p->out, EPOLLIN);
          if (p->err.fd >= 0 && p->err.events == 0)
            agent_watch (&p->err, EPOLLIN);
        }
      if (c->closed || conn_queued (c) >= AGENT_SENDQ_HIGH)
        return;
    }
}

void
proc_attach (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  pid_t pid = fk_wire_msg_has (m, FK_TAG_PID) ? (pid_t)m->num[FK_TAG_PID] : 0;
  const char *tag = m->str[FK_TAG_TAG];
  proc_t *p = find_proc (NULL, 0, pid, tag);
  if (p == NULL || p->discard)
    {
      char msg[256];
      if (tag)
        snprintf (msg, sizeof msg, "no process tagged `%.200s'", tag);
      else
        snprintf (msg, sizeof msg, "no process %d", (int)pid);
      conn_send_error (c, id, ENOENT, msg);
      return;
    }
  if (p->conn != NULL)
    {
      conn_send_error (c, id, EBUSY, "the process is attached to another request");
      return;
    }
  p->conn = c;
  p->req_id = id;
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_STARTED, 0, id);
  fk_wire_put_int (b, FK_TAG_PID, (uint64_t)p->pid);
  fk_wire_end (b, NULL);
  /* Replay what was produced while detached, under this request's id. */
  size_t off = 0;
  while (off + FK_WIRE_HEADER_LEN <= p->pending.len)
    {
      uint8_t *h = p->pending.data + off;
      uint32_t len
          = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
      uint16_t type = (uint16_t)(h[4] | h[5] << 8);
      uint16_t flags = (uint16_t)(h[6] | h[7] << 8);
      fk_wire_header_write (h, type, flags, id, len);
      off += FK_WIRE_HEADER_LEN + len;
    }
  fk_wire_put_raw (b, p->pending.data, p->pending.len);
  fk_wire_buf_free (&p->pending);
  if (p->finished)
    p->dead = 1;
  else if (p->exited)
    drain (p);
  else
    {
      if (p->out.fd >= 0 && p->out.events == 0)
        agent_watch (&p->out, EPOLLIN);
      if (p->err.fd >= 0 && p->err.events == 0)
        agent_watch (&p->err, EPOLLIN);
    }
  conn_flush (c);
}

void
proc_signal (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  pid_t pid = fk_wire_msg_has (m, FK_TAG_PID) ? (pid_t)m->num[FK_TAG_PID] : 0;
  proc_t *p = NULL;
  if (fk_wire_msg_has (m, FK_TAG_TARGET))
    {
      uint32_t target = (uint32_t)m->num[FK_TAG_TARGET];
      p = find_proc (c, target, 0, NULL);
    }
  else
    p = find_proc (NULL, 0, pid, m->str[FK_TAG_TAG]);
  if (p == NULL || p->exited)
    {
      conn_send_error (c, id, p ? ESRCH : ENOENT, p ? "the process has exited" : "no such process");
      return;
    }
  int sig = (int)m->num[FK_TAG_SIGNAL];
  int r = (m->num[FK_TAG_FLAGS] & FK_WIRE_SIG_GROUP) ? kill (-p->pid, sig) : kill (p->pid, sig);
  if (r < 0)
    {
      char msg[128];
      snprintf (msg, sizeof msg, "kill %d: %s", (int)p->pid, strerror (errno));
      conn_send_error (c, id, errno, msg);
      return;
    }
  conn_send_ok (c, id);
}

void
proc_resize (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  proc_t *p;
  if (fk_wire_msg_has (m, FK_TAG_TARGET))
    p = find_proc (c, (uint32_t)m->num[FK_TAG_TARGET], 0, NULL);
  else
    p = find_proc (NULL, 0, fk_wire_msg_has (m, FK_TAG_PID) ? (pid_t)m->num[FK_TAG_PID] : 0,
                   m->str[FK_TAG_TAG]);
  if (p != NULL && p->discard)
    p = NULL;
  if (p == NULL || !p->pty || p->out.fd < 0)
    {
      conn_send_error (c, id, p ? ENOTTY : ENOENT, p ? "not a pty process" : "no such process");
      return;
    }
  struct winsize ws = { .ws_row = (unsigned short)m->num[FK_TAG_ROWS],
                        .ws_col = (unsigned short)m->num[FK_TAG_COLS] };
  if (ioctl (p->out.fd, TIOCSWINSZ, &ws) < 0)
    {
      conn_send_error (c, id, errno, "resize the terminal");
      return;
    }
  conn_send_ok (c, id);
}

void
proc_ps (conn_t *c, uint32_t id)
{
  int open = 0;
  fk_wire_buf_t e = FK_WIRE_BUF_INIT;
  for (proc_t *p = agent->procs; p; p = p->next)
    {
      if (p->dead || p->discard)
        continue;
      fk_wire_buf_reset (&e);
      fk_wire_put_int (&e, FK_TAG_PID, (uint64_t)p->pid);
      if (p->tag)
        fk_wire_put_str (&e, FK_TAG_TAG, p->tag);
      for (char **a = p->argv; *a; a++)
        fk_wire_put_str (&e, FK_TAG_ARG, *a);
      if (p->cwd)
        fk_wire_put_str (&e, FK_TAG_CWD, p->cwd);
      /* The environment as far as it fits an entry of PS_ENTRY_MAX (a frame holds whole
         entries). */
      for (char **v = p->env; v && *v && e.len + strlen (*v) + 16 < PS_ENTRY_MAX; v++)
        fk_wire_put_str (&e, FK_TAG_ENV, *v);
      fk_wire_put_int (&e, FK_TAG_FLAGS,
                       (p->exited ? 0 : FK_WIRE_PS_RUNNING) | (p->conn ? FK_WIRE_PS_ATTACHED : 0)
                           | (p->pty ? FK_WIRE_PS_PTY : 0));
      conn_list_add (c, id, FK_TAG_PROC, &e, &open);
    }
  fk_wire_buf_free (&e);
  conn_list_end (c, id, &open);
}

void
proc_stdin (conn_t *c, uint32_t id, uint16_t flags, const uint8_t *data, size_t len)
{
  proc_t *p = find_proc (c, id, 0, NULL);
  if (p == NULL || p->finished)
    return; /* it ended: its stdin is gone */
  queue_stdin (p, data, len);
  if (flags & FK_WIRE_F_EOF)
    p->in_eof = 1;
  write_stdin (p);
  if (p->inlen - p->inoff > AGENT_STDIN_MAX)
    conn_pause_reading (c);
}

void
proc_input (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  pid_t pid = fk_wire_msg_has (m, FK_TAG_PID) ? (pid_t)m->num[FK_TAG_PID] : 0;
  proc_t *p = find_proc (NULL, 0, pid, m->str[FK_TAG_TAG]);
  unsigned flags = (unsigned)m->num[FK_TAG_FLAGS];
  if (p == NULL || p->discard || p->exited)
    {
      conn_send_error (c, id, p && !p->discard ? ESRCH : ENOENT,
                       p && !p->discard ? "the process has exited" : "no such process");
      return;
    }
  if (!(flags & FK_WIRE_INPUT_PTY) != !p->pty)
    {
      conn_send_error (c, id, ENOTTY,
                       p->pty ? "the process runs on a terminal: send it terminal input"
                              : "the process has no terminal");
      return;
    }
  if (p->in.fd < 0)
    {
      conn_send_error (c, id, EPIPE, "the process's stdin is closed or was never open");
      return;
    }
  const fk_wire_slice_t *d = &m->bytes[FK_TAG_STDIN_DATA];
  /* The process is not reading: its queue is bounded, and the request gets told (a connection
     other than the one attached cannot be paused on the process's account). */
  if (p->inlen - p->inoff + d->len > AGENT_STDIN_MAX)
    {
      conn_send_error (c, id, ENOBUFS, "the process is not reading its input");
      return;
    }
  queue_stdin (p, d->data, d->len);
  if (flags & FK_WIRE_INPUT_EOF)
    p->in_eof = 1;
  write_stdin (p);
  conn_send_ok (c, id);
}

void
proc_gc (void)
{
  for (proc_t **pp = &agent->procs; *pp;)
    {
      proc_t *p = *pp;
      if (!p->dead)
        {
          pp = &p->next;
          continue;
        }
      *pp = p->next;
      close_watch (&p->out);
      close_watch (&p->err);
      close_watch (&p->in);
      free (p->inbuf);
      free (p->tag);
      fk_strv_free (p->argv);
      fk_strv_free (p->env);
      free (p->cwd);
      fk_wire_buf_free (&p->pending);
      free (p);
    }
}
