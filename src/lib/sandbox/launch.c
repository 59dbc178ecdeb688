/* sandbox/launch.c: the child's half of a plan, in order. The ordering matters: ids before
   mounts (the mounts are owned by root of the new user namespace), the root before pivot_root,
   caps and no_new_privs before seccomp (which would refuse the prctls otherwise), seccomp last
   but for the start fifo and exec. */
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
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/env.h"
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

/* The control buffer of one handshake message, on the stack: both ends may run in a process
   cloned or forked from a creator with threads, where the allocator's locks can be held by a
   thread that is not there to release them (a sanitizer's allocator has no fork handlers). */
#define MAX_PASSED_FDS 253 /* the kernel's SCM_MAX_FD */
typedef union
{
  struct cmsghdr align;
  char buf[CMSG_SPACE (sizeof (int) * MAX_PASSED_FDS)];
} fds_cmsg_t;

int
fk_launch_send_fds (int sync_fd, char byte, const int *fds, size_t n, fk_error_t *err)
{
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  fds_cmsg_t cbuf;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (n > MAX_PASSED_FDS)
    return fk_error_set (err, E2BIG, "%zu fds in one handshake message (at most %d)", n,
                         MAX_PASSED_FDS);
  memset (&cbuf, 0, sizeof cbuf);
  if (n)
    {
      msg.msg_control = cbuf.buf;
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
fk_launch_release (int sync_fd, const int *fds, size_t n, fk_error_t *err)
{
  if (fk_launch_send_fds (sync_fd, 'g', fds, n, err) < 0)
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
  return fk_launch_receive (sync_fd, NULL, fds, n, err);
}

int
fk_launch_receive (int sync_fd, char *ret_byte, int *fds, size_t n, fk_error_t *err)
{
  char byte;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  fds_cmsg_t cbuf;
  if (n > MAX_PASSED_FDS)
    return fk_error_set (err, E2BIG, "%zu fds in one handshake message (at most %d)", n,
                         MAX_PASSED_FDS);
  memset (&cbuf, 0, sizeof cbuf);
  struct msghdr msg = { .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf.buf,
                        .msg_controllen = CMSG_SPACE (sizeof (int) * (n ? n : 1)) };
  ssize_t r;
  do
    r = recvmsg (sync_fd, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return fk_error_set_errno (err, "wait for the other side of the handshake");
  if (r == 0)
    return fk_error_set (err, EPIPE, "the other side of the handshake went away");
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  if (ret_byte)
    *ret_byte = byte;
  if (n == 0)
    return 0;
  if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof (int) * n))
    return fk_error_set (err, EPROTO, "the expected fds did not arrive");
  memcpy (fds, CMSG_DATA (c), sizeof (int) * n);
  return 0;
}

/* The child is a raw clone of a creator that may run threads (fkd does): glibc's set*id
   wrappers would wait for the creator's other threads, which the child does not have, forever.
   The system calls change the one thread there is. */
static int
set_ids (uid_t uid, gid_t gid, int drop_groups)
{
  if (syscall (SYS_setresgid, gid, gid, gid) < 0)
    return -1;
  if (drop_groups && syscall (SYS_setgroups, 0, NULL) < 0)
    return -1;
  return (int)syscall (SYS_setresuid, uid, uid, uid);
}

static int
become_root (fk_error_t *err)
{
  /* Created by host root, the child shows as the overflow id until it takes id 0 of the map. */
  if (set_ids (0, 0, 1) < 0)
    return fk_error_set_errno (err, "set ids 0:0 and no groups");
  return 0;
}

/* One mount step of the plan; tmp and shm are the disk's dirs (fk_mount_attach_scratch). */
static int mount_step (const fk_launch_t *l, int root, const fk_plan_mount_t *m, int tmp, int shm,
                       int bind_fd, fk_error_t *err);

/* "net.ipv4.ip_forward=1" written to proc/sys/net/ipv4/ip_forward below the root (the plan
   checked the key has no `/' nor `..'). */
static int
write_sysctls (const fk_plan_t *plan, int root, fk_error_t *err)
{
  for (char **p = plan->sysctl; p && *p; p++)
    {
      const char *eq = strchr (*p, '=');
      cleanup_free char *path = xasprintf ("proc/sys/%.*s", (int)(eq - *p), *p);
      for (char *q = path + 9; *q; q++)
        if (*q == '.')
          *q = '/';
      cleanup_close int fd = fk_open_in_root (root, path, O_WRONLY | O_TRUNC, 0, err);
      if (fd < 0)
        return fk_error_wrap (err, "sysctl `%s'", *p);
      if (fk_write_all (fd, eq + 1, strlen (eq + 1), err) < 0)
        return fk_error_wrap (err, "sysctl `%s'", *p);
    }
  return 0;
}

static int
mount_step (const fk_launch_t *l, int root, const fk_plan_mount_t *m, int tmp, int shm, int bind_fd,
            fk_error_t *err)
{
  const char *dest = m->dest + 1;
  switch (m->kind)
    {
    case FK_PLAN_MOUNT_DEV:
      return fk_dev_setup (root, dest, shm, err);
    case FK_PLAN_MOUNT_PROC:
      return fk_procfs_mount (root, dest, err);
    case FK_PLAN_MOUNT_SYSFS:
      {
        if (!l->plan->ns[FK_PLAN_NS_NET].join
            && !(l->plan->ns[FK_PLAN_NS_NET].inherit && !l->plan->ns[FK_PLAN_NS_USER].inherit))
          return fk_sysfs_mount (root, dest, err);
        /* A joined network namespace belongs to another user namespace, whose sysfs this one
           may not mount: the host's, read-only, as the creator sees it. */
        cleanup_close int sys
            = open_tree (AT_FDCWD, "/sys", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (sys < 0)
          return fk_error_set_errno (err, "clone /sys");
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
                                               | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
        if (mount_setattr (sys, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
          return fk_error_set_errno (err, "make /sys read-only");
        return fk_mount_attach_in_root (root, dest, sys, 1, 0, err);
      }
    case FK_PLAN_MOUNT_DISK_TMP:
      return fk_mount_attach_in_root (root, dest, tmp, 1, 0, err);
    case FK_PLAN_MOUNT_TMPFS:
      {
        cleanup_close int fd = -1;
        unsigned attrs
            = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
        if (fk_mount_new ("tmpfs", (const char *const *)m->options, attrs, &fd, err) < 0)
          return fk_error_wrap (err, "tmpfs on `%s'", m->dest);
        return fk_mount_attach_in_root (root, dest, fd, 1, 0, err);
      }
    case FK_PLAN_MOUNT_FS:
      {
        cleanup_close int fd = -1;
        /* devpts keeps its nodes usable; every other new filesystem is nodev (the sandbox may
           hold CAP_MKNOD: nodev everywhere stands in for a device cgroup). */
        int devpts = strcmp (m->fstype, "devpts") == 0;
        unsigned attrs = MOUNT_ATTR_NOSUID | (devpts ? 0 : MOUNT_ATTR_NODEV) | m->attrs
                         | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
        if (strcmp (m->fstype, "proc") == 0 || strcmp (m->fstype, "sysfs") == 0)
          {
            fk_plan_mount_t as = *m;
            as.kind = m->fstype[0] == 'p' ? FK_PLAN_MOUNT_PROC : FK_PLAN_MOUNT_SYSFS;
            return mount_step (l, root, &as, tmp, shm, bind_fd, err);
          }
        if (fk_mount_new (m->fstype, (const char *const *)m->options, attrs, &fd, err) < 0)
          return fk_error_wrap (err, "%s on `%s'", m->fstype, m->dest);
        return fk_mount_attach_in_root (root, dest, fd, 1, 0, err);
      }
    case FK_PLAN_MOUNT_BIND:
      {
        /* The host cloned the source (resolved in its own namespace) and sent the tree. */
        struct stat st;
        if (fstat (bind_fd, &st) < 0)
          return fk_error_set_errno (err, "stat `%s'", m->source);
        return fk_mount_attach_in_root (root, dest, bind_fd, 1, !S_ISDIR (st.st_mode), err);
      }
    }
  return fk_error_set (err, EINVAL, "unknown mount step %d", (int)m->kind);
}

/* The root, its mounts, masked and read-only paths. With log_to_disk the process's log is a
   file on the sandbox's own disk (outside its root), so what it writes counts against the
   disk's limit and no host file can be grown from inside; the host reads it through
   /proc/<pid>/fd/2. */
static int
build_root (const fk_launch_t *l, const int *fds, int *ret_rootfd, int *ret_log_fd,
            int *ret_upper_fd, fk_error_t *err)
{
  const fk_plan_t *plan = l->plan;
  /* Nothing mounted here may reach the host: the namespace's mounts are private. */
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return fk_error_set_errno (err, "make the mounts private");
  cleanup_close int root = fds[FK_LAUNCH_FD_ROOT];
  cleanup_close int scratch = fds[FK_LAUNCH_FD_SCRATCH];
  cleanup_close int tmp = -1, shm = -1;
  if (fk_mount_attach_scratch (scratch, &tmp, &shm, err) < 0)
    return -1;
  /* The agent keeps the upper dir (FK_LAUNCH_UPPER_FD) for the host's snapshots: once the root
     is pivoted nothing else names it. */
  if (l->listen_fd >= 0)
    {
      *ret_upper_fd = openat (scratch, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (*ret_upper_fd < 0)
        return fk_error_set_errno (err, "open the upper dir");
    }
  if (plan->process.log_to_disk)
    {
      *ret_log_fd = open ("/tmp/agent.log", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
      if (*ret_log_fd < 0)
        return fk_error_set_errno (err, "open the log on the disk");
    }
  if (fk_mount_attach_root (root, err) < 0)
    return -1;
  size_t b = FK_LAUNCH_N_FDS;
  for (size_t i = 0; i < plan->n_mounts; i++)
    {
      int bind_fd = plan->mounts[i].kind == FK_PLAN_MOUNT_BIND ? fds[b++] : -1;
      int r = mount_step (l, root, &plan->mounts[i], tmp, shm, bind_fd, err);
      if (bind_fd >= 0)
        close (bind_fd);
      if (r < 0)
        return -1;
    }
  if (write_sysctls (plan, root, err) < 0)
    return -1;
  for (char **p = plan->readonly_paths; p && *p; p++)
    if (fk_mount_rebind_in_root (root, *p + 1, MOUNT_ATTR_RDONLY, err) < 0)
      return -1;
  for (char **p = plan->masked_paths; p && *p; p++)
    if (fk_procfs_mask (root, *p + 1, err) < 0)
      return -1;
  /* An image without /tmp gets one (in the upper dir: a snapshot keeps it). */
  if (plan->root.kind == FK_PLAN_ROOT_LAYERS)
    {
      if (mkdirat (root, "tmp", 01777) == 0 ? fchmodat (root, "tmp", 01777, 0) < 0
                                            : errno != EEXIST)
        return fk_error_set_errno (err, "make /tmp");
    }
  if (plan->write_etc
      && fk_network_write_etc (root, plan->hostname ? plan->hostname : "localhost",
                               plan->data_plane, err)
             < 0)
    return -1;
  const char *cwd = plan->process.cwd;
  if (strcmp (cwd, "/") != 0 && fk_mkdir_p_in_root (root, cwd + 1, 0755, err) < 0)
    return fk_error_wrap (err, "cwd `%s'", cwd);
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
  const fk_plan_process_t *p = &l->plan->process;
  if (p->rows && p->cols)
    {
      struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols };
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
  if (fk_launch_send_fds (l->sync_fd, 't', &master, 1, err) < 0)
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
  if (l->plan->process.inherit_stdio)
    return 0;
  cleanup_close int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0)
    return fk_error_set_errno (err, "open /dev/null");
  if (log_fd >= 0)
    {
      int fds[3] = { null, log_fd, log_fd };
      return dup_stdio (fds, err);
    }
  switch (l->plan->process.stdio)
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

int
fk_launch_set_rlimits (const fk_plan_process_t *p, fk_error_t *err)
{
  for (size_t i = 0; i < p->n_rlimits; i++)
    {
      struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
      if (setrlimit (p->rlimits[i].resource, &rl) < 0)
        return fk_error_set_errno (err, "setrlimit %d", p->rlimits[i].resource);
    }
  return 0;
}

static int
load_prog (const struct sock_filter *filter, size_t len, fk_error_t *err)
{
  struct sock_fprog prog = { .len = (unsigned short)len, .filter = (struct sock_filter *)filter };
  if (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
    return fk_error_set_errno (err, "load the seccomp profile");
  return 0;
}

/* The process's ids, capabilities, no_new_privs, then seccomp. A process that runs as another
   user than root keeps the plan's capabilities across the change, as its owner asked for them. */
int
fk_launch_confine (const fk_plan_t *plan, const fk_plan_process_t *p,
                   const struct sock_filter *seccomp_prog, size_t seccomp_len, fk_error_t *err)
{
  gid_t groups[64];
  size_t n_groups = p->n_groups < 64 ? p->n_groups : 64;
  for (size_t i = 0; i < n_groups; i++)
    groups[i] = p->groups[i];
  if (syscall (SYS_setgroups, n_groups, groups) < 0)
    return fk_error_set_errno (err, "set the additional groups");
  /* Without no_new_privs the filter must go in while CAP_SYS_ADMIN is still held; it then has
     to allow what follows (an OCI profile does). */
  int early = seccomp_prog && !p->no_new_privs;
  if (early && load_prog (seccomp_prog, seccomp_len, err) < 0)
    return -1;
  if (p->uid || p->gid)
    {
      /* Change ids while every capability is still there, keeping them (keepcaps), then raise
         them again to drop what the plan does not keep. */
      if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return fk_error_set_errno (err, "keepcaps");
      if (set_ids (p->uid, p->gid, 0) < 0)
        return fk_error_set_errno (err, "set ids %u:%u", p->uid, p->gid);
      if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || fk_caps_raise_effective (err) < 0)
        return fk_error_wrap (err, "capabilities of uid %u", p->uid);
    }
  if (fk_caps_apply (p->caps, err) < 0
      || ((p->uid || p->gid)
          && fk_caps_raise_ambient (p->ambient_exact ? p->caps & p->ambient : p->caps, err) < 0))
    return -1;
  if (p->no_new_privs && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return fk_error_set_errno (err, "no_new_privs");
  if (seccomp_prog)
    return early ? 0 : load_prog (seccomp_prog, seccomp_len, err);
  fk_seccomp_spec_t sc = {
    .unconfined = plan->seccomp_unconfined,
    .deny = (const char *const *)plan->seccomp_deny,
    .allow = (const char *const *)plan->seccomp_allow,
  };
  return fk_seccomp_load (&sc, err);
}

/* Stops before exec until fk_plan_release_start writes to the start fifo: the host knows from
   the byte on sync_fd that everything before went well. */
/* The program of a process that waits for its start: an error only when it is found nowhere
   (ENOENT, ENOTDIR); a refusal (EACCES, a seccomp filter's errno) is left to the exec. */
static int
check_program (const char *file, char *const *env, fk_error_t *err)
{
  if (strchr (file, '/') != NULL)
    {
      if (access (file, X_OK) < 0 && (errno == ENOENT || errno == ENOTDIR))
        return fk_error_set (err, ENOENT, "executable `%s' not found", file);
      return 0;
    }
  const char *path = fk_env_get (env, "PATH");
  if (path == NULL)
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const char *p = path;;)
    {
      const char *end = strchr (p, ':');
      size_t dl = end ? (size_t)(end - p) : strlen (p);
      cleanup_free char *cand = xasprintf ("%.*s/%s", (int)dl, dl ? p : ".", file);
      if (access (cand, X_OK) == 0 || (errno != ENOENT && errno != ENOTDIR))
        return 0;
      if (end == NULL)
        break;
      p = end + 1;
    }
  return fk_error_set (err, ENOENT, "executable file `%s' not found in $PATH", file);
}

static int
wait_for_start (const fk_launch_t *l, fk_error_t *err)
{
  if (fk_launch_send_fds (l->sync_fd, FK_LAUNCH_READY, NULL, 0, err) < 0)
    return -1;
  char byte;
  ssize_t n;
  do
    n = read (l->start_fifo_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    return fk_error_set_errno (err, "read the start fifo");
  /* Kept open until exec closes it: fk_plan_release_start waits for that. */
  return 0;
}

void
fk_launch_child (const fk_launch_t *launch)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_launch_t copy = *launch;
  fk_launch_t *l = &copy;
  const fk_plan_t *plan = l->plan;
  const fk_plan_process_t *proc = &plan->process;
  /* What the creating process had open without close-on-exec must not reach the sandbox. */
  syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  /* Our own fds live above the stdio that set_stdio makes (a creator may run with 0-2 closed). */
  l->error_fd = above_stdio (l->error_fd);
  l->sync_fd = above_stdio (l->sync_fd);
  l->start_fifo_fd = above_stdio (l->start_fifo_fd);
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

  size_t n_fds = FK_LAUNCH_N_FDS;
  for (size_t i = 0; i < plan->n_mounts; i++)
    n_fds += plan->mounts[i].kind == FK_PLAN_MOUNT_BIND;
  int mount_fds[FK_LAUNCH_N_FDS + FK_LAUNCH_MAX_BINDS];
  if (n_fds > FK_LAUNCH_N_FDS + FK_LAUNCH_MAX_BINDS
      || fk_launch_receive_fds (l->sync_fd, mount_fds, n_fds, &err) < 0)
    die (l, &err);
  prctl (PR_SET_PDEATHSIG, 0);
  if (become_root (&err) < 0)
    die (l, &err);
  /* The cgroup namespace after the host moved us: our cgroup becomes the sandbox's root. */
  if (!plan->ns[FK_PLAN_NS_CGROUP].join && !plan->ns[FK_PLAN_NS_CGROUP].inherit
      && unshare (CLONE_NEWCGROUP) < 0)
    {
      fk_error_set_errno (&err, "new cgroup namespace");
      die (l, &err);
    }
  /* The host's pid of this process, for hooks: /proc is still the host's here. */
  char self[32] = "";
  pid_t host_pid = readlink ("/proc/self", self, sizeof self - 1) > 0 ? atoi (self) : 0;
  int root = -1, log_fd = -1, upper_fd = -1;
  if (build_root (l, mount_fds, &root, &log_fd, &upper_fd, &err) < 0
      || fk_plan_run_hooks (plan, FK_PLAN_HOOK_CREATE_CONTAINER, host_pid, &err) < 0)
    die (l, &err);
  upper_fd = above_stdio (upper_fd);
  if (plan->hostname && !plan->ns[FK_PLAN_NS_UTS].join
      && sethostname (plan->hostname, strlen (plan->hostname)) < 0)
    {
      fk_error_set_errno (&err, "sethostname `%s'", plan->hostname);
      die (l, &err);
    }
  if (fk_data_plane_child_step (plan, &err) < 0 || fk_mount_pivot (root, &err) < 0)
    die (l, &err);
  close (root);
  if (plan->propagation
      && mount (NULL, "/", NULL, MS_REC | (unsigned long)plan->propagation, NULL) < 0)
    {
      fk_error_set_errno (&err, "set the root's propagation");
      die (l, &err);
    }
  if (fk_launch_set_rlimits (proc, &err) < 0 || set_stdio (l, log_fd, &err) < 0
      || fk_launch_confine (plan, proc, l->seccomp_prog, l->seccomp_len, &err) < 0)
    die (l, &err);
  if (log_fd > 2)
    close (log_fd);
  if (proc->umask_set)
    umask ((mode_t)proc->umask);
  if (chdir (proc->cwd) < 0)
    {
      fk_error_set_errno (&err, "chdir to `%s'", proc->cwd);
      die (l, &err);
    }
  if (l->start_fifo_fd >= 0 && plan->workload_argi < fk_strv_len (proc->argv)
      && (l->exec_fd < 0 || plan->workload_argi > 0)
      && check_program (proc->argv[plan->workload_argi], proc->env, &err) < 0)
    die (l, &err);
  if (l->start_fifo_fd >= 0 && wait_for_start (l, &err) < 0)
    die (l, &err);
  if (fk_plan_run_hooks (plan, FK_PLAN_HOOK_START_CONTAINER, host_pid, &err) < 0)
    die (l, &err);
  if (l->listen_fd >= 0)
    {
      /* The listening socket goes to fd 3: move whatever else sits there first. */
      if (upper_fd == 3)
        upper_fd = fcntl (3, F_DUPFD_CLOEXEC, FK_LAUNCH_UPPER_FD + 1);
      if (l->error_fd == 3)
        l->error_fd = fcntl (3, F_DUPFD_CLOEXEC, 4);
      if (l->exec_fd == 3)
        l->exec_fd = fcntl (3, F_DUPFD_CLOEXEC, 4);
      if (l->listen_fd == 3 ? fcntl (3, F_SETFD, 0) < 0 : dup2 (l->listen_fd, 3) < 0)
        {
          fk_error_set_errno (&err, "pass the listening socket");
          die (l, &err);
        }
      /* Then the upper dir to FK_LAUNCH_UPPER_FD, not close-on-exec: the agent holds it (and
         keeps it from the commands it runs). */
      if (l->error_fd == FK_LAUNCH_UPPER_FD)
        l->error_fd = fcntl (FK_LAUNCH_UPPER_FD, F_DUPFD_CLOEXEC, FK_LAUNCH_UPPER_FD + 1);
      if (l->exec_fd == FK_LAUNCH_UPPER_FD)
        l->exec_fd = fcntl (FK_LAUNCH_UPPER_FD, F_DUPFD_CLOEXEC, FK_LAUNCH_UPPER_FD + 1);
      if (upper_fd >= 0
          && (upper_fd == FK_LAUNCH_UPPER_FD ? fcntl (upper_fd, F_SETFD, 0) < 0
                                             : dup2 (upper_fd, FK_LAUNCH_UPPER_FD) < 0))
        {
          fk_error_set_errno (&err, "pass the upper dir");
          die (l, &err);
        }
    }
  if (l->exec_fd >= 0)
    {
      syscall (SYS_execveat, l->exec_fd, "", proc->argv, proc->env, AT_EMPTY_PATH);
      fk_error_set_errno (&err, "exec `%s'", proc->argv[0]);
      die (l, &err);
    }
  environ = proc->env;
  execvp (proc->argv[0], proc->argv);
  if (errno == ENOENT)
    fk_error_set (&err, ENOENT, "%s: command not found", proc->argv[0]);
  else
    fk_error_set_errno (&err, "exec `%s'", proc->argv[0]);
  die (l, &err);
}
