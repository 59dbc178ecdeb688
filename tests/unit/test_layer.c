/* Unit tests for image/layer: tars built here with libarchive's writer (and a few headers built
   by hand), applied into an empty root beside a canary that must never change. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/xalloc.h"
#include "image/layer.h"

/* ---- scratch layout: DIR/root (the layer root), DIR/canary, DIR/outside/ ---- */

typedef struct fixture
{
  char *dir, *root, *canary, *outside;
  int rootfd;
  struct stat etc_passwd, etc_shadow;
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  f->dir = test_tmpdir ();
  f->root = xasprintf ("%s/root", f->dir);
  f->canary = xasprintf ("%s/canary", f->dir);
  f->outside = xasprintf ("%s/outside", f->dir);
  assert_int_equal (mkdir (f->root, 0755), 0);
  assert_int_equal (mkdir (f->outside, 0755), 0);
  FILE *c = fopen (f->canary, "w");
  assert_non_null (c);
  fputs ("canary", c);
  fclose (c);
  f->rootfd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (f->rootfd >= 0);
  stat ("/etc/passwd", &f->etc_passwd);
  stat ("/etc/shadow", &f->etc_shadow);
  *state = f;
  return 0;
}

/* Nothing outside the root changed: the canary, the directory beside the root, /etc. */
static void
assert_outside_unchanged (const fixture_t *f)
{
  char buf[64] = {0};
  int fd = open (f->canary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (read (fd, buf, sizeof buf - 1), 6);
  close (fd);
  assert_string_equal (buf, "canary");
  struct stat st;
  assert_int_equal (lstat (f->canary, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  assert_int_equal (st.st_nlink, 1);
  DIR *d = opendir (f->outside);
  assert_non_null (d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)) != NULL)
    n += strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0;
  closedir (d);
  assert_int_equal (n, 0);
  /* The tmpdir holds only what setup made. */
  d = opendir (f->dir);
  n = 0;
  while ((de = readdir (d)) != NULL)
    n += strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0;
  closedir (d);
  assert_int_equal (n, 3);
  struct stat p, s;
  if (stat ("/etc/passwd", &p) == 0)
    {
      assert_int_equal (p.st_mtim.tv_sec, f->etc_passwd.st_mtim.tv_sec);
      assert_int_equal (p.st_nlink, f->etc_passwd.st_nlink);
    }
  if (stat ("/etc/shadow", &s) == 0)
    {
      assert_int_equal (s.st_mtim.tv_sec, f->etc_shadow.st_mtim.tv_sec);
      assert_int_equal (s.st_nlink, f->etc_shadow.st_nlink);
    }
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  assert_outside_unchanged (f);
  close (f->rootfd);
  test_tmpdir_free (f->dir);
  free (f->root);
  free (f->canary);
  free (f->outside);
  free (f);
  return 0;
}

/* ---- building tars ---- */

typedef struct tb
{
  struct archive *a;
  int fd;
} tb_t;

static tb_t
tb_new (const char *filter)
{
  tb_t t = {.a = archive_write_new (), .fd = memfd_create ("layer", MFD_CLOEXEC)};
  assert_non_null (t.a);
  assert_true (t.fd >= 0);
  assert_int_equal (archive_write_set_format_pax_restricted (t.a), ARCHIVE_OK);
  if (filter && strcmp (filter, "gzip") == 0)
    assert_int_equal (archive_write_add_filter_gzip (t.a), ARCHIVE_OK);
  else if (filter && strcmp (filter, "zstd") == 0)
    assert_int_equal (archive_write_add_filter_zstd (t.a), ARCHIVE_OK);
  assert_int_equal (archive_write_open_fd (t.a, t.fd), ARCHIVE_OK);
  return t;
}

typedef struct ent
{
  const char *path;
  mode_t type; /* AE_IFREG, ... */
  mode_t perm;
  const char *data;       /* regular files */
  const char *link;       /* symlink target */
  const char *hardlink;   /* hard link target */
  unsigned uid, gid;
  time_t mtime;
  unsigned rmajor, rminor;
  const char *xattr_name; /* one xattr */
  const char *xattr_value;
} ent_t;

static void
tb_add (tb_t *t, ent_t x)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_set_pathname (e, x.path);
  archive_entry_set_filetype (e, x.type ? x.type : AE_IFREG);
  archive_entry_set_perm (e, x.perm ? x.perm : 0644);
  archive_entry_set_uid (e, x.uid);
  archive_entry_set_gid (e, x.gid);
  archive_entry_set_mtime (e, x.mtime ? x.mtime : 1700000000, 0);
  if (x.link)
    archive_entry_set_symlink (e, x.link);
  if (x.hardlink)
    archive_entry_set_hardlink (e, x.hardlink);
  if (x.rmajor || x.rminor)
    archive_entry_set_rdev (e, makedev (x.rmajor, x.rminor));
  if (x.xattr_name)
    archive_entry_xattr_add_entry (e, x.xattr_name, x.xattr_value, strlen (x.xattr_value));
  size_t len = x.data ? strlen (x.data) : 0;
  archive_entry_set_size (e, (la_int64_t) len);
  assert_int_equal (archive_write_header (t->a, e), ARCHIVE_OK);
  if (len)
    assert_int_equal (archive_write_data (t->a, x.data, len), (la_ssize_t) len);
  archive_entry_free (e);
}

