/* Unit tests for bench/spawn: real child processes, timed one at a time or several at once,
   and entering a given mount namespace (bench/crun.h's; test_crun covers that namespace). */
#include "testutil.h"

#include <sched.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "bench/spawn.h"

static void
times_a_command (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *const argv[] = { (char *)"true", NULL };
  uint64_t ns = 0;
  assert_int_equal (fk_bench_spawn (argv, -1, &ns, &err), 0);
  assert_true (ns > 1000 && ns < 60ull * 1000000000ull);
}

static void
a_failure_quotes_stderr (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *const argv[]
      = { (char *)"sh", (char *)"-c", (char *)"echo out; echo broken >&2; exit 3", NULL };
  uint64_t ns = 7;
  assert_int_equal (fk_bench_spawn (argv, -1, &ns, &err), -1);
  assert_int_equal (ns, 7);
  assert_error_contains (&err, "`sh' exited 3: broken");
  char *const killed[] = { (char *)"sh", (char *)"-c", (char *)"kill -9 $$", NULL };
  assert_int_equal (fk_bench_spawn (killed, -1, NULL, &err), -1);
  assert_error_contains (&err, "killed by signal 9");
  char *const missing[] = { (char *)"/nonexistent/fk-bench-peer", NULL };
  assert_int_equal (fk_bench_spawn (missing, -1, NULL, &err), -1);
  assert_error_contains (&err, "exited 127");
}

/* Several at once: each end is stamped when that child exits, stdout goes where asked, and
   a child of the caller that is not in the set is left for the caller to reap. */
static void
several_at_once_each_end_exact (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  pid_t other = fork ();
  assert_true (other >= 0);
  if (other == 0)
    _exit (7);
  int pp[2];
  assert_int_equal (pipe2 (pp, O_CLOEXEC), 0);
  char *const slow[] = { (char *)"sh", (char *)"-c", (char *)"sleep 0.3", NULL };
  char *const fast[] = { (char *)"sh", (char *)"-c", (char *)"printf fast", NULL };
  fk_bench_proc_t procs[2];
  assert_int_equal (fk_bench_proc_start (slow, -1, -1, &procs[0], &err), 0);
  assert_int_equal (fk_bench_proc_start (fast, -1, pp[1], &procs[1], &err), 0);
  close (pp[1]);
  assert_int_equal (fk_bench_procs_wait (procs, 2, &err), 0);
  uint64_t slow_ns = procs[0].end_ns - procs[0].start_ns;
  uint64_t fast_ns = procs[1].end_ns - procs[1].start_ns;
  assert_true (slow_ns >= 300000000ull);
  /* The fast one's end was seen when it happened, not after the slow one. */
  assert_true (procs[1].end_ns < procs[0].end_ns);
  assert_true (fast_ns < slow_ns);
  char buf[16] = { 0 };
  assert_int_equal (read (pp[0], buf, sizeof buf - 1), 4);
  assert_string_equal (buf, "fast");
  close (pp[0]);
  int st;
  assert_int_equal (waitpid (other, &st, 0), other);
  assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 7);
}

/* The first child that failed is the error, and every child is reaped. */
static void
several_report_the_first_failure (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *const ok[] = { (char *)"true", NULL };
  char *const bad[] = { (char *)"sh", (char *)"-c", (char *)"echo no >&2; exit 4", NULL };
  fk_bench_proc_t procs[3];
  assert_int_equal (fk_bench_proc_start (ok, -1, -1, &procs[0], &err), 0);
  assert_int_equal (fk_bench_proc_start (bad, -1, -1, &procs[1], &err), 0);
  assert_int_equal (fk_bench_proc_start (ok, -1, -1, &procs[2], &err), 0);
  assert_int_equal (fk_bench_procs_wait (procs, 3, &err), -1);
  assert_error_contains (&err, "`sh' exited 4: no");
  for (int i = 0; i < 3; i++)
    assert_int_equal (waitpid (procs[i].pid, NULL, WNOHANG), -1);
}

/* mntns_fd: the child runs in that mount namespace; a bad fd is the child's error. */
static void
enters_a_mount_namespace (void **state)
{
  if (getuid () != 0)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  int ns = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  assert_true (ns >= 0);
  char *const argv[] = { (char *)"true", NULL };
  assert_int_equal (fk_bench_spawn (argv, ns, NULL, &err), 0);
  int not_ns = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_int_equal (fk_bench_spawn (argv, not_ns, NULL, &err), -1);
  assert_error_contains (&err, "cannot enter the peer's mount namespace");
  close (not_ns);
  close (ns);
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
    cmocka_unit_test (several_at_once_each_end_exact),
    cmocka_unit_test (several_report_the_first_failure),
    cmocka_unit_test (enters_a_mount_namespace),
    cmocka_unit_test (which_finds_programs),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
