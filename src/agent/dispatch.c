/* agent/dispatch.c: what arrives on a connection: frames read and parsed, the version
   exchange, each request handed to the part that serves it (processes, shells, files), and
   what those parts do when a connection closes or its send queue drains. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"

extern char **environ;

#define READ_CHUNK (256u * 1024u)
/* Where the agent holds the upper dir of its sandbox's root: FK_LAUNCH_UPPER_FD
   (sandbox/launch.h), which the host takes with pidfd_getfd for a snapshot. */
#define AGENT_UPPER_FD 4

static void
closed (conn_t *c)
{
  proc_conn_closed (c);
  files_conn_closed (c);
  fswatch_conn_closed (c);
  shell_conn_closed (c);
  port_conn_closed (c);
}

static void
drained (conn_t *c)
{
  proc_conn_drained (c);
  files_pump (c);
  fswatch_conn_drained (c);
  shell_conn_drained (c);
}

/* The agent's own environment is what every process it starts inherits, under the request's
   variables: a sandbox handed out by the warm pool takes its creator's variables this way.
   The agent is one thread, so setenv cannot race a spawn. */
static void
set_env (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  for (char **e = m->env; *e; e++)
    {
      cleanup_free char *name = xstrndup (*e, (size_t)(strchr (*e, '=') - *e));
      if (setenv (name, strchr (*e, '=') + 1, 1) < 0)
        {
          conn_send_error (c, id, errno, "set-env: cannot set the variable");
          return;
        }
    }
  conn_send_ok (c, id);
}

