/* Unit tests for sandbox/seccomp: the lists, validation, and the real filter loaded into a
   child: listed calls work, the dangerous ones fail with EPERM, unlisted ones (clone3, numbers
   no kernel has) with ENOSYS, arguments are checked, on the i386 and x32 entry points too;
   allow and deny change the set. */
#include "testutil.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/seccomp.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Runs body in a child under the filter; the child's exit code is what the test checks (0 is
   success, else the number of the failed step). */
static int
in_child (const fk_seccomp_spec_t *spec, int (*body) (void))
{
  pid_t pid = fork ();
  if (pid == 0)
    {
      fk_error_t err = FK_ERROR_INIT;
      prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      if (fk_seccomp_load (spec, &err) < 0)
        _exit (100);
      _exit (body ());
    }
  int status;
  waitpid (pid, &status, 0);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 200 + (WIFSIGNALED (status) ? 1 : 0);
}

/* A raw call that must fail with errnum. */
static int
fails (long r, int errnum)
{
  return r == -1 && errno == errnum;
}

static void
lists_are_consistent (void **state)
{
  const char *const *allowed = fk_seccomp_default_allowed ();
  const char *const *denied = fk_seccomp_default_denied ();
  assert_non_null (allowed[0]);
  assert_non_null (denied[0]);
  for (size_t i = 0; allowed[i]; i++)
    {
      /* Every allowed name is one libseccomp knows (a pseudo-number for another ABI's call). */
      if (seccomp_syscall_resolve_name (allowed[i]) == __NR_SCMP_ERROR)
        fail_msg ("allowed `%s' is unknown to libseccomp", allowed[i]);
      for (size_t j = 0; denied[j]; j++)
        if (strcmp (allowed[i], denied[j]) == 0)
          fail_msg ("`%s' is both allowed and denied", allowed[i]);
      for (size_t j = i + 1; allowed[j]; j++)
        if (strcmp (allowed[i], allowed[j]) == 0)
          fail_msg ("`%s' is allowed twice", allowed[i]);
    }
  for (size_t i = 0; denied[i]; i++)
    for (size_t j = i + 1; denied[j]; j++)
      if (strcmp (denied[i], denied[j]) == 0)
        fail_msg ("`%s' is denied twice", denied[i]);
  /* The calls the review names are never on the allow list. */
  const char *never[] = {
    "ptrace",        "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",    "mbind",
    "set_mempolicy", "move_pages",       "migrate_pages",     "clone3",      "unshare", "mount",
    "bpf",           "io_uring_setup",   "open_by_handle_at", "personality", "clone",   NULL
  };
  for (size_t i = 0; never[i]; i++)
    for (size_t j = 0; allowed[j]; j++)
      if (strcmp (never[i], allowed[j]) == 0)
        fail_msg ("`%s' is on the allow list", never[i]);
  /* Two allowed names on one number of one ABI would hide a decision. */
  const uint32_t arches[] = { SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32 };
  for (size_t a = 0; a < 3; a++)
    for (size_t i = 0; allowed[i]; i++)
      {
        int nr = seccomp_syscall_resolve_name_arch (arches[a], allowed[i]);
        for (size_t j = 0; nr >= 0 && denied[j]; j++)
          if (seccomp_syscall_resolve_name_arch (arches[a], denied[j]) == nr)
            fail_msg ("`%s' and `%s' share a number", allowed[i], denied[j]);
      }
}

