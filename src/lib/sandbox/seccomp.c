/* sandbox/seccomp.c: an allow list. The list follows the default profile of Docker and Podman
   (moby's profiles/seccomp/default.json) for a container with the default capability set
   (caps.c), and is stricter where that profile leaves kernel attack surface open: other
   processes' memory (ptrace, process_vm_*, pidfd_getfd, kcmp), NUMA policy, AF_VSOCK,
   personality flags, the listing and tree-cloning mount calls, LDT entries.

   Listed names are allowed, the known-dangerous ones fail with EPERM (what programs expect from
   a container), and everything else, above all syscalls added to later kernels, fails with
   ENOSYS, as on an older kernel, so libc falls back. clone3 is one of those: its flags live in
   memory a filter cannot read, and glibc falls back to clone, whose flags it can. A few calls
   are allowed with some arguments only (ioctl, socket, socketpair, clone, personality).

   One filter covers every ABI the CPU runs: x86-64, x32 (the same audit arch, numbers with bit
   30 set) and i386 (int $0x80) on x86-64; the native ABI elsewhere. Another ABI is killed.

   libseccomp only names the syscalls here; the BPF is built by this file. libseccomp needs
   16-18 ms to build and compile this list for three ABIs (2 ms for one), on every sandbox
   start; this takes tens of microseconds. The program is a binary search on the syscall number
   over runs of numbers with one action, so most calls cost a handful of instructions, and the
   kernel caches those allowed whatever their arguments as allowed without running it. */
#include "sandbox/seccomp.h"

#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/xalloc.h"

/* Allowed, whatever their arguments. Names of other ABIs (the i386 *32, *64 and time64 calls,
   socketcall, ipc) matter for the i386 part of the filter; a name libseccomp knows but this
   architecture lacks is skipped. */
/* clang-format off */
static const char *const default_allowed[] = {
  /* processes, threads, scheduling */
  "arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork", "vfork",
  "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setpgid", "setsid",
  "getpriority", "setpriority", "ioprio_get", "ioprio_set", "prctl", "prlimit64", "getrlimit",
  "setrlimit", "ugetrlimit", "getrusage", "times", "wait4", "waitid", "waitpid", "set_tid_address",
  "set_robust_list", "get_robust_list", "rseq", "set_thread_area", "get_thread_area",
  "restart_syscall", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
  "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
  "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
  "sched_rr_get_interval_time64", "sched_yield", "getcpu", "membarrier",
  /* pidfds and signals (the pid namespace bounds whom they reach) */
  "pidfd_open", "pidfd_send_signal", "process_mrelease", "kill", "tkill", "tgkill", "rt_sigaction",
  "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
  "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd",
  "signalfd4", "sigreturn", "sigprocmask", "pause", "alarm", "getitimer", "setitimer",
  /* confining oneself further */
  "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
  /* credentials (within the user namespace) */
  "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
  "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
  "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32", "getgroups32",
  "setuid32", "setgid32", "setreuid32", "setregid32", "setresuid32", "setresgid32", "setgroups32",
  "setfsuid32", "setfsgid32",
  /* memory */
  "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
  "mlock2", "mlockall", "munlock", "munlockall", "memfd_create", "memfd_secret", "pkey_alloc",
  "pkey_free", "pkey_mprotect", "remap_file_pages", "map_shadow_stack",
  /* files and directories */
  "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chroot", "chmod", "fchmod",
  "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "chown32", "fchown32",
  "lchown32", "umask", "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2",
  "dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
  "fallocate", "fadvise64", "fadvise64_64", "readahead", "truncate", "truncate64", "ftruncate",
  "ftruncate64", "getdents", "getdents64", "link", "linkat", "symlink", "symlinkat", "unlink",
  "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat",
  "readlink", "readlinkat", "stat", "lstat", "fstat", "newfstatat", "stat64", "lstat64", "fstat64",
  "fstatat64", "statx", "statfs", "fstatfs", "statfs64", "fstatfs64", "utime", "utimes",
  "futimesat", "utimensat", "utimensat_time64", "cachestat", "getxattr", "lgetxattr", "fgetxattr",
  "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
  "lremovexattr", "fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch",
  "inotify_rm_watch", "fanotify_mark",
  /* reading and writing, waiting */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
  "copy_file_range", "ioctl", "pipe", "pipe2", "select", "_newselect", "pselect6",
  "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create", "epoll_create1", "epoll_ctl",
  "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd",
  "eventfd2", "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
  "io_pgetevents_time64",
  /* futexes */
  "futex", "futex_time64", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
  /* time (reading it, timers) */
  "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
  "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "timer_create",
  "timer_delete", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
  "timer_getoverrun", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
  "timerfd_settime64",
  /* sockets (the sandbox's own network namespace; socketcall is i386's multiplexer) */
  "socket", "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
  "getpeername", "getsockopt", "setsockopt", "shutdown", "sendto", "recvfrom", "send", "recv",
  "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "socketcall",
  /* System V and POSIX IPC (the sandbox's own IPC namespace; ipc is i386's multiplexer) */
  "ipc", "msgget", "msgctl", "msgsnd", "msgrcv", "semget", "semctl", "semop", "semtimedop",
  "semtimedop_time64", "shmget", "shmctl", "shmat", "shmdt", "mq_open", "mq_unlink",
  "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify",
  "mq_getsetattr",
  /* the machine, read-only */
  "uname", "sysinfo", "getrandom",
  /* other architectures' own calls (cache flushes, TLS) */
  "cacheflush", "set_tls", "breakpoint", "arm_fadvise64_64", "arm_sync_file_range",
  "sync_file_range2", "riscv_flush_icache", "s390_runtime_instr", "s390_pci_mmio_read",
  "s390_pci_mmio_write",
  /* clone (the argument filter refuses namespace flags) and personality (harmless values
     only) are allowed separately; clone3 is not (ENOSYS, see above). */
  NULL,
};
/* clang-format on */