#define FILE_(p, d) tb_add (&t, (ent_t){.path = (p), .data = (d)})
#define DIR_(p) tb_add (&t, (ent_t){.path = (p), .type = AE_IFDIR, .perm = 0755})
#define SYMLINK_(p, l) tb_add (&t, (ent_t){.path = (p), .type = AE_IFLNK, .perm = 0777, .link = (l)})
#define HARDLINK_(p, l) tb_add (&t, (ent_t){.path = (p), .hardlink = (l)})

/* Closes the archive; returns the blob fd rewound. */
static int
tb_finish (tb_t *t)
{
  assert_int_equal (archive_write_close (t->a), ARCHIVE_OK);
  archive_write_free (t->a);
  assert_int_equal (lseek (t->fd, 0, SEEK_SET), 0);
  return t->fd;
}

static void
append_bytes (int fd, const void *p, size_t len)
{
  assert_true (lseek (fd, 0, SEEK_END) >= 0);
  assert_int_equal (write (fd, p, len), (ssize_t) len);
  assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
}

static int
apply (fixture_t *f, int blobfd, const fk_layer_opts_t *opts, fk_layer_stats_t *st,
       fk_error_t *err)
{
  int r = fk_layer_apply (f->rootfd, blobfd, opts, st, err);
  close (blobfd);
  return r;
}

static char *
root_path (const fixture_t *f, const char *p)
{
  return xasprintf ("%s/%s", f->root, p);
}

static char *
read_in_root (const fixture_t *f, const char *p)
{
  cleanup_free char *path = root_path (f, p);
  char *buf = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, path, 1 << 20, &buf, NULL, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  return buf;
}

static int
lstat_in_root (const fixture_t *f, const char *p, struct stat *st)
{
  cleanup_free char *path = root_path (f, p);
  return lstat (path, st);
}

/* ---- ordinary layers ---- */

