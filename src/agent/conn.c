/* agent/conn.c: client connections as a transport: accepting, the send queue whose size
   throttles process output, replies. What a frame asks for is dispatch.c's; conn.c tells the
   layers above of a close or a drained queue through conn_hooks only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "base/log.h"
#include "base/xalloc.h"

void
conn_accept (void)
{
  for (;;)
    {
      int fd = accept4 (agent->listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        {
          if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_warning_errno (errno, "accept");
          return;
        }
      conn_t *c = xcalloc (1, sizeof *c);
      c->w.kind = W_CONN;
      c->w.fd = fd;
      c->w.owner = c;
      c->next = agent->conns;
      agent->conns = c;
      agent_watch (&c->w, EPOLLIN);
    }
}

conn_hooks_t conn_hooks;

void
conn_close (conn_t *c)
{
  if (c->closed)
    return;
  c->closed = 1;
  agent_watch (&c->w, 0);
  if (conn_hooks.closed)
    conn_hooks.closed (c);
}

void
conn_free_closed (void)
{
  for (conn_t **pp = &agent->conns; *pp;)
    {
      conn_t *c = *pp;
      if (!c->closed)
        {
          pp = &c->next;
          continue;
        }
      *pp = c->next;
      close (c->w.fd);
      conn_drop_in_fds (c);
      for (size_t i = 0; i < c->n_fds; i++)
        close (c->fds[i].fd);
      free (c->fds);
      free (c->rbuf);
      fk_wire_buf_free (&c->out);
      free (c);
    }
}

fk_wire_buf_t *
conn_outbuf (conn_t *c)
{
  return &c->out;
}

size_t
conn_queued (const conn_t *c)
{
  return c->out.len - c->out_off;
}

static void
update_events (conn_t *c)
{
  if (c->closed)
    return;
  uint32_t ev = c->reading_paused ? 0 : EPOLLIN;
  if (conn_queued (c) > 0)
    ev |= EPOLLOUT;
  /* Paused and nothing to send: only hear about the peer going away, once. */
  if (ev == 0)
    ev = EPOLLRDHUP | EPOLLET;
  agent_watch (&c->w, ev);
}

void
conn_queue_fd (conn_t *c, size_t off, int fd)
{
  c->fds = xrealloc (c->fds, (c->n_fds + 1) * sizeof *c->fds);
  c->fds[c->n_fds++] = (struct conn_fd){ .off = off, .fd = fd };
}

/* One send from the queue: up to the next frame that carries an fd, or that frame with its fd
   (sendmsg attaches it to the first byte sent, however much of the frame goes). */
static ssize_t
send_some (conn_t *c)
{
  const uint8_t *p = c->out.data + c->out_off;
  size_t len = conn_queued (c);
  if (c->n_fds == 0 || c->fds[0].off > c->out_off)
    {
      if (c->n_fds)
        len = c->fds[0].off - c->out_off;
      return send (c->w.fd, p, len, MSG_NOSIGNAL);
    }
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  memset (&u, 0, sizeof u);
  struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *cm = CMSG_FIRSTHDR (&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cm), &c->fds[0].fd, sizeof (int));
  ssize_t n = sendmsg (c->w.fd, &msg, MSG_NOSIGNAL);
  if (n > 0)
    {
      close (c->fds[0].fd);
      memmove (c->fds, c->fds + 1, --c->n_fds * sizeof *c->fds);
    }
  return n;
}

void
conn_flush (conn_t *c)
{
  if (c->closed)
    return;
  size_t before = conn_queued (c);
  while (conn_queued (c) > 0)
    {
      ssize_t n = send_some (c);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          log_debug ("connection fd %d: send: %s", c->w.fd, strerror (errno));
          conn_close (c);
          return;
        }
      c->out_off += (size_t)n;
    }
  if (c->out_off == c->out.len)
    {
      /* Everything sent: an idle connection does not keep a big buffer around. */
      if (c->out.cap > 4 * AGENT_SENDQ_LOW)
        fk_wire_buf_free (&c->out);
      else
        fk_wire_buf_reset (&c->out);
      c->out_off = 0;
    }
  else if (c->out_off > AGENT_SENDQ_HIGH)
    {
      for (size_t i = 0; i < c->n_fds; i++)
        c->fds[i].off -= c->out_off;
      memmove (c->out.data, c->out.data + c->out_off, conn_queued (c));
      c->out.len -= c->out_off;
      c->out_off = 0;
    }
  if (before >= AGENT_SENDQ_LOW && conn_queued (c) < AGENT_SENDQ_LOW && conn_hooks.drained)
    conn_hooks.drained (c);
  update_events (c);
}

void
conn_send_error (conn_t *c, uint32_t id, int code, const char *msg)
{
  fk_wire_begin (&c->out, FK_WIRE_R_ERROR, FK_WIRE_F_END, id);
  fk_wire_put_int (&c->out, FK_TAG_ERRNO, (uint64_t)(code > 0 ? code : EIO));
  /* Messages are bounded so the frame always fits. */
  char buf[4096];
  snprintf (buf, sizeof buf, "%s", msg);
  fk_wire_put_str (&c->out, FK_TAG_MESSAGE, buf);
  fk_wire_end (&c->out, NULL);
  conn_flush (c);
}

void
conn_send_fk_error (conn_t *c, uint32_t id, fk_error_t *err)
{
  conn_send_error (c, id, err->code, fk_error_message (err));
  fk_error_clear (err);
}

void
conn_send_ok (conn_t *c, uint32_t id)
{
  fk_wire_begin (&c->out, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  fk_wire_end (&c->out, NULL);
  conn_flush (c);
}

void
conn_resume_reading (conn_t *c)
{
  if (!c->reading_paused || c->closed)
    return;
  c->reading_paused = 0;
  update_events (c);
}

void
conn_pause_reading (conn_t *c)
{
  if (c->reading_paused || c->closed)
    return;
  c->reading_paused = 1;
  update_events (c);
}

void
conn_list_add (conn_t *c, uint32_t id, fk_wire_tag_t tag, const fk_wire_buf_t *entry, int *open)
{
  if (*open && c->out.len - c->out.frame_start + entry->len + 64 > FK_WIRE_MAX_PAYLOAD)
    {
      fk_wire_end (&c->out, NULL);
      *open = 0;
    }
  if (!*open)
    {
      fk_wire_begin (&c->out, FK_WIRE_R_OK, 0, id);
      *open = 1;
    }
  fk_wire_put_bytes (&c->out, tag, entry->data, entry->len);
}

void
conn_list_end (conn_t *c, uint32_t id, int *open)
{
  if (*open)
    fk_wire_end (&c->out, NULL);
  *open = 0;
  conn_send_ok (c, id);
}

void
conn_drop_in_fds (conn_t *c)
{
  for (size_t i = 0; i < c->n_in_fds; i++)
    close (c->in_fds[i]);
  c->n_in_fds = 0;
}
