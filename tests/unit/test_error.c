/* Unit tests for base/error. */
#include "testutil.h"

#include <errno.h>

static void
set_fills_code_and_message (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  assert_false (fk_error_is_set (&err));
  assert_int_equal (fk_error_set (&err, EINVAL, "bad %s %d", "thing", 3), -1);
  assert_true (fk_error_is_set (&err));
  assert_int_equal (err.code, EINVAL);
  assert_string_equal (fk_error_message (&err), "bad thing 3");
  fk_error_clear (&err);
  assert_false (fk_error_is_set (&err));
  assert_string_equal (fk_error_message (&err), "unknown error");
}

static void
lower_error_is_never_overwritten (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_error_set (&err, ENOENT, "first");
  fk_error_set (&err, EPERM, "second");
  assert_int_equal (err.code, ENOENT);
  assert_string_equal (fk_error_message (&err), "first");
  fk_error_clear (&err);
}

static void
errno_variant_appends_strerror (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  errno = ENOENT;
  fk_error_set_errno (&err, "open `%s'", "/x");
  assert_int_equal (err.code, ENOENT);
  assert_string_equal (fk_error_message (&err), "open `/x': No such file or directory");
  assert_int_equal (errno, ENOENT);
  fk_error_clear (&err);
}

static void
wrap_adds_context_outermost_first (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_error_set (&err, EIO, "read");
  fk_error_wrap (&err, "layer %d", 2);
  fk_error_wrap (&err, "prepare `%s'", "base");
  assert_string_equal (fk_error_message (&err), "prepare `base': layer 2: read");
  assert_int_equal (err.code, EIO);
  fk_error_clear (&err);
  fk_error_wrap (&err, "only context");
  assert_string_equal (fk_error_message (&err), "only context");
  fk_error_clear (&err);
}

static void
null_error_is_tolerated (void **state)
{
  assert_int_equal (fk_error_set (NULL, EINVAL, "x"), -1);
  assert_int_equal (fk_error_wrap (NULL, "x"), -1);
  fk_error_clear (NULL);
  assert_false (fk_error_is_set (NULL));
}

static void
options_versions_are_checked (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_options_check_version (1, 2, "fk_x_opts_t", "FK_X_OPTIONS_INIT", &err), 0);
  assert_int_equal (fk_options_check_version (2, 2, "fk_x_opts_t", "FK_X_OPTIONS_INIT", &err), 0);
  assert_false (fk_error_is_set (&err));
  /* 0 is a struct nobody initialized; 3 one from a newer library. */
  assert_int_equal (fk_options_check_version (0, 2, "fk_x_opts_t", "FK_X_OPTIONS_INIT", &err), -1);
  assert_int_equal (err.code, EINVAL);
  assert_string_equal (fk_error_message (&err),
                       "fk_x_opts_t: unknown version 0 (this libfirkin knows 1 to 2): initialize "
                       "it with FK_X_OPTIONS_INIT");
  fk_error_clear (&err);
  assert_int_equal (fk_options_check_version (3, 2, "fk_x_opts_t", "FK_X_OPTIONS_INIT", &err), -1);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (set_fills_code_and_message),
    cmocka_unit_test (lower_error_is_never_overwritten),
    cmocka_unit_test (errno_variant_appends_strerror),
    cmocka_unit_test (wrap_adds_context_outermost_first),
    cmocka_unit_test (null_error_is_tolerated),
    cmocka_unit_test (options_versions_are_checked),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