static void
keeps_types_modes_owners_times_xattrs (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  tb_add (&t, (ent_t){.path = "./", .type = AE_IFDIR, .perm = 0755});
  tb_add (&t, (ent_t){.path = "etc/", .type = AE_IFDIR, .perm = 0750, .uid = 7, .gid = 8,
                      .mtime = 1600000000});
  tb_add (&t, (ent_t){.path = "etc/passwd", .data = "root:x:0:0::/root:/bin/sh\n", .perm = 0644,
                      .mtime = 1500000000, .xattr_name = "user.firkin", .xattr_value = "yes"});
  tb_add (&t, (ent_t){.path = "bin/su", .data = "#!", .perm = 04755, .uid = 0, .gid = 0});
  tb_add (&t, (ent_t){.path = "bin/wall", .data = "#!", .perm = 02755, .uid = 1000, .gid = 5});
  SYMLINK_ ("bin/sh", "busybox");
  SYMLINK_ ("etc/abs", "/etc/passwd");
  HARDLINK_ ("bin/su2", "bin/su");
  tb_add (&t, (ent_t){.path = "run/fifo", .type = AE_IFIFO, .perm = 0620, .uid = 3, .gid = 4});
  tb_add (&t, (ent_t){.path = "usr/share/empty", .data = ""});
  fk_error_t err = FK_ERROR_INIT;
  fk_layer_stats_t st;
  assert_int_equal (apply (f, tb_finish (&t), NULL, &st, &err), 0);
  assert_int_equal (st.entries, 10);
  assert_int_equal (st.compression, FK_LAYER_COMPRESSION_NONE);
  assert_int_equal (st.unpacked_size, strlen ("root:x:0:0::/root:/bin/sh\n") + 4);

  struct stat s;
  assert_int_equal (lstat_in_root (f, "etc", &s), 0);
  assert_true (S_ISDIR (s.st_mode));
  assert_int_equal (s.st_mode & 07777, 0750);
  assert_int_equal (s.st_uid, 7);
  assert_int_equal (s.st_gid, 8);
  /* The directory's mtime survives the files created in it afterwards. */
  assert_int_equal (s.st_mtim.tv_sec, 1600000000);

  cleanup_free char *pw = read_in_root (f, "etc/passwd");
  assert_string_equal (pw, "root:x:0:0::/root:/bin/sh\n");
  assert_int_equal (lstat_in_root (f, "etc/passwd", &s), 0);
  assert_int_equal (s.st_mtim.tv_sec, 1500000000);
  cleanup_free char *pwpath = root_path (f, "etc/passwd");
  char xv[16] = {0};
  ssize_t xl = getxattr (pwpath, "user.firkin", xv, sizeof xv);
  if (xl < 0 && errno == ENOTSUP)
    print_message ("# user xattrs not supported on this filesystem\n");
  else
    {
      assert_int_equal (xl, 3);
      assert_string_equal (xv, "yes");
    }

  assert_int_equal (lstat_in_root (f, "bin/su", &s), 0);
  assert_int_equal (s.st_mode & 07777, 04755);
  assert_int_equal (s.st_nlink, 2);
  ino_t ino = s.st_ino;
  assert_int_equal (lstat_in_root (f, "bin/su2", &s), 0);
  assert_int_equal (s.st_ino, ino);
  assert_int_equal (lstat_in_root (f, "bin/wall", &s), 0);
  assert_int_equal (s.st_mode & 07777, 02755);
  assert_int_equal (s.st_uid, 1000);
  assert_int_equal (s.st_gid, 5);

  cleanup_free char *sh = root_path (f, "bin/sh");
  char target[64] = {0};
  assert_int_equal (readlink (sh, target, sizeof target - 1), 7);
  assert_string_equal (target, "busybox");
  /* An absolute symlink is stored as it is: it points at the host only if followed. */
  cleanup_free char *abs = root_path (f, "etc/abs");
  memset (target, 0, sizeof target);
  assert_int_equal (readlink (abs, target, sizeof target - 1), 11);
  assert_string_equal (target, "/etc/passwd");

  assert_int_equal (lstat_in_root (f, "run/fifo", &s), 0);
  assert_true (S_ISFIFO (s.st_mode));
  assert_int_equal (s.st_mode & 07777, 0620);
  assert_int_equal (s.st_uid, 3);
  /* A parent missing from the tar is created. */
  assert_int_equal (lstat_in_root (f, "usr/share", &s), 0);
  assert_true (S_ISDIR (s.st_mode));
}

