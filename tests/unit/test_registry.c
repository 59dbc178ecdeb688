/* Unit tests for image/registry: which registries are spoken to over plain HTTP, and the
   errors of a pull that cannot reach a registry (the real-registry cases are in
   tests/integration/image_registry.sh). */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/xalloc.h"
#include "image/registry.h"

static void
insecure (void **state)
{
  unsetenv ("FIRKIN_INSECURE_REGISTRIES");
  setenv ("FIRKIN_INSECURE_REGISTRIES_FILE", "/nonexistent/firkin", 1);
  assert_true (fk_registry_is_insecure ("localhost"));
  assert_true (fk_registry_is_insecure ("localhost:5000"));
  assert_true (fk_registry_is_insecure ("127.0.0.1:5000"));
  assert_true (fk_registry_is_insecure ("127.9.9.9"));
  assert_true (fk_registry_is_insecure ("[::1]:5000"));
  assert_false (fk_registry_is_insecure ("registry-1.docker.io"));
  assert_false (fk_registry_is_insecure ("localhost.example.com"));
  assert_false (fk_registry_is_insecure ("128.0.0.1"));
  assert_false (fk_registry_is_insecure ("reg.lan:5000"));

  setenv ("FIRKIN_INSECURE_REGISTRIES", "a.lan, reg.lan:5000 b.lan", 1);
  assert_true (fk_registry_is_insecure ("reg.lan:5000"));
  assert_true (fk_registry_is_insecure ("b.lan"));
  assert_false (fk_registry_is_insecure ("reg.lan")); /* the port is part of the entry */
  assert_false (fk_registry_is_insecure ("reg.lan:5001"));
  unsetenv ("FIRKIN_INSECURE_REGISTRIES");

  char *dir = test_tmpdir ();
  char *file = xasprintf ("%s/insecure", dir);
  const char *text
      = "# registries on the lab network\nlab.lan:5000  # the CI cache\n\nmirror.lan\n";
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_write_file_atomic_at (AT_FDCWD, file, text, strlen (text), 0644, &err), 0);
  setenv ("FIRKIN_INSECURE_REGISTRIES_FILE", file, 1);
  assert_true (fk_registry_is_insecure ("lab.lan:5000"));
  assert_true (fk_registry_is_insecure ("mirror.lan"));
  assert_false (fk_registry_is_insecure ("the"));
  assert_false (fk_registry_is_insecure ("CI"));
  unsetenv ("FIRKIN_INSECURE_REGISTRIES_FILE");
  free (file);
  test_tmpdir_free (dir);
}

/* A loopback port nothing listens on. */
static int
closed_port (void)
{
  int s = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  assert_int_equal (bind (s, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal (getsockname (s, (struct sockaddr *)&a, &len), 0);
  close (s);
  return ntohs (a.sin_port);
}

static void
unreachable (void **state)
{
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_store_t *s = NULL;
  assert_int_equal (fk_store_open (dir, &s, &err), 0);
  char *refstr = xasprintf ("127.0.0.1:%d/test/busybox:v1", closed_port ());
  fk_reference_t *ref = NULL;
  assert_int_equal (fk_reference_parse (refstr, &ref, &err), 0);
  fk_pull_opts_t po = { 0 };
  fk_image_t *img = NULL;
  assert_true (fk_registry_pull (s, ref, &po, &img, &err) < 0);
  assert_null (img);
  assert_int_equal (err.code, EHOSTUNREACH);
  assert_error_contains (&err, "is unreachable");
  fk_reference_free (ref);

  assert_int_equal (fk_reference_parse ("oci:/x", &ref, &err), 0);
  assert_true (fk_registry_pull (s, ref, &po, &img, &err) < 0);
  assert_error_contains (&err, "not a registry reference");
  fk_reference_free (ref);
  free (refstr);
  fk_store_close (s);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (insecure),
    cmocka_unit_test (unreachable),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
