/* Unit tests for base/env: merging environment lists (later lists win, in place; names end at
   the first `='), defaults that apply only when nothing sets a name, lookups. */
#include "testutil.h"

#include "base/cleanup.h"
#include "base/env.h"

static void
assert_env (char **got, const char *const *want)
{
  size_t n = 0;
  for (; want[n]; n++)
    {
      assert_non_null (got[n]);
      assert_string_equal (got[n], want[n]);
    }
  assert_null (got[n]);
}

static void
later_lists_win_in_place (void **state)
{
  char *base[] = { "A=1", "KEY=base", "B=2", NULL };
  char *extra[] = { "K=short", "KEY=extra", "C=3", "A=", NULL };
  char *const *lists[] = { base, NULL, extra };
  cleanup_free char **env = fk_env_merge (lists, 3);
  assert_env (env, (const char *const[]){ "A=", "KEY=extra", "B=2", "K=short", "C=3", NULL });
  /* Borrowed, not copied. */
  assert_ptr_equal (env[1], extra[1]);
  assert_ptr_equal (env[2], base[2]);
}

static void
names_end_at_the_first_equals (void **state)
{
  char *a[] = { "X=a=b", "NOEQ", "Y", NULL };
  char *b[] = { "X=c", "NOEQ=now", "Y", "X==", NULL };
  char *const *lists[] = { a, b };
  cleanup_free char **env = fk_env_merge (lists, 2);
  assert_env (env, (const char *const[]){ "X==", "NOEQ", "Y", "NOEQ=now", NULL });
}

static void
defaults_first_overrides_last (void **state)
{
  /* A sandbox's environment: defaults, the template's, the spec's. */
  char *defaults[] = { "PATH=/bin", "HOSTNAME=h", "HOME=/root", NULL };
  char *template_env[] = { "PATH=/usr/bin", "LANG=C", NULL };
  char *spec_env[] = { "LANG=C.UTF-8", "HOME=/home/u", NULL };
  char *const *lists[] = { defaults, template_env, spec_env };
  cleanup_free char **env = fk_env_merge (lists, 3);
  assert_env (env, (const char *const[]){ "PATH=/usr/bin", "HOSTNAME=h", "HOME=/home/u",
                                          "LANG=C.UTF-8", NULL });
  assert_string_equal (fk_env_get (env, "HOME"), "/home/u");
  assert_string_equal (fk_env_get (env, "PATH"), "/usr/bin");
  assert_null (fk_env_get (env, "HOM"));
  assert_null (fk_env_get (env, "LANGUAGE"));
  assert_null (fk_env_get (NULL, "PATH"));
}

static void
nothing_merged_is_empty (void **state)
{
  cleanup_free char **none = fk_env_merge (NULL, 0);
  assert_non_null (none);
  assert_null (none[0]);
  char *empty[] = { NULL };
  char *const *lists[] = { NULL, empty };
  cleanup_free char **env = fk_env_merge (lists, 2);
  assert_null (env[0]);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (later_lists_win_in_place),
    cmocka_unit_test (names_end_at_the_first_equals),
    cmocka_unit_test (defaults_first_overrides_last),
    cmocka_unit_test (nothing_merged_is_empty),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