/* diff_id is the sha256 of the uncompressed stream, whatever the compression. */
static void
diff_id_is_the_uncompressed_digest (void **state)
{
  fixture_t *f = *state;
  const char *filters[] = {NULL, "gzip", "zstd"};
  const fk_layer_compression_t expect[] = {FK_LAYER_COMPRESSION_NONE, FK_LAYER_COMPRESSION_GZIP,
                                           FK_LAYER_COMPRESSION_ZSTD};
  char ref[FK_DIGEST_STR_LEN] = {0};
  for (int i = 0; i < 3; i++)
    {
      tb_t t = tb_new (filters[i]);
      DIR_ ("a");
      FILE_ ("a/one", "1");
      FILE_ ("a/two", "22");
      int fd = tb_finish (&t);
      if (i == 0)
        {
          fk_error_t e2 = FK_ERROR_INIT;
          uint64_t size;
          assert_int_equal (fk_sha256_fd (fd, ref, &size, &e2), 0);
          assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
        }
      cleanup_free char *sub = xasprintf ("%s/l%d", f->root, i);
      assert_int_equal (mkdir (sub, 0755), 0);
      int subfd = open (sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      fk_error_t err = FK_ERROR_INIT;
      fk_layer_stats_t st;
      assert_int_equal (fk_layer_apply (subfd, fd, NULL, &st, &err), 0);
      close (subfd);
      close (fd);
      assert_string_equal (st.diff_id, ref);
      assert_int_equal (st.compression, expect[i]);
      cleanup_free char *p = xasprintf ("l%d/a/two", i);
      cleanup_free char *c = read_in_root (f, p);
      assert_string_equal (c, "22");
    }
}

static int
has_opaque (const fixture_t *f, const char *p)
{
  cleanup_free char *path = root_path (f, p);
  char v[4] = {0};
  return getxattr (path, "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y';
}

static void
whiteouts_and_opaque_dirs (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new ("gzip");
  DIR_ ("etc");
  FILE_ ("etc/.wh.motd", "");
  FILE_ (".wh.tmp", "");
  DIR_ ("var/cache");
  FILE_ ("var/cache/.wh..wh..opq", "");
  FILE_ ("var/cache/new", "n");
  /* A whiteout and a directory of the same name in one layer: the directory stays, opaque. */
  FILE_ (".wh.opt", "");
  DIR_ ("opt");
  fk_error_t err = FK_ERROR_INIT;
  fk_layer_stats_t st;
  assert_int_equal (apply (f, tb_finish (&t), NULL, &st, &err), 0);
  assert_int_equal (st.whiteouts, 3);
  assert_int_equal (st.opaque_dirs, 1);
  struct stat s;
  assert_int_equal (lstat_in_root (f, "etc/motd", &s), 0);
  assert_true (S_ISCHR (s.st_mode));
  assert_int_equal (s.st_rdev, makedev (0, 0));
  assert_int_equal (lstat_in_root (f, "tmp", &s), 0);
  assert_true (S_ISCHR (s.st_mode));
  assert_int_not_equal (lstat_in_root (f, ".wh.tmp", &s), 0);
  assert_true (has_opaque (f, "var/cache"));
  assert_false (has_opaque (f, "var"));
  assert_int_equal (lstat_in_root (f, "opt", &s), 0);
  assert_true (S_ISDIR (s.st_mode));
  assert_true (has_opaque (f, "opt"));
}

static void
later_entries_replace_earlier (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  DIR_ ("x");
  FILE_ ("x/inner", "i");
  FILE_ ("x", "now a file");
  FILE_ ("y", "a file");
  DIR_ ("y");
  FILE_ ("z", "old");
  FILE_ ("z", "new");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), 0);
  cleanup_free char *x = read_in_root (f, "x");
  assert_string_equal (x, "now a file");
  cleanup_free char *z = read_in_root (f, "z");
  assert_string_equal (z, "new");
  struct stat s;
  assert_int_equal (lstat_in_root (f, "y", &s), 0);
  assert_true (S_ISDIR (s.st_mode));
}

