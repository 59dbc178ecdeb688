/* sandbox/launch.c: the child's setup, in order. The ordering matters: ids before mounts (the
   mounts are owned by root of the new user namespace), the root before pivot_root, caps and
   no_new_privs before seccomp (which would refuse the prctls otherwise), seccomp last. */
#include "sandbox/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/dev.h"
#include "sandbox/mount.h"
#include "sandbox/network.h"
#include "sandbox/procfs.h"
#include "sandbox/seccomp.h"

extern char **environ;

static int
send_fds (int sync_fd, const int *fds, size_t n, fk_error_t *err)
{
  char byte = 'g';
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  size_t space = CMSG_SPACE (sizeof (int) * (n ? n : 1));
  cleanup_free char *cbuf = xcalloc (1, space);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n)
    {
      msg.msg_control = cbuf;
      msg.msg_controllen = CMSG_SPACE (sizeof (int) * n);
      struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * n);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * n);
    }
  if (sendmsg (sync_fd, &msg, MSG_NOSIGNAL) != 1)
    return fk_error_set_errno (err, "pass fds over the handshake socket");
  return 0;
}

int
fk_launch_release (int sync_fd, const int fds[FK_LAUNCH_N_FDS], fk_error_t *err)
{
  if (send_fds (sync_fd, fds, FK_LAUNCH_N_FDS, err) < 0)
    return fk_error_wrap (err, "hand the root to the sandbox");
  return 0;
}

int
fk_launch_result (int error_fd, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_all (error_fd, 64 * 1024, &text, &len, err) < 0)
    return -1;
  if (len == 0)
    return 0;
  char *msg;
  long code = strtol (text, &msg, 10);
  while (*msg == ' ')
    msg++;
  return fk_error_set (err, (int)code, "%s", msg);
}

static void __attribute__ ((noreturn)) die (const fk_launch_t *l, fk_error_t *err)
{
  cleanup_free char *line = xasprintf ("%d %s", err->code, fk_error_message (err));
  fk_error_t ignored = FK_ERROR_INIT;
  fk_write_all (l->error_fd, line, strlen (line), &ignored);
  _exit (127);
}

int
fk_launch_receive_fds (int sync_fd, int *fds, size_t n, fk_error_t *err)
{
  char byte;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  size_t space = CMSG_SPACE (sizeof (int) * (n ? n : 1));
  cleanup_free char *cbuf = xcalloc (1, space);
  struct msghdr msg
      = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = space };
  ssize_t r;
  do
    r = recvmsg (sync_fd, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return fk_error_set_errno (err, "wait for the other side of the handshake");
  if (r == 0)
    return fk_error_set (err, EPIPE, "the other side of the handshake went away");
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (n == 0)
    return 0;
  if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof (int) * n))
    return fk_error_set (err, EPROTO, "the expected fds did not arrive");
  memcpy (fds, CMSG_DATA (c), sizeof (int) * n);
  return 0;
}

static int
become_root (fk_error_t *err)
{
  /* Created by host root, the child shows as the overflow id until it takes id 0 of the map. */
  if (setresgid (0, 0, 0) < 0)
    return fk_error_set_errno (err, "setresgid 0");
  if (setgroups (0, NULL) < 0)
    return fk_error_set_errno (err, "setgroups");
  if (setresuid (0, 0, 0) < 0)
    return fk_error_set_errno (err, "setresuid 0");
  return 0;
}

/* The agent's log: a file on the sandbox's own disk (the scratch tmpfs, outside its root), so
   what it writes counts against the sandbox's disk limit and no host file can be grown from
   inside; the host reads it through /proc/<pid>/fd/2. */
