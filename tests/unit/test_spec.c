/* Unit tests for sandbox/spec: sizes, defaults, and a clear error for each bad field. */
#include "testutil.h"

#include <errno.h>

#include "firkin/sandbox.h"
#include "sandbox/spec.h"

static void
sizes (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  uint64_t v;
  assert_int_equal (fk_size_parse ("512M", &v, &err), 0);
  assert_int_equal (v, 512ULL << 20);
  assert_int_equal (fk_size_parse ("1G", &v, &err), 0);
  assert_int_equal (v, 1ULL << 30);
  assert_int_equal (fk_size_parse ("1GiB", &v, &err), 0);
  assert_int_equal (v, 1ULL << 30);
  assert_int_equal (fk_size_parse ("64k", &v, &err), 0);
  assert_int_equal (v, 64ULL << 10);
  assert_int_equal (fk_size_parse ("4096", &v, &err), 0);
  assert_int_equal (v, 4096);
  assert_int_equal (fk_size_parse ("100B", &v, &err), 0);
  assert_int_equal (v, 100);
  assert_int_equal (fk_size_parse ("2T", &v, &err), 0);
  assert_int_equal (v, 2ULL << 40);
  assert_int_equal (fk_size_parse ("12X", &v, &err), -1);
  assert_error_contains (&err, "unknown suffix `X'");
  assert_int_equal (fk_size_parse ("", &v, &err), -1);
  assert_error_contains (&err, "expected digits");
  assert_int_equal (fk_size_parse ("-1M", &v, &err), -1);
  assert_error_contains (&err, "expected digits");
  assert_int_equal (fk_size_parse ("99999999999T", &v, &err), -1);
  assert_error_contains (&err, "too large");
  assert_int_equal (fk_size_parse ("1MM", &v, &err), -1);
  assert_error_contains (&err, "unknown suffix");
}

static void
defaults_and_valid (void **state)
{
  fk_sandbox_spec_t s;
  fk_sandbox_spec_init (&s);
  /* Limited by default: a fork bomb, a memory hog or a busy loop stops at the sandbox. */
  assert_int_equal (s.resources.disk_bytes, 1ULL << 30);
  assert_int_equal (s.resources.pids, 1024);
  assert_int_equal (s.resources.memory_bytes, 2ULL << 30);
  assert_true (s.resources.vcpus == 2.0);
  assert_int_equal (s.resources.pids, FK_SPEC_DEFAULT_PIDS);
  assert_int_equal (s.resources.memory_bytes, FK_SPEC_DEFAULT_MEMORY_BYTES);
  /* The memory limit holds a full disk (tmpfs, charged to the sandbox) and room beside it. */
  assert_true (s.resources.memory_bytes > s.resources.disk_bytes);
  assert_int_equal (s.data_plane.kind, FK_DATA_PLANE_NONE);
  assert_null (s.init);
  assert_int_equal (s.timeout_sec, 0);
  const char *layers[] = { "/l0", "/l1", NULL };
  s.layers = layers;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_spec_validate (&s, &err), 0);
  /* 0 lifts each limit, and is valid. */
  s.resources.pids = 0;
  s.resources.memory_bytes = 0;
  s.resources.vcpus = 0;
  assert_int_equal (fk_spec_validate (&s, &err), 0);
}

static void
bad_fields_are_named (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t s;
  fk_sandbox_spec_init (&s);
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "a template or at least one layer");

  const char *rel[] = { "rel/dir", NULL };
  s.layers = rel;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "`rel/dir' is not an absolute path");

  const char *layers[] = { "/l", NULL };
  s.layers = layers;
  s.resources.memory_bytes = 1000;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "below 4 MiB");
  s.resources.memory_bytes = 0;

  s.resources.vcpus = -1;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "vcpus");
  s.resources.vcpus = 0;

  s.resources.pids = 1;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "pids 1 is below 2");
  s.resources.pids = 0;

  const char *env[] = { "GOOD=1", "bad", NULL };
  s.env = env;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "env entry `bad'");
  s.env = NULL;

  const char *meta[] = { "=v", NULL };
  s.metadata = meta;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "metadata entry `=v'");
  s.metadata = NULL;

  s.hostname = "bad host";
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "hostname `bad host'");
  s.hostname = NULL;

  s.workdir = "relative";
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "workdir `relative'");
  s.workdir = NULL;

  const char *deny[] = { "not_a_syscall", NULL };
  s.seccomp.deny = deny;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "unknown syscall `not_a_syscall'");
  s.seccomp.deny = NULL;

  /* The profile is an allow list: any syscall the kernel knows may be added to it. */
  const char *allow[] = { "read", NULL };
  s.seccomp.allow = allow;
  assert_int_equal (fk_spec_validate (&s, &err), 0);
  const char *unknown[] = { "not_a_syscall", NULL };
  s.seccomp.allow = unknown;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "unknown syscall `not_a_syscall' in the allow list");
  s.seccomp.allow = NULL;

  const char *empty[] = { NULL };
  s.init = empty;
  assert_int_equal (fk_spec_validate (&s, &err), -1);
  assert_error_contains (&err, "init is an empty command");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (sizes),
    cmocka_unit_test (defaults_and_valid),
    cmocka_unit_test (bad_fields_are_named),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