/* Refused with EPERM. A name libseccomp does not know yet (open_tree_attr, listmount and
   statmount in 2.5) gets ENOSYS like every unlisted call until it does. */
/* clang-format off */
static const char *const default_denied[] = {
  /* mounts, the new mount API, namespaces */
  "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
  "move_mount", "mount_setattr", "open_tree", "open_tree_attr", "listmount", "statmount",
  "unshare", "setns",
  /* other processes' memory and files (Docker: CAP_SYS_PTRACE; firkin never) */
  "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
  /* kernel code: modules, kexec, eBPF, perf */
  "init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms",
  "query_module", "kexec_load", "kexec_file_load", "bpf", "perf_event_open",
  /* file handles reach past the mount namespace */
  "open_by_handle_at", "name_to_handle_at",
  /* keyrings are not namespaced */
  "keyctl", "add_key", "request_key",
  /* large kernel attack surface for what they give */
  "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
  /* NUMA policy and page migration (Docker: CAP_SYS_NICE) */
  "mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages",
  /* the host's clocks */
  "settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
  "clock_adjtime64",
  /* host-wide state */
  "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "sethostname",
  "setdomainname", "vhangup", "fanotify_init", "nfsservctl", "lookup_dcookie", "_sysctl", "sysfs",
  "ustat", "uselib",
  /* hardware and segments: I/O ports, vm86, LDT entries (a long record of kernel bugs) */
  "iopl", "ioperm", "vm86", "vm86old", "modify_ldt",
  NULL,
};
/* clang-format on */

#define ALLOW SECCOMP_RET_ALLOW
#define EPERM_ (SECCOMP_RET_ERRNO | EPERM)
#define ENOSYS_ (SECCOMP_RET_ERRNO | ENOSYS)

/* "When the low 32 bits of argument arg, masked, equal value: action". The kernel reads every
   argument checked here as a 32-bit int, so bits above cannot hide a value. */
typedef struct
{
  unsigned arg;
  uint32_t mask, value, action;
  const char *lifted_by; /* an allow of this name drops the check; NULL: only the rule's own */
} check_t;

typedef struct
{
  const char *name;
  const char *lifted_by; /* an allow of this name also allows the call with any arguments */
  uint32_t otherwise;    /* the action when no check matches */
  check_t checks[24];
  size_t n_checks;
} argrule_t;

#define FK_TIOCSTI 0x5412u
#define FK_TIOCLINUX 0x541cu
#define FK_AF_VSOCK 40u
#define FK_CLONE_NS                                                                                \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET         \
   | CLONE_NEWCGROUP)
/* socketcall(2)'s call numbers (linux/net.h) */
#define FK_SYS_SOCKET 1u
#define FK_SYS_SOCKETPAIR 8u

