/* Unit tests for image/store: verified blobs, layers unpacked once by diff-id (also by two
   processes at once), garbage collection of what no template record uses. */
#include "testutil.h"

#include <dirent.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "image/store.h"
#include "imagefixture.h"

static size_t
count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL)
    n += de->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

static void
blobs_verified (void **state)
{
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_store_t *s = NULL;
  assert_int_equal (fk_store_open (dir, &s, &err), 0);

  char dg[FK_DIGEST_STR_LEN];
  assert_int_equal (fk_store_blob_put (s, "hello", 5, NULL, dg, &err), 0);
  assert_true (fk_store_blob_has (s, dg, 5));
  assert_false (fk_store_blob_has (s, dg, 6));
  assert_true (fk_store_blob_has (s, dg, -1));
  char *buf = NULL;
  size_t len = 0;
  assert_int_equal (fk_store_blob_read (s, dg, 100, &buf, &len, &err), 0);
  assert_int_equal (len, 5);
  assert_memory_equal (buf, "hello", 5);
  free (buf);

  /* A put that does not hash to the digest claimed stores nothing. */
  char other[FK_DIGEST_STR_LEN];
  fk_sha256_buffer ("other", 5, other);
  assert_true (fk_store_blob_put (s, "hello!", 6, other, NULL, &err) < 0);
  assert_error_contains (&err, "digest mismatch");
  assert_false (fk_store_blob_has (s, other, -1));

  /* Import from an fd: a short stream, a long one and a wrong one are all refused. */
  int p[2];
  assert_int_equal (pipe (p), 0);
  assert_int_equal (write (p[1], "hell", 4), 4);
  close (p[1]);
  fk_sha256_buffer ("hell", 4, other);
  assert_true (fk_store_blob_import_fd (s, p[0], other, 5, &err) < 0);
  assert_error_contains (&err, "size mismatch");
  close (p[0]);
  assert_int_equal (pipe (p), 0);
  assert_int_equal (write (p[1], "hellooo", 7), 7);
  close (p[1]);
  assert_true (fk_store_blob_import_fd (s, p[0], other, 4, &err) < 0);
  assert_error_contains (&err, "size mismatch");
  close (p[0]);
  assert_int_equal (pipe (p), 0);
  assert_int_equal (write (p[1], "HELL", 4), 4);
  close (p[1]);
  assert_true (fk_store_blob_import_fd (s, p[0], other, 4, &err) < 0);
  assert_error_contains (&err, "digest mismatch");
  close (p[0]);
  assert_false (fk_store_blob_has (s, other, -1));
  assert_int_equal (pipe (p), 0);
  assert_int_equal (write (p[1], "hell", 4), 4);
  close (p[1]);
  assert_int_equal (fk_store_blob_import_fd (s, p[0], other, 4, &err), 0);
  close (p[0]);
  assert_true (fk_store_blob_has (s, other, 4));

  /* A tmp file committed under the wrong digest is removed, not renamed. */
  char *tmp = NULL;
  assert_int_equal (fk_store_tmp_file (s, &tmp, &err), 0);
  fk_sha256_buffer ("nothing", 7, other);
  assert_true (fk_store_blob_commit (s, tmp, other, -1, 0, &err) < 0);
  assert_error_contains (&err, "digest mismatch");
  free (tmp);
  char *tmpdir = xasprintf ("%s/tmp", dir);
  assert_int_equal (count_entries (tmpdir), 0);
  free (tmpdir);

  fk_store_close (s);
  test_tmpdir_free (dir);
}

/* Puts a one-file tar layer in the store; returns its digest (= diff-id, uncompressed). */
static void
put_layer (fk_store_t *s, const char *name, const char *data, char dg[FK_DIGEST_STR_LEN])
{
  fk_error_t err = FK_ERROR_INIT;
  char *tar;
  size_t len;
  fixture_tar (&name, &data, 1, &tar, &len);
  assert_int_equal (fk_store_blob_put (s, tar, len, NULL, dg, &err), 0);
  free (tar);
}

static void
layers_once (void **state)
{
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_store_t *s = NULL;
  assert_int_equal (fk_store_open (dir, &s, &err), 0);
  char dg[FK_DIGEST_STR_LEN];
  put_layer (s, "etc/hello", "world\n", dg);
  assert_false (fk_store_layer_has (s, dg));

  /* Two processes unpack the same layer at once: both succeed, it is unpacked once. */
  pid_t kids[2];
  for (int i = 0; i < 2; i++)
    {
      kids[i] = fork ();
      if (kids[i] == 0)
        {
          fk_error_t e = FK_ERROR_INIT;
          fk_store_t *cs = NULL;
          if (fk_store_open (dir, &cs, &e) < 0 || fk_store_layer_unpack (cs, dg, dg, &e) < 0)
            {
              fprintf (stderr, "# child: %s\n", fk_error_message (&e));
              _exit (1);
            }
          fk_store_close (cs);
          _exit (0);
        }
    }
  for (int i = 0; i < 2; i++)
    {
      int st;
      assert_int_equal (waitpid (kids[i], &st, 0), kids[i]);
      assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    }
  assert_true (fk_store_layer_has (s, dg));
  char *path = fk_store_layer_path (s, dg);
  char *file = xasprintf ("%s/etc/hello", path);
  char *buf = NULL;
  size_t len = 0;
  assert_int_equal (fk_read_file_at (AT_FDCWD, file, 100, &buf, &len, &err), 0);
  assert_string_equal (buf, "world\n");
  free (buf);
  free (file);
  free (path);
  char *layers = xasprintf ("%s/layers/sha256", dir), *tmpdir = xasprintf ("%s/tmp", dir);
  assert_int_equal (count_entries (layers), 1);
  assert_int_equal (count_entries (tmpdir), 0);

  /* A second unpack is a no-op; a wrong diff-id is refused and leaves nothing. */
  assert_int_equal (fk_store_layer_unpack (s, dg, dg, &err), 0);
  char wrong[FK_DIGEST_STR_LEN];
  fk_sha256_buffer ("x", 1, wrong);
  assert_true (fk_store_layer_unpack (s, dg, wrong, &err) < 0);
  assert_error_contains (&err, "diff-id mismatch");
  assert_false (fk_store_layer_has (s, wrong));
  assert_int_equal (count_entries (layers), 1);
  assert_int_equal (count_entries (tmpdir), 0);
  free (layers);
  free (tmpdir);
  fk_store_close (s);
  test_tmpdir_free (dir);
}

