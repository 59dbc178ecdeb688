/* Unit tests for sandbox/runtime: versioned options, the state dir, the program paths the
   library is given (never searched for), and the sweep a caller may skip. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>

#include "base/xalloc.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"
#include "sandbox/runtime_impl.h"

static int
ends_with (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);
  return n >= m && strcmp (s + n - m, suffix) == 0;
}

static void
unknown_version_is_refused (void **state)
{
  fk_runtime_opts_t o = { .version = 0 };
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), -1);
  assert_null (rt);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "FK_RUNTIME_OPTIONS_INIT");
  o.version = FK_RUNTIME_OPTIONS_VERSION + 1;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), -1);
  assert_error_contains (&err, "unknown version");
}

static void
defaults_and_given_paths (void **state)
{
  char *dir = test_tmpdir ();
  char *sd = xasprintf ("%s/state", dir);
  fk_error_t err = FK_ERROR_INIT;
  /* NULL options: $FIRKIN_STATE_DIR, and the installed programs. */
  setenv ("FIRKIN_STATE_DIR", sd, 1);
  unsetenv ("FIRKIN_RESOLVER");
  fk_runtime_t *rt = NULL;
  assert_int_equal (fk_runtime_open (NULL, &rt, &err), 0);
  unsetenv ("FIRKIN_STATE_DIR");
  char real[4096];
  assert_non_null (realpath (sd, real));
  assert_string_equal (fk_runtime_state_dir (rt), real);
  assert_true (fk_runtime_agent_path (rt)[0] == '/');
  assert_true (ends_with (fk_runtime_agent_path (rt), "/firkin/fk-agent"));
  assert_true (ends_with (fk_runtime_timeout_path (rt), "/firkin/fk-timeout"));
  assert_true (ends_with (fk_runtime_resolver_path (rt), "/firkin/fk-resolver"));
  fk_runtime_close (rt);
  /* $FIRKIN_RESOLVER when the options name none. */
  setenv ("FIRKIN_STATE_DIR", sd, 1);
  setenv ("FIRKIN_RESOLVER", "/opt/env/fk-resolver", 1);
  assert_int_equal (fk_runtime_open (NULL, &rt, &err), 0);
  unsetenv ("FIRKIN_STATE_DIR");
  unsetenv ("FIRKIN_RESOLVER");
  assert_string_equal (fk_runtime_resolver_path (rt), "/opt/env/fk-resolver");
  fk_runtime_close (rt);

  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = sd;
  o.agent_path = "/opt/x/fk-agent";
  o.timeout_path = "/opt/x/fk-timeout";
  o.resolver_path = "/opt/x/fk-resolver";
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  assert_string_equal (fk_runtime_resolver_path (rt), "/opt/x/fk-resolver");
  assert_string_equal (fk_runtime_agent_path (rt), "/opt/x/fk-agent");
  assert_string_equal (fk_runtime_timeout_path (rt), "/opt/x/fk-timeout");
  /* A watchdog the caller named is used as is (spawning it reports what is wrong). */
  char *prog = fk_runtime_timeout_program (rt);
  assert_string_equal (prog, "/opt/x/fk-timeout");
  free (prog);
  fk_runtime_close (rt);
  free (sd);
  test_tmpdir_free (dir);
}

static void
a_missing_agent_fails_the_create_naming_it (void **state)
{
  char *dir = test_tmpdir ();
  char *sd = xasprintf ("%s/state", dir), *layer = xasprintf ("%s/layer", dir);
  assert_int_equal (mkdir (layer, 0755), 0);
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = sd;
  o.agent_path = "/does/not/exist/fk-agent";
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  const char *layers[] = { layer, NULL };
  spec.layers = layers;
  fk_sandbox_t *sb = NULL;
  assert_int_equal (fk_sandbox_create (rt, &spec, &sb, &err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_error_contains (&err, "/does/not/exist/fk-agent");
  fk_sandbox_info_t **infos = NULL;
  size_t n = 1;
  assert_int_equal (fk_sandbox_list (rt, &infos, &n, &err), 0);
  assert_int_equal (n, 0);
  fk_sandbox_info_list_free (infos, n);
  fk_runtime_close (rt);
  free (layer);
  free (sd);
  test_tmpdir_free (dir);
}

static void
the_sweep_can_be_skipped (void **state)
{
  char *dir = test_tmpdir ();
  char *sd = xasprintf ("%s/state", dir);
  char *stale = xasprintf ("%s/sandboxes/000000000000", sd);
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = sd;
  o.skip_sweep = 1;
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  fk_runtime_close (rt);
  /* What a create that crashed long ago leaves: a directory without a state. */
  assert_int_equal (mkdir (stale, 0700), 0);
  struct timespec old[2] = { { .tv_sec = 1 }, { .tv_sec = 1 } };
  assert_int_equal (utimensat (AT_FDCWD, stale, old, 0), 0);
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  fk_runtime_close (rt);
  assert_int_equal (access (stale, F_OK), 0);
  o.skip_sweep = 0;
  assert_int_equal (fk_runtime_open (&o, &rt, &err), 0);
  fk_runtime_close (rt);
  assert_int_equal (access (stale, F_OK), -1);
  free (stale);
  free (sd);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (unknown_version_is_refused),
    cmocka_unit_test (defaults_and_given_paths),
    cmocka_unit_test (a_missing_agent_fails_the_create_naming_it),
    cmocka_unit_test (the_sweep_can_be_skipped),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