static const argrule_t argrules[] = {
  /* TIOCSTI pushes input into a terminal, TIOCLINUX reaches the console. */
  { "ioctl",
    NULL,
    ALLOW,
    { { 1, 0xffffffffu, FK_TIOCSTI, EPERM_, NULL },
      { 1, 0xffffffffu, FK_TIOCLINUX, EPERM_, NULL } },
    2 },
  /* vsock is not namespaced: it reaches the hypervisor's services. */
  { "socket", NULL, ALLOW, { { 0, 0xffffffffu, FK_AF_VSOCK, EPERM_, NULL } }, 1 },
  { "socketpair", NULL, ALLOW, { { 0, 0xffffffffu, FK_AF_VSOCK, EPERM_, NULL } }, 1 },
  /* i386's multiplexer keeps the family in memory: socket and socketpair through it are
     refused whatever the family (32-bit glibc uses it; musl calls socket directly). */
  { "socketcall",
    NULL,
    ALLOW,
    { { 0, 0xffffffffu, FK_SYS_SOCKET, EPERM_, "socket" },
      { 0, 0xffffffffu, FK_SYS_SOCKETPAIR, EPERM_, "socketpair" } },
    2 },
  /* i386's System V IPC multiplexer: checks for the calls a --seccomp-deny names only. */
  { "ipc", NULL, ALLOW, { { 0 } }, 0 },
  /* clone (the kernel reads the low 32 bits of its flags) without a namespace flag. */
  { "clone", "unshare", EPERM_, { { 0, FK_CLONE_NS, 0, ALLOW, NULL } }, 1 },
  /* PER_LINUX, PER_LINUX32, each with UNAME26, and the query; no READ_IMPLIES_EXEC,
     ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO and the like. */
  { "personality",
    NULL,
    EPERM_,
    { { 0, 0xffffffffu, 0x0, ALLOW, NULL },
      { 0, 0xffffffffu, 0x8, ALLOW, NULL },
      { 0, 0xffffffffu, 0x20000, ALLOW, NULL },
      { 0, 0xffffffffu, 0x20008, ALLOW, NULL },
      { 0, 0xffffffffu, 0xffffffffu, ALLOW, NULL } },
    5 },
};
#define N_ARGRULES (sizeof argrules / sizeof argrules[0])

/* i386's socket and System V IPC calls: the direct numbers (Linux 4.3 and 5.1), which
   libseccomp 2.5 resolves to pseudo-numbers instead, and the call numbers of the multiplexers
   socketcall (linux/net.h) and ipc (its low 16 bits, linux/ipc.h), through which a
   --seccomp-deny of one of them is refused too. */
enum
{
  SOCKETCALL,
  IPC,
};
static const struct
{
  const char *name;
  int nr; /* -1: only through the multiplexer */
  int mux;
  uint32_t call;
} i386_calls[] = {
  { "socket", 359, SOCKETCALL, 1 },
  { "bind", 361, SOCKETCALL, 2 },
  { "connect", 362, SOCKETCALL, 3 },
  { "listen", 363, SOCKETCALL, 4 },
  { "accept", -1, SOCKETCALL, 5 },
  { "getsockname", 367, SOCKETCALL, 6 },
  { "getpeername", 368, SOCKETCALL, 7 },
  { "socketpair", 360, SOCKETCALL, 8 },
  { "send", -1, SOCKETCALL, 9 },
  { "recv", -1, SOCKETCALL, 10 },
  { "sendto", 369, SOCKETCALL, 11 },
  { "recvfrom", 371, SOCKETCALL, 12 },
  { "shutdown", 373, SOCKETCALL, 13 },
  { "setsockopt", 366, SOCKETCALL, 14 },
  { "getsockopt", 365, SOCKETCALL, 15 },
  { "sendmsg", 370, SOCKETCALL, 16 },
  { "recvmsg", 372, SOCKETCALL, 17 },
  { "accept4", 364, SOCKETCALL, 18 },
  { "recvmmsg", 337, SOCKETCALL, 19 },
  { "sendmmsg", 345, SOCKETCALL, 20 },
  { "semop", -1, IPC, 1 },
  { "semget", 393, IPC, 2 },
  { "semctl", 394, IPC, 3 },
  { "semtimedop", -1, IPC, 4 },
  { "msgsnd", 400, IPC, 11 },
  { "msgrcv", 401, IPC, 12 },
  { "msgget", 399, IPC, 13 },
  { "msgctl", 402, IPC, 14 },
  { "shmat", 397, IPC, 21 },
  { "shmdt", 398, IPC, 22 },
  { "shmget", 395, IPC, 23 },
  { "shmctl", 396, IPC, 24 },
};
#define N_I386_CALLS (sizeof i386_calls / sizeof i386_calls[0])