/* ---- hostile layers: rejected or contained, the error says why, nothing outside changes ---- */

static void
dotdot_is_rejected (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  FILE_ ("ok", "fine");
  FILE_ ("../escape", "pwned");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "layer entry `../escape': path `../escape' has a `..' component");

  t = tb_new (NULL);
  FILE_ ("a/../../outside/x", "pwned");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "has a `..' component");
}

static void
absolute_paths_stay_in_the_root (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  /* The canary's own host path: it lands below the root instead. */
  tb_add (&t, (ent_t){.path = f->canary, .data = "pwned"});
  tb_add (&t, (ent_t){.path = "/abs", .data = "abs"});
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), 0);
  cleanup_free char *c = read_in_root (f, f->canary + 1);
  assert_string_equal (c, "pwned");
  cleanup_free char *a = read_in_root (f, "abs");
  assert_string_equal (a, "abs");
}

static void
no_write_through_a_symlink (void **state)
{
  fixture_t *f = *state;
  const char *targets[] = {"/etc", f->outside, "../..", "."};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
    {
      tb_t t = tb_new (NULL);
      SYMLINK_ ("link", targets[i]);
      FILE_ ("link/passwd", "pwned");
      fk_error_t err = FK_ERROR_INIT;
      assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
      assert_error_contains (&err, "layer entry `link/passwd': `link' is a symlink of this layer: "
                                   "refusing to write through it");
    }
  /* Deeper: a symlinked directory in the middle of the path, and an absolute entry path. */
  tb_t t = tb_new (NULL);
  DIR_ ("a");
  SYMLINK_ ("a/b", f->outside);
  FILE_ ("/a/b/c/d", "pwned");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "`b' is a symlink");
  /* A whiteout and an opaque marker through a symlink are refused the same way. */
  t = tb_new (NULL);
  SYMLINK_ ("w", f->outside);
  FILE_ ("w/.wh.x", "");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "refusing to write through it");
  t = tb_new (NULL);
  SYMLINK_ ("o", f->outside);
  FILE_ ("o/.wh..wh..opq", "");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "refusing to write through it");
}

static void
a_file_replaces_a_symlink_instead_of_following_it (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  SYMLINK_ ("esc", f->canary);
  FILE_ ("esc", "pwned");
  SYMLINK_ ("esc2", f->outside);
  DIR_ ("esc2");
  FILE_ ("esc2/x", "inside");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), 0);
  struct stat s;
  assert_int_equal (lstat_in_root (f, "esc", &s), 0);
  assert_true (S_ISREG (s.st_mode));
  cleanup_free char *c = read_in_root (f, "esc");
  assert_string_equal (c, "pwned");
  assert_int_equal (lstat_in_root (f, "esc2", &s), 0);
  assert_true (S_ISDIR (s.st_mode));
}

static void
hard_links_stay_in_the_layer (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  tb_t t = tb_new (NULL);
  HARDLINK_ ("shadow", "/etc/shadow");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "layer entry `shadow': hard link target `/etc/shadow' is not an "
                               "earlier entry of the layer");

  t = tb_new (NULL);
  tb_add (&t, (ent_t){.path = "canary", .hardlink = f->canary});
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "is not an earlier entry of the layer");

  t = tb_new (NULL);
  HARDLINK_ ("c", "../canary");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "hard link target `../canary' has a `..' component");

  /* Through a symlink of the layer: refused, the target is never resolved through it. */
  t = tb_new (NULL);
  SYMLINK_ ("etc", "/etc");
  HARDLINK_ ("shadow", "etc/shadow");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "is not an earlier entry of the layer");

  /* To a symlink that escapes: the link is to the symlink itself, never to what it names. */
  t = tb_new (NULL);
  SYMLINK_ ("esc", f->canary);
  HARDLINK_ ("h", "esc");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), 0);
  struct stat s, s2;
  assert_int_equal (lstat_in_root (f, "h", &s), 0);
  assert_true (S_ISLNK (s.st_mode));
  assert_int_equal (lstat_in_root (f, "esc", &s2), 0);
  assert_int_equal (s.st_ino, s2.st_ino);

  t = tb_new (NULL);
  DIR_ ("d");
  HARDLINK_ ("dl", "d");
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "hard link to the directory");
}

