/* Unit tests for bench/compare: ratio samples and their confidence. */
#include "testutil.h"

#include "bench/compare.h"

static void
push (fk_trace_samples_t *s, const char *metric, double v)
{
  fk_trace_samples_push (s, fk_trace_sample_new (metric, FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                                 FK_TRACE_UNIT_MILLISECONDS, v));
}

static void
ratio_of_p50s_with_goal (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  /* firkin: 1..5 (p50 3); peer: 10, 20, 30 (p50 20) */
  for (int i = 1; i <= 5; i++)
    push (&s, "f", i);
  push (&s, "p", 30);
  push (&s, "p", 10);
  push (&s, "p", 20);
  assert_int_equal (fk_bench_ratio_push (&s, "r", "f", "p", 0.25, &err), 1);
  fk_trace_sample_t *r = s.items[s.len - 1];
  assert_string_equal (r->metric, "r");
  assert_int_equal (r->kind, FK_TRACE_KIND_FIRKIN_OVERHEAD);
  assert_int_equal (r->unit, FK_TRACE_UNIT_RATIO);
  assert_float_equal (r->value, 0.15, 1e-12);
  assert_string_equal (fk_trace_sample_tag (r, "firkin_n"), "5");
  assert_string_equal (fk_trace_sample_tag (r, "peer_n"), "3");
  assert_string_equal (fk_trace_sample_tag (r, "firkin_p50"), "3.000000");
  assert_string_equal (fk_trace_sample_tag (r, "peer_p50"), "20.000000");
  assert_string_equal (fk_trace_sample_tag (r, "peer_p95"), "30.000000");
  assert_string_equal (fk_trace_sample_tag (r, "goal_met"), "true");
  /* a tighter goal is missed; no goal: no goal tags */
  assert_int_equal (fk_bench_ratio_push (&s, "r2", "f", "p", 0.1, &err), 1);
  assert_string_equal (fk_trace_sample_tag (s.items[s.len - 1], "goal_met"), "false");
  assert_int_equal (fk_bench_ratio_push (&s, "r3", "f", "p", 0, &err), 1);
  assert_null (fk_trace_sample_tag (s.items[s.len - 1], "goal_met"));
  assert_null (fk_trace_sample_tag (s.items[s.len - 1], "goal_max_ratio"));

  /* the ratios rest on min(5, 3) = 3 runs: superfast_iteration, not smoke_only */
  assert_int_equal (fk_bench_confidence_tag (&s, &err), 0);
  assert_string_equal (fk_trace_sample_tag (r, "confidence"), "superfast_iteration");
  assert_string_equal (fk_trace_sample_tag (s.items[0], "confidence"), "fast_iteration");
  assert_string_equal (fk_trace_sample_tag (s.items[5], "confidence"), "superfast_iteration");
  fk_trace_samples_clear (&s);
}

static void
no_ratio_without_a_side (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t s = FK_TRACE_SAMPLES_INIT;
  push (&s, "f", 1);
  assert_int_equal (fk_bench_ratio_push (&s, "r", "f", "p", 0.5, &err), 0);
  assert_int_equal (s.len, 1);
  push (&s, "p", 0);
  assert_int_equal (fk_bench_ratio_push (&s, "r", "f", "p", 0.5, &err), -1);
  assert_error_contains (&err, "not positive");
  fk_trace_samples_clear (&s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (ratio_of_p50s_with_goal),
    cmocka_unit_test (no_ratio_without_a_side),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
