/* fk-resolver --hub: the resolver hub (net/resolver.h, docs/resolver.md).

   Started by fk_resolver_hand_off with fd 3 its listening socket (SOCK_SEQPACKET, bound in the
   hub directory) and fd 4 that directory. It holds each handed-over sandbox's resolver sockets
   and the pidfd of its pid 1, and starts the sandbox's fk-resolver with them (fds 3, 4 and 5,
   as fk_resolver_start does) when either socket first becomes readable. It reads nothing the
   sandbox sends; it drops a sandbox whose pid 1 exits before it asked; it reaps the resolvers
   it started. It leaves once it has held nothing for --linger-ms, under the hub's lock held
   alone, with no connection in its queue: a hand-off holds the lock shared from its connect to
   the answer. One thread, one epoll loop. */
#include "net/resolver_hub_main.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "net/resolver.h"

#define FD_LISTEN 3
#define FD_DIR 4
#define CONNS_MAX 256u
#define CONN_DEADLINE_MS 5000u /* a connection that sends nothing is closed after it */
#define ENTRIES_MAX 65536u

typedef enum
{
  W_LISTEN,
  W_SIGNAL,
  W_CONN,
  W_SOCKET, /* a sandbox's UDP or TCP socket */
  W_PID1,   /* a sandbox's pid 1 */
} watch_kind_t;

typedef struct entry entry_t;

typedef struct watch
{
  watch_kind_t kind;
  int fd;
  entry_t *entry;     /* W_SOCKET, W_PID1 */
  uint64_t deadline;  /* W_CONN: closed unanswered past it */
  struct watch *next; /* W_CONN: the list of connections */
} watch_t;

struct entry
{
  char *request; /* the TAKE request: key and argv point into it */
  fk_resolver_hub_msg_t msg;
  int log, udp, pidfd, tcp;
  pid_t pid;         /* its resolver once started */
  int gone;          /* stopped or replaced: no request names it; it waits to be reaped */
  uint64_t retry_at; /* its resolver's fork failed: tried again at this time (ms) */
  watch_t w_udp, w_tcp, w_pid1;
  entry_t *prev, *next;
};

static struct
{
  int epoll_fd, sig_fd, lock_fd;
  entry_t *entries;
  size_t n_entries, n_conns, n_retry;
  uint64_t n_taken, n_started;
  int listening;         /* the listening socket is watched (not while fds run out) */
  uint64_t listen_retry; /* when to watch it again after running out of fds (ms) */
  watch_t *conns;        /* the connections not yet answered */
  struct stat sock_st;   /* the socket file it was started with */
} H;

static entry_t *
entry_find (const char *key)
{
  for (entry_t *e = H.entries; e; e = e->next)
    if (!e->gone && strcmp (e->msg.key, key) == 0)
      return e;
  return NULL;
}

