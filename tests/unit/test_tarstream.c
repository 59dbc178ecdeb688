/* Unit tests for image/tarstream: compression by magic, the diff_id of the uncompressed stream,
   and what may follow the end of the tar and of the compressed stream. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/mman.h>

#include "base/digest.h"
#include "image/tarstream.h"

/* Writes a tar of n small files with the given filter (NULL, "gzip", "zstd") into a memfd;
   returns it rewound. */
static int
make_tar (const char *filter, int n)
{
  int fd = memfd_create ("tar", MFD_CLOEXEC);
  assert_true (fd >= 0);
  struct archive *a = archive_write_new ();
  assert_int_equal (archive_write_set_format_pax_restricted (a), ARCHIVE_OK);
  if (filter && strcmp (filter, "gzip") == 0)
    assert_int_equal (archive_write_add_filter_gzip (a), ARCHIVE_OK);
  else if (filter && strcmp (filter, "zstd") == 0)
    assert_int_equal (archive_write_add_filter_zstd (a), ARCHIVE_OK);
  assert_int_equal (archive_write_open_fd (a, fd), ARCHIVE_OK);
  for (int i = 0; i < n; i++)
    {
      char name[32], data[64];
      snprintf (name, sizeof name, "dir/file-%d", i);
      int len = snprintf (data, sizeof data, "content of file %d", i);
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, name);
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_mtime (e, 1700000000, 0);
      archive_entry_set_size (e, len);
      assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
      assert_int_equal (archive_write_data (a, data, (size_t)len), len);
      archive_entry_free (e);
    }
  assert_int_equal (archive_write_close (a), ARCHIVE_OK);
  archive_write_free (a);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  return fd;
}

static void
append (int fd, const void *p, size_t len)
{
  assert_true (lseek (fd, 0, SEEK_END) >= 0);
  assert_int_equal (write (fd, p, len), (ssize_t)len);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
}

/* Reads every entry and finishes; returns what finish returned, the entries in *n. */
static int
read_all (int fd, fk_layer_compression_t *comp, char diff_id[FK_DIGEST_STR_LEN], uint64_t *size,
          int *n, fk_error_t *err)
{
  fk_tarstream_t *ts = NULL;
  if (fk_tarstream_open (fd, &ts, err) < 0)
    return -1;
  *comp = fk_tarstream_compression (ts);
  struct archive *a = fk_tarstream_archive (ts);
  struct archive_entry *e;
  int r;
  *n = 0;
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      (*n)++;
      char buf[256];
      while (archive_read_data (a, buf, sizeof buf) > 0)
        ;
    }
  if (r != ARCHIVE_EOF)
    {
      fk_error_set (err, EIO, "%s", fk_tarstream_message (a));
      fk_tarstream_free (ts);
      return -1;
    }
  r = fk_tarstream_finish (ts, diff_id, size, err);
  fk_tarstream_free (ts);
  return r;
}

static void
diff_id_and_compression (void **state)
{
  /* The uncompressed tar's own digest, then the same stream compressed two ways. */
  int plain = make_tar (NULL, 300);
  char want[FK_DIGEST_STR_LEN];
  uint64_t want_size;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_sha256_fd (plain, want, &want_size, &err), 0);
  close (plain);
  const char *filters[] = { NULL, "gzip", "zstd" };
  const fk_layer_compression_t comps[]
      = { FK_LAYER_COMPRESSION_NONE, FK_LAYER_COMPRESSION_GZIP, FK_LAYER_COMPRESSION_ZSTD };
  for (int i = 0; i < 3; i++)
    {
      int fd = make_tar (filters[i], 300);
      fk_layer_compression_t c;
      char got[FK_DIGEST_STR_LEN];
      uint64_t size;
      int n;
      if (read_all (fd, &c, got, &size, &n, &err) < 0)
        fail_msg ("%s", fk_error_message (&err));
      close (fd);
      assert_int_equal (c, comps[i]);
      assert_int_equal (n, 300);
      assert_string_equal (got, want);
      assert_int_equal (size, want_size);
      assert_string_equal (fk_layer_compression_name (c), filters[i] ? filters[i] : "none");
    }
}

