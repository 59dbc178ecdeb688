/* Unit tests for image/reference: Docker normalisation, archive forms, and every malformed form
   rejected with an error naming the wrong part. */
#include "testutil.h"

#include "image/reference.h"

static void
expect_ok (const char *s, const char *registry, const char *repo, const char *tag,
           const char *digest, const char *formatted)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_reference_t *r = NULL;
  if (fk_reference_parse (s, &r, &err) < 0)
    fail_msg ("`%s' rejected: %s", s, fk_error_message (&err));
  assert_int_equal (r->kind, FK_REF_REGISTRY);
  assert_string_equal (r->registry, registry);
  assert_string_equal (r->repository, repo);
  if (tag)
    assert_string_equal (r->tag, tag);
  else
    assert_null (r->tag);
  if (digest)
    assert_string_equal (r->digest, digest);
  else
    assert_null (r->digest);
  char *f = fk_reference_format (r);
  assert_string_equal (f, formatted);
  free (f);
  fk_reference_free (r);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
docker_normalisation (void **state)
{
  expect_ok ("debian:bookworm-slim", "docker.io", "library/debian", "bookworm-slim", NULL,
             "docker.io/library/debian:bookworm-slim");
  expect_ok ("debian", "docker.io", "library/debian", "latest", NULL,
             "docker.io/library/debian:latest");
  expect_ok ("user/app:1.0", "docker.io", "user/app", "1.0", NULL, "docker.io/user/app:1.0");
  expect_ok ("docker.io/debian", "docker.io", "library/debian", "latest", NULL,
             "docker.io/library/debian:latest");
  expect_ok ("index.docker.io/library/debian:12", "docker.io", "library/debian", "12", NULL,
             "docker.io/library/debian:12");
  expect_ok ("localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest");
  expect_ok ("localhost:5000/a/b/c:t_1", "localhost:5000", "a/b/c", "t_1", NULL,
             "localhost:5000/a/b/c:t_1");
  expect_ok ("127.0.0.1:5000/test/busybox", "127.0.0.1:5000", "test/busybox", "latest", NULL,
             "127.0.0.1:5000/test/busybox:latest");
  expect_ok ("quay.io/a-b/c__d.e", "quay.io", "a-b/c__d.e", "latest", NULL,
             "quay.io/a-b/c__d.e:latest");
  expect_ok ("Registry/app", "Registry", "app", "latest", NULL, "Registry/app:latest");
  expect_ok ("[::1]:5000/app:v", "[::1]:5000", "app", "v", NULL, "[::1]:5000/app:v");
  expect_ok ("debian@sha256:" D64, "docker.io", "library/debian", NULL, "sha256:" D64,
             "docker.io/library/debian@sha256:" D64);
  expect_ok ("debian:12@sha256:" D64, "docker.io", "library/debian", "12", "sha256:" D64,
             "docker.io/library/debian:12@sha256:" D64);
  expect_ok ("docker://alpine", "docker.io", "library/alpine", "latest", NULL,
             "docker.io/library/alpine:latest");
  expect_ok ("a--b/c", "docker.io", "a--b/c", "latest", NULL, "docker.io/a--b/c:latest");

  fk_error_t err = FK_ERROR_INIT;
  fk_reference_t *r = NULL;
  assert_int_equal (fk_reference_parse ("debian:bookworm-slim", &r, &err), 0);
  assert_string_equal (fk_reference_api_host (r), "registry-1.docker.io");
  assert_string_equal (fk_reference_object (r), "bookworm-slim");
  fk_reference_free (r);
  assert_int_equal (fk_reference_parse ("debian:12@sha256:" D64, &r, &err), 0);
  assert_string_equal (fk_reference_object (r), "sha256:" D64);
  fk_reference_free (r);
}

static void
archive_forms (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_reference_t *r = NULL;
  assert_int_equal (fk_reference_parse ("oci:/var/img", &r, &err), 0);
  assert_int_equal (r->kind, FK_REF_OCI_DIR);
  assert_string_equal (r->path, "/var/img");
  assert_null (r->name);
  fk_reference_free (r);
  assert_int_equal (fk_reference_parse ("oci:/var/img:base", &r, &err), 0);
  assert_string_equal (r->path, "/var/img");
  assert_string_equal (r->name, "base");
  char *f = fk_reference_format (r);
  assert_string_equal (f, "oci:/var/img:base");
  free (f);
  fk_reference_free (r);
  assert_int_equal (fk_reference_parse ("oci-archive:img.tar:v1", &r, &err), 0);
  assert_int_equal (r->kind, FK_REF_OCI_ARCHIVE);
  assert_string_equal (r->path, "img.tar");
  assert_string_equal (r->name, "v1");
  fk_reference_free (r);
  assert_int_equal (fk_reference_parse ("docker-archive:/t/a:b.tar", &r, &err), 0);
  assert_int_equal (r->kind, FK_REF_DOCKER_ARCHIVE);
  assert_string_equal (r->path, "/t/a:b.tar");
  fk_reference_free (r);
}

static void
expect_bad (const char *s, const char *needle)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_reference_t *r = NULL;
  if (fk_reference_parse (s, &r, &err) == 0)
    fail_msg ("`%s' accepted", s);
  assert_null (r);
  assert_error_contains (&err, needle);
}

static void
malformed (void **state)
{
  expect_bad ("", "empty");
  expect_bad ("Debian", "lower-case");
  expect_bad ("library/Debian", "lower-case");
  expect_bad ("debian:", "tag `' is empty");
  expect_bad ("debian:.x", "tag `.x' must start");
  expect_bad ("debian:a/b", "registry `debian:a' has a port that is not a number");
  expect_bad ("debian:t@g", "bad digest");
  expect_bad ("debian@sha256:abc", "bad digest");
  expect_bad ("debian@md5:" D64, "bad digest");
  expect_bad ("debian@", "bad digest");
  expect_bad ("debian:a$b", "tag `a$b' has a character");
  expect_bad ("debian:" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "longer than 128");
  expect_bad ("-debian", "separator");
  expect_bad ("debian-", "separator");
  expect_bad ("deb..ian", "separator");
  expect_bad ("deb___ian", "separator");
  expect_bad ("a//b", "empty path component");
  expect_bad ("a/b/", "empty path component");
  expect_bad ("/a", "repository");
  expect_bad ("a b", "space");
  expect_bad ("a\tb", "space");
  expect_bad ("reg.io/", "repository is empty");
  expect_bad ("reg.io:/app", "registry `reg.io:' has an empty");
  expect_bad ("reg.io:99999/app", "port outside");
  expect_bad ("reg.io:5x/app", "port that is not a number");
  expect_bad ("-reg.io/app", "registry");
  expect_bad ("reg..io/app", "registry `reg..io' has an empty host label");
  expect_bad ("reg_io.com/app", "registry `reg_io.com' has a character");
  expect_bad ("[::1/app", "IPv6");
  expect_bad ("[]/app", "IPv6");
  expect_bad ("[::1]x/app", "after its [IPv6]");
  expect_bad ("reg.io/app!", "character outside");
  expect_bad ("oci:", "path after `oci:' is empty");
  expect_bad ("oci::tag", "path after `oci:' is empty");
  expect_bad ("oci:/dir:", "tag after the path is empty");
  expect_bad ("oci-archive:", "path after `oci-archive:' is empty");
  expect_bad ("docker-archive:", "path after `docker-archive:' is empty");
  char long_name[300];
  memset (long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  expect_bad (long_name, "longer than 255");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (docker_normalisation),
    cmocka_unit_test (archive_forms),
    cmocka_unit_test (malformed),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