static void
unwatch (int fd)
{
  if (fd >= 0)
    epoll_ctl (H.epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

static int
watch (watch_t *w, int fd, watch_kind_t kind, entry_t *e)
{
  w->kind = kind;
  w->fd = fd;
  w->entry = e;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
  return epoll_ctl (H.epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* Stops watching the listening socket while descriptors run out (a queued connection would
   wake the loop at once, again and again); resumed when one is freed. */
static void
listen_pause (void)
{
  struct epoll_event ev = { .events = 0, .data.ptr = NULL };
  if (H.listening && epoll_ctl (H.epoll_fd, EPOLL_CTL_DEL, FD_LISTEN, &ev) == 0)
    H.listening = 0;
}

static watch_t w_listen;

static void
listen_resume (void)
{
  if (!H.listening && watch (&w_listen, FD_LISTEN, W_LISTEN, NULL) == 0)
    H.listening = 1;
}

/* Closes what the hub still holds of e (the sockets, when its resolver never started). */
static void
entry_close_fds (entry_t *e)
{
  unwatch (e->udp);
  unwatch (e->tcp);
  unwatch (e->pidfd);
  e->udp = close_and_reset (e->udp);
  e->tcp = close_and_reset (e->tcp);
  e->pidfd = close_and_reset (e->pidfd);
  e->log = close_and_reset (e->log);
}

static void
entry_free (entry_t *e)
{
  entry_close_fds (e);
  if (e->prev)
    e->prev->next = e->next;
  else
    H.entries = e->next;
  if (e->next)
    e->next->prev = e->prev;
  H.n_entries--;
  if (e->retry_at)
    H.n_retry--;
  free (e->request);
  free (e);
  listen_resume ();
}

/* The sandbox asked its first question: its resolver starts, with the sockets and pidfd as
   fk_resolver_start gives them, and SIGHUP and SIGTERM blocked across the exec (the resolver
   reads them from a signalfd once ready). */
static void
entry_start (entry_t *e)
{
  unwatch (e->udp);
  unwatch (e->tcp);
  unwatch (e->pidfd);
  pid_t pid = fork ();
  if (pid == 0)
    {
      sigset_t mask;
      sigemptyset (&mask);
      sigaddset (&mask, SIGHUP);
      sigaddset (&mask, SIGTERM);
      signal (SIGPIPE, SIG_DFL);
      sigprocmask (SIG_SETMASK, &mask, NULL);
      setsid ();
      prctl (PR_SET_NAME, "fk-resolver", 0, 0, 0);
      const int fds[6] = { STDIN_FILENO, STDIN_FILENO, e->log, e->udp, e->pidfd, e->tcp };
      for (int i = 0; i < 6; i++)
        if (dup2 (fds[i], i) < 0)
          _exit (127);
      syscall (SYS_close_range, 6, ~0U, 0);
      execv (e->msg.argv[0], (char *const *)e->msg.argv);
      static const char msg[] = "fk-resolver: exec failed\n";
      if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit (127);
      _exit (127);
    }
  if (pid < 0)
    {
      /* Tried again in a while (a cgroup's pids limit, memory): the sandbox's questions wait
         in its sockets meanwhile. */
      log_error_errno (errno, "start the resolver of `%s' (tried again in 100 ms)", e->msg.key);
      if (e->retry_at == 0)
        H.n_retry++;
      e->retry_at = fk_now_ms () + 100;
      return;
    }
  if (e->retry_at)
    H.n_retry--;
  e->retry_at = 0;
  e->pid = pid;
  H.n_started++;
  /* The resolver holds them now. */
  entry_close_fds (e);
  listen_resume ();
}

static void
reap (void)
{
  int status;
  pid_t pid;
  while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
    for (entry_t *e = H.entries; e; e = e->next)
      if (e->pid == pid)
        {
          if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
            log_warning ("the resolver of `%s' (pid %d) ended: %s %d", e->msg.key, (int)pid,
                         WIFEXITED (status) ? "status" : "signal",
                         WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
          entry_free (e);
          break;
        }
}

static int32_t
take (char *request, size_t len, int *fds, size_t n_fds)
{
  fk_resolver_hub_msg_t msg;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_resolver_hub_msg_parse (request, len, &msg, &err) < 0)
    {
      log_warning ("%s", fk_error_message (&err));
      fk_error_clear (&err);
      return EINVAL;
    }
  entry_t *old = entry_find (msg.key);
  if (msg.op != FK_RESOLVER_HUB_TAKE)
    {
      if (old == NULL)
        return ESRCH;
      if (old->pid > 0)
        {
          kill (old->pid, msg.op == FK_RESOLVER_HUB_RELOAD ? SIGHUP : SIGTERM);
          /* Reaped later; a new sandbox may take the key meanwhile. */
          old->gone = msg.op == FK_RESOLVER_HUB_STOP;
        }
      else if (msg.op == FK_RESOLVER_HUB_STOP)
        entry_free (old);
      return 0;
    }
  if (n_fds != FK_RESOLVER_HUB_FDS)
    return EBADF;
  /* A key is a sandbox's: one held still belongs to a sandbox of that id that is gone or
     going (its pid 1's exit not seen yet, a resume of a sandbox paused to disk). */
  if (old && old->pid > 0)
    {
      kill (old->pid, SIGTERM);
      old->gone = 1;
    }
  else if (old)
    entry_free (old);
  if (H.n_entries >= ENTRIES_MAX)
    return ENOSPC;
  entry_t *e = xcalloc (1, sizeof *e);
  e->request = xmalloc (len);
  memcpy (e->request, request, len);
  if (fk_resolver_hub_msg_parse (e->request, len, &e->msg, &err) < 0)
    abort (); /* parsed once already */
  /* Above the fds the resolver's are dup'd to (0 to 5). */
  int *mine[FK_RESOLVER_HUB_FDS] = { &e->log, &e->udp, &e->pidfd, &e->tcp };
  for (size_t i = 0; i < FK_RESOLVER_HUB_FDS; i++)
    {
      *mine[i] = fcntl (fds[i], F_DUPFD_CLOEXEC, 10);
      fds[i] = close_and_reset (fds[i]);
    }
  e->pid = 0;
  e->next = H.entries;
  if (H.entries)
    H.entries->prev = e;
  H.entries = e;
  H.n_entries++;
  if (e->log < 0 || e->udp < 0 || e->pidfd < 0 || e->tcp < 0
      || watch (&e->w_udp, e->udp, W_SOCKET, e) < 0 || watch (&e->w_tcp, e->tcp, W_SOCKET, e) < 0
      || watch (&e->w_pid1, e->pidfd, W_PID1, e) < 0)
    {
      int saved = errno;
      entry_free (e);
      return saved ? saved : EBADF;
    }
  H.n_taken++;
  return 0;
}

static void
conn_close (watch_t *w)
{
  for (watch_t **pp = &H.conns; *pp; pp = &(*pp)->next)
    if (*pp == w)
      {
        *pp = w->next;
        break;
      }
  unwatch (w->fd);
  close (w->fd);
  free (w);
  H.n_conns--;
  listen_resume ();
}

/* One request from a connection, answered; the connection is closed. */
static void
conn_serve (watch_t *w)
{
  static char buf[FK_RESOLVER_HUB_MSG_MAX + 1];
  union
  {
    char buf[CMSG_SPACE (FK_RESOLVER_HUB_FDS * sizeof (int))];
    struct cmsghdr align;
  } cm;
  struct iovec iov = { buf, sizeof buf };
  struct msghdr mh = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf
  };
  ssize_t n = recvmsg (w->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  int fds[FK_RESOLVER_HUB_FDS];
  size_t n_fds = 0;
  int32_t answer = 0;
  /* An empty message may carry descriptors too. */
  for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR (&mh) : NULL; c; c = CMSG_NXTHDR (&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        size_t k = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        int got[FK_RESOLVER_HUB_FDS];
        if (k > FK_RESOLVER_HUB_FDS)
          k = FK_RESOLVER_HUB_FDS;
        memcpy (got, CMSG_DATA (c), k * sizeof (int));
        for (size_t i = 0; i < k; i++)
          if (n_fds < FK_RESOLVER_HUB_FDS)
            fds[n_fds++] = got[i];
          else
            close (got[i]);
      }
  if (n > 0 && (mh.msg_flags & MSG_CTRUNC))
    answer = EMFILE; /* its descriptors did not all fit: too many sent, or ours ran out */
  else if (n > 0 && (mh.msg_flags & MSG_TRUNC))
    answer = E2BIG;
  else if (n > 0)
    answer = take (buf, (size_t)n, fds, n_fds);
  for (size_t i = 0; i < n_fds; i++)
    close_and_reset (fds[i]);
  if (n > 0 && send (w->fd, &answer, sizeof answer, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    log_warning_errno (errno, "answer a request");
  conn_close (w);
}

/* Takes the queue's connections (from one of the hub's own user only): 1 when any was, 0 when
   the queue is empty, -1 when it cannot tell (no descriptor left, or at CONNS_MAX: the
   listening socket is then not watched until one is freed). */
static int
accept_all (void)
{
  int any = 0;
  for (;;)
    {
      if (H.n_conns >= CONNS_MAX)
        {
          listen_pause ();
          return -1;
        }
      cleanup_close int fd = accept4 (FD_LISTEN, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
        continue;
      if (fd < 0 && errno == EAGAIN)
        return any;
      if (fd < 0)
        {
          log_warning_errno (errno, "accept a request (looked at again in 200 ms)");
          listen_pause ();
          H.listen_retry = fk_now_ms () + 200;
          return -1;
        }
      any = 1;
      struct ucred cred;
      socklen_t len = sizeof cred;
      if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid ())
        continue;
      watch_t *w = xcalloc (1, sizeof *w);
      if (watch (w, fd, W_CONN, NULL) < 0)
        {
          free (w);
          continue;
        }
      w->deadline = fk_now_ms () + CONN_DEADLINE_MS;
      w->next = H.conns;
      H.conns = w;
      steal_fd (&fd);
      H.n_conns++;
    }
}

/* Leaves if nothing is held, nobody holds the lock and nothing waits in the queue. */
static int
try_leave (void)
{
  if (flock (H.lock_fd, LOCK_EX | LOCK_NB) < 0)
    return 0;
  if (accept_all () != 0 || H.n_entries || H.n_conns)
    {
      flock (H.lock_fd, LOCK_UN);
      return 0;
    }
  /* Under the lock: a hand-off that finds no socket starts the next hub after this one. Only
     its own files go (the names may have been replaced by hand). */
  struct stat st;
  if (fstatat (FD_DIR, FK_RESOLVER_HUB_SOCKET, &st, AT_SYMLINK_NOFOLLOW) == 0
      && st.st_dev == H.sock_st.st_dev && st.st_ino == H.sock_st.st_ino)
    unlinkat (FD_DIR, FK_RESOLVER_HUB_SOCKET, 0);
  char pid[32] = "", mine[32];
  snprintf (mine, sizeof mine, "%d\n", (int)getpid ());
  cleanup_close int pfd = openat (FD_DIR, FK_RESOLVER_HUB_PID, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (pfd >= 0 && read (pfd, pid, sizeof pid - 1) > 0 && strcmp (pid, mine) == 0)
    unlinkat (FD_DIR, FK_RESOLVER_HUB_PID, 0);
  return 1;
}

int
fk_resolver_hub_main (int argc, char **argv)
{
  fk_log_set_program ("fk-resolver-hub");
  prctl (PR_SET_NAME, "fk-resolver-hub", 0, 0, 0);
  unsigned long linger_ms = FK_RESOLVER_HUB_LINGER_MS;
  static const struct option longopts[] = { { "hub", no_argument, NULL, 'h' },
                                            { "linger-ms", required_argument, NULL, 'l' },
                                            { NULL, 0, NULL, 0 } };
  int c;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    if (c == 'l')
      {
        char *end;
        errno = 0;
        linger_ms = strtoul (optarg, &end, 10);
        if (errno || *end || linger_ms > 3600000ul)
          {
            log_error ("--linger-ms `%s': not a number of milliseconds up to an hour", optarg);
            return 2;
          }
      }
    else if (c != 'h')
      return 2;
  if (fcntl (FD_LISTEN, F_GETFD) < 0 || fcntl (FD_DIR, F_GETFD) < 0)
    {
      log_error ("started without its fds (fk_resolver_hand_off starts it)");
      return 2;
    }
  fcntl (FD_LISTEN, F_SETFD, FD_CLOEXEC);
  fcntl (FD_DIR, F_SETFD, FD_CLOEXEC);
  /* Nothing else of its starter's: from 5 up (0 to 2 are /dev/null and its log). */
  syscall (SYS_close_range, 5, ~0U, 0);
  /* Each sandbox not yet asking holds 4 of its descriptors: as many as it may have. And its
     children are its to reap, whatever its starter ignored. */
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  signal (SIGCHLD, SIG_DFL);
  umask (077);
  fcntl (FD_LISTEN, F_SETFL, O_NONBLOCK);
  if (chdir ("/") < 0)
    return 1;
  /* Nothing here may be read by another process of its user (it holds sandboxes' sockets). */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  H.lock_fd
      = openat (FD_DIR, FK_RESOLVER_HUB_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  sigset_t sigs;
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGCHLD);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  sigaddset (&sigs, SIGHUP);
  sigprocmask (SIG_BLOCK, &sigs, NULL);
  signal (SIGPIPE, SIG_IGN);
  H.sig_fd = signalfd (-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  H.epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  static watch_t w_signal;
  if (H.lock_fd < 0 || H.sig_fd < 0 || H.epoll_fd < 0
      || watch (&w_listen, FD_LISTEN, W_LISTEN, NULL) < 0
      || watch (&w_signal, H.sig_fd, W_SIGNAL, NULL) < 0)
    {
      log_error_errno (errno, "set up");
      return 1;
    }
  H.listening = 1;
  if (fstatat (FD_DIR, FK_RESOLVER_HUB_SOCKET, &H.sock_st, AT_SYMLINK_NOFOLLOW) < 0)
    log_warning_errno (errno, "stat %s", FK_RESOLVER_HUB_SOCKET);
  /* Its pid, for those who look for it (replaced whole: a reader sees one hub's or none). */
  char pid[32];
  int len = snprintf (pid, sizeof pid, "%d\n", (int)getpid ());
  cleanup_close int pfd = openat (FD_DIR, FK_RESOLVER_HUB_PID ".tmp",
                                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (pfd < 0 || write (pfd, pid, (size_t)len) != len
      || renameat (FD_DIR, FK_RESOLVER_HUB_PID ".tmp", FD_DIR, FK_RESOLVER_HUB_PID) < 0)
    log_warning_errno (errno, "write %s", FK_RESOLVER_HUB_PID);
  pfd = close_and_reset (pfd);
  log_info ("started, pid %d, leaving %lu ms after it last held a sandbox", (int)getpid (),
            linger_ms);

  uint64_t idle_since = 0;
  for (;;)
    {
      uint64_t now = fk_now_ms ();
      int timeout = -1;
      /* Deadlines: connections that sent nothing, forks to try again, the listening socket's
         watch after descriptors ran out. */
      for (watch_t *w = H.conns, *next; w; w = next)
        {
          next = w->next;
          if (w->deadline <= now)
            conn_close (w);
        }
      if (H.n_retry)
        for (entry_t *e = H.entries, *next; e; e = next)
          {
            next = e->next;
            if (e->retry_at && e->retry_at <= now)
              entry_start (e);
          }
      if (!H.listening && H.listen_retry <= now && H.n_conns < CONNS_MAX)
        listen_resume ();
      if (H.n_conns || H.n_retry || !H.listening)
        timeout = 100;
      if (H.n_entries == 0 && H.n_conns == 0)
        {
          if (idle_since == 0)
            idle_since = now;
          if (now - idle_since >= linger_ms)
            {
              if (try_leave ())
                break;
              timeout = 50; /* a hand-off holds the lock: look again */
            }
          else
            timeout = (int)(linger_ms - (now - idle_since));
        }
      else
        idle_since = 0;
      /* One event a round: serving one may free what another names. */
      struct epoll_event evs[1];
      int n = epoll_wait (H.epoll_fd, evs, 1, timeout);
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
              accept_all ();
              break;
            case W_CONN:
              conn_serve (w);
              break;
            case W_SIGNAL:
              {
                struct signalfd_siginfo si;
                while (read (H.sig_fd, &si, sizeof si) == sizeof si)
                  if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    {
                      log_info ("stopped by signal %u; %zu sandboxes held", si.ssi_signo,
                                H.n_entries);
                      return 0;
                    }
                reap ();
                break;
              }
            case W_SOCKET:
              entry_start (w->entry);
              break;
            case W_PID1:
              entry_free (w->entry);
              break;
            }
        }
    }
  log_info ("leaving: nothing held; %llu sandboxes taken, %llu resolvers started",
            (unsigned long long)H.n_taken, (unsigned long long)H.n_started);
  return 0;
}