static void
empty_blob_is_an_empty_layer (void **state)
{
  int fd = memfd_create ("empty", MFD_CLOEXEC);
  fk_layer_compression_t c;
  char got[FK_DIGEST_STR_LEN];
  uint64_t size = 1;
  int n = 1;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (read_all (fd, &c, got, &size, &n, &err), 0);
  close (fd);
  assert_int_equal (n, 0);
  assert_int_equal (size, 0);
  assert_string_equal (got,
                       "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void
zero_padding_is_fine_anything_else_is_not (void **state)
{
  fk_layer_compression_t c;
  char got[FK_DIGEST_STR_LEN];
  uint64_t size;
  int n;
  fk_error_t err = FK_ERROR_INIT;
  /* More zero records after the end marker: part of the stream and of its digest. */
  int fd = make_tar (NULL, 3);
  char zeros[20000] = { 0 };
  append (fd, zeros, sizeof zeros);
  char want[FK_DIGEST_STR_LEN];
  uint64_t want_size;
  assert_int_equal (fk_sha256_fd (fd, want, &want_size, &err), 0);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
  assert_int_equal (read_all (fd, &c, got, &size, &n, &err), 0);
  close (fd);
  assert_string_equal (got, want);
  assert_int_equal (size, want_size);

  /* Garbage right after the marker (within what the reader read ahead) and far after it. */
  for (int far = 0; far <= 1; far++)
    {
      fd = make_tar (NULL, 3);
      if (far)
        append (fd, zeros, sizeof zeros);
      append (fd, "junk", 4);
      assert_int_equal (read_all (fd, &c, got, &size, &n, &err), -1);
      close (fd);
      assert_error_contains (&err, "data after the end of the tar archive");
    }

  /* After a gzip or zstd stream. */
  fd = make_tar ("gzip", 3);
  append (fd, "junk", 4);
  assert_int_equal (read_all (fd, &c, got, &size, &n, &err), -1);
  close (fd);
  assert_error_contains (&err, "4 bytes after the end of the compressed stream");
  fd = make_tar ("zstd", 3);
  append (fd, "junk", 4);
  assert_int_equal (read_all (fd, &c, got, &size, &n, &err), -1);
  close (fd);
  assert_true (fk_error_is_set (&err));
  fk_error_clear (&err);
}

static void
truncated_and_foreign_streams_fail (void **state)
{
  fk_layer_compression_t c;
  char got[FK_DIGEST_STR_LEN];
  uint64_t size;
  int n;
  fk_error_t err = FK_ERROR_INIT;
  const char *filters[] = { "gzip", "zstd" };
  const char *msgs[] = { "truncated gzip input", "Truncated zstd input" };
  for (int i = 0; i < 2; i++)
    {
      int fd = make_tar (filters[i], 200);
      struct stat st;
      assert_int_equal (fstat (fd, &st), 0);
      assert_int_equal (ftruncate (fd, st.st_size / 2), 0);
      assert_int_equal (read_all (fd, &c, got, &size, &n, &err), -1);
      close (fd);
      assert_error_contains (&err, msgs[i]);
    }
  static const unsigned char xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0, 0, 4, 0xe6, 0xd6, 0xb4, 0x46 };
  static const unsigned char bz[] = "BZh91AY&SY";
  const struct
  {
    const unsigned char *p;
    size_t len;
    const char *name;
  } foreign[] = { { xz, sizeof xz, "xz" }, { bz, sizeof bz, "bzip2" } };
  for (size_t i = 0; i < 2; i++)
    {
      int fd = memfd_create ("x", MFD_CLOEXEC);
      append (fd, foreign[i].p, foreign[i].len);
      fk_tarstream_t *ts = NULL;
      int r = fk_tarstream_open (fd, &ts, &err);
      if (r == 0)
        {
          struct archive_entry *e;
          assert_int_not_equal (archive_read_next_header (fk_tarstream_archive (ts), &e),
                                ARCHIVE_OK);
          fk_error_set (&err, EIO, "%s", fk_tarstream_message (fk_tarstream_archive (ts)));
          fk_tarstream_free (ts);
        }
      close (fd);
      char want[64];
      snprintf (want, sizeof want, "layer is %s-compressed", foreign[i].name);
      assert_error_contains (&err, want);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (diff_id_and_compression),
    cmocka_unit_test (empty_blob_is_an_empty_layer),
    cmocka_unit_test (zero_padding_is_fine_anything_else_is_not),
    cmocka_unit_test (truncated_and_foreign_streams_fail),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
