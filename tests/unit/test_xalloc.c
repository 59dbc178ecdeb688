/* Unit tests for base/xalloc and base/cleanup. */
#include "testutil.h"

#include "base/cleanup.h"
#include "base/xalloc.h"

static void
strings_and_formats (void **state)
{
  cleanup_free char *a = xstrdup ("abc");
  cleanup_free char *b = xstrndup ("abcdef", 3);
  cleanup_free char *c = xasprintf ("%s-%d", "x", 42);
  assert_string_equal (a, "abc");
  assert_string_equal (b, "abc");
  assert_string_equal (c, "x-42");
  cleanup_free char *d = xmemdup ("hi", 3);
  assert_string_equal (d, "hi");
}

static void
grow_doubles_and_keeps_content (void **state)
{
  int *v = NULL;
  size_t cap = 0;
  for (int i = 0; i < 1000; i++)
    {
      xgrow ((void **)&v, &cap, (size_t)i + 1, sizeof *v);
      v[i] = i;
    }
  assert_true (cap >= 1000);
  for (int i = 0; i < 1000; i++)
    assert_int_equal (v[i], i);
  free (v);
}

static int closed_fd_probe = -1;

static void
cleanup_closes_and_steal_moves (void **state)
{
  int kept;
  {
    cleanup_close int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true (fd >= 0);
    closed_fd_probe = fd;
  }
  assert_int_equal (fcntl (closed_fd_probe, F_GETFD), -1);
  {
    cleanup_close int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    kept = steal_fd (&fd);
    assert_int_equal (fd, -1);
  }
  assert_true (fcntl (kept, F_GETFD) >= 0);
  close (kept);

  char *out;
  {
    cleanup_free char *p = xstrdup ("moved");
    out = steal_pointer (&p);
    assert_null (p);
  }
  assert_string_equal (out, "moved");
  free (out);
}

static void
strv_helpers (void **state)
{
  cleanup_strv char **v = xcalloc (3, sizeof (char *));
  v[0] = xstrdup ("a");
  v[1] = xstrdup ("b");
  assert_int_equal (fk_strv_len (v), 2);
  assert_int_equal (fk_strv_len (NULL), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (strings_and_formats),
    cmocka_unit_test (grow_doubles_and_keeps_content),
    cmocka_unit_test (cleanup_closes_and_steal_moves),
    cmocka_unit_test (strv_helpers),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
