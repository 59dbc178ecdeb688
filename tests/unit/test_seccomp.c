/* Unit tests for sandbox/seccomp: validation, and the real filter loaded into a child: denied
   calls fail with EPERM (clone3 with ENOSYS), the rest works, allow and deny change the set. */
#include "testutil.h"

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sandbox/seccomp.h"

/* Runs body in a child under the filter; the child's exit code is what the test checks. */
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
  return WIFEXITED (status) ? WEXITSTATUS (status) : 200;
}

static int
denied_calls (void)
{
  if (syscall (SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno != EPERM)
    return 1;
  if (syscall (SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
    return 2;
  if (syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0) != -1 || errno != EPERM)
    return 3;
  if (syscall (SYS_userfaultfd, 0) != -1 || errno != EPERM)
    return 4;
  if (syscall (SYS_unshare, CLONE_NEWUSER) != -1 || errno != EPERM)
    return 5;
  if (syscall (SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
    return 6;
  if (syscall (SYS_init_module, NULL, 0, "") != -1 || errno != EPERM)
    return 7;
  if (syscall (SYS_reboot, 0, 0, 0, NULL) != -1 || errno != EPERM)
    return 8;
  /* Allowed: an ordinary fork still works (clone without namespace flags). */
  pid_t p = fork ();
  if (p == 0)
    _exit (0);
  if (p < 0 || waitpid (p, NULL, 0) != p)
    return 9;
  if (getpid () <= 0)
    return 10;
  return 0;
}

static void
default_profile_denies (void **state)
{
  fk_seccomp_spec_t spec = { 0 };
  assert_int_equal (in_child (&spec, denied_calls), 0);
}

static int
getppid_denied (void)
{
  return syscall (SYS_getppid) == -1 && errno == EPERM ? 0 : 1;
}

static int
keyctl_allowed (void)
{
  /* Not EPERM from the filter any more: the kernel answers (EINVAL or similar, or success). */
  long r = syscall (SYS_keyctl, -1, 0, 0, 0, 0);
  return r == -1 && errno == EPERM ? 1 : 0;
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
  assert_error_contains (&err, "unknown syscall `nosuchcall'");
  fk_seccomp_spec_t a = { .allow = bad };
  assert_int_equal (fk_seccomp_validate (&a, &err), -1);
  assert_error_contains (&err, "unknown syscall `nosuchcall'");
  assert_non_null (fk_seccomp_default_denied ()[0]);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (default_profile_denies),
    cmocka_unit_test (stricter_and_looser),
    cmocka_unit_test (validation),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
