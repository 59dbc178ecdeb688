/* Unit tests for sandbox/timeout: the deadline file, rewritten in place, read back. */
#include "testutil.h"

#include "sandbox/timeout.h"

static void
write_read_rewrite (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  int w = openat (dfd, "deadline", O_WRONLY | O_CREAT, 0600);
  int r = openat (dfd, "deadline", O_RDONLY);
  fk_error_t err = FK_ERROR_INIT;
  int64_t d = 0;
  assert_int_equal (fk_timeout_read (r, &d), -1); /* empty: no deadline yet */
  assert_int_equal (fk_timeout_write (w, 1700000000, &err), 0);
  assert_int_equal (fk_timeout_read (r, &d), 0);
  assert_int_equal (d, 1700000000);
  /* Extending rewrites in place: a reader holding the fd sees the new value. */
  assert_int_equal (fk_timeout_write (w, 1800000123, &err), 0);
  assert_int_equal (fk_timeout_read (r, &d), 0);
  assert_int_equal (d, 1800000123);
  assert_int_equal (pwrite (w, "garbage\n", 8, 0), 8);
  assert_int_equal (fk_timeout_read (r, &d), -1);
  close (w);
  close (r);
  close (dfd);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (write_read_rewrite),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
