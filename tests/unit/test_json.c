/* Unit tests for base/json: located parse errors, typed getters, atomic dumps. */
#include "testutil.h"

#include "base/cleanup.h"
#include "base/json.h"

static void
parse_error_names_line_and_column (void **state)
{
  json_t *j = NULL;
  fk_error_t err = FK_ERROR_INIT;
  const char *bad = "{\n  \"a\": 1,\n  \"b\": }";
  assert_true (fk_json_parse (bad, strlen (bad), &j, &err) < 0);
  assert_error_contains (&err, "line 3");
  const char *dup = "{\"a\":1,\"a\":2}";
  assert_true (fk_json_parse (dup, strlen (dup), &j, &err) < 0);
  assert_error_contains (&err, "duplicate");
}

static void
typed_getters (void **state)
{
  const char *s = "{\"s\":\"x\",\"i\":7,\"n\":1.5,\"b\":true,\"o\":{},\"a\":[1],\"z\":null}";
  cleanup_json json_t *j = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_json_parse (s, strlen (s), &j, &err), 0);
  const char *str = NULL;
  long long i = 0;
  double n = 0;
  int b = 0;
  json_t *o = NULL, *a = NULL;
  assert_int_equal (fk_json_get_string (j, "s", 1, &str, &err), 1);
  assert_string_equal (str, "x");
  assert_int_equal (fk_json_get_int (j, "i", 1, &i, &err), 1);
  assert_int_equal (i, 7);
  assert_int_equal (fk_json_get_number (j, "n", 1, &n, &err), 1);
  assert_true (n == 1.5);
  assert_int_equal (fk_json_get_number (j, "i", 1, &n, &err), 1);
  assert_true (n == 7.0);
  assert_int_equal (fk_json_get_bool (j, "b", 1, &b, &err), 1);
  assert_true (b);
  assert_int_equal (fk_json_get_object (j, "o", 1, &o, &err), 1);
  assert_int_equal (fk_json_get_array (j, "a", 1, &a, &err), 1);
  /* absent: fine when optional, an error when required; null counts as absent */
  assert_int_equal (fk_json_get_string (j, "missing", 0, &str, &err), 0);
  assert_int_equal (fk_json_get_string (j, "z", 0, &str, &err), 0);
  assert_true (fk_json_get_string (j, "missing", 1, &str, &err) < 0);
  assert_error_contains (&err, "missing field `missing'");
  /* wrong type is always an error */
  assert_true (fk_json_get_string (j, "i", 0, &str, &err) < 0);
  assert_error_contains (&err, "`i' must be a string");
  assert_true (fk_json_get_int (j, "n", 0, &i, &err) < 0);
  assert_error_contains (&err, "must be an integer");
  assert_true (fk_json_get_array (j, "o", 0, &a, &err) < 0);
  assert_error_contains (&err, "must be an array");
  assert_true (fk_json_get_string (a, "x", 0, &str, &err) < 0);
  assert_error_contains (&err, "expected an object");
}

static void
dump_is_atomic_and_ordered (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  cleanup_json json_t *j = json_object ();
  json_object_set_new (j, "kind", json_string ("k"));
  json_object_set_new (j, "samples", json_array ());
  json_object_set_new (j, "traces", json_array ());
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_json_dump_file_atomic_at (dfd, "a.json", j, 1, &err), 0);
  char *buf = NULL;
  assert_int_equal (fk_read_file_at (dfd, "a.json", 1000, &buf, NULL, &err), 0);
  assert_string_equal (buf, "{\n  \"kind\": \"k\",\n  \"samples\": [],\n  \"traces\": []\n}\n");
  free (buf);
  json_t *back = NULL;
  assert_int_equal (fk_json_load_file_at (dfd, "a.json", 1000, &back, &err), 0);
  assert_true (json_equal (back, j));
  json_decref (back);
  assert_true (fk_json_load_file_at (dfd, "nope.json", 1000, &back, &err) < 0);
  assert_error_contains (&err, "nope.json");
  close (dfd);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parse_error_names_line_and_column),
    cmocka_unit_test (typed_getters),
    cmocka_unit_test (dump_is_atomic_and_ordered),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