const char *const *
fk_seccomp_default_allowed (void)
{
  return default_allowed;
}

const char *const *
fk_seccomp_default_denied (void)
{
  return default_denied;
}

static int
listed (const char *const *list, const char *name)
{
  for (size_t i = 0; list && list[i]; i++)
    if (strcmp (list[i], name) == 0)
      return 1;
  return 0;
}

int
fk_seccomp_check_names (const fk_seccomp_spec_t *spec, fk_error_t *err)
{
  for (size_t i = 0; spec->deny && spec->deny[i]; i++)
    if (seccomp_syscall_resolve_name (spec->deny[i]) == __NR_SCMP_ERROR)
      return fk_error_set (err, EINVAL, "seccomp: unknown syscall `%s' in the deny list",
                           spec->deny[i]);
  for (size_t i = 0; spec->allow && spec->allow[i]; i++)
    if (seccomp_syscall_resolve_name (spec->allow[i]) == __NR_SCMP_ERROR)
      return fk_error_set (err, EINVAL, "seccomp: unknown syscall `%s' in the allow list",
                           spec->allow[i]);
  return 0;
}

/* What one syscall gets: an action, or an argument rule (checks, then otherwise). */
typedef struct
{
  uint32_t nr;
  uint32_t seq; /* order of addition: the first entry of a number wins */
  uint32_t action;
  const argrule_t *rule; /* NULL: action, whatever the arguments */
} entry_t;

typedef struct
{
  const fk_seccomp_spec_t *spec;
  argrule_t rules[N_ARGRULES]; /* argrules, with the user's denials of multiplexed calls */
  entry_t *entries;
  size_t n, cap;
  struct sock_filter *prog;
  size_t len, prog_cap;
} build_t;

/* Where a name comes from, for decide: a default list spares scanning them again. */
enum
{
  FROM_USER,
  FROM_DENIED,
  FROM_ALLOWED,
};

/* The decision for name, in order of precedence: the user's deny, the user's allow, the
   argument rules, the default lists. Returns 0 when the name is not listed (ENOSYS). */
static int
decide (const build_t *b, const char *name, int from, uint32_t *ret_action,
        const argrule_t **ret_rule)
{
  const fk_seccomp_spec_t *spec = b->spec;
  *ret_rule = NULL;
  if (listed (spec->deny, name))
    return *ret_action = EPERM_, 1;
  if (listed (spec->allow, name))
    return *ret_action = ALLOW, 1;
  if (strcmp (name, "clone3") == 0 && listed (spec->allow, "unshare"))
    return *ret_action = ALLOW, 1;
  for (size_t i = 0; i < N_ARGRULES; i++)
    if (strcmp (b->rules[i].name, name) == 0)
      {
        if (b->rules[i].lifted_by && listed (spec->allow, b->rules[i].lifted_by))
          return *ret_action = ALLOW, 1;
        *ret_rule = &b->rules[i];
        return *ret_action = b->rules[i].otherwise, 1;
      }
  if (from == FROM_DENIED || (from == FROM_USER && listed (default_denied, name)))
    return *ret_action = EPERM_, 1;
  if (from == FROM_ALLOWED || (from == FROM_USER && listed (default_allowed, name)))
    return *ret_action = ALLOW, 1;
  return 0;
}

static void
add_name (build_t *b, uint32_t scmp_arch, const char *name, int from)
{
  uint32_t action;
  const argrule_t *rule;
  if (!decide (b, name, from, &action, &rule))
    return;
  int nr = seccomp_syscall_resolve_name_arch (scmp_arch, name);
  if (nr < 0 && scmp_arch == SCMP_ARCH_X86)
    for (size_t i = 0; i < N_I386_CALLS; i++)
      if (strcmp (i386_calls[i].name, name) == 0)
        nr = i386_calls[i].nr;
  /* Unknown, or a pseudo-number: this ABI has no such call. */
  if (nr < 0)
    return;
  if (b->n == b->cap)
    {
      b->cap = b->cap ? 2 * b->cap : 1024;
      b->entries = xrealloc (b->entries, b->cap * sizeof *b->entries);
    }
  b->entries[b->n] = (entry_t){ (uint32_t)nr, (uint32_t)b->n, action, rule };
  b->n++;
}

