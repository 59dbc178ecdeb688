/* Unit tests for base/digest: known sha256 vectors, streaming equals one-shot, validation. */
#include "testutil.h"

#include "base/digest.h"

static void
known_vectors (void **state)
{
  char out[FK_DIGEST_STR_LEN];
  fk_sha256_buffer ("", 0, out);
  assert_string_equal (out,
                       "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  fk_sha256_buffer ("abc", 3, out);
  assert_string_equal (out,
                       "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
streaming_and_fd_match_one_shot (void **state)
{
  char one[FK_DIGEST_STR_LEN], two[FK_DIGEST_STR_LEN], three[FK_DIGEST_STR_LEN];
  static char data[200000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (char)(i * 7);
  fk_sha256_buffer (data, sizeof data, one);
  fk_sha256_t *ctx = fk_sha256_new ();
  for (size_t off = 0; off < sizeof data; off += 999)
    fk_sha256_update (ctx, data + off, sizeof data - off < 999 ? sizeof data - off : 999);
  fk_sha256_final (ctx, two);
  fk_sha256_free (ctx);
  assert_string_equal (one, two);

  char path[] = "/tmp/firkin-digest.XXXXXX";
  int fd = mkstemp (path);
  unlink (path);
  assert_int_equal (write (fd, data, sizeof data), sizeof data);
  lseek (fd, 0, SEEK_SET);
  uint64_t size = 0;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_sha256_fd (fd, three, &size, &err), 0);
  close (fd);
  assert_string_equal (one, three);
  assert_int_equal (size, sizeof data);
}

static void
validation_says_what_is_wrong (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (
      fk_digest_validate ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                          &err),
      0);
  assert_true (fk_digest_validate ("md5:abc", &err) < 0);
  assert_error_contains (&err, "not sha256");
  assert_true (fk_digest_validate ("sha256:abc", &err) < 0);
  assert_error_contains (&err, "3 hex digits");
  assert_true (fk_digest_validate (
                   "sha256:E3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &err)
               < 0);
  assert_error_contains (&err, "non-hex");
  assert_true (fk_digest_validate (NULL, &err) < 0);
  assert_error_contains (&err, "missing");
  assert_string_equal (
      fk_digest_hex ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (known_vectors),
    cmocka_unit_test (streaming_and_fd_match_one_shot),
    cmocka_unit_test (validation_says_what_is_wrong),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
