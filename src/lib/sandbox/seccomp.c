/* sandbox/seccomp.c: a deny-list filter. The list follows the default profiles of Docker and crun
   for a container without CAP_SYS_ADMIN: module loading, kexec, bpf, perf, keyrings,
   userfaultfd, handle-based opens, reboot, swap, clock setting, mounts and new namespaces,
   io_uring. Denied calls fail with EPERM, except clone3 (ENOSYS): its flags live in memory a
   filter cannot read, and ENOSYS makes libc fall back to clone, whose flags it can. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>

static const char *const default_denied[] = {
  "acct",
  "add_key",
  "adjtimex",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "fsconfig",
  "fsmount",
  "fsopen",
  "fspick",
  "get_kernel_syms",
  "init_module",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "ioperm",
  "iopl",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mount",
  "mount_setattr",
  "move_mount",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "open_tree",
  "perf_event_open",
  "pivot_root",
  "query_module",
  "quotactl",
  "quotactl_fd",
  "reboot",
  "request_key",
  "setns",
  "settimeofday",
  "swapoff",
  "swapon",
  "syslog",
  "sysfs",
  "_sysctl",
  "umount",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vm86",
  "vm86old",
  NULL,
};

/* Namespace flags clone may not carry. */
static const unsigned long clone_ns_flags[] = {
  CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,    CLONE_NEWUSER,
  CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0,
};

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
fk_seccomp_validate (const fk_seccomp_spec_t *spec, fk_error_t *err)
{
  for (size_t i = 0; spec->deny && spec->deny[i]; i++)
    if (seccomp_syscall_resolve_name (spec->deny[i]) == __NR_SCMP_ERROR)
      return fk_error_set (err, EINVAL, "seccomp: unknown syscall `%s' in the deny list",
                           spec->deny[i]);
  for (size_t i = 0; spec->allow && spec->allow[i]; i++)
    {
      const char *n = spec->allow[i];
      if (seccomp_syscall_resolve_name (n) == __NR_SCMP_ERROR)
        return fk_error_set (err, EINVAL, "seccomp: unknown syscall `%s' in the allow list", n);
      if (!listed (default_denied, n) && strcmp (n, "clone3") != 0)
        return fk_error_set (err, EINVAL,
                             "seccomp: `%s' is not denied by the default profile, so it cannot "
                             "be allowed",
                             n);
    }
  return 0;
}

static int
deny (scmp_filter_ctx ctx, const char *name, int errnum, int user, fk_error_t *err)
{
  int nr = seccomp_syscall_resolve_name (name);
  if (nr == __NR_SCMP_ERROR)
    return user ? fk_error_set (err, EINVAL, "seccomp: unknown syscall `%s'", name) : 0;
  int r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (errnum), nr, 0);
  /* A syscall this architecture lacks (vm86 on x86-64) resolves but cannot be filtered. */
  if (r < 0 && r != -EDOM && !(nr < 0 && !user))
    return fk_error_set (err, -r, "seccomp: deny `%s': %s", name, strerror (-r));
  return 0;
}

int
fk_seccomp_load (const fk_seccomp_spec_t *spec, fk_error_t *err)
{
  if (spec->unconfined)
    return 0;
  if (fk_seccomp_validate (spec, err) < 0)
    return -1;
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
  if (ctx == NULL)
    return fk_error_set (err, ENOMEM, "seccomp_init failed");
  int ret = 0;
  for (size_t i = 0; default_denied[i] && ret == 0; i++)
    if (!listed (spec->allow, default_denied[i]))
      ret = deny (ctx, default_denied[i], EPERM, 0, err);
  for (size_t i = 0; spec->deny && spec->deny[i] && ret == 0; i++)
    ret = deny (ctx, spec->deny[i], EPERM, 1, err);
  if (ret == 0 && !listed (spec->allow, "unshare"))
    {
      if (!listed (spec->allow, "clone3"))
        ret = deny (ctx, "clone3", ENOSYS, 0, err);
      for (size_t i = 0; clone_ns_flags[i] && ret == 0; i++)
        {
          int r = seccomp_rule_add (
              ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
              SCMP_A0 (SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
          if (r < 0)
            ret = fk_error_set (err, -r, "seccomp: clone flag rule: %s", strerror (-r));
        }
    }
  if (ret == 0)
    {
      int r = seccomp_load (ctx);
      if (r < 0)
        ret = fk_error_set (err, -r, "seccomp: load the filter: %s", strerror (-r));
    }
  seccomp_release (ctx);
  return ret;
}
