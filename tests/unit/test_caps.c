/* Unit tests for sandbox/caps: in a child, the default set leaves exactly the container set in
   the bounding, effective and permitted sets, and administrative calls fail. */
#include "testutil.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "sandbox/caps.h"

static int
check (void)
{
  fk_error_t err = FK_ERROR_INIT;
  if (fk_caps_apply (fk_caps_default_mask (), &err) < 0)
    return 1;
  if (prctl (PR_CAPBSET_READ, CAP_SYS_ADMIN) != 0 || prctl (PR_CAPBSET_READ, CAP_SYS_MODULE) != 0
      || prctl (PR_CAPBSET_READ, CAP_NET_ADMIN) != 0
      || prctl (PR_CAPBSET_READ, CAP_SYS_PTRACE) != 0)
    return 2;
  if (prctl (PR_CAPBSET_READ, CAP_CHOWN) != 1 || prctl (PR_CAPBSET_READ, CAP_KILL) != 1)
    return 3;
  cap_t now = cap_get_proc ();
  cap_t want = cap_from_text (fk_caps_default_text ());
  int same = cap_compare (now, want) == 0;
  cap_free (now);
  cap_free (want);
  if (!same)
    return 4;
  /* Without CAP_SYS_ADMIN sethostname fails. */
  if (sethostname ("x", 1) == 0 || errno != EPERM)
    return 5;
  return 0;
}

static void
default_set (void **state)
{
  if (geteuid () != 0)
    {
      print_message ("# SKIP needs root (capabilities to drop)\n");
      skip ();
    }
  pid_t pid = fork ();
  if (pid == 0)
    _exit (check ());
  int status;
  waitpid (pid, &status, 0);
  assert_true (WIFEXITED (status));
  assert_int_equal (WEXITSTATUS (status), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (default_set),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