static void
device_nodes_are_skipped (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  tb_add (&t, (ent_t){.path = "dev/sda", .type = AE_IFBLK, .perm = 0660, .rmajor = 8});
  tb_add (&t, (ent_t){.path = "dev/mem", .type = AE_IFCHR, .perm = 0640, .rmajor = 1,
                      .rminor = 1});
  /* A 0/0 char device in a tar is not a whiteout either (those are `.wh.' files). */
  tb_add (&t, (ent_t){.path = "dev/zero00", .type = AE_IFCHR, .perm = 0});
  FILE_ ("dev/keep", "k");
  fk_error_t err = FK_ERROR_INIT;
  fk_layer_stats_t st;
  assert_int_equal (apply (f, tb_finish (&t), NULL, &st, &err), 0);
  assert_int_equal (st.skipped, 3);
  struct stat s;
  assert_int_not_equal (lstat_in_root (f, "dev/sda", &s), 0);
  assert_int_not_equal (lstat_in_root (f, "dev/mem", &s), 0);
  assert_int_not_equal (lstat_in_root (f, "dev/zero00", &s), 0);
  assert_int_equal (lstat_in_root (f, "dev/keep", &s), 0);
}

static void
overlay_xattrs_from_the_image_are_dropped (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  tb_add (&t, (ent_t){.path = "d", .type = AE_IFDIR, .perm = 0755,
                      .xattr_name = "trusted.overlay.opaque", .xattr_value = "y"});
  tb_add (&t, (ent_t){.path = "r", .data = "r", .xattr_name = "trusted.overlay.redirect",
                      .xattr_value = "/etc"});
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), 0);
  assert_false (has_opaque (f, "d"));
  cleanup_free char *r = root_path (f, "r");
  char v[8];
  assert_true (getxattr (r, "trusted.overlay.redirect", v, sizeof v) < 0);
}

static void
bad_whiteouts_are_rejected (void **state)
{
  fixture_t *f = *state;
  const char *names[] = {".wh.", "a/.wh..", "a/.wh..wh.foo"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    {
      tb_t t = tb_new (NULL);
      FILE_ (names[i], "");
      fk_error_t err = FK_ERROR_INIT;
      assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
      assert_error_contains (&err, "whiteout names no file");
    }
}

/* A ustar header by hand: libarchive's writer would pad a huge claimed size with zeros. */
static void
raw_header (unsigned char h[512], const char *name, uint64_t size)
{
  memset (h, 0, 512);
  snprintf ((char *) h, 100, "%s", name);
  memcpy (h + 100, "0000644", 8);
  memcpy (h + 108, "0000000", 8);
  memcpy (h + 116, "0000000", 8);
  /* base-256 size (GNU): beyond the 8 GiB of 11 octal digits */
  h[124] = 0x80;
  for (int i = 0; i < 8; i++)
    h[135 - i] = (unsigned char) (size >> (8 * i));
  memcpy (h + 136, "14000000000", 12);
  h[156] = '0';
  memcpy (h + 257, "ustar", 6);
  memcpy (h + 263, "00", 2);
  memset (h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++)
    sum += h[i];
  snprintf ((char *) h + 148, 8, "%06o", sum);
}

static void
huge_claims_are_capped (void **state)
{
  fixture_t *f = *state;
  const uint64_t ten_gb = UINT64_C (10) << 30;
  unsigned char h[512];
  raw_header (h, "huge", ten_gb);
  int fd = memfd_create ("huge", MFD_CLOEXEC);
  append_bytes (fd, h, sizeof h);
  append_bytes (fd, "some data", 9);
  fk_layer_opts_t opts = {.max_size = UINT64_C (1) << 30};
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, fd, &opts, NULL, &err), -1);
  assert_int_equal (err.code, EFBIG);
  assert_error_contains (&err, "layer entry `huge': claims 10737418240 bytes: over the layer size "
                               "limit of 1073741824 bytes");
  struct stat s;
  assert_int_not_equal (lstat_in_root (f, "huge", &s), 0);

  /* Under the default cap, the same claim with its data missing is a truncated stream. */
  fd = memfd_create ("huge", MFD_CLOEXEC);
  append_bytes (fd, h, sizeof h);
  append_bytes (fd, "some data", 9);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "layer entry `huge'");

  /* Many files adding up past the cap. */
  tb_t t = tb_new (NULL);
  FILE_ ("a", "0123456789");
  FILE_ ("b", "0123456789");
  opts.max_size = 15;
  assert_int_equal (apply (f, tb_finish (&t), &opts, NULL, &err), -1);
  assert_error_contains (&err, "layer entry `b': claims 10 bytes: over the layer size limit of 15 "
                               "bytes (10 unpacked before it)");
}

