/* Unit tests for bench/hostspawn: real concurrent fork+exec on the host. */
#include "testutil.h"

#include "base/cleanup.h"
#include "bench/hostspawn.h"

static void
collects_one_sample_per_level_and_repeat (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  const size_t levels[] = { 1, 3 };
  assert_int_equal (
      fk_bench_host_spawn_collect (FK_BENCH_HOST_SPAWN_PROGRAM, levels, 2, 2, &samples, &err), 0);
  assert_int_equal (samples.len, 4);
  static const char *const metrics[] = { "debug.exec.host_fork_exec_completion_c1_ms",
                                         "debug.exec.host_fork_exec_completion_c1_ms",
                                         "debug.exec.host_fork_exec_completion_c3_ms",
                                         "debug.exec.host_fork_exec_completion_c3_ms" };
  for (size_t i = 0; i < 4; i++)
    {
      fk_trace_sample_t *s = samples.items[i];
      assert_string_equal (s->metric, metrics[i]);
      /* a fork+exec takes time: more than a microsecond, less than a minute */
      assert_true (s->value > 0.001 && s->value < 60000);
      assert_string_equal (fk_trace_sample_tag (s, "concurrency_levels"), "1,3");
      assert_string_equal (fk_trace_sample_tag (s, "warmup_dispatch"), "excluded");
      assert_string_equal (fk_trace_sample_tag (s, "repeat_index"), i % 2 ? "1" : "0");
      assert_string_equal (fk_trace_sample_tag (s, "repeat_count"), "2");
    }
  fk_trace_sample_t *bp = NULL;
  assert_int_equal (fk_trace_density_breakpoint (&fk_bench_host_spawn_density, &samples, &bp, &err),
                    1);
  assert_true (bp->value == 1 || bp->value == 3);
  assert_string_equal (bp->metric,
                       "debug.density.max_active_before_host_fork_exec_completion_p95_doubles");
  assert_non_null (fk_trace_sample_tag (bp, "baseline_p95_ms"));
  fk_trace_sample_free (bp);
  fk_trace_samples_clear (&samples);
}

static void
failures_are_errors (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  const size_t one[] = { 2 };
  assert_true (fk_bench_host_spawn_collect ("/nonexistent/program", one, 1, 1, &samples, &err) < 0);
  assert_error_contains (&err, "warm-up at concurrency 2: cannot execute `/nonexistent/program'");
  assert_true (fk_bench_host_spawn_collect ("/bin/false", one, 1, 1, &samples, &err) < 0);
  assert_error_contains (&err, "`/bin/false' failed");
  const size_t zero[] = { 0 };
  assert_true (fk_bench_host_spawn_collect ("/bin/true", zero, 1, 1, &samples, &err) < 0);
  assert_error_contains (&err, "out of range");
  const size_t huge[] = { FK_BENCH_HOST_SPAWN_MAX_LEVEL + 1 };
  assert_true (fk_bench_host_spawn_collect ("/bin/true", huge, 1, 1, &samples, &err) < 0);
  assert_error_contains (&err, "out of range");
  assert_true (fk_bench_host_spawn_collect ("/bin/true", one, 1, 0, &samples, &err) < 0);
  assert_error_contains (&err, "repeat count");
  assert_int_equal (samples.len, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (collects_one_sample_per_level_and_repeat),
    cmocka_unit_test (failures_are_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