static int
default_calls (void)
{
  /* the old deny list */
  if (!fails (syscall (SYS_keyctl, 0, 0, 0, 0, 0), EPERM))
    return 1;
  if (!fails (syscall (SYS_bpf, 0, NULL, 0), EPERM))
    return 2;
  if (!fails (syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM))
    return 3;
  if (!fails (syscall (SYS_userfaultfd, 0), EPERM))
    return 4;
  if (!fails (syscall (SYS_unshare, CLONE_NEWUSER), EPERM))
    return 5;
  if (!fails (syscall (SYS_clone3, NULL, 0), ENOSYS))
    return 6;
  if (!fails (syscall (SYS_init_module, NULL, 0, ""), EPERM))
    return 7;
  if (!fails (syscall (SYS_reboot, 0, 0, 0, NULL), EPERM))
    return 8;
  /* the review's additions */
  if (!fails (syscall (SYS_ptrace, 16 /* PTRACE_ATTACH */, getppid (), 0, 0), EPERM))
    return 9;
  if (!fails (syscall (SYS_kcmp, getpid (), getppid (), 0, 0, 0), EPERM))
    return 10;
  if (!fails (syscall (SYS_pidfd_getfd, 0, 0, 0), EPERM))
    return 11;
  if (!fails (syscall (SYS_process_vm_readv, getppid (), NULL, 0, NULL, 0, 0), EPERM))
    return 12;
  if (!fails (syscall (SYS_personality, READ_IMPLIES_EXEC), EPERM))
    return 13;
  if (!fails (syscall (SYS_personality, ADDR_NO_RANDOMIZE), EPERM))
    return 14;
  if (!fails (syscall (SYS_socket, AF_VSOCK, SOCK_STREAM, 0), EPERM))
    return 15;
  if (!fails (syscall (SYS_socket, 0x100000000L | AF_VSOCK, SOCK_STREAM, 0), EPERM))
    return 16;
  if (!fails (syscall (SYS_socketpair, AF_VSOCK, SOCK_STREAM, 0, NULL), EPERM))
    return 17;
  char c = 'x';
  if (!fails (syscall (SYS_ioctl, 0, TIOCSTI, &c), EPERM))
    return 18;
  if (!fails (syscall (SYS_ioctl, 0, 0xffffffff00000000UL | TIOCSTI, &c), EPERM))
    return 19;
  if (!fails (syscall (SYS_ioctl, 0, TIOCLINUX, &c), EPERM))
    return 20;
  if (!fails (syscall (SYS_mbind, NULL, 0, 0, NULL, 0, 0), EPERM))
    return 21;
  if (!fails (syscall (SYS_set_mempolicy, 0, NULL, 0), EPERM))
    return 22;
  if (!fails (syscall (SYS_move_pages, 0, 0, NULL, NULL, NULL, 0), EPERM))
    return 23;
  /* numbers no kernel has yet, and the last ones libseccomp 2.5 does not know */
  if (!fails (syscall (1000), ENOSYS) || !fails (syscall (467 /* open_tree_attr */), ENOSYS))
    return 24;
  /* Allowed: an ordinary fork (clone without namespace flags), the usual calls, the harmless
     personality values, sockets of other families, other ioctls, pidfds. */
  pid_t p = fork ();
  if (p == 0)
    _exit (0);
  if (p < 0 || waitpid (p, NULL, 0) != p)
    return 30;
  if (getpid () <= 0 || syscall (SYS_personality, 0xffffffffUL) < 0
      || syscall (SYS_personality, PER_LINUX) < 0)
    return 31;
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return 32;
  int n;
  if (ioctl (sv[0], FIONREAD, &n) < 0)
    return 33;
  long pidfd = syscall (SYS_pidfd_open, getpid (), 0);
  if (pidfd < 0)
    return 34;
  close ((int)pidfd);
  close (sv[0]);
  close (sv[1]);
  return 0;
}

static int
getppid_denied (void)
{
  return fails (syscall (SYS_getppid), EPERM) ? 0 : 1;
}

static void
default_profile (void **state)
{
  /* Built in the child... */
  fk_seccomp_spec_t spec = { 0 };
  assert_int_equal (in_child (&spec, default_calls), 0);
  /* ...and built by validate in the parent, as fk_sandbox_create does, then only loaded. */
  fk_error_t err = FK_ERROR_INIT;
  const char *none[] = { NULL };
  fk_seccomp_spec_t same = { .deny = none, .allow = none };
  assert_int_equal (fk_seccomp_validate (&same, &err), 0);
  assert_int_equal (fk_seccomp_validate (&spec, &err), 0);
  assert_int_equal (in_child (&spec, default_calls), 0);
  assert_int_equal (in_child (&same, default_calls), 0);
  const char *deny[] = { "getppid", NULL };
  fk_seccomp_spec_t other = { .deny = deny };
  assert_int_equal (fk_seccomp_validate (&other, &err), 0);
  assert_int_equal (in_child (&other, getppid_denied), 0);
  assert_int_equal (in_child (&spec, default_calls), 0);
}

/* A small classic-BPF interpreter: what the program answers for one call, on any ABI, also
   those this kernel cannot run (i386 without IA32 emulation). */