static int
by_nr (const void *a, const void *b)
{
  const entry_t *x = a, *y = b;
  if (x->nr != y->nr)
    return x->nr < y->nr ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every name that can get a decision, on one ABI; the user's lists first (precedence). */
static void
collect (build_t *b, uint32_t scmp_arch)
{
  const fk_seccomp_spec_t *spec = b->spec;
  for (size_t i = 0; spec->deny && spec->deny[i]; i++)
    add_name (b, scmp_arch, spec->deny[i], FROM_USER);
  for (size_t i = 0; spec->allow && spec->allow[i]; i++)
    add_name (b, scmp_arch, spec->allow[i], FROM_USER);
  add_name (b, scmp_arch, "clone3", FROM_USER);
  for (size_t i = 0; i < N_ARGRULES; i++)
    add_name (b, scmp_arch, argrules[i].name, FROM_USER);
  for (size_t i = 0; default_denied[i]; i++)
    add_name (b, scmp_arch, default_denied[i], FROM_DENIED);
  for (size_t i = 0; default_allowed[i]; i++)
    add_name (b, scmp_arch, default_allowed[i], FROM_ALLOWED);
}

/* Sorts by number and keeps the first entry of each (a name listed twice, an allow of a
   listed call). */
static void
sort_unique (build_t *b)
{
  qsort (b->entries, b->n, sizeof *b->entries, by_nr);
  size_t w = 0;
  for (size_t i = 0; i < b->n; i++)
    if (w == 0 || b->entries[w - 1].nr != b->entries[i].nr)
      b->entries[w++] = b->entries[i];
  b->n = w;
}

/* A run of syscall numbers [start, next run's start) with one action, or one number with an
   argument rule. */
typedef struct
{
  uint32_t start;
  uint32_t action;
  const argrule_t *rule;
} run_t;

/* Appends run, or lengthens the last one when both have one action and it is the same. */
static void
push_run (run_t *runs, size_t *r, run_t run)
{
  const run_t *last = *r ? &runs[*r - 1] : NULL;
  if (last && !last->rule && !run.rule && last->action == run.action)
    return;
  runs[(*r)++] = run;
}

/* Runs covering every number from 0 up: gaps get ENOSYS. e is sorted, without duplicates; runs
   has room for 2 * n + 1. */
static size_t
make_runs (const entry_t *e, size_t n, run_t *runs)
{
  size_t r = 0;
  uint64_t next = 0; /* the first number no run covers yet */
  for (size_t i = 0; i < n; i++)
    {
      if (e[i].nr > next)
        push_run (runs, &r, (run_t){ (uint32_t)next, ENOSYS_, NULL });
      push_run (runs, &r, (run_t){ e[i].nr, e[i].action, e[i].rule });
      next = (uint64_t)e[i].nr + 1;
    }
  if (next <= UINT32_MAX)
    push_run (runs, &r, (run_t){ (uint32_t)next, ENOSYS_, NULL });
  return r;
}

static void
emit (build_t *b, struct sock_filter insn)
{
  if (b->len == b->prog_cap)
    {
      b->prog_cap = b->prog_cap ? 2 * b->prog_cap : 1024;
      b->prog = xrealloc (b->prog, b->prog_cap * sizeof *b->prog);
    }
  b->prog[b->len++] = insn;
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT (code, k))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP (code, k, jt, jf))

/* Where the low 32 bits of argument i are in struct seccomp_data. */
static uint32_t
arg_lo (unsigned i)
{
  uint32_t off = offsetof (struct seccomp_data, args) + 8 * i;
#if __BYTE_ORDER == __BIG_ENDIAN
  off += 4;
#endif
  return off;
}

static int
check_on (const build_t *b, const check_t *c)
{
  return !(c->lifted_by && listed (b->spec->allow, c->lifted_by));
}

static size_t
leaf_size (const build_t *b, const run_t *run)
{
  size_t n = 1;
  for (size_t i = 0; run->rule && i < run->rule->n_checks; i++)
    if (check_on (b, &run->rule->checks[i]))
      n += run->rule->checks[i].mask == 0xffffffffu ? 3 : 4;
  return n;
}

