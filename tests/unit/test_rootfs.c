/* Unit tests for bench/rootfs: a busybox root built from the host's static busybox (the tree
   scripts/busybox-rootfs.sh builds too). */
#include "testutil.h"

#include <sys/stat.h>

#include "bench/rootfs.h"

static void
builds_a_busybox_root (void **state)
{
  if (access (FK_BENCH_BUSYBOX, X_OK) != 0)
    skip ();
  char *dir = test_tmpdir ();
  char *root = NULL;
  assert_true (asprintf (&root, "%s/rootfs", dir) > 0);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_bench_busybox_rootfs (root, FK_BENCH_BUSYBOX, &err), 0);
  int rfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (rfd >= 0);
  struct stat st, host;
  assert_int_equal (fstatat (rfd, "bin/busybox", &st, 0), 0);
  assert_int_equal (stat (FK_BENCH_BUSYBOX, &host), 0);
  assert_int_equal (st.st_size, host.st_size);
  assert_int_equal (st.st_mode & 07777, 0755);
  char link[64] = { 0 };
  assert_true (readlinkat (rfd, "bin/true", link, sizeof link - 1) > 0);
  assert_string_equal (link, "/bin/busybox");
  /* every applet, not only the benchmarks' few */
  assert_int_equal (fstatat (rfd, "usr/bin/env", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISLNK (st.st_mode));
  assert_int_equal (fstatat (rfd, ".", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (fstatat (rfd, "usr/bin", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0755);
  assert_int_equal (fstatat (rfd, "tmp", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 01777);
  assert_int_equal (fstatat (rfd, "root", &st, 0), 0);
  assert_int_equal (st.st_mode & 07777, 0700);
  if (geteuid () == 0)
    {
      assert_int_equal (fstatat (rfd, "home/user", &st, 0), 0);
      assert_int_equal (st.st_uid, 1000);
      assert_int_equal (st.st_gid, 1000);
    }
  char *pw = NULL;
  size_t pwlen = 0;
  fk_error_t e2 = FK_ERROR_INIT;
  assert_int_equal (fk_read_file_at (rfd, "etc/passwd", 4096, &pw, &pwlen, &e2), 0);
  assert_non_null (strstr (pw, "user:x:1000:1000:user:/home/user:/bin/sh\n"));
  free (pw);
  close (rfd);
  /* the directory must be new */
  assert_int_equal (fk_bench_busybox_rootfs (root, FK_BENCH_BUSYBOX, &err), -1);
  assert_error_contains (&err, "File exists");
  free (root);
  test_tmpdir_free (dir);
}

static void
names_a_missing_busybox (void **state)
{
  char *dir = test_tmpdir ();
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_bench_busybox_rootfs (dir, "/nonexistent/busybox", &err), -1);
  assert_error_contains (&err, "install busybox-static");
  test_tmpdir_free (dir);
}

/* A dynamic busybox would not start in a root without its loader and libc. */
static void
refuses_a_dynamic_busybox (void **state)
{
  char *dir = test_tmpdir ();
  char *root = NULL;
  assert_true (asprintf (&root, "%s/rootfs", dir) > 0);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_bench_busybox_rootfs (root, "/bin/sh", &err), -1);
  assert_error_contains (&err, "is not static (install busybox-static)");
  assert_int_equal (access (root, F_OK), -1);
  free (root);
  test_tmpdir_free (dir);
}

/* One line per entry below root, sorted: path, type, mode, owner, link target. */
static char *
tree_listing (const char *root)
{
  char *cmd = NULL, *out = NULL;
  assert_true (asprintf (&cmd,
                         "cd '%s' && find . -printf '%%p %%y %%m %%u:%%g %%l\\n' | LC_ALL=C sort",
                         root)
               > 0);
  FILE *f = popen (cmd, "r");
  assert_non_null (f);
  size_t len = 0;
  FILE *mem = open_memstream (&out, &len);
  char buf[4096];
  size_t n;
  while ((n = fread (buf, 1, sizeof buf, f)) > 0)
    fwrite (buf, 1, n, mem);
  assert_int_equal (pclose (f), 0);
  fclose (mem);
  free (cmd);
  return out;
}

/* scripts/busybox-rootfs.sh, the shell's builder, makes the same tree. */
static void
same_tree_as_the_script (void **state)
{
  const char *src = getenv ("FIRKIN_SRC");
  if (src == NULL || geteuid () != 0 || access (FK_BENCH_BUSYBOX, X_OK) != 0)
    skip ();
  char *dir = test_tmpdir ();
  char *c_root = NULL, *sh_root = NULL, *cmd = NULL;
  assert_true (asprintf (&c_root, "%s/c", dir) > 0);
  assert_true (asprintf (&sh_root, "%s/sh", dir) > 0);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_bench_busybox_rootfs (c_root, FK_BENCH_BUSYBOX, &err), 0);
  assert_true (asprintf (&cmd, "'%s/scripts/busybox-rootfs.sh' '%s'", src, sh_root) > 0);
  assert_int_equal (system (cmd), 0);
  char *a = tree_listing (c_root), *b = tree_listing (sh_root);
  assert_true (strlen (a) > 1000);
  assert_string_equal (a, b);
  free (a);
  free (b);
  free (cmd);
  free (sh_root);
  free (c_root);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (builds_a_busybox_root),
    cmocka_unit_test (names_a_missing_busybox),
    cmocka_unit_test (refuses_a_dynamic_busybox),
    cmocka_unit_test (same_tree_as_the_script),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
