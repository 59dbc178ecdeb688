/* fk-attack-syscalls: tries, from inside a sandbox, the system calls a sandbox must not make
   (other processes' memory and files, NUMA policy, vsock, personality flags, terminal input,
   mount listing, namespaces through the 32-bit entry points) and a few it must, and prints one
   line per probe: `NAME RESULT', RESULT being OK, the errno's name (EPERM, ENOSYS...),
   KILLED(SIGNAL) or SKIP(reason). Each probe runs in a child of its own, so a kill is a result
   too. Raw syscall numbers (x86-64) where libc has no wrapper. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#define NR_statmount 457
#define NR_listmount 458
#define NR_open_tree_attr 467
#define X32_BIT 0x40000000L
#define I386_getpid 20
#define I386_unshare 310
#define PTRACE_ATTACH_ 16
#define KCMP_FILE_ 0
#define READ_IMPLIES_EXEC_ 0x0400000
#define CLONE_NEWUSER_ 0x10000000

/* The errno's name, or OK for a call that returned >= 0. */
static void
report (const char *name, long r)
{
  if (r >= 0)
    printf ("%s OK\n", name);
  else
    {
      const char *e = strerrorname_np (errno);
      if (e)
        printf ("%s %s\n", name, e);
      else
        printf ("%s E%d\n", name, errno);
    }
}

#if defined(__x86_64__)
/* A call through the i386 entry point: int $0x80, eax the i386 number. Returns -errno. */
static long
i386_call (long nr, long a)
{
  long r;
  /* The kernel zeroes r8-r11 on int $0x80 from 64-bit code. */
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "r8", "r9", "r10", "r11", "memory");
  return r;
}

static long
i386_result (long r)
{
  if (r < 0 && r > -4096)
    {
      errno = (int)-r;
      return -1;
    }
  return r;
}
#endif

/* A pseudo-terminal made the controlling terminal of this (new) session: TIOCSTI into it
   works without a filter. */
static int
own_terminal (void)
{
  setsid ();
  int m = posix_openpt (O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt (m) < 0 || unlockpt (m) < 0)
    return -1;
  const char *name = ptsname (m);
  int s = name ? open (name, O_RDWR) : -1;
  if (s >= 0)
    ioctl (s, TIOCSCTTY, 0);
  return s;
}