static int
build_root (const fk_launch_t *l, const int *fds, int *ret_rootfd, int *ret_log_fd, fk_error_t *err)
{
  /* Nothing mounted here may reach the host: the namespace's mounts are private. */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return fk_error_set_errno (err, "make the mounts private");
  cleanup_close int root = fds[FK_LAUNCH_FD_ROOT];
  cleanup_close int scratch = fds[FK_LAUNCH_FD_SCRATCH];
  cleanup_close int tmp = -1, shm = -1;
  if (fk_mount_attach_scratch (scratch, &tmp, &shm, err) < 0)
    return -1;
  if (l->init == NULL)
    {
      *ret_log_fd = open ("/tmp/agent.log", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
      if (*ret_log_fd < 0)
        return fk_error_set_errno (err, "create the agent's log");
    }
  if (fk_mount_attach_root (root, err) < 0)
    return -1;
  /* /dev first: masking /proc covers files with its null. */
  if (fk_dev_setup (root, shm, err) < 0 || fk_procfs_setup (root, err) < 0
      || fk_sysfs_setup (root, err) < 0 || fk_mount_attach_in_root (root, "tmp", tmp, 1, 0, err) < 0
      || fk_network_write_etc (root, l->hostname, err) < 0)
    return -1;
  if (strcmp (l->workdir, "/") != 0 && fk_mkdir_p_in_root (root, l->workdir + 1, 0755, err) < 0)
    return fk_error_wrap (err, "workdir `%s'", l->workdir);
  *ret_rootfd = steal_fd (&root);
  return 0;
}

/* fd moved to 3 or above (close-on-exec), so that setting up stdio cannot overwrite it. */
static int
above_stdio (int fd)
{
  if (fd < 0 || fd > 2)
    return fd;
  return fcntl (fd, F_DUPFD_CLOEXEC, 3);
}

static int
dup_stdio (const int fds[3], fk_error_t *err)
{
  for (int i = 0; i < 3; i++)
    if (dup2 (fds[i], i) < 0)
      return fk_error_set_errno (err, "set fd %d", i);
  return 0;
}

/* A terminal of the sandbox's own devpts as the controlling terminal of this new session; the
   master goes to the host, which relays it. */
static int
open_tty (const fk_launch_t *l, fk_error_t *err)
{
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return fk_error_set_errno (err, "open /dev/ptmx");
  int unlock = 0;
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0)
    return fk_error_set_errno (err, "unlock the terminal");
  if (l->tty_rows && l->tty_cols)
    {
      struct winsize ws = { .ws_row = l->tty_rows, .ws_col = l->tty_cols };
      ioctl (master, TIOCSWINSZ, &ws);
    }
  cleanup_close int peer = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0)
    return fk_error_set_errno (err, "open the terminal's peer");
  if (ioctl (peer, TIOCSCTTY, 0) < 0)
    return fk_error_set_errno (err, "take the terminal as controlling terminal");
  int fds[3] = { peer, peer, peer };
  if (dup_stdio (fds, err) < 0)
    return -1;
  if (send_fds (l->sync_fd, &master, 1, err) < 0)
    return fk_error_wrap (err, "hand the terminal to the host");
  return 0;
}

/* Nothing of the creator's stdio, terminal or session reaches the sandbox: PID 1 leads a
   session of its own, with the agent's log, the sandbox's /dev/null, pipes the host relays or
   a terminal of the sandbox's own. */
static int
set_stdio (const fk_launch_t *l, int log_fd, fk_error_t *err)
{
  if (setsid () < 0)
    return fk_error_set_errno (err, "setsid");
  cleanup_close int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0)
    return fk_error_set_errno (err, "open /dev/null");
  if (log_fd >= 0)
    {
      int fds[3] = { null, log_fd, log_fd };
      return dup_stdio (fds, err);
    }
  switch (l->init_stdio)
    {
    case FK_INIT_STDIO_PIPES:
      return dup_stdio (l->stdio_fds, err);
    case FK_INIT_STDIO_TTY:
      return open_tty (l, err);
    case FK_INIT_STDIO_NULL:
    default:
      {
        int fds[3] = { null, null, null };
        return dup_stdio (fds, err);
      }
    }
}

static int
confine (const fk_launch_t *l, fk_error_t *err)
{
  if (fk_caps_apply_default (err) < 0)
    return -1;
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return fk_error_set_errno (err, "no_new_privs");
  return fk_seccomp_load (l->seccomp, err);
}