/* A sparse 10 GiB file (pax GNU.sparse): counted at its full length, written with its holes. */
static void
sparse_claims_count_their_full_length (void **state)
{
  fixture_t *f = *state;
  const la_int64_t ten_gb = INT64_C (10) << 30;
  for (int capped = 1; capped >= 0; capped--)
    {
      tb_t t = tb_new ("gzip");
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, "sparse");
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_size (e, ten_gb);
      archive_entry_sparse_add_entry (e, 0, 4096);
      archive_entry_sparse_add_entry (e, ten_gb - 4096, 4096);
      assert_int_equal (archive_write_header (t.a, e), ARCHIVE_OK);
      char block[4096];
      memset (block, 'x', sizeof block);
      assert_int_equal (archive_write_data (t.a, block, sizeof block), (la_ssize_t) sizeof block);
      archive_entry_free (e);
      int fd = tb_finish (&t);
      fk_layer_opts_t opts = {.max_size = capped ? UINT64_C (1) << 30 : 0};
      fk_error_t err = FK_ERROR_INIT;
      fk_layer_stats_t st;
      int r = apply (f, fd, &opts, &st, &err);
      if (capped)
        {
          assert_int_equal (r, -1);
          assert_error_contains (&err, "over the layer size limit");
          continue;
        }
      if (r < 0)
        fail_msg ("%s", fk_error_message (&err));
      struct stat s;
      assert_int_equal (lstat_in_root (f, "sparse", &s), 0);
      assert_int_equal (s.st_size, ten_gb);
      /* Holes stay holes: far less than the claimed size is allocated. */
      assert_true ((uint64_t) s.st_blocks * 512 < (UINT64_C (1) << 20));
      assert_int_equal (st.unpacked_size, (uint64_t) ten_gb);
    }
}

static int
gzip_layer (void)
{
  tb_t t = tb_new ("gzip");
  DIR_ ("d");
  for (int i = 0; i < 50; i++)
    {
      char name[32], data[64];
      snprintf (name, sizeof name, "d/f%d", i);
      snprintf (data, sizeof data, "file %d with some text to compress", i);
      FILE_ (name, data);
    }
  return tb_finish (&t);
}