static long
probe (const char *name)
{
  char c = 'x';
  if (strcmp (name, "getpid") == 0)
    return syscall (SYS_getpid);
  if (strcmp (name, "personality_query") == 0)
    return syscall (SYS_personality, 0xffffffffUL);
  if (strcmp (name, "socket_unix") == 0)
    return socket (AF_UNIX, SOCK_STREAM, 0);
  if (strcmp (name, "fork") == 0)
    {
      pid_t p = fork ();
      if (p == 0)
        _exit (0);
      return p < 0 ? -1 : waitpid (p, NULL, 0);
    }
  if (strcmp (name, "ptrace_attach_pid1") == 0)
    return syscall (SYS_ptrace, PTRACE_ATTACH_, 1, 0, 0);
  /* no such process: the kernel says ESRCH, only the filter says EPERM */
  if (strcmp (name, "ptrace_attach_nopid") == 0)
    return syscall (SYS_ptrace, PTRACE_ATTACH_, 999999, 0, 0);
  /* On itself, where the kernel's own checks pass: only the filter refuses. */
  if (strcmp (name, "process_vm_readv") == 0 || strcmp (name, "process_vm_writev") == 0)
    {
      static char there[8] = "secret";
      char here[8] = { 0 };
      struct iovec local = { here, sizeof here }, remote = { there, sizeof there };
      return syscall (strcmp (name, "process_vm_readv") == 0 ? SYS_process_vm_readv
                                                             : SYS_process_vm_writev,
                      getpid (), &local, 1, &remote, 1, 0);
    }
  if (strcmp (name, "pidfd_getfd") == 0)
    {
      long pidfd = syscall (__NR_pidfd_open, getpid (), 0);
      return syscall (__NR_pidfd_getfd, pidfd, 1, 0);
    }
  if (strcmp (name, "kcmp") == 0)
    return syscall (SYS_kcmp, getpid (), getpid (), KCMP_FILE_, 1, 1);
  if (strcmp (name, "personality_read_implies_exec") == 0)
    return syscall (SYS_personality, READ_IMPLIES_EXEC_);
  if (strcmp (name, "socket_vsock") == 0)
    return syscall (SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
  if (strcmp (name, "socket_vsock_highbits") == 0)
    return syscall (SYS_socket, 0x100000000L | AF_VSOCK, SOCK_STREAM, 0);
  if (strcmp (name, "socketpair_vsock") == 0)
    {
      int sv[2];
      return syscall (SYS_socketpair, AF_VSOCK, SOCK_STREAM, 0, sv);
    }
  if (strcmp (name, "mbind") == 0)
    return syscall (SYS_mbind, NULL, 0, 0, NULL, 0, 0);
  if (strcmp (name, "set_mempolicy") == 0)
    return syscall (SYS_set_mempolicy, 0, NULL, 0);
  if (strcmp (name, "move_pages") == 0)
    return syscall (SYS_move_pages, 0, 0, NULL, NULL, NULL, 0);
  if (strcmp (name, "migrate_pages") == 0)
    return syscall (SYS_migrate_pages, 0, 0, NULL, NULL);
  if (strcmp (name, "open_tree_attr") == 0)
    return syscall (NR_open_tree_attr, AT_FDCWD, "/", 0, NULL, 0);
  if (strcmp (name, "listmount") == 0)
    return syscall (NR_listmount, NULL, NULL, 0, 0);
  if (strcmp (name, "statmount") == 0)
    return syscall (NR_statmount, NULL, NULL, 0, 0);
  if (strcmp (name, "unknown_syscall_1000") == 0)
    return syscall (1000);
  if (strcmp (name, "unshare_newuser") == 0)
    return syscall (SYS_unshare, CLONE_NEWUSER_);
  if (strcmp (name, "clone_newuser") == 0)
    {
      long r = syscall (SYS_clone, CLONE_NEWUSER_ | SIGCHLD, 0, 0, 0, 0);
      if (r == 0)
        _exit (0);
      return r;
    }
  if (strcmp (name, "clone3") == 0)
    return syscall (__NR_clone3, NULL, 0);
#if defined(__x86_64__)
  if (strcmp (name, "i386_getpid") == 0)
    return i386_result (i386_call (I386_getpid, 0));
  if (strcmp (name, "i386_unshare") == 0)
    return i386_result (i386_call (I386_unshare, CLONE_NEWUSER_));
  if (strcmp (name, "x32_unshare") == 0)
    return syscall (X32_BIT | SYS_unshare, CLONE_NEWUSER_);
#endif
  if (strcmp (name, "ioctl_tiocsti") == 0 || strcmp (name, "ioctl_tiocsti_highbits") == 0
      || strcmp (name, "ioctl_tioclinux") == 0)
    {
      int tty = own_terminal ();
      if (tty < 0)
        return -1;
      if (strcmp (name, "ioctl_tiocsti") == 0)
        return syscall (SYS_ioctl, tty, TIOCSTI, &c);
      if (strcmp (name, "ioctl_tiocsti_highbits") == 0)
        return syscall (SYS_ioctl, tty, 0xffffffff00000000UL | TIOCSTI, &c);
      char sub = 12; /* TIOCL_GETKMSGREDIRECT: a read */
      return syscall (SYS_ioctl, tty, TIOCLINUX, &sub);
    }
  errno = EINVAL;
  return -1;
}

/* clang-format off */
static const char *const probes[] = {
  /* controls: the filter is not refusing everything */
  "getpid", "personality_query", "socket_unix", "fork",
  /* other processes */
  "ptrace_attach_pid1", "ptrace_attach_nopid", "process_vm_readv", "process_vm_writev",
  "pidfd_getfd", "kcmp",
  /* the process's own dangerous settings */
  "personality_read_implies_exec", "mbind", "set_mempolicy", "move_pages", "migrate_pages",
  /* vsock, past the network namespace */
  "socket_vsock", "socket_vsock_highbits", "socketpair_vsock",
  /* mount API calls newer than the filter's review, and numbers no kernel has */
  "open_tree_attr", "listmount", "statmount", "unknown_syscall_1000",
  /* namespaces, natively and through the other entry points */
  "unshare_newuser", "clone_newuser", "clone3", "i386_getpid", "i386_unshare", "x32_unshare",
  /* terminal input */
  "ioctl_tiocsti", "ioctl_tiocsti_highbits", "ioctl_tioclinux",
  NULL,
};
/* clang-format on */

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IOLBF, 0);
  int have_i386 = 1;
  for (size_t i = 0; probes[i]; i++)
    {
      const char *name = probes[i];
      if (argc > 1 && strcmp (argv[1], name) != 0)
        continue;
#if !defined(__x86_64__)
      if (strncmp (name, "i386_", 5) == 0 || strncmp (name, "x32_", 4) == 0)
        {
          printf ("%s SKIP(not-x86-64)\n", name);
          continue;
        }
#endif
      if (strcmp (name, "i386_unshare") == 0 && !have_i386)
        {
          printf ("%s SKIP(no-ia32-emulation)\n", name);
          continue;
        }
      fflush (stdout);
      pid_t pid = fork ();
      if (pid == 0)
        {
          report (name, probe (name));
          fflush (stdout);
          _exit (0);
        }
      int status;
      if (pid < 0 || waitpid (pid, &status, 0) != pid)
        {
          printf ("%s SKIP(fork)\n", name);
          continue;
        }
      if (WIFSIGNALED (status))
        {
          const char *sig = sigabbrev_np (WTERMSIG (status));
          /* int $0x80 faults (SIGSEGV) where the kernel runs no i386 code: nothing to test. */
          if (strcmp (name, "i386_getpid") == 0 && WTERMSIG (status) == SIGSEGV)
            {
              have_i386 = 0;
              printf ("%s SKIP(no-ia32-emulation)\n", name);
            }
          else
            printf ("%s KILLED(SIG%s)\n", name, sig ? sig : "?");
        }
    }
  return 0;
}
