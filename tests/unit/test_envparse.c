/* Unit tests for trace/envparse: the reference's repeat count and level list rules. */
#include "testutil.h"

#include "base/cleanup.h"
#include "trace/envparse.h"

static void
repeat_count (void **state)
{
  assert_int_equal (fk_trace_env_repeat_count (NULL, 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("0", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("abc", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("-3", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("3x", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("99999999999999999999999", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("\xff"
                                               "5",
                                               10),
                    10);
  assert_int_equal (fk_trace_env_repeat_count ("5", 10), 5);
  assert_int_equal (fk_trace_env_repeat_count ("+5", 10), 5);
  assert_int_equal (fk_trace_env_repeat_count ("007", 10), 7);
  /* as in the reference, a repeat count is parsed whole: surrounding space is invalid */
  assert_int_equal (fk_trace_env_repeat_count (" 5", 10), 10);
  assert_int_equal (fk_trace_env_repeat_count ("5\n", 10), 10);
}

static const size_t def[] = { 1, 2, 4, 8 };

static void
expect_levels (const char *value, const size_t *want, size_t nwant)
{
  cleanup_free size_t *levels = NULL;
  size_t n = 0;
  fk_trace_env_levels (value, def, 4, &levels, &n);
  if (n != nwant)
    fail_msg ("`%s': %zu levels, want %zu", value ? value : "(null)", n, nwant);
  for (size_t i = 0; i < n; i++)
    assert_int_equal (levels[i], want[i]);
}

static void
level_lists (void **state)
{
  expect_levels (NULL, def, 4);
  expect_levels ("", def, 4);
  expect_levels ("0", def, 4);
  expect_levels ("a,b", def, 4);
  expect_levels (",,,", def, 4);
  expect_levels ("0,-1", def, 4);
  expect_levels ("\xff,3", def, 4); /* not UTF-8: the whole value falls back */
  expect_levels ("1, 2 ,4", (const size_t[]){ 1, 2, 4 }, 3);
  expect_levels ("0,x,,3", (const size_t[]){ 3 }, 1);
  expect_levels (" \t16\n", (const size_t[]){ 16 }, 1);
  expect_levels ("1,1,2", (const size_t[]){ 1, 1, 2 }, 3);
  expect_levels ("8,2", (const size_t[]){ 8, 2 }, 2);
  expect_levels ("+3, 2 5", (const size_t[]){ 3 }, 1);
  expect_levels ("\xc2\xa0"
                 "2\xe3\x80\x80",
                 (const size_t[]){ 2 }, 1); /* Unicode spaces trimmed */
  expect_levels ("1;2", def, 4);
}

static void
strict_levels_name_the_bad_item (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free size_t *levels = NULL;
  size_t n = 0;
  assert_int_equal (fk_trace_levels_parse (" 1,2 , 4", &levels, &n, &err), 0);
  assert_int_equal (n, 3);
  assert_int_equal (levels[2], 4);
  size_t *bad = NULL;
  assert_true (fk_trace_levels_parse ("1,x,4", &bad, &n, &err) < 0);
  assert_error_contains (&err, "invalid concurrency level `x' in `1,x,4'");
  assert_true (fk_trace_levels_parse ("1,0", &bad, &n, &err) < 0);
  assert_error_contains (&err, "`0'");
  assert_true (fk_trace_levels_parse ("", &bad, &n, &err) < 0);
  assert_error_contains (&err, "invalid concurrency level `'");
  assert_null (bad);
}

static void
usize_rules (void **state)
{
  size_t v = 99;
  assert_int_equal (fk_trace_parse_usize ("18446744073709551615", 20, &v), 0);
  assert_true (v == (size_t)-1);
  assert_int_equal (fk_trace_parse_usize ("18446744073709551616", 20, &v), -1);
  assert_int_equal (fk_trace_parse_usize ("+", 1, &v), -1);
  assert_int_equal (fk_trace_parse_usize ("", 0, &v), -1);
  assert_int_equal (fk_trace_parse_usize ("1_000", 5, &v), -1);
  assert_int_equal (fk_trace_parse_usize ("12", 1, &v), 0);
  assert_int_equal (v, 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (repeat_count),
    cmocka_unit_test (level_lists),
    cmocka_unit_test (strict_levels_name_the_bad_item),
    cmocka_unit_test (usize_rules),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
