/* agent/loop.c: the agent's state and the loop's primitives every part uses: watching an fd,
   writing to a pipe without blocking, a deadline scan, and the death signal of a child. Calls
   nothing else of the agent. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent.h"
#include "base/log.h"

agent_t *agent;

int
agent_deadline_check (uint64_t *deadline_ms, pid_t pid, int *timed_out, uint64_t now,
                      uint64_t *next)
{
  if (*deadline_ms == 0)
    return 0;
  if (*deadline_ms > now)
    {
      if (*next == 0 || *deadline_ms < *next)
        *next = *deadline_ms;
      return 0;
    }
  *timed_out = 1;
  *deadline_ms = 0;
  if (pid > 0)
    {
      kill (-pid, SIGKILL);
      kill (pid, SIGKILL);
    }
  return 1;
}

void
agent_watch (watch_t *w, uint32_t events)
{
  if (w->fd < 0 || w->events == events)
    return;
  struct epoll_event ev = { .events = events, .data.ptr = w };
  int op = w->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl (agent->epfd, op, w->fd, &ev) < 0)
    {
      log_error_errno (errno, "epoll_ctl fd %d", w->fd);
      return;
    }
  w->events = events;
}

void
agent_child_dies_with_agent (void)
{
  if (!agent->pid1)
    prctl (PR_SET_PDEATHSIG, SIGKILL);
}

int
agent_write_out (watch_t *w, const uint8_t *buf, size_t len, size_t *off)
{
  while (*off < len)
    {
      ssize_t n = write (w->fd, buf + *off, len - *off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          agent_watch (w, EPOLLOUT);
          return 0;
        }
      if (n < 0)
        return -1;
      *off += (size_t)n;
    }
  agent_watch (w, 0);
  return 1;
}
