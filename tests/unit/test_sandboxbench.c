/* Unit tests for bench/sandboxbench: the three benchmarks on real sandboxes (root only), firkin
   alone (the peers are covered by the fk bench sandbox integration test). */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "bench/compare.h"
#include "bench/rootfs.h"
#include "bench/sandboxbench.h"
#include "firkin/runtime.h"

typedef struct fixture
{
  char *dir;
  char *rootfs;
  fk_runtime_t *rt;
  fk_bench_sandbox_opts_t o;
} fixture_t;

static int
setup (void **state)
{
  if (getuid () != 0 || access (FK_BENCH_BUSYBOX, X_OK) != 0)
    return 0; /* each test skips */
  fixture_t *f = calloc (1, sizeof *f);
  fk_error_t err = FK_ERROR_INIT;
  f->dir = test_tmpdir ();
  chmod (f->dir, 0755);
  char *state_dir = NULL;
  if (asprintf (&f->rootfs, "%s/rootfs", f->dir) < 0 || asprintf (&state_dir, "%s/s", f->dir) < 0)
    abort ();
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = state_dir;
  o.agent_path = getenv ("FK_AGENT");
  o.timeout_path = getenv ("FK_TIMEOUT");
  if (fk_bench_busybox_rootfs (f->rootfs, FK_BENCH_BUSYBOX, &err) < 0
      || fk_runtime_open (&o, &f->rt, &err) < 0)
    fail_msg ("setup: %s", fk_error_message (&err));
  free (state_dir);
  f->o = (fk_bench_sandbox_opts_t){
    .rt = f->rt, .rootfs = f->rootfs, .work_dir = f->dir, .runs = 2, .warmup = 1
  };
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  if (f == NULL)
    return 0;
  fk_runtime_close (f->rt);
  free (f->rootfs);
  test_tmpdir_free (f->dir);
  free (f);
  return 0;
}

static size_t
count (const fk_trace_samples_t *s, const char *metric)
{
  size_t n;
  free (fk_bench_values (s, metric, &n));
  return n;
}

/* Nothing of the sandboxes is left in the state directory. */
static void
assert_no_sandbox (fixture_t *f)
{
  char *p = NULL;
  if (asprintf (&p, "%s/sandboxes", fk_runtime_state_dir (f->rt)) < 0)
    abort ();
  DIR *d = opendir (p);
  assert_non_null (d);
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_name[0] != '.')
      fail_msg ("sandbox `%s' left behind", e->d_name);
  closedir (d);
  free (p);
}

static void
lifecycle_without_peers (void **state)
{
  fixture_t *f = *state;
  if (f == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  if (fk_bench_sandbox_lifecycle (&f->o, &s, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_int_equal (count (&s, FK_BENCH_LC_FIRKIN), 2);
  assert_int_equal (count (&s, FK_BENCH_LC_FIRKIN_AGENT), 2);
  assert_int_equal (count (&s, FK_BENCH_LC_CRUN), 0);
  assert_int_equal (s.len, 4); /* no peer: no ratio */
  for (size_t i = 0; i < s.len; i++)
    {
      assert_true (s.items[i]->value > 0.01 && s.items[i]->value < 60000);
      assert_string_equal (fk_trace_sample_tag (s.items[i], "repeat_count"), "2");
    }
  fk_trace_samples_clear (&s);
  assert_no_sandbox (f);
}

static void
exec_without_peers (void **state)
{
  fixture_t *f = *state;
  if (f == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  f->o.runs = 3;
  if (fk_bench_sandbox_exec (&f->o, &s, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_int_equal (count (&s, FK_BENCH_EX_FIRKIN), 3);
  assert_int_equal (s.len, 3);
  fk_trace_samples_clear (&s);
  assert_no_sandbox (f);
}

static void
idle_memory (void **state)
{
  fixture_t *f = *state;
  if (f == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  if (fk_bench_sandbox_idle (&f->o, 2, &s, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  /* six per sandbox, the host delta, the count and the goal */
  assert_int_equal (s.len, 15);
  assert_int_equal (count (&s, "debug.sandbox.idle_n2.host_mib"), 2);
  size_t n;
  double *pss = fk_bench_values (&s, "debug.sandbox.idle_n2.pss_mib", &n);
  assert_int_equal (n, 2);
  /* fk-agent is small, but it is there */
  assert_true (pss[0] > 0.001 && pss[0] < 64);
  free (pss);
  fk_trace_sample_t *goal = s.items[s.len - 1];
  assert_string_equal (goal->metric, "debug.sandbox.idle_n2.host_mib_vs_goal_ratio");
  assert_int_equal (goal->unit, FK_TRACE_UNIT_RATIO);
  assert_non_null (fk_trace_sample_tag (goal, "goal_met"));
  fk_trace_samples_clear (&s);
  assert_no_sandbox (f);

  assert_int_equal (fk_bench_sandbox_idle (&f->o, 0, &s, &err), -1);
  assert_error_contains (&err, "must be positive");
}

static void
a_stop_request_ends_early_and_cleans (void **state)
{
  fixture_t *f = *state;
  if (f == NULL)
    skip ();
  volatile sig_atomic_t stop = 1;
  f->o.stop = &stop;
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  assert_int_equal (fk_bench_sandbox_idle (&f->o, 3, &s, &err), -1);
  assert_error_contains (&err, "interrupted");
  assert_int_equal (fk_bench_sandbox_exec (&f->o, &s, &err), -1);
  assert_error_contains (&err, "interrupted");
  assert_int_equal (s.len, 0);
  f->o.stop = NULL;
  assert_no_sandbox (f);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (lifecycle_without_peers, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_without_peers, setup, teardown),
    cmocka_unit_test_setup_teardown (idle_memory, setup, teardown),
    cmocka_unit_test_setup_teardown (a_stop_request_ends_early_and_cleans, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