/* A layer the caller unpacked itself (a snapshot's capture): committed once, a second tree of
   the same layer goes, and an aborted one leaves nothing. */
static void
layer_from_a_tree (void **state)
{
  (void)state;
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_store_t *s = NULL;
  assert_int_equal (fk_store_open (dir, &s, &err), 0);
  char dg[FK_DIGEST_STR_LEN];
  put_layer (s, "hello", "world\n", dg);
  char *layers = xasprintf ("%s/layers/sha256", dir), *tmpdir = xasprintf ("%s/tmp", dir);
  for (int round = 0; round < 3; round++)
    {
      char *tmp = NULL;
      int root = -1;
      assert_int_equal (fk_store_layer_begin (s, &tmp, &root, &err), 0);
      assert_int_equal (count_entries (tmpdir), 1);
      char *file = xasprintf ("%s/%s/fs/hello", dir, tmp);
      assert_int_equal (fk_write_file_atomic_at (AT_FDCWD, file, "world\n", 6, 0644, &err), 0);
      free (file);
      close (root);
      if (round == 2)
        fk_store_layer_abort (s, tmp);
      else
        assert_int_equal (fk_store_layer_commit (s, tmp, dg, dg, 6, 1, &err), 0);
      free (tmp);
      assert_true (fk_store_layer_has (s, dg));
      assert_int_equal (count_entries (layers), 1);
      assert_int_equal (count_entries (tmpdir), 0);
    }
  char *path = fk_store_layer_path (s, dg);
  char *file = xasprintf ("%s/hello", path);
  char *buf = NULL;
  size_t len = 0;
  assert_int_equal (fk_read_file_at (AT_FDCWD, file, 100, &buf, &len, &err), 0);
  assert_string_equal (buf, "world\n");
  free (buf);
  free (file);
  free (path);
  free (layers);
  free (tmpdir);
  fk_store_close (s);
  test_tmpdir_free (dir);
}

static void
gc_keeps_what_records_use (void **state)
{
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  fk_store_t *s = NULL;
  assert_int_equal (fk_store_open (dir, &s, &err), 0);
  char kept[FK_DIGEST_STR_LEN], gone[FK_DIGEST_STR_LEN], cfg[FK_DIGEST_STR_LEN];
  put_layer (s, "a", "kept", kept);
  put_layer (s, "b", "gone", gone);
  assert_int_equal (fk_store_blob_put (s, "{}", 2, NULL, cfg, &err), 0);
  assert_int_equal (fk_store_layer_unpack (s, kept, kept, &err), 0);
  assert_int_equal (fk_store_layer_unpack (s, gone, gone, &err), 0);
  char *rec = xasprintf ("{\"id\":\"t\",\"manifestDigest\":\"%s\",\"layers\":[{\"digest\":\"%s\","
                         "\"diffID\":\"%s\"}]}",
                         cfg, kept, kept);
  assert_int_equal (
      fk_write_file_atomic_at (s->dirfd, "templates/t.json", rec, strlen (rec), 0644, &err), 0);
  free (rec);
  /* Leftovers of an interrupted pull. */
  char *tmp = NULL;
  assert_int_equal (fk_store_tmp_file (s, &tmp, &err), 0);
  free (tmp);
  char *half = xasprintf ("%s/tmp/layer-half", dir);
  assert_int_equal (mkdir (half, 0700), 0);
  free (half);
  /* Another area's work in progress in tmp/ is not the store's to remove. */
  char *foreign = xasprintf ("%s/tmp/sandbox-wip", dir);
  assert_int_equal (mkdir (foreign, 0700), 0);

  fk_store_gc_stats_t st;
  assert_int_equal (fk_store_gc (s, &st, &err), 0);
  assert_int_equal (st.blobs_removed, 1);
  assert_int_equal (st.layers_removed, 1);
  assert_true (st.bytes_freed > 0);
  assert_true (fk_store_blob_has (s, kept, -1));
  assert_true (fk_store_blob_has (s, cfg, -1));
  assert_true (fk_store_layer_has (s, kept));
  assert_false (fk_store_blob_has (s, gone, -1));
  assert_false (fk_store_layer_has (s, gone));
  char *tmpdir = xasprintf ("%s/tmp", dir);
  assert_int_equal (count_entries (tmpdir), 1);
  struct stat fst;
  assert_int_equal (stat (foreign, &fst), 0);
  free (foreign);
  free (tmpdir);

  /* A record that cannot be read stops the collection: it never frees what may be in use. */
  assert_int_equal (fk_write_file_atomic_at (s->dirfd, "templates/bad.json", "{", 1, 0644, &err),
                    0);
  assert_true (fk_store_gc (s, &st, &err) < 0);
  assert_error_contains (&err, "garbage collection stopped");
  assert_true (fk_store_blob_has (s, kept, -1));

  fk_store_close (s);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (blobs_verified),
    cmocka_unit_test (layers_once),
    cmocka_unit_test (layer_from_a_tree),
    cmocka_unit_test (gc_keeps_what_records_use),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
