/* Unit tests for image/blobsink: the bytes written from the second thread, in order, whole,
   hashed; with O_DIRECT (on a filesystem that takes it: /var/tmp here, and $TMPDIR, a tmpfs
   that does not, falls back) and without; a failed write is reported. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/xalloc.h"
#include "image/blobsink.h"

static void
round_trip (const char *dir, int direct)
{
  /* Sizes around the 1 MiB chunk and the 4 KiB alignment, in pieces of odd lengths. */
  static const size_t sizes[]
      = { 0, 1, 4095, 4096, 4097, 1u << 20, (1u << 20) + 1, (5u << 20) + 12345 };
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
    {
      size_t n = sizes[k];
      cleanup_free char *data = xmalloc (n + 1);
      for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 2654435761u >> 13);
      cleanup_free char *path = xasprintf ("%s/blob-%zu", dir, k);
      int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      assert_true (fd >= 0);
      fk_blobsink_t *s = fk_blobsink_new (fd, direct);
      fk_error_t err = FK_ERROR_INIT;
      for (size_t off = 0, piece = 1; off < n; off += piece, piece = piece * 3 + 7)
        {
          if (piece > n - off)
            piece = n - off;
          assert_int_equal (fk_blobsink_write (s, data + off, piece, &err), 0);
        }
      char got[FK_DIGEST_STR_LEN], want[FK_DIGEST_STR_LEN];
      uint64_t size = 0;
      assert_int_equal (fk_blobsink_finish (s, got, &size, &err), 0);
      fk_blobsink_free (s);
      close (fd);
      fk_sha256_buffer (data, n, want);
      assert_string_equal (got, want);
      assert_int_equal (size, n);
      cleanup_free char *back = NULL;
      size_t len = 0;
      assert_int_equal (fk_read_file_at (AT_FDCWD, path, n + 1, &back, &len, &err), 0);
      assert_int_equal (len, n);
      assert_memory_equal (back, data, n);
    }
}

static void
bytes_in_order (void **state)
{
  (void)state;
  char *tmp = test_tmpdir ();
  round_trip (tmp, 0);
  round_trip (tmp, 1);
  test_tmpdir_free (tmp);
  char vt[] = "/var/tmp/firkin-test.XXXXXX";
  if (mkdtemp (vt) != NULL)
    {
      round_trip (vt, 1);
      fk_error_t err = FK_ERROR_INIT;
      fk_rm_rf_at (AT_FDCWD, vt, &err);
      fk_error_clear (&err);
    }
}

static void
write_error_reported (void **state)
{
  (void)state;
  /* A read-only fd: the thread's write fails, and the caller hears of it. */
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  fk_blobsink_t *s = fk_blobsink_new (fd, 0);
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *data = xcalloc (1, 3u << 20);
  int r = 0;
  for (int i = 0; i < 8 && r == 0; i++)
    r = fk_blobsink_write (s, data, 3u << 20, &err);
  char dg[FK_DIGEST_STR_LEN];
  uint64_t size;
  if (r == 0)
    r = fk_blobsink_finish (s, dg, &size, &err);
  assert_int_equal (r, -1);
  assert_int_equal (err.code, EBADF);
  fk_error_clear (&err);
  fk_blobsink_free (s);
  close (fd);
  /* Freed unfinished: nothing waits, nothing leaks. */
  s = fk_blobsink_new (-1, 0);
  assert_int_equal (fk_blobsink_write (s, "x", 1, &err), 0);
  fk_blobsink_free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (bytes_in_order),
    cmocka_unit_test (write_error_reported),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