static void
truncated_and_trailing_streams_are_rejected (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* Truncated gzip: half the blob. */
  int fd = gzip_layer ();
  struct stat s;
  assert_int_equal (fstat (fd, &s), 0);
  assert_int_equal (ftruncate (fd, s.st_size / 2), 0);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "truncated gzip input");

  /* Garbage after the gzip stream. */
  fd = gzip_layer ();
  append_bytes (fd, "GARBAGE", 7);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "7 bytes after the end of the compressed stream");

  /* Garbage after the tar end-of-archive marker, and zero padding that is fine. */
  tb_t t = tb_new (NULL);
  FILE_ ("a", "a");
  fd = tb_finish (&t);
  append_bytes (fd, "GARBAGE", 7);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "data after the end of the tar archive");
  t = tb_new (NULL);
  FILE_ ("b", "b");
  fd = tb_finish (&t);
  char zeros[4096] = {0};
  append_bytes (fd, zeros, sizeof zeros);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), 0);

  /* Not a tar at all, and a compression OCI does not allow. */
  fd = memfd_create ("x", MFD_CLOEXEC);
  append_bytes (fd, "hello, this is not a tar archive", 32);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "Unrecognized archive format");
  fd = memfd_create ("x", MFD_CLOEXEC);
  append_bytes (fd, "\xfd" "7zXZ\0\0\0\0\0\0", 12);
  assert_int_equal (apply (f, fd, NULL, NULL, &err), -1);
  assert_error_contains (&err, "layer is xz-compressed");
}

static void
entries_below_a_file_are_rejected (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  FILE_ ("f", "f");
  FILE_ ("f/x", "x");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "layer entry `f/x': `f' is not a directory");
}

/* The store unpacks into tmp/ and removes it on failure: a partial tree with locked-down
   modes must still be removable. */
static void
a_failed_apply_leaves_a_removable_tree (void **state)
{
  fixture_t *f = *state;
  tb_t t = tb_new (NULL);
  tb_add (&t, (ent_t){.path = "locked/deep/file", .data = "x", .perm = 0});
  tb_add (&t, (ent_t){.path = "locked/deep", .type = AE_IFDIR, .perm = 0});
  tb_add (&t, (ent_t){.path = "locked", .type = AE_IFDIR, .perm = 0});
  FILE_ ("../boom", "");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (apply (f, tb_finish (&t), NULL, NULL, &err), -1);
  assert_error_contains (&err, "`../boom'");
  assert_int_equal (fk_rm_rf_at (AT_FDCWD, f->root, &err), 0);
  struct stat s;
  assert_int_not_equal (lstat (f->root, &s), 0);
  /* Recreate it for teardown's count of the scratch directory. */
  assert_int_equal (mkdir (f->root, 0755), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (keeps_types_modes_owners_times_xattrs, setup, teardown),
    cmocka_unit_test_setup_teardown (diff_id_is_the_uncompressed_digest, setup, teardown),
    cmocka_unit_test_setup_teardown (whiteouts_and_opaque_dirs, setup, teardown),
    cmocka_unit_test_setup_teardown (later_entries_replace_earlier, setup, teardown),
    cmocka_unit_test_setup_teardown (dotdot_is_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown (absolute_paths_stay_in_the_root, setup, teardown),
    cmocka_unit_test_setup_teardown (no_write_through_a_symlink, setup, teardown),
    cmocka_unit_test_setup_teardown (a_file_replaces_a_symlink_instead_of_following_it, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (hard_links_stay_in_the_layer, setup, teardown),
    cmocka_unit_test_setup_teardown (device_nodes_are_skipped, setup, teardown),
    cmocka_unit_test_setup_teardown (overlay_xattrs_from_the_image_are_dropped, setup, teardown),
    cmocka_unit_test_setup_teardown (bad_whiteouts_are_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown (huge_claims_are_capped, setup, teardown),
    cmocka_unit_test_setup_teardown (sparse_claims_count_their_full_length, setup, teardown),
    cmocka_unit_test_setup_teardown (truncated_and_trailing_streams_are_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown (entries_below_a_file_are_rejected, setup, teardown),
    cmocka_unit_test_setup_teardown (a_failed_apply_leaves_a_removable_tree, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
