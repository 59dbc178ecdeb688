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
#include "sandbox/timeout.h"

extern char **environ;

int
fk_launch_release (int sync_fd, const int *layer_fds, size_t n, fk_error_t *err)
{
  if (n > FK_LAUNCH_MAX_LAYERS)
    return fk_error_set (err, E2BIG, "%zu layers: at most %d are supported", n,
                         FK_LAUNCH_MAX_LAYERS);
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
      memcpy (CMSG_DATA (c), layer_fds, sizeof (int) * n);
    }
  if (sendmsg (sync_fd, &msg, MSG_NOSIGNAL) != 1)
    return fk_error_set_errno (err, "hand the layers to the sandbox");
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

static int
receive_layers (int sync_fd, int *fds, size_t n, fk_error_t *err)
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
    return fk_error_set_errno (err, "wait for the host side");
  if (r == 0)
    return fk_error_set (err, EPIPE, "the creating process went away");
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (n == 0)
    return 0;
  if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof (int) * n))
    return fk_error_set (err, EPROTO, "the layer fds did not arrive");
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

static int
build_root (const fk_launch_t *l, const int *layer_fds, int *ret_rootfd, fk_error_t *err)
{
  /* Nothing mounted here may reach the host: the namespace's mounts are private. */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return fk_error_set_errno (err, "make the mounts private");
  cleanup_close int root = layer_fds[0];
  if (fk_mount_attach_root (root, err) < 0)
    return -1;
  /* /dev first: masking /proc covers files with its null. */
  if (fk_dev_setup (root, err) < 0 || fk_procfs_setup (root, err) < 0
      || fk_sysfs_setup (root, err) < 0 || fk_mount_tmp (root, l->disk_bytes, err) < 0
      || fk_network_write_etc (root, l->hostname, err) < 0)
    return -1;
  if (strcmp (l->workdir, "/") != 0 && fk_mkdir_p_in_root (root, l->workdir + 1, 0755, err) < 0)
    return fk_error_wrap (err, "workdir `%s'", l->workdir);
  *ret_rootfd = steal_fd (&root);
  return 0;
}

static int
set_stdio (const fk_launch_t *l, fk_error_t *err)
{
  if (l->log_fd < 0)
    return 0;
  /* The agent talks only through its socket: no terminal, its own session. */
  int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0)
    return fk_error_set_errno (err, "open /dev/null");
  if (dup2 (null, 0) < 0 || dup2 (l->log_fd, 1) < 0 || dup2 (l->log_fd, 2) < 0)
    return fk_error_set_errno (err, "set the agent's stdio");
  close (null);
  setsid ();
  return 0;
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

  int *layer_fds = xcalloc (l->n_layers + 1, sizeof (int));
  if (receive_layers (l->sync_fd, layer_fds, l->n_layers, &err) < 0)
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
  int root = -1;
  if (build_root (l, layer_fds, &root, &err) < 0)
    die (l, &err);
  free (layer_fds);
  if (sethostname (l->hostname, strlen (l->hostname)) < 0)
    {
      fk_error_set_errno (&err, "sethostname `%s'", l->hostname);
      die (l, &err);
    }
  if (fk_network_loopback_up (&err) < 0 || fk_mount_pivot (root, &err) < 0)
    die (l, &err);
  close (root);
  if (set_stdio (l, &err) < 0 || confine (l, &err) < 0)
    die (l, &err);
  if (l->deadline_fd >= 0 && fk_timeout_spawn (l->deadline_fd, l->timeout_exec_fd, &err) < 0)
    die (l, &err);
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