static void
emit_leaf (build_t *b, const run_t *run)
{
  for (size_t i = 0; run->rule && i < run->rule->n_checks; i++)
    {
      const check_t *c = &run->rule->checks[i];
      if (!check_on (b, c))
        continue;
      emit (b, STMT (BPF_LD | BPF_W | BPF_ABS, arg_lo (c->arg)));
      if (c->mask != 0xffffffffu)
        emit (b, STMT (BPF_ALU | BPF_AND | BPF_K, c->mask));
      emit (b, JUMP (BPF_JMP | BPF_JEQ | BPF_K, c->value, 0, 1));
      emit (b, STMT (BPF_RET | BPF_K, c->action));
    }
  emit (b, STMT (BPF_RET | BPF_K, run->action));
}

/* The search over runs[lo, hi), the syscall number in A. A conditional jump reaches 255
   instructions at most; past that, through a ja. */
static size_t
tree_size (const build_t *b, const run_t *runs, size_t lo, size_t hi)
{
  if (hi - lo == 1)
    return leaf_size (b, &runs[lo]);
  size_t mid = lo + (hi - lo) / 2;
  size_t left = tree_size (b, runs, lo, mid);
  return 1 + (left > 255) + left + tree_size (b, runs, mid, hi);
}

static void
emit_tree (build_t *b, const run_t *runs, size_t lo, size_t hi)
{
  if (hi - lo == 1)
    {
      emit_leaf (b, &runs[lo]);
      return;
    }
  size_t mid = lo + (hi - lo) / 2;
  size_t left = tree_size (b, runs, lo, mid);
  if (left <= 255)
    emit (b, JUMP (BPF_JMP | BPF_JGE | BPF_K, runs[mid].start, (uint8_t)left, 0));
  else
    {
      emit (b, JUMP (BPF_JMP | BPF_JGE | BPF_K, runs[mid].start, 0, 1));
      emit (b, STMT (BPF_JMP | BPF_JA, (uint32_t)left));
    }
  emit_tree (b, runs, lo, mid);
  emit_tree (b, runs, mid, hi);
}

/* One audit arch's part: load the number, search. scmp_arches are the libseccomp ABIs whose
   numbers this audit arch carries (x86-64 and x32 share one). */
static void
emit_arch (build_t *b, const uint32_t *scmp_arches, size_t n_arches)
{
  b->n = 0;
  for (size_t i = 0; i < n_arches; i++)
    collect (b, scmp_arches[i]);
  sort_unique (b);
  run_t *runs = xmalloc ((2 * b->n + 1) * sizeof *runs);
  size_t n_runs = make_runs (b->entries, b->n, runs);
  emit (b, STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)));
  emit_tree (b, runs, 0, n_runs);
  free (runs);
}

/* The argument rules of this spec: a --seccomp-deny of a call i386 multiplexes refuses its
   call number there. */
static void
init_rules (build_t *b)
{
  memcpy (b->rules, argrules, sizeof argrules);
  for (size_t i = 0; i < N_I386_CALLS; i++)
    {
      if (!listed (b->spec->deny, i386_calls[i].name))
        continue;
      const char *mux = i386_calls[i].mux == SOCKETCALL ? "socketcall" : "ipc";
      for (size_t r = 0; r < N_ARGRULES; r++)
        if (strcmp (b->rules[r].name, mux) == 0)
          b->rules[r].checks[b->rules[r].n_checks++]
              = (check_t){ 0, i386_calls[i].mux == SOCKETCALL ? 0xffffffffu : 0xffffu,
                           i386_calls[i].call, EPERM_, NULL };
    }
}