static uint32_t
bpf_run (const struct sock_filter *p, size_t len, const struct seccomp_data *d)
{
  uint32_t a = 0;
  for (size_t pc = 0; pc < len;)
    {
      const struct sock_filter *i = &p[pc];
      switch (i->code)
        {
        case BPF_LD | BPF_W | BPF_ABS:
          memcpy (&a, (const char *)d + i->k, 4);
          pc++;
          break;
        case BPF_ALU | BPF_AND | BPF_K:
          a &= i->k;
          pc++;
          break;
        case BPF_JMP | BPF_JA:
          pc += 1 + i->k;
          break;
        case BPF_JMP | BPF_JEQ | BPF_K:
          pc += 1 + (a == i->k ? i->jt : i->jf);
          break;
        case BPF_JMP | BPF_JGE | BPF_K:
          pc += 1 + (a >= i->k ? i->jt : i->jf);
          break;
        case BPF_RET | BPF_K:
          return i->k;
        default:
          fail_msg ("unexpected BPF instruction %#x at %zu", i->code, pc);
        }
    }
  fail_msg ("the program runs off its end");
  return 0;
}

static uint32_t
answer (const struct sock_filter *p, size_t len, uint32_t arch, uint32_t nr, uint64_t a0,
        uint64_t a1)
{
  struct seccomp_data d = { .nr = (int)nr, .arch = arch, .args = { a0, a1 } };
  return bpf_run (p, len, &d);
}

#define ALLOWED SECCOMP_RET_ALLOW
#define REFUSED(e) (SECCOMP_RET_ERRNO | (e))