void
fk_launch_child (const fk_launch_t *launch)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_launch_t copy = *launch;
  fk_launch_t *l = &copy;
  /* What the creating process had open without close-on-exec must not reach the sandbox. */
  syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  /* Our own fds live above the stdio that set_stdio makes (a creator may run with 0-2 closed). */
  l->error_fd = above_stdio (l->error_fd);
  l->sync_fd = above_stdio (l->sync_fd);
  for (int i = 0; i < 3; i++)
    l->stdio_fds[i] = above_stdio (l->stdio_fds[i]);
  /* PID 1 of a pid namespace only gets the signals it handles; default dispositions for all. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      signal (s, SIG_DFL);
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  prctl (PR_SET_PDEATHSIG, SIGKILL); /* until released: a creator that dies takes us along */
  /* First of all, into the sandbox's cgroup (v1), by itself: see fk_cgroup_join_self. */
  if (fk_cgroup_join_self (l->cgroup_join_fds, &err) < 0)
    die (l, &err);
  for (size_t i = 0; i < 4; i++)
    if (l->cgroup_join_fds[i] >= 0)
      close (l->cgroup_join_fds[i]);

  int mount_fds[FK_LAUNCH_N_FDS];
  if (fk_launch_receive_fds (l->sync_fd, mount_fds, FK_LAUNCH_N_FDS, &err) < 0)
    die (l, &err);
  prctl (PR_SET_PDEATHSIG, 0);
  if (become_root (&err) < 0)
    die (l, &err);
  /* The cgroup namespace after the host moved us: our cgroup becomes the sandbox's root. */
  if (unshare (CLONE_NEWCGROUP) < 0)
    {
      fk_error_set_errno (&err, "new cgroup namespace");
      die (l, &err);
    }
  int root = -1, log_fd = -1;
  if (build_root (l, mount_fds, &root, &log_fd, &err) < 0)
    die (l, &err);
  if (sethostname (l->hostname, strlen (l->hostname)) < 0)
    {
      fk_error_set_errno (&err, "sethostname `%s'", l->hostname);
      die (l, &err);
    }
  if (fk_network_loopback_up (&err) < 0 || fk_mount_pivot (root, &err) < 0)
    die (l, &err);
  close (root);
  if (set_stdio (l, log_fd, &err) < 0 || confine (l, &err) < 0)
    die (l, &err);
  if (log_fd > 2)
    close (log_fd);
  if (chdir (l->workdir) < 0)
    {
      fk_error_set_errno (&err, "chdir to workdir `%s'", l->workdir);
      die (l, &err);
    }
  environ = (char **)l->env;
  if (l->init)
    {
      execvp (l->init[0], (char *const *)l->init);
      if (errno == ENOENT)
        fk_error_set (&err, ENOENT, "%s: command not found", l->init[0]);
      else
        fk_error_set_errno (&err, "exec `%s'", l->init[0]);
      die (l, &err);
    }
  /* The agent gets the listening socket as fd 3: move whatever else sits there first. */
  if (l->error_fd == 3)
    l->error_fd = fcntl (3, F_DUPFD_CLOEXEC, 4);
  if (l->exec_fd == 3)
    l->exec_fd = fcntl (3, F_DUPFD_CLOEXEC, 4);
  if (l->listen_fd == 3 ? fcntl (3, F_SETFD, 0) < 0 : dup2 (l->listen_fd, 3) < 0)
    {
      fk_error_set_errno (&err, "pass the agent socket");
      die (l, &err);
    }
  const char *argv[8];
  size_t n = 0;
  argv[n++] = "fk-agent";
  argv[n++] = "--listen-fd";
  argv[n++] = "3";
  /* No --hostname: it is set already, and the agent no longer has CAP_SYS_ADMIN to set it. */
  if (l->user)
    {
      argv[n++] = "--user";
      argv[n++] = l->user;
    }
  argv[n] = NULL;
  syscall (SYS_execveat, l->exec_fd, "", argv, l->env, AT_EMPTY_PATH);
  fk_error_set_errno (&err, "exec fk-agent");
  die (l, &err);
}