/* The agent's own environment (what its processes inherit), bounded to one frame. */
static void
get_env (conn_t *c, uint32_t id)
{
  fk_wire_begin (&c->out, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  size_t used = 0;
  for (char **e = environ; e && *e; e++)
    {
      size_t n = strlen (*e);
      if (used + n > FK_WIRE_ENV_MAX)
        break;
      used += n;
      fk_wire_put_str (&c->out, FK_TAG_ENV, *e);
    }
  fk_wire_end (&c->out, NULL);
  conn_flush (c);
}

/* The host moved the sandbox onto another root (sandbox/reroot.h) and hands over what of it the
   agent holds: the upper dir (for the host's snapshots) and the log (stdout and stderr). The
   root, the cwd and /dev/null are taken again in the new root: nothing the agent keeps open names
   the old one any more. The fds replace only what the agent's own sandbox gave it, so a REROOT from
   a peer other than the host could do no more than what runs inside already can. */
static void
reroot (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  const char *cwd = m->str[FK_TAG_CWD];
  if (c->n_in_fds != AGENT_IN_FDS)
    {
      conn_drop_in_fds (c);
      conn_send_error (c, id, EINVAL, "reroot: expected two fds, the upper dir and the log");
      return;
    }
  int upper = c->in_fds[0], log = c->in_fds[1];
  c->n_in_fds = 0;
  /* Only an agent its sandbox gave an upper dir at AGENT_UPPER_FD has one to replace: anywhere
     else that fd is something of the agent's own (its epoll, a connection). */
  struct stat held;
  if (fstat (AGENT_UPPER_FD, &held) < 0 || !S_ISDIR (held.st_mode))
    {
      close (upper);
      close (log);
      conn_send_error (c, id, ENOTSUP, "reroot: this agent holds no upper dir (not a sandbox's)");
      return;
    }
  int root = open (agent->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int e = 0;
  const char *what = NULL;
  if (cwd[0] != '/')
    e = EINVAL, what = "reroot: the cwd is not absolute";
  else if (root < 0)
    e = errno, what = "reroot: open the new root";
  else if (dup3 (upper, AGENT_UPPER_FD, O_CLOEXEC) < 0)
    e = errno, what = "reroot: take the upper dir";
  else if (dup2 (log, 1) < 0 || dup2 (log, 2) < 0)
    e = errno, what = "reroot: take the log";
  else if (chdir (cwd) < 0)
    e = errno, what = "reroot: change to the cwd";
  close (upper);
  close (log);
  if (e != 0)
    {
      if (root >= 0)
        close (root);
      conn_send_error (c, id, e, what);
      return;
    }
  close (agent->rootfd);
  agent->rootfd = root;
  /* /dev/null too: the old one is on the old root's /dev. */
  int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0)
    {
      close (agent->devnull);
      agent->devnull = null;
    }
  log_info ("moved onto a new root (cwd `%s')", cwd);
  if (m->env != NULL)
    set_env (c, id, m);
  else
    conn_send_ok (c, id);
}

void
dispatch_init (void)
{
  conn_hooks.closed = closed;
  conn_hooks.drained = drained;
}

static void
hello (conn_t *c, const fk_wire_frame_t *f, const fk_wire_msg_t *m)
{
  uint64_t v = m->num[FK_TAG_VERSION];
  fk_wire_begin (&c->out, FK_WIRE_R_HELLO, FK_WIRE_F_END, f->id);
  fk_wire_put_str (&c->out, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (&c->out, FK_TAG_VERSION, v < FK_WIRE_VERSION ? v : FK_WIRE_VERSION);
  fk_wire_put_int (&c->out, FK_TAG_PID, (uint64_t)getpid ());
  fk_wire_end (&c->out, NULL);
  c->hello = 1;
  conn_flush (c);
}

/* Handles one frame; returns -1 when the connection must be dropped. */
static int
dispatch (conn_t *c, const fk_wire_frame_t *f)
{
  fk_error_t err = FK_ERROR_INIT;
  if (f->type >= FK_WIRE_R_HELLO)
    {
      log_warning ("connection fd %d: a reply frame (%s) from a client", c->w.fd,
                   fk_wire_type_name (f->type));
      return -1;
    }
  if (!c->hello && f->type != FK_WIRE_HELLO)
    {
      log_warning ("connection fd %d: %s before hello", c->w.fd, fk_wire_type_name (f->type));
      return -1;
    }
  /* fds come only with REROOT (sent with its first byte, so they arrive with the read that
     starts it): whatever came with any other frame goes at once, never held for a later one. */
  if (f->type != FK_WIRE_REROOT && c->n_in_fds > 0)
    conn_drop_in_fds (c);
  if (f->type == FK_WIRE_STDIN)
    {
      proc_stdin (c, f->id, f->flags, f->payload, f->len);
      return 0;
    }
  if (f->type == FK_WIRE_DATA)
    {
      files_data (c, f);
      return 0;
    }
  fk_wire_msg_t m;
  if (fk_wire_frame_decode (f, &m, &err) < 0)
    {
      if (f->type == FK_WIRE_HELLO)
        {
          log_warning ("connection fd %d: %s", c->w.fd, fk_error_message (&err));
          fk_error_clear (&err);
          return -1;
        }
      conn_send_fk_error (c, f->id, &err);
      return 0;
    }
  switch (f->type)
    {
    case FK_WIRE_HELLO:
      hello (c, f, &m);
      break;
    case FK_WIRE_EXEC:
      proc_exec (c, f->id, &m);
      break;
    case FK_WIRE_ATTACH:
      proc_attach (c, f->id, &m);
      break;
    case FK_WIRE_SIGNAL:
      if (!shell_signal (c, f->id, &m))
        proc_signal (c, f->id, &m);
      break;
    case FK_WIRE_SHELL_OPEN:
      shell_open (c, f->id, &m);
      break;
    case FK_WIRE_SHELL_RUN:
      shell_run (c, f->id, &m);
      break;
    case FK_WIRE_SHELL_CLOSE:
      shell_close (c, f->id, &m);
      break;
    case FK_WIRE_RESIZE:
      proc_resize (c, f->id, &m);
      break;
    case FK_WIRE_PROC_INPUT:
      proc_input (c, f->id, &m);
      break;
    case FK_WIRE_PS:
      proc_ps (c, f->id);
      break;
    case FK_WIRE_CANCEL:
      proc_cancel (c, (uint32_t)m.num[FK_TAG_TARGET]);
      break;
    case FK_WIRE_SET_ENV:
      set_env (c, f->id, &m);
      break;
    case FK_WIRE_GET_ENV:
      get_env (c, f->id);
      break;
    case FK_WIRE_REROOT:
      reroot (c, f->id, &m);
      break;
    case FK_WIRE_FILE_READ:
    case FK_WIRE_FILE_WRITE:
    case FK_WIRE_FILE_STAT:
    case FK_WIRE_FILE_LIST:
    case FK_WIRE_FILE_MKDIR:
    case FK_WIRE_FILE_RENAME:
    case FK_WIRE_FILE_REMOVE:
    case FK_WIRE_FILE_CHMOD:
    case FK_WIRE_USER_LOOKUP:
      files_request (c, f, &m);
      break;
    case FK_WIRE_WATCH:
      fswatch_start (c, f->id, &m);
      break;
    case FK_WIRE_WATCH_STOP:
      fswatch_stop (c, (uint32_t)m.num[FK_TAG_TARGET]);
      break;
    case FK_WIRE_PORT_CONNECT:
      port_connect (c, f->id, &m);
      break;
    default:
      conn_send_error (c, f->id, EOPNOTSUPP, "request type not supported by this agent");
      break;
    }
  fk_wire_msg_clear (&m);
  return 0;
}

/* One read; fds that come with it are kept for the REROOT frame they came with (a set
   replaces the last one, a truncated set is dropped, and dispatch drops them for any other
   frame: a peer's fds never pile up here). */
static ssize_t
recv_some (conn_t *c)
{
  union
  {
    char buf[CMSG_SPACE (sizeof (int) * AGENT_IN_FDS)];
    struct cmsghdr align;
  } u;
  struct iovec iov = { .iov_base = c->rbuf + c->rlen, .iov_len = c->rcap - c->rlen };
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  ssize_t n = recvmsg (c->w.fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0)
    return n;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR (&msg); cm; cm = CMSG_NXTHDR (&msg, cm))
    {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
        continue;
      size_t k = (cm->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      int fds[AGENT_IN_FDS];
      if (k > AGENT_IN_FDS)
        k = AGENT_IN_FDS;
      memcpy (fds, CMSG_DATA (cm), k * sizeof (int));
      conn_drop_in_fds (c);
      if (msg.msg_flags & MSG_CTRUNC)
        {
          for (size_t i = 0; i < k; i++)
            close (fds[i]);
          continue;
        }
      memcpy (c->in_fds, fds, k * sizeof (int));
      c->n_in_fds = k;
    }
  return n;
}

static void
on_readable (conn_t *c)
{
  for (int rounds = 0; rounds < 16 && !c->reading_paused && !c->closed; rounds++)
    {
      if (c->rcap - c->rlen < READ_CHUNK)
        xgrow ((void **)&c->rbuf, &c->rcap, c->rlen + READ_CHUNK, 1);
      ssize_t n = recv_some (c);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0)
        {
          conn_close (c);
          return;
        }
      c->rlen += (size_t)n;
      size_t off = 0;
      while (!c->closed)
        {
          fk_error_t err = FK_ERROR_INIT;
          fk_wire_frame_t f;
          long used = fk_wire_frame_parse (c->rbuf + off, c->rlen - off, &f, &err);
          if (used < 0)
            {
              log_warning ("connection fd %d: %s", c->w.fd, fk_error_message (&err));
              fk_error_clear (&err);
              conn_close (c);
              return;
            }
          if (used == 0)
            break;
          if (dispatch (c, &f) < 0)
            {
              conn_close (c);
              return;
            }
          off += (size_t)used;
        }
      memmove (c->rbuf, c->rbuf + off, c->rlen - off);
      c->rlen -= off;
      if ((size_t)n < READ_CHUNK)
        break;
    }
  /* A big buffer is not kept around for an idle connection. */
  if (c->rlen == 0 && c->rcap > 4 * READ_CHUNK)
    {
      free (c->rbuf);
      c->rbuf = NULL;
      c->rcap = 0;
    }
}

void
dispatch_on_event (conn_t *c, uint32_t events)
{
  if (c->closed)
    return;
  if (events & EPOLLOUT)
    conn_flush (c);
  if (c->closed)
    return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
    {
      if (c->reading_paused && !(events & EPOLLIN))
        {
          /* Paused: only notice a peer that went away. */
          char b;
          ssize_t n = recv (c->w.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN))
            conn_close (c);
          return;
        }
      on_readable (c);
    }
}