static void
program_on_every_abi (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_seccomp_spec_t spec = { 0 };
  struct sock_filter *p;
  size_t n;
  assert_int_equal (fk_seccomp_build (&spec, &p, &n, &err), 0);
  assert_true (n > 0 && n <= BPF_MAXINSNS);
  /* Every listed name gets its answer on every ABI that has it; numbers nobody lists ENOSYS. */
  const struct
  {
    uint32_t scmp, audit;
  } abis[] = {
#if defined(__x86_64__)
    { SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64 },
    { SCMP_ARCH_X86, AUDIT_ARCH_I386 },
    { SCMP_ARCH_X32, AUDIT_ARCH_X86_64 },
#else
    { 0, 0 },
#endif
  };
  const char *const *allowed = fk_seccomp_default_allowed ();
  const char *const *denied = fk_seccomp_default_denied ();
  for (size_t a = 0; a < sizeof abis / sizeof abis[0] && abis[a].scmp; a++)
    {
      for (size_t i = 0; allowed[i]; i++)
        {
          int nr = seccomp_syscall_resolve_name_arch (abis[a].scmp, allowed[i]);
          if (nr >= 0 && strcmp (allowed[i], "ioctl") && strcmp (allowed[i], "socket")
              && strcmp (allowed[i], "socketpair") && strcmp (allowed[i], "socketcall"))
            if (answer (p, n, abis[a].audit, (uint32_t)nr, 0, 0) != ALLOWED)
              fail_msg ("`%s' (%d) is not allowed on ABI %zu", allowed[i], nr, a);
        }
      for (size_t i = 0; denied[i]; i++)
        {
          int nr = seccomp_syscall_resolve_name_arch (abis[a].scmp, denied[i]);
          if (nr >= 0 && answer (p, n, abis[a].audit, (uint32_t)nr, 0, 0) != REFUSED (EPERM))
            fail_msg ("`%s' (%d) is not refused on ABI %zu", denied[i], nr, a);
        }
    }
#if defined(__x86_64__)
  const uint32_t x32 = 0x40000000, i386 = AUDIT_ARCH_I386, x64 = AUDIT_ARCH_X86_64;
  /* i386: the direct socket calls, the socketcall multiplexer (family unknowable), clone,
     ioctl, personality, a number no kernel has. */
  assert_int_equal (answer (p, n, i386, 359, AF_VSOCK, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 359, AF_UNIX, 0), ALLOWED);
  assert_int_equal (answer (p, n, i386, 360, AF_VSOCK, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 102, 1 /* SYS_SOCKET */, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 102, 3 /* SYS_CONNECT */, 0), ALLOWED);
  assert_int_equal (answer (p, n, i386, 120, CLONE_NEWUSER, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 120, SIGCHLD, 0), ALLOWED);
  assert_int_equal (answer (p, n, i386, 54, 0, TIOCSTI), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 54, 0, FIONREAD), ALLOWED);
  assert_int_equal (answer (p, n, i386, 136, READ_IMPLIES_EXEC, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 136, 0xffffffff, 0), ALLOWED);
  assert_int_equal (answer (p, n, i386, 310 /* unshare */, 0, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 435 /* clone3 */, 0, 0), REFUSED (ENOSYS));
  assert_int_equal (answer (p, n, i386, 1000, 0, 0), REFUSED (ENOSYS));
  /* x32: its own ioctl number, unshare; x86-64's ioctl number is not an x32 call. */
  assert_int_equal (answer (p, n, x64, x32 | 514, 0, TIOCSTI), REFUSED (EPERM));
  assert_int_equal (answer (p, n, x64, x32 | 514, 0, FIONREAD), ALLOWED);
  assert_int_equal (answer (p, n, x64, x32 | 16, 0, FIONREAD), REFUSED (ENOSYS));
  assert_int_equal (answer (p, n, x64, x32 | 272, 0, 0), REFUSED (EPERM));
  /* x86-64: the high bits of a 32-bit argument change nothing. */
  assert_int_equal (answer (p, n, x64, 16, 0, 0xffffffff00000000ULL | TIOCSTI), REFUSED (EPERM));
  assert_int_equal (answer (p, n, x64, 41, 0x100000000ULL | AF_VSOCK, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, x64, 0xffffffff, 0, 0), REFUSED (ENOSYS));
  /* another ABI is killed */
  assert_int_equal (answer (p, n, AUDIT_ARCH_AARCH64, 39, 0, 0), SECCOMP_RET_KILL_PROCESS);
  free (p);
  /* A denied call is refused through i386's multiplexers too (ipc: the low 16 bits). */
  const char *deny[] = { "connect", "msgget", NULL };
  fk_seccomp_spec_t strict = { .deny = deny };
  assert_int_equal (fk_seccomp_build (&strict, &p, &n, &err), 0);
  assert_int_equal (answer (p, n, i386, 362, 0, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 102, 3 /* SYS_CONNECT */, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 102, 2 /* SYS_BIND */, 0), ALLOWED);
  assert_int_equal (answer (p, n, i386, 117, (1 << 16) | 13 /* MSGGET */, 0), REFUSED (EPERM));
  assert_int_equal (answer (p, n, i386, 117, 2 /* SEMGET */, 0), ALLOWED);
  assert_int_equal (answer (p, n, x64, 42 /* connect */, 0, 0), REFUSED (EPERM));
#endif
  free (p);
}

#if defined(__x86_64__)
/* A call through the i386 entry point (int $0x80): returns -errno or the result. */
static long
i386_call (long nr, long a, long b)
{
  long r;
  /* The kernel zeroes r8-r11 on int $0x80 from 64-bit code. */
  __asm__ volatile("int $0x80"
                   : "=a"(r)
                   : "a"(nr), "b"(a), "c"(b)
                   : "r8", "r9", "r10", "r11", "memory");
  return r;
}

