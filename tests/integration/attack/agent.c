/* fk-attack-agent: tries every way a command could take over fk-agent (PID 1 of its sandbox,
   running as the same user): trace it, read or write its memory, take its fds, follow its
   /proc links, stop it. Prints one line per try, "NAME ok" or "NAME <errno name>". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static void
report (const char *name, long r)
{
  if (r < 0)
    printf ("%s %s\n", name, strerrorname_np (errno) ? strerrorname_np (errno) : "?");
  else
    printf ("%s ok\n", name);
  fflush (stdout);
}

int
main (void)
{
  long r = ptrace (PTRACE_ATTACH, 1, 0, 0);
  report ("ptrace_attach", r);
  if (r == 0)
    ptrace (PTRACE_DETACH, 1, 0, 0);
  r = ptrace (PTRACE_SEIZE, 1, 0, 0);
  report ("ptrace_seize", r);
  if (r == 0)
    ptrace (PTRACE_DETACH, 1, 0, 0);

  char buf[64];
  struct iovec local = { .iov_base = buf, .iov_len = sizeof buf };
  struct iovec remote = { .iov_base = (void *)0x400000, .iov_len = sizeof buf };
  report ("process_vm_readv", process_vm_readv (1, &local, 1, &remote, 1, 0));
  report ("process_vm_writev", process_vm_writev (1, &local, 1, &remote, 1, 0));

  int pidfd = (int)syscall (SYS_pidfd_open, 1, 0);
  report ("pidfd_open", pidfd);
  if (pidfd >= 0)
    {
      int got = -1;
      for (int fd = 0; fd < 16 && got < 0; fd++)
        got = (int)syscall (SYS_pidfd_getfd, pidfd, fd, 0);
      report ("pidfd_getfd", got);
    }

  report ("open_proc1_mem", open ("/proc/1/mem", O_RDWR));
  report ("open_proc1_fd1", open ("/proc/1/fd/1", O_WRONLY));
  report ("open_proc1_fd3", open ("/proc/1/fd/3", O_RDWR));
  char link[4096];
  report ("readlink_proc1_exe", readlink ("/proc/1/exe", link, sizeof link));
  report ("readlink_proc1_fd1", readlink ("/proc/1/fd/1", link, sizeof link));
  report ("open_proc1_maps", open ("/proc/1/maps", O_RDONLY));
  report ("open_proc1_environ", open ("/proc/1/environ", O_RDONLY));
  report ("kcmp", syscall (SYS_kcmp, getpid (), 1, 0, 0, 0));

  /* A stopped agent would answer nothing: PID 1 of a pid namespace takes no SIGSTOP from its
     own namespace. The caller checks the agent still answers. */
  report ("kill_stop_pid1", kill (1, SIGSTOP));
  return 0;
}
