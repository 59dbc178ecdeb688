/* sandbox/enter.c: joining a running sandbox. A joiner process (forked) enters the cgroup and
   the namespaces; its child, in the sandbox's pid namespace, is confined and execs. The
   joiner reports the child's pid and exits. */
#include "sandbox/enter.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/launch.h"
#include "sandbox/seccomp_oci.h"

extern char **environ;

static const struct
{
  const char *name;
  int flag;
} kinds[] = {
  { "user", CLONE_NEWUSER },     { "mnt", CLONE_NEWNS },  { "pid", CLONE_NEWPID },
  { "net", CLONE_NEWNET },       { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
  { "cgroup", CLONE_NEWCGROUP },
};

/* The namespaces of target that are not the caller's. */
static int
ns_flags (pid_t target, fk_error_t *err)
{
  int flags = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    {
      char path[64];
      struct stat mine, theirs;
      snprintf (path, sizeof path, "/proc/%d/ns/%s", (int)target, kinds[i].name);
      if (stat (path, &theirs) < 0)
        return fk_error_set_errno (err, "namespace `%s'", path);
      snprintf (path, sizeof path, "/proc/self/ns/%s", kinds[i].name);
      if (stat (path, &mine) < 0 || mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev)
        flags |= kinds[i].flag;
    }
  return flags;
}

static void __attribute__ ((noreturn)) die (int error_fd, fk_error_t *err)
{
  cleanup_free char *line = xasprintf ("%d %s", err->code, fk_error_message (err));
  fk_error_t ignored = FK_ERROR_INIT;
  fk_write_all (error_fd, line, strlen (line), &ignored);
  _exit (127);
}

static int
open_tty (int sync_fd, const fk_plan_process_t *p, fk_error_t *err)
{
  if (setsid () < 0)
    return fk_error_set_errno (err, "setsid");
  cleanup_close int master = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return fk_error_set_errno (err, "open /dev/ptmx");
  int unlock = 0;
  if (ioctl (master, TIOCSPTLCK, &unlock) < 0)
    return fk_error_set_errno (err, "unlock the terminal");
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
  for (int i = 0; i < 3; i++)
    if (dup2 (peer, i) < 0)
      return fk_error_set_errno (err, "set fd %d", i);
  return fk_launch_send_fds (sync_fd, 't', &master, 1, err);
}

static void __attribute__ ((noreturn))
child (const fk_plan_t *plan, const fk_plan_process_t *p, const struct sock_filter *prog,
       size_t len, int sync_fd, int error_fd)
{
  fk_error_t err = FK_ERROR_INIT;
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      signal (s, SIG_DFL);
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  if (p->stdio == FK_INIT_STDIO_TTY && open_tty (sync_fd, p, &err) < 0)
    die (error_fd, &err);
  if (chdir (p->cwd) < 0)
    {
      fk_error_set_errno (&err, "chdir to `%s'", p->cwd);
      die (error_fd, &err);
    }
  if (fk_launch_set_rlimits (p, &err) < 0 || fk_launch_confine (plan, p, prog, len, &err) < 0)
    die (error_fd, &err);
  if (p->umask_set)
    umask ((mode_t)p->umask);
  environ = p->env;
  execvp (p->argv[0], p->argv);
  if (errno == ENOENT)
    fk_error_set (&err, ENOENT, "%s: command not found", p->argv[0]);
  else
    fk_error_set_errno (&err, "exec `%s'", p->argv[0]);
  die (error_fd, &err);
}

int
fk_plan_enter (const fk_plan_t *plan, pid_t target, const fk_cgroup_layout_t *cgroups,
               const char *cgroup, const fk_plan_process_t *proc, pid_t *ret_pid,
               int *ret_tty_master, fk_error_t *err)
{
  if (proc->argv == NULL || proc->argv[0] == NULL || proc->cwd == NULL || proc->cwd[0] != '/')
    return fk_error_set (err, EINVAL, "exec: no argv or no absolute cwd");
  cleanup_free struct sock_filter *prog = NULL;
  size_t len = 0;
  if (plan->seccomp_oci && fk_seccomp_oci_compile (plan->seccomp_oci, &prog, &len, err) < 0)
    return -1;
  int flags = ns_flags (target, err);
  if (flags < 0)
    return -1;
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, target, 0);
  if (pidfd < 0)
    return fk_error_set_errno (err, "open the sandbox's process %d", (int)target);
  /* sync: the terminal's master; pidp: the child's pid (from the joiner); errp: errors, and
     EOF on exec. */
  int sync[2] = { -1, -1 }, errp[2] = { -1, -1 }, pidp[2] = { -1, -1 };
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync) < 0
      || pipe2 (errp, O_CLOEXEC) < 0 || pipe2 (pidp, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "exec: pipes");
      goto fail;
    }
  pid_t joiner = fork ();
  if (joiner < 0)
    {
      fk_error_set_errno (err, "fork");
      goto fail;
    }
  if (joiner == 0)
    {
      fk_error_t e = FK_ERROR_INIT;
      close (sync[0]);
      close (errp[0]);
      close (pidp[0]);
      syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
      if (cgroup && fk_cgroup_add_pid (cgroups, cgroup, getpid (), &e) < 0)
        die (errp[1], &e);
      if (flags && setns (pidfd, flags) < 0)
        {
          fk_error_set_errno (&e, "join the sandbox's namespaces");
          die (errp[1], &e);
        }
      pid_t pid = fork ();
      if (pid < 0)
        {
          fk_error_set_errno (&e, "fork in the sandbox");
          die (errp[1], &e);
        }
      if (pid == 0)
        child (plan, proc, prog, len, sync[1], errp[1]);
      /* The pid as the caller sees it: the joiner is still in the caller's pid namespace. */
      if (write (pidp[1], &pid, sizeof pid) != sizeof pid)
        _exit (2);
      _exit (0);
    }
  sync[1] = close_and_reset (sync[1]);
  errp[1] = close_and_reset (errp[1]);
  pidp[1] = close_and_reset (pidp[1]);
  pid_t pid = -1;
  ssize_t n;
  do
    n = read (pidp[0], &pid, sizeof pid);
  while (n < 0 && errno == EINTR);
  int status;
  while (waitpid (joiner, &status, 0) < 0 && errno == EINTR)
    ;
  if (n != sizeof pid || pid <= 0)
    {
      if (fk_launch_result (errp[0], err) == 0)
        fk_error_set (err, ECHILD, "exec: the joining process failed (status %d)", status);
      goto fail;
    }
  int master = -1;
  if (proc->stdio == FK_INIT_STDIO_TTY && fk_launch_receive_fds (sync[0], &master, 1, err) < 0)
    {
      fk_error_t why = FK_ERROR_INIT;
      if (fk_launch_result (errp[0], &why) < 0)
        {
          fk_error_clear (err);
          *err = why;
        }
      kill (pid, SIGKILL);
      goto fail;
    }
  if (fk_launch_result (errp[0], err) < 0)
    {
      if (master >= 0)
        close (master);
      goto fail;
    }
  close (sync[0]);
  close (errp[0]);
  close (pidp[0]);
  *ret_pid = pid;
  if (ret_tty_master)
    *ret_tty_master = master;
  else if (master >= 0)
    close (master);
  return 0;
fail:
  for (int i = 0; i < 2; i++)
    {
      close_and_reset (sync[i]);
      close_and_reset (errp[i]);
      close_and_reset (pidp[i]);
    }
  return -1;
}
