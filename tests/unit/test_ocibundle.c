/* Unit tests for bench/ocibundle: the crun config isolates like a firkin sandbox. */
#include "testutil.h"

#include <errno.h>
#include <jansson.h>

#include "bench/ocibundle.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"
#include "sandbox/userns.h"

static json_t *
load_config (const char *dir)
{
  char *path = NULL;
  assert_true (asprintf (&path, "%s/config.json", dir) > 0);
  json_error_t jerr;
  json_t *j = json_load_file (path, 0, &jerr);
  free (path);
  if (j == NULL)
    fail_msg ("config.json: %s", jerr.text);
  return j;
}

static int
has_string (const json_t *array, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach (array, i, v)
  {
    if (json_is_string (v) && strcmp (json_string_value (v), s) == 0)
      return 1;
  }
  return 0;
}

static void
firkin_defaults_make_a_like_container (void **state)
{
  static const char *const args[] = { "true", NULL };
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_oci_opts_t o;
  fk_bench_oci_opts_firkin_defaults ("/srv/rootfs", args, &o);
  assert_int_equal (fk_bench_oci_bundle_write (dir, &o, &err), 0);
  fk_bench_oci_opts_free (&o);
  json_t *c = load_config (dir);

  assert_string_equal (json_string_value (json_object_get (json_object_get (c, "root"), "path")),
                       "/srv/rootfs");
  assert_true (json_is_true (json_object_get (json_object_get (c, "root"), "readonly")));
  json_t *process = json_object_get (c, "process");
  assert_true (has_string (json_object_get (process, "args"), "true"));
  assert_true (json_is_false (json_object_get (process, "terminal")));
  assert_true (json_is_true (json_object_get (process, "noNewPrivileges")));
  json_t *caps = json_object_get (json_object_get (process, "capabilities"), "bounding");
  assert_true (has_string (caps, "CAP_CHOWN"));
  assert_true (has_string (caps, "CAP_NET_BIND_SERVICE"));
  assert_false (has_string (caps, "CAP_SYS_ADMIN"));

  json_t *lx = json_object_get (c, "linux");
  static const char *const ns[] = { "pid", "network", "ipc", "uts", "mount", "cgroup", "user" };
  json_t *nsa = json_object_get (lx, "namespaces");
  assert_int_equal (json_array_size (nsa), 7);
  for (size_t i = 0; i < 7; i++)
    assert_string_equal (json_string_value (json_object_get (json_array_get (nsa, i), "type")),
                         ns[i]);
  json_t *um = json_array_get (json_object_get (lx, "uidMappings"), 0);
  assert_int_equal (json_integer_value (json_object_get (um, "containerID")), 0);
  assert_int_equal (json_integer_value (json_object_get (um, "hostID")), FK_USERNS_HOST_BASE);
  assert_int_equal (json_integer_value (json_object_get (um, "size")), FK_USERNS_SIZE);
  assert_true (has_string (json_object_get (lx, "maskedPaths"), "/proc/kcore"));
  assert_true (has_string (json_object_get (lx, "readonlyPaths"), "/proc/sys"));

  json_t *sc = json_object_get (lx, "seccomp");
  assert_string_equal (json_string_value (json_object_get (sc, "defaultAction")), "SCMP_ACT_ALLOW");
  json_t *deny = json_array_get (json_object_get (sc, "syscalls"), 0);
  for (const char *const *n = fk_seccomp_default_denied (); *n; n++)
    assert_true (has_string (json_object_get (deny, "names"), *n));
  assert_int_equal (json_integer_value (json_object_get (deny, "errnoRet")), EPERM);
  json_t *clone3 = json_array_get (json_object_get (sc, "syscalls"), 1);
  assert_true (has_string (json_object_get (clone3, "names"), "clone3"));
  assert_int_equal (json_integer_value (json_object_get (clone3, "errnoRet")), ENOSYS);

  /* the limits of fk_sandbox_spec_init */
  json_t *res = json_object_get (lx, "resources");
  assert_int_equal (json_integer_value (json_object_get (json_object_get (res, "pids"), "limit")),
                    FK_SPEC_DEFAULT_PIDS);
  assert_int_equal (json_integer_value (json_object_get (json_object_get (res, "memory"), "limit")),
                    FK_SPEC_DEFAULT_MEMORY_BYTES);
  json_t *cpu = json_object_get (res, "cpu");
  assert_int_equal (json_integer_value (json_object_get (cpu, "quota")), 200000);
  assert_int_equal (json_integer_value (json_object_get (cpu, "period")), 100000);
  json_decref (c);
  test_tmpdir_free (dir);
}

static void
no_user_namespace_no_seccomp_when_not_asked (void **state)
{
  static const char *const args[] = { "sleep", "1", NULL };
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_oci_opts_t o = { .rootfs = "/r", .args = args, .hostname = "h" };
  assert_int_equal (fk_bench_oci_bundle_write (dir, &o, &err), 0);
  json_t *c = load_config (dir);
  json_t *lx = json_object_get (c, "linux");
  assert_null (json_object_get (lx, "uidMappings"));
  assert_null (json_object_get (lx, "seccomp"));
  assert_null (json_object_get (lx, "resources"));
  assert_int_equal (json_array_size (json_object_get (lx, "namespaces")), 6);
  assert_string_equal (json_string_value (json_object_get (c, "hostname")), "h");
  json_decref (c);
  test_tmpdir_free (dir);
}

static void
refuses_bad_options (void **state)
{
  static const char *const args[] = { "true", NULL };
  static const char *const none[] = { NULL };
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_oci_opts_t o = { .rootfs = "relative", .args = args };
  assert_int_equal (fk_bench_oci_bundle_write ("/tmp", &o, &err), -1);
  assert_error_contains (&err, "absolute rootfs");
  o.rootfs = "/r";
  o.args = none;
  assert_int_equal (fk_bench_oci_bundle_write ("/tmp", &o, &err), -1);
  assert_error_contains (&err, "a process");
  o.args = args;
  assert_int_equal (fk_bench_oci_bundle_write ("/nonexistent/bundle", &o, &err), -1);
  assert_error_contains (&err, "/nonexistent/bundle");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (firkin_defaults_make_a_like_container),
    cmocka_unit_test (no_user_namespace_no_seccomp_when_not_asked),
    cmocka_unit_test (refuses_bad_options),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
