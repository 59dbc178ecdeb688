/* Unit tests for trace/stats: nearest-rank percentiles as the reference computes them. */
#include "testutil.h"

#include <math.h>

#include "trace/stats.h"

static double
p (const double *v, size_t n, unsigned pct)
{
  fk_error_t err = FK_ERROR_INIT;
  double r = -1;
  assert_int_equal (fk_trace_nearest_rank (v, n, pct, &r, &err), 0);
  return r;
}

static void
one_value_is_every_percentile (void **state)
{
  double v[] = { 7.5 };
  assert_true (p (v, 1, 0) == 7.5);
  assert_true (p (v, 1, 50) == 7.5);
  assert_true (p (v, 1, 95) == 7.5);
  assert_true (p (v, 1, 100) == 7.5);
}

static void
p95_of_10_and_20_values (void **state)
{
  /* 10 values: rank ceil(10*95/100) = 10, the maximum. Unsorted input, not modified. */
  double ten[] = { 10, 1, 9, 2, 8, 3, 7, 4, 6, 5 };
  assert_true (p (ten, 10, 95) == 10);
  assert_true (ten[0] == 10 && ten[1] == 1);
  assert_true (p (ten, 10, 50) == 5);
  assert_true (p (ten, 10, 90) == 9);
  assert_true (p (ten, 10, 99) == 10);
  /* 20 values: rank ceil(20*95/100) = 19, the second largest */
  double twenty[20];
  for (int i = 0; i < 20; i++)
    twenty[i] = 20 - i;
  assert_true (p (twenty, 20, 95) == 19);
  assert_true (p (twenty, 20, 50) == 10);
  assert_true (p (twenty, 20, 99) == 20);
  /* percentile 0: rank 0 saturates to index 0; over 100 clamps to the last */
  assert_true (p (twenty, 20, 0) == 1);
  assert_true (p (twenty, 20, 250) == 20);
}

static void
ties_and_total_order (void **state)
{
  double ties[] = { 2, 2, 2, 1 };
  assert_true (p (ties, 4, 95) == 2);
  assert_true (p (ties, 4, 25) == 1);
  assert_true (p (ties, 4, 26) == 2);
  /* total order: -0 before +0, NaN after +inf */
  double z[] = { 0.0, -0.0 };
  assert_true (signbit (p (z, 2, 50)));
  assert_false (signbit (p (z, 2, 100)));
  double n[] = { NAN, INFINITY, 1 };
  assert_true (p (n, 3, 60) == INFINITY);
  assert_true (isnan (p (n, 3, 100)));
  double a = -1, b = 1;
  assert_true (fk_trace_total_cmp (&a, &b) < 0);
  assert_true (fk_trace_total_cmp (&b, &a) > 0);
  assert_true (fk_trace_total_cmp (&a, &a) == 0);
}

static void
no_values_is_an_error (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  double r = 42;
  assert_true (fk_trace_nearest_rank (NULL, 0, 95, &r, &err) < 0);
  assert_error_contains (&err, "p95 of no values");
  assert_true (r == 42);
  fk_trace_summary_t s;
  assert_true (fk_trace_summarize (NULL, 0, &s, &err) < 0);
  assert_error_contains (&err, "no values");
}

static void
summary (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  double v[100];
  for (int i = 0; i < 100; i++)
    v[i] = 100 - i; /* 1..100 */
  fk_trace_summary_t s;
  assert_int_equal (fk_trace_summarize (v, 100, &s, &err), 0);
  assert_int_equal (s.count, 100);
  assert_true (s.min == 1);
  assert_true (s.max == 100);
  assert_true (s.mean == 50.5);
  assert_true (s.p50 == 50);
  assert_true (s.p90 == 90);
  assert_true (s.p95 == 95);
  assert_true (s.p99 == 99);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (one_value_is_every_percentile),
    cmocka_unit_test (p95_of_10_and_20_values),
    cmocka_unit_test (ties_and_total_order),
    cmocka_unit_test (no_values_is_an_error),
    cmocka_unit_test (summary),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