/* The whole program: the arch dispatch, then each arch's search. */
static int
build (build_t *b, fk_error_t *err)
{
  init_rules (b);
  emit (b, STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)));
  uint32_t native = seccomp_arch_native ();
  if (native == SCMP_ARCH_X86_64)
    {
      /* x86-64 (x32 too) jumps past the next three, i386 goes through the ja, the rest dies. */
      size_t at = b->len;
      emit (b, JUMP (BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 3, 0));
      emit (b, JUMP (BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 1));
      emit (b, STMT (BPF_JMP | BPF_JA, 0)); /* patched: to the i386 part */
      emit (b, STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
      static const uint32_t x86_64[] = { SCMP_ARCH_X86_64, SCMP_ARCH_X32 };
      static const uint32_t i386[] = { SCMP_ARCH_X86 };
      emit_arch (b, x86_64, 2);
      b->prog[at + 2].k = (uint32_t)(b->len - (at + 3));
      emit_arch (b, i386, 1);
    }
  else
    {
      emit (b, JUMP (BPF_JMP | BPF_JEQ | BPF_K, native, 1, 0));
      emit (b, STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
      emit_arch (b, &native, 1);
    }
  if (b->len > BPF_MAXINSNS)
    return fk_error_set (err, E2BIG, "seccomp: the filter has %zu instructions, over %d", b->len,
                         BPF_MAXINSNS);
  return 0;
}

int
fk_seccomp_build (const fk_seccomp_spec_t *spec, struct sock_filter **ret_prog, size_t *ret_len,
                  fk_error_t *err)
{
  if (fk_seccomp_check_names (spec, err) < 0)
    return -1;
  build_t b = { .spec = spec };
  int ret = build (&b, err);
  free (b.entries);
  if (ret < 0)
    {
      free (b.prog);
      return -1;
    }
  *ret_prog = b.prog;
  *ret_len = b.len;
  return 0;
}

/* Programs built by fk_seccomp_validate, which fk_sandbox_create calls before it clones the
   sandbox: the child finds its program here and only loads it. Built in the child, it costs
   about 1 ms more there, a copy-on-write fault for every page it writes. A few specs per
   process; a slot, once published, never changes and is never freed, so a child reads them
   without a lock (a lock another thread held at the clone would stay held in the child). */
#define N_CACHED 8
typedef struct
{
  char **deny, **allow;
  struct sock_filter *prog;
  size_t len;
} cached_t;
static cached_t cached[N_CACHED];
static size_t n_cached; /* slots published, read and written atomically */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int
same_names (const char *const *a, char *const *b)
{
  size_t i = 0;
  for (; a && a[i]; i++)
    if (b[i] == NULL || strcmp (a[i], b[i]) != 0)
      return 0;
  return b[i] == NULL;
}

static const cached_t *
find_cached (const fk_seccomp_spec_t *spec)
{
  size_t n = __atomic_load_n (&n_cached, __ATOMIC_ACQUIRE);
  for (size_t i = 0; i < n; i++)
    if (same_names (spec->deny, cached[i].deny) && same_names (spec->allow, cached[i].allow))
      return &cached[i];
  return NULL;
}

static char **
copy_names (const char *const *names)
{
  size_t n = 0;
  while (names && names[n])
    n++;
  char **copy = xcalloc (n + 1, sizeof *copy);
  for (size_t i = 0; i < n; i++)
    copy[i] = xstrdup (names[i]);
  return copy;
}

int
fk_seccomp_validate (const fk_seccomp_spec_t *spec, fk_error_t *err)
{
  if (fk_seccomp_check_names (spec, err) < 0)
    return -1;
  if (spec->unconfined || find_cached (spec))
    return 0;
  struct sock_filter *prog;
  size_t len;
  if (fk_seccomp_build (spec, &prog, &len, err) < 0)
    return -1;
  pthread_mutex_lock (&cache_lock);
  size_t n = __atomic_load_n (&n_cached, __ATOMIC_ACQUIRE);
  if (n < N_CACHED && !find_cached (spec))
    {
      cached[n] = (cached_t){ copy_names (spec->deny), copy_names (spec->allow), prog, len };
      prog = NULL;
      __atomic_store_n (&n_cached, n + 1, __ATOMIC_RELEASE);
    }
  pthread_mutex_unlock (&cache_lock);
  free (prog);
  return 0;
}

static int
install (const struct sock_filter *filter, size_t len, fk_error_t *err)
{
  struct sock_fprog prog = { .len = (unsigned short)len, .filter = (struct sock_filter *)filter };
  long r = syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
  if (r < 0 && errno == ENOSYS)
    r = prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  return r < 0 ? fk_error_set_errno (err, "seccomp: load the filter") : 0;
}

int
fk_seccomp_load (const fk_seccomp_spec_t *spec, fk_error_t *err)
{
  if (spec->unconfined)
    return 0;
  const cached_t *c = find_cached (spec);
  if (c)
    return install (c->prog, c->len, err);
  struct sock_filter *prog;
  size_t len;
  if (fk_seccomp_build (spec, &prog, &len, err) < 0)
    return -1;
  int ret = install (prog, len, err);
  free (prog);
  return ret;
}
