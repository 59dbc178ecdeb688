/* Unit tests for bench/spawn: real child processes, and the mount namespace that hides the
   cgroup2 mount from crun without touching the host's. */
#include "testutil.h"

#include "base/cleanup.h"
#include "bench/spawn.h"

static void
times_a_command (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *const argv[] = { (char *)"true", NULL };
  uint64_t ns = 0;
  assert_int_equal (fk_bench_spawn (argv, 0, &ns, &err), 0);
  assert_true (ns > 1000 && ns < 60ull * 1000000000ull);
}

static void
a_failure_quotes_stderr (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *const argv[]
      = { (char *)"sh", (char *)"-c", (char *)"echo out; echo broken >&2; exit 3", NULL };
  uint64_t ns = 7;
  assert_int_equal (fk_bench_spawn (argv, 0, &ns, &err), -1);
  assert_int_equal (ns, 7);
  assert_error_contains (&err, "`sh' exited 3: broken");
  char *const killed[] = { (char *)"sh", (char *)"-c", (char *)"kill -9 $$", NULL };
  assert_int_equal (fk_bench_spawn (killed, 0, NULL, &err), -1);
  assert_error_contains (&err, "killed by signal 9");
  char *const missing[] = { (char *)"/nonexistent/fk-bench-peer", NULL };
  assert_int_equal (fk_bench_spawn (missing, 0, NULL, &err), -1);
  assert_error_contains (&err, "exited 127");
}

static int
host_has_unified (void)
{
  cleanup_free char *text = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return 0;
    }
  return strstr (text, " " FK_BENCH_UNIFIED_MOUNT " ") != NULL;
}

static void
hides_cgroup2_in_the_child_only (void **state)
{
  if (getuid () != 0)
    skip ();
  int before = host_has_unified ();
  fk_error_t err = FK_ERROR_INIT;
  /* In the child the mount is gone (or never was). */
  char *const argv[]
      = { (char *)"sh", (char *)"-c",
          (char *)"! grep -q ' " FK_BENCH_UNIFIED_MOUNT " ' /proc/self/mountinfo", NULL };
  assert_int_equal (fk_bench_spawn (argv, FK_BENCH_SPAWN_HIDE_CGROUP2, NULL, &err), 0);
  /* and the host keeps what it had */
  assert_int_equal (host_has_unified (), before);
  if (before)
    {
      /* without the flag the child sees it */
      assert_int_equal (fk_bench_spawn (argv, 0, NULL, &err), -1);
      fk_error_clear (&err);
    }
}

static void
which_finds_programs (void **state)
{
  char *p = fk_bench_which ("sh");
  assert_non_null (p);
  assert_true (p[0] == '/');
  free (p);
  assert_null (fk_bench_which ("fk-bench-no-such-program"));
  p = fk_bench_which ("/bin/sh");
  assert_string_equal (p, "/bin/sh");
  free (p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (times_a_command),
    cmocka_unit_test (a_failure_quotes_stderr),
    cmocka_unit_test (hides_cgroup2_in_the_child_only),
    cmocka_unit_test (which_finds_programs),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
