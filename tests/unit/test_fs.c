/* Unit tests for base/fs: in-root resolution, atomic writes, bounded reads, rm -rf. */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

static int
setup (void **state)
{
  *state = test_tmpdir ();
  return 0;
}

static int
teardown (void **state)
{
  test_tmpdir_free (*state);
  return 0;
}

static int
open_dir (const char *p)
{
  int fd = open (p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (fd >= 0);
  return fd;
}

static void
in_root_contains_dotdot_absolute_and_symlinks (void **state)
{
  const char *dir = *state;
  cleanup_free char *root = xasprintf ("%s/root", dir);
  cleanup_free char *outside = xasprintf ("%s/secret", dir);
  assert_int_equal (mkdir (root, 0755), 0);
  FILE *f = fopen (outside, "w");
  fputs ("host", f);
  fclose (f);
  cleanup_free char *evil = xasprintf ("%s/evil", root);
  assert_int_equal (symlink ("../secret", evil), 0);
  cleanup_free char *abs = xasprintf ("%s/abs", root);
  assert_int_equal (symlink (outside, abs), 0);

  cleanup_close int rootfd = open_dir (root);
  fk_error_t err = FK_ERROR_INIT;
  /* ../secret from the root is root/secret: missing, never the host file. */
  assert_true (fk_open_in_root (rootfd, "../secret", O_RDONLY, 0, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_true (fk_open_in_root (rootfd, "evil", O_RDONLY, 0, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_true (fk_open_in_root (rootfd, "abs", O_RDONLY, 0, &err) < 0);
  fk_error_clear (&err);
  /* Creating through the symlink lands inside the root. */
  int fd = fk_open_in_root (rootfd, "evil", O_WRONLY | O_CREAT, 0644, &err);
  assert_true (fd >= 0);
  close (fd);
  cleanup_free char *landed = xasprintf ("%s/secret", root);
  assert_int_equal (access (landed, F_OK), 0);
  /* beneath refuses symlinks outright */
  assert_true (fk_open_beneath (rootfd, "evil", O_RDONLY, 0, &err) < 0);
  assert_int_equal (err.code, ELOOP);
  fk_error_clear (&err);
}

static void
mkdir_p_in_root_follows_links_inside (void **state)
{
  const char *dir = *state;
  cleanup_free char *root = xasprintf ("%s/r", dir);
  assert_int_equal (mkdir (root, 0755), 0);
  cleanup_free char *link = xasprintf ("%s/up", root);
  assert_int_equal (symlink ("/../../..", link), 0);
  cleanup_close int rootfd = open_dir (root);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_mkdir_p_in_root (rootfd, "/up/a/b/c", 0755, &err), 0);
  cleanup_free char *made = xasprintf ("%s/a/b/c", root);
  struct stat st;
  assert_int_equal (stat (made, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  assert_int_equal (fk_mkdir_p_in_root (rootfd, "a/b/c", 0755, &err), 0);
}

/* It copies the path into a buffer of its own (no allocation): repeated and trailing '/'s
   make nothing of their own, and a path past PATH_MAX is refused, not cut. */
static void
mkdir_p_in_root_odd_slashes_and_long (void **state)
{
  const char *dir = *state;
  cleanup_close int rootfd = open_dir (dir);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_mkdir_p_in_root (rootfd, "//x//y/z/", 0755, &err), 0);
  cleanup_free char *made = xasprintf ("%s/x/y/z", dir);
  struct stat st;
  assert_int_equal (stat (made, &st), 0);
  assert_true (S_ISDIR (st.st_mode));
  char *long_path = xmalloc (PATH_MAX + 2);
  memset (long_path, 'a', PATH_MAX + 1);
  long_path[PATH_MAX + 1] = '\0';
  assert_true (fk_mkdir_p_in_root (rootfd, long_path, 0755, &err) < 0);
  assert_int_equal (err.code, ENAMETOOLONG);
  fk_error_clear (&err);
  free (long_path);
}

static void
atomic_write_replaces_and_reads_back (void **state)
{
  const char *dir = *state;
  cleanup_close int dfd = open_dir (dir);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_write_file_atomic_at (dfd, "f.json", "one", 3, 0600, &err), 0);
  assert_int_equal (fk_write_file_atomic_at (dfd, "f.json", "second", 6, 0644, &err), 0);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  assert_int_equal (fk_read_file_at (dfd, "f.json", 100, &buf, &len, &err), 0);
  assert_int_equal (len, 6);
  assert_string_equal (buf, "second");
  struct stat st;
  assert_int_equal (fstatat (dfd, "f.json", &st, 0), 0);
  assert_int_equal (st.st_mode & 0777, 0644);
  /* no temp file left behind */
  DIR *d = fdopendir (dup (dfd));
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      n++;
  closedir (d);
  assert_int_equal (n, 1);
  /* writing into a missing directory fails and says where */
  assert_true (fk_write_file_atomic_at (dfd, "nodir/x", "a", 1, 0644, &err) < 0);
  assert_error_contains (&err, "nodir");
}

static size_t
entries (int dfd)
{
  DIR *d = fdopendir (dup (dfd));
  rewinddir (d); /* the dup shares the offset an earlier listing left at the end */
  struct dirent *de;
  size_t n = 0;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

static void
put (int dfd, const char *name, const char *text)
{
  cleanup_close int fd = openat (dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
}

static void
replace_exchanges_or_renames (void **state)
{
  const char *dir = *state;
  cleanup_close int dfd = open_dir (dir);
  fk_error_t err = FK_ERROR_INIT;
  /* Nothing there yet: a rename. */
  put (dfd, "t", "first");
  assert_int_equal (fk_replace_at (dfd, "t", "f"), 0);
  /* There: an exchange, and the old file (now at the temp name) is gone. */
  put (dfd, "t", "second");
  assert_int_equal (fk_replace_at (dfd, "t", "f"), 0);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  assert_int_equal (fk_read_file_at (dfd, "f", 100, &buf, &len, &err), 0);
  assert_string_equal (buf, "second");
  assert_int_equal (entries (dfd), 1);
  /* A symlink replaces a symlink the same way. */
  assert_int_equal (symlinkat ("a", dfd, "l"), 0);
  assert_int_equal (symlinkat ("b", dfd, "lt"), 0);
  assert_int_equal (fk_replace_at (dfd, "lt", "l"), 0);
  char target[8] = "";
  assert_int_equal (readlinkat (dfd, "l", target, sizeof target), 1);
  assert_int_equal (target[0], 'b');
  assert_int_equal (entries (dfd), 2);
  /* No temp file: ENOENT, and path untouched. */
  int r = fk_replace_at (dfd, "missing", "f");
  int e = errno;
  assert_int_equal (r, -1);
  assert_int_equal (e, ENOENT);
  free (buf);
  buf = NULL;
  assert_int_equal (fk_read_file_at (dfd, "f", 100, &buf, &len, &err), 0);
  assert_string_equal (buf, "second");
}

static void
read_all_refuses_oversize (void **state)
{
  const char *dir = *state;
  cleanup_close int dfd = open_dir (dir);
  fk_error_t err = FK_ERROR_INIT;
  char big[10000];
  memset (big, 'a', sizeof big);
  assert_int_equal (fk_write_file_atomic_at (dfd, "big", big, sizeof big, 0644, &err), 0);
  cleanup_free char *buf = NULL;
  assert_true (fk_read_file_at (dfd, "big", 9999, &buf, NULL, &err) < 0);
  assert_int_equal (err.code, EFBIG);
  fk_error_clear (&err);
  assert_int_equal (fk_read_file_at (dfd, "big", 10000, &buf, NULL, &err), 0);
  assert_true (fk_read_file_at (dfd, "missing", 10, &buf, NULL, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
}

static void
rm_rf_removes_tree_without_following_links (void **state)
{
  const char *dir = *state;
  cleanup_free char *keep = xasprintf ("%s/keep", dir);
  cleanup_free char *tree = xasprintf ("%s/tree/a/b", dir);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_mkdir_p (keep, 0755, &err), 0);
  assert_int_equal (fk_mkdir_p (tree, 0755, &err), 0);
  cleanup_free char *kf = xasprintf ("%s/file", keep);
  close (open (kf, O_CREAT | O_WRONLY, 0644));
  cleanup_free char *l = xasprintf ("%s/tree/a/link", dir);
  assert_int_equal (symlink (keep, l), 0);
  cleanup_free char *ro = xasprintf ("%s/tree/a/b", dir);
  chmod (ro, 0555);
  cleanup_free char *top = xasprintf ("%s/tree", dir);
  assert_int_equal (fk_rm_rf_at (AT_FDCWD, top, &err), 0);
  assert_int_equal (access (top, F_OK), -1);
  assert_int_equal (access (kf, F_OK), 0);
  assert_int_equal (fk_rm_rf_at (AT_FDCWD, top, &err), 0);
}

static void
path_split_cases (void **state)
{
  struct
  {
    const char *in, *dir, *base;
  } cases[] = {
    { "a", ".", "a" },
    { "/a", "/", "a" },
    { "a/b/c", "a/b", "c" },
    { "/a/b/", "/a", "b" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      char *d, *b;
      fk_path_split (cases[i].in, &d, &b);
      assert_string_equal (d, cases[i].dir);
      assert_string_equal (b, cases[i].base);
      free (d);
      free (b);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (in_root_contains_dotdot_absolute_and_symlinks, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (mkdir_p_in_root_follows_links_inside, setup, teardown),
    cmocka_unit_test_setup_teardown (mkdir_p_in_root_odd_slashes_and_long, setup, teardown),
    cmocka_unit_test_setup_teardown (atomic_write_replaces_and_reads_back, setup, teardown),
    cmocka_unit_test_setup_teardown (replace_exchanges_or_renames, setup, teardown),
    cmocka_unit_test_setup_teardown (read_all_refuses_oversize, setup, teardown),
    cmocka_unit_test_setup_teardown (rm_rf_removes_tree_without_following_links, setup, teardown),
    cmocka_unit_test (path_split_cases),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