/* Whether this kernel runs i386 calls: without IA32 emulation int $0x80 faults. */
static int
have_i386 (void)
{
  pid_t pid = fork ();
  if (pid == 0)
    {
      signal (SIGSEGV, SIG_DFL); /* cmocka's handler would carry on with the tests here */
      _exit (i386_call (20, 0, 0) == getpid () ? 0 : 1);
    }
  int status;
  waitpid (pid, &status, 0);
  return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

static int
i386_calls (void)
{
  /* getpid 20 works, unshare 310 and ptrace 26 are refused, an unknown number too. */
  if (i386_call (20, 0, 0) != getpid ())
    return 1;
  if (i386_call (310, CLONE_NEWUSER, 0) != -EPERM || i386_call (26, 16, 1) != -EPERM)
    return 2;
  if (i386_call (1000, 0, 0) != -ENOSYS)
    return 3;
  return 0;
}

static int
x32_calls (void)
{
  /* unshare refused by the filter, before the kernel's own x32 support says anything. */
  return fails (syscall (0x40000000L | SYS_unshare, CLONE_NEWUSER), EPERM) ? 0 : 1;
}

static void
i386_and_x32_in_the_kernel (void **state)
{
  fk_seccomp_spec_t spec = { 0 };
  assert_int_equal (in_child (&spec, x32_calls), 0);
  if (!have_i386 ())
    {
      /* cmocka reports skip () as "not ok # SKIP", a failure to meson: say it instead. */
      print_message ("# i386 calls not run: this kernel has no IA32 emulation (int $0x80 "
                     "faults); program_on_every_abi checks the i386 part of the program\n");
      return;
    }
  assert_int_equal (in_child (&spec, i386_calls), 0);
}
#endif

static int
keyctl_allowed (void)
{
  /* Not EPERM from the filter any more: the kernel answers (EINVAL or similar, or success). */
  long r = syscall (SYS_keyctl, -1, 0, 0, 0, 0);
  return r == -1 && errno == EPERM ? 1 : 0;
}

static int
ptrace_personality_allowed (void)
{
  /* The kernel decides: a child that asks to be traced gets 0, or not EPERM from here. */
  if (fails (syscall (SYS_kcmp, getpid (), getpid (), 0, 0, 0), EPERM))
    return 1;
  if (syscall (SYS_personality, PER_LINUX | ADDR_NO_RANDOMIZE) < 0)
    return 2;
  return 0;
}

static int
unshare_allowed (void)
{
  /* The filter lets it through; the kernel may still refuse (EPERM without a capability),
     so clone3 is the check: ENOSYS from the filter becomes the kernel's EFAULT. */
  return fails (syscall (SYS_clone3, (void *)1, 88), ENOSYS) ? 1 : 0;
}

static void
stricter_and_looser (void **state)
{
  const char *deny[] = { "getppid", NULL };
  fk_seccomp_spec_t strict = { .deny = deny };
  assert_int_equal (in_child (&strict, getppid_denied), 0);
  const char *allow[] = { "keyctl", NULL };
  fk_seccomp_spec_t loose = { .allow = allow };
  assert_int_equal (in_child (&loose, keyctl_allowed), 0);
  /* Any known name may be allowed now, with any arguments; twice is harmless. */
  const char *allow2[] = { "kcmp", "personality", "kcmp", "read", NULL };
  fk_seccomp_spec_t loose2 = { .allow = allow2 };
  assert_int_equal (in_child (&loose2, ptrace_personality_allowed), 0);
  const char *allow3[] = { "unshare", NULL };
  fk_seccomp_spec_t ns = { .allow = allow3 };
  assert_int_equal (in_child (&ns, unshare_allowed), 0);
  /* deny wins over allow */
  const char *both[] = { "getppid", NULL };
  fk_seccomp_spec_t conflict = { .deny = both, .allow = both };
  assert_int_equal (in_child (&conflict, getppid_denied), 0);
  fk_seccomp_spec_t off = { .unconfined = 1 };
  assert_int_equal (in_child (&off, keyctl_allowed), 0);
}

static void
validation (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  const char *bad[] = { "nosuchcall", NULL };
  fk_seccomp_spec_t s = { .deny = bad };
  assert_int_equal (fk_seccomp_validate (&s, &err), -1);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "unknown syscall `nosuchcall'");
  fk_error_clear (&err);
  fk_seccomp_spec_t a = { .allow = bad };
  assert_int_equal (fk_seccomp_validate (&a, &err), -1);
  assert_error_contains (&err, "unknown syscall `nosuchcall' in the allow list");
  fk_error_clear (&err);
  assert_int_equal (fk_seccomp_load (&a, &err), -1);
  fk_error_clear (&err);
  /* Names off the default allow list may be allowed now. */
  const char *ok[] = { "ptrace", "clone3", "getpid", NULL };
  fk_seccomp_spec_t good = { .allow = ok, .deny = ok };
  assert_int_equal (fk_seccomp_validate (&good, &err), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[]
      = { cmocka_unit_test (lists_are_consistent),
          cmocka_unit_test (program_on_every_abi),
          cmocka_unit_test (default_profile),
#if defined(__x86_64__)
          cmocka_unit_test (i386_and_x32_in_the_kernel),
#endif
          cmocka_unit_test (stricter_and_looser),
          cmocka_unit_test (validation),
        };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
