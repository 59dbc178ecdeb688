/* Unit tests for image/upper: a fake overlay upper dir (whiteout devices, overlay xattrs, host
   owners of an id range, hard links, hostile names and links) turned into a layer tar, read
   back with libarchive and applied with fk_layer_apply. Needs root (mknod, trusted.*). */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <sys/xattr.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "image/layer.h"
#include "image/upper.h"

#define BASE 2000000000u
#define SIZE 65536u

typedef struct fixture
{
  char *dir;
  int upper, lower, out;
} fixture_t;

static int
setup (void **state)
{
  if (geteuid () != 0)
    {
      print_message ("# skip: needs root (whiteout devices, trusted.overlay xattrs)\n");
      return -1;
    }
  fixture_t *f = xcalloc (1, sizeof *f);
  f->dir = test_tmpdir ();
  int d = open (f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (mkdirat (d, "upper", 0755), 0);
  assert_int_equal (mkdirat (d, "lower", 0755), 0);
  f->upper = openat (d, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->lower = openat (d, "lower", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  f->out = openat (d, "layer.tar", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  close (d);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  close (f->upper);
  close (f->lower);
  close (f->out);
  test_tmpdir_free (f->dir);
  free (f);
  return 0;
}

static void
put (int dirfd, const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid)
{
  int fd = openat (dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  assert_true (fd >= 0);
  if (content)
    assert_int_equal (write (fd, content, strlen (content)), (ssize_t)strlen (content));
  assert_int_equal (fchown (fd, uid, gid), 0);
  assert_int_equal (fchmod (fd, mode), 0);
  close (fd);
}

static void
dir (int dirfd, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
  assert_int_equal (mkdirat (dirfd, path, mode), 0);
  assert_int_equal (fchownat (dirfd, path, uid, gid, 0), 0);
  assert_int_equal (fchmodat (dirfd, path, mode, 0), 0);
}

static void
xattr (int dirfd, const char *path, const char *name, const void *v, size_t n)
{
  int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC);
  assert_true (fd >= 0);
  assert_int_equal (fsetxattr (fd, name, v, n, 0), 0);
  close (fd);
}

/* The tar's entries, one line each: "path type uid:gid mode size [-> link] [xattr names]". */
static char *
listing (int fd)
{
  lseek (fd, 0, SEEK_SET);
  struct archive *a = archive_read_new ();
  archive_read_support_format_tar (a);
  assert_int_equal (archive_read_open_fd (a, fd, 4096), ARCHIVE_OK);
  size_t cap = 4096, len = 0;
  char *out = xcalloc (1, cap);
  struct archive_entry *e;
  while (archive_read_next_header (a, &e) == ARCHIVE_OK)
    {
      char line[1024];
      const char *hl = archive_entry_hardlink (e), *sl = archive_entry_symlink (e);
      int n
          = snprintf (line, sizeof line, "%s %c %lld:%lld %o %lld%s%s", archive_entry_pathname (e),
                      hl                                       ? 'h'
                      : archive_entry_filetype (e) == AE_IFDIR ? 'd'
                      : archive_entry_filetype (e) == AE_IFLNK ? 'l'
                      : archive_entry_filetype (e) == AE_IFIFO ? 'p'
                                                               : 'f',
                      (long long)archive_entry_uid (e), (long long)archive_entry_gid (e),
                      (unsigned)archive_entry_perm (e), (long long)archive_entry_size (e),
                      hl || sl ? " -> " : "",
                      hl   ? hl
                      : sl ? sl
                           : "");
      /* xattr names sorted, once each (the pax reader gives both of libarchive's records). */
      const char *name, *names[16];
      const void *v;
      size_t vn, nn = 0;
      archive_entry_xattr_reset (e);
      while (archive_entry_xattr_next (e, &name, &v, &vn) == ARCHIVE_OK && nn < 16)
        {
          size_t at = 0;
          while (at < nn && strcmp (names[at], name) < 0)
            at++;
          if (at < nn && strcmp (names[at], name) == 0)
            continue;
          memmove (names + at + 1, names + at, (nn - at) * sizeof *names);
          names[at] = name;
          nn++;
        }
      for (size_t i = 0; i < nn; i++)
        n += snprintf (line + n, sizeof line - (size_t)n, " %s", names[i]);
      xgrow ((void **)&out, &cap, len + (size_t)n + 2, 1);
      memcpy (out + len, line, (size_t)n);
      len += (size_t)n;
      out[len++] = '\n';
      out[len] = '\0';
    }
  archive_read_free (a);
  return out;
}

static int
capture (fixture_t *f, const fk_upper_opts_t *o, fk_upper_stats_t *st, fk_error_t *err)
{
  assert_int_equal (ftruncate (f->out, 0), 0);
  lseek (f->out, 0, SEEK_SET);
  return fk_upper_to_layer (f->upper, o, f->out, st, err);
}

/* The fixture's upper dir (over its lower) with one of each kind of change. */
static void
rich_upper (fixture_t *f)
{
  /* The lower layer: /etc (0755 0:0) and /srv/keep, as an image has them. */
  dir (f->lower, "etc", 0755, 0, 0);
  dir (f->lower, "srv", 0755, 0, 0);
  /* The upper dir as overlay leaves it, owners in the sandbox's host range. */
  dir (f->upper, "etc", 0755, BASE, BASE);
  xattr (f->upper, "etc", "trusted.overlay.origin", "x", 1);
  put (f->upper, "etc/hosts", "runtime\n", 0644, BASE, BASE);
  assert_int_equal (mknodat (f->upper, "etc/motd", S_IFCHR | 0, makedev (0, 0)), 0);
  dir (f->upper, "srv", 0755, BASE, BASE); /* copied up, nothing below: left out */
  xattr (f->upper, "srv", "trusted.overlay.origin", "x", 1);
  dir (f->upper, "opt", 0750, BASE + 1000, BASE + 33);
  xattr (f->upper, "opt", "trusted.overlay.opaque", "y", 1);
  xattr (f->upper, "opt", "trusted.overlay.impure", "y", 1);
  put (f->upper, "opt/a", "aaa", 04755, BASE + 1000, BASE + 1000);
  assert_int_equal (linkat (f->upper, "opt/a", f->upper, "opt/b", 0), 0);
  xattr (f->upper, "opt/a", "user.note", "hello", 5);
  put (f->upper, "opt/foreign", "x", 0644, 12345, 7); /* outside the range: nobody */
  put (f->upper, "opt/name\nwith newline", "n", 0600, BASE, BASE);
  assert_int_equal (symlinkat ("/etc/shadow", f->upper, "opt/out"), 0);
  assert_int_equal (symlinkat ("../../../..", f->upper, "opt/up"), 0);
  assert_int_equal (fchownat (f->upper, "opt/out", BASE, BASE, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (fchownat (f->upper, "opt/up", BASE, BASE, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (mkfifoat (f->upper, "opt/fifo", 0600), 0);
  assert_int_equal (fchownat (f->upper, "opt/fifo", BASE, BASE, AT_SYMLINK_NOFOLLOW), 0);
  /* A v3 (namespaced) capability whose root is the sandbox's root: v2 in the layer. */
  unsigned char caps[24] = { 0 };
  uint32_t magic = 0x03000000u | 1u, root = BASE;
  memcpy (caps, &magic, 4);
  caps[4] = 0x00;
  caps[5] = 0x04; /* cap_net_bind_service (10) */
  memcpy (caps + 20, &root, 4);
  xattr (f->upper, "opt/a", "security.capability", caps, sizeof caps);
}

static const char *const rich_exclude[] = { "etc/hosts", NULL };

static void
changes_become_a_layer (void **state)
{
  fixture_t *f = *state;
  rich_upper (f);
  fk_upper_opts_t o = {
    .id_base = BASE, .id_size = SIZE, .exclude = rich_exclude, .lower_fds = &f->lower, .n_lower = 1
  };
  fk_upper_stats_t st;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (capture (f, &o, &st, &err), 0);
  cleanup_free char *got = listing (f->out);
  assert_string_equal (got, "etc/ d 0:0 755 0\n"
                            "etc/.wh.motd f 0:0 0 0\n"
                            "opt/ d 1000:33 750 0\n"
                            "opt/.wh..wh..opq f 0:0 0 0\n"
                            "opt/a f 1000:1000 4755 3 security.capability user.note\n"
                            "opt/b h 1000:1000 4755 0 -> opt/a security.capability user.note\n"
                            "opt/fifo p 0:0 600 0\n"
                            "opt/foreign f 65534:65534 644 1\n"
                            "opt/name\nwith newline f 0:0 600 1\n"
                            "opt/out l 0:0 777 0 -> /etc/shadow\n"
                            "opt/up l 0:0 777 0 -> ../../../..\n");
  assert_int_equal (st.whiteouts, 1);
  assert_int_equal (st.opaque_dirs, 1);
  assert_int_equal (st.hardlinks, 1);
  assert_int_equal (st.bytes, 3 + 1 + 1); /* a hard link counts once */

  /* The same tree gives the same bytes. */
  char first[FK_DIGEST_STR_LEN];
  memcpy (first, st.diff_id, sizeof first);
  assert_int_equal (capture (f, &o, &st, &err), 0);
  assert_string_equal (first, st.diff_id);

  /* Applied, it is an overlay layer again: whiteout device, opaque xattr, caps as v2. */
  cleanup_free char *outdir = xasprintf ("%s/applied", f->dir);
  assert_int_equal (mkdir (outdir, 0755), 0);
  int ofd = open (outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  lseek (f->out, 0, SEEK_SET);
  fk_layer_stats_t ls;
  assert_int_equal (fk_layer_apply (ofd, f->out, NULL, &ls, &err), 0);
  assert_string_equal (ls.diff_id, st.diff_id);
  struct stat s;
  assert_int_equal (fstatat (ofd, "etc/motd", &s, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISCHR (s.st_mode) && s.st_rdev == makedev (0, 0));
  char v[32];
  cleanup_free char *opt = xasprintf ("%s/opt", outdir), *opt_a = xasprintf ("%s/opt/a", outdir);
  assert_int_equal (getxattr (opt, "trusted.overlay.opaque", v, sizeof v), 1);
  ssize_t cn = getxattr (opt_a, "security.capability", v, sizeof v);
  assert_int_equal (cn, 20);
  assert_int_equal (v[3], 0x02);
  assert_int_equal (fstatat (ofd, "opt/b", &s, 0), 0);
  assert_int_equal (s.st_nlink, 2);
  assert_int_equal (s.st_uid, 1000);
  close (ofd);
}

/* Trees a and b (paths) hold the same entries: type, mode, owner, size, content, link target,
   xattrs, link count, and times (but a whiteout's, and the roots' (top set), which are the
   times they were made). */
static void
same_tree (const char *a, const char *b, int top)
{
  struct stat sa, sb;
  assert_int_equal (lstat (a, &sa), 0);
  assert_int_equal (lstat (b, &sb), 0);
  if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid
      || sa.st_nlink != sb.st_nlink || sa.st_rdev != sb.st_rdev
      || (!S_ISDIR (sa.st_mode) && sa.st_size != sb.st_size)
      || (!top && !S_ISCHR (sa.st_mode) && sa.st_mtim.tv_sec != sb.st_mtim.tv_sec))
    fail_msg ("`%s' and `%s' differ: mode %o/%o owner %d:%d/%d:%d links %d/%d size %lld/%lld "
              "mtime %lld/%lld",
              a, b, (unsigned)sa.st_mode, (unsigned)sb.st_mode, (int)sa.st_uid, (int)sa.st_gid,
              (int)sb.st_uid, (int)sb.st_gid, (int)sa.st_nlink, (int)sb.st_nlink,
              (long long)sa.st_size, (long long)sb.st_size, (long long)sa.st_mtim.tv_sec,
              (long long)sb.st_mtim.tv_sec);
  char la[4096], lb[4096], va[256], vb[256];
  ssize_t na = llistxattr (a, la, sizeof la), nb = llistxattr (b, lb, sizeof lb);
  assert_true (na >= 0 && na == nb);
  for (ssize_t off = 0; off < na; off += (ssize_t)strlen (la + off) + 1)
    {
      ssize_t xa = lgetxattr (a, la + off, va, sizeof va),
              xb = lgetxattr (b, la + off, vb, sizeof vb);
      if (xa < 0 || xa != xb || memcmp (va, vb, (size_t)xa) != 0)
        fail_msg ("`%s' and `%s' differ in xattr `%s'", a, b, la + off);
    }
  if (S_ISLNK (sa.st_mode))
    {
      ssize_t ta = readlink (a, la, sizeof la), tb = readlink (b, lb, sizeof lb);
      assert_true (ta > 0 && ta == tb && memcmp (la, lb, (size_t)ta) == 0);
    }
  if (S_ISREG (sa.st_mode))
    {
      int fa = open (a, O_RDONLY | O_CLOEXEC), fb = open (b, O_RDONLY | O_CLOEXEC);
      assert_true (fa >= 0 && fb >= 0);
      ssize_t ra, rb;
      while ((ra = read (fa, la, sizeof la)) > 0)
        {
          rb = read (fb, lb, (size_t)ra);
          assert_true (rb == ra && memcmp (la, lb, (size_t)ra) == 0);
        }
      assert_int_equal (read (fb, lb, 1), 0);
      close (fa);
      close (fb);
    }
  if (!S_ISDIR (sa.st_mode))
    return;
  struct dirent **ea = NULL, **eb = NULL;
  int ca = scandir (a, &ea, NULL, alphasort), cb = scandir (b, &eb, NULL, alphasort);
  assert_true (ca >= 0 && ca == cb);
  for (int i = 0; i < ca; i++)
    {
      assert_string_equal (ea[i]->d_name, eb[i]->d_name);
      if (strcmp (ea[i]->d_name, ".") != 0 && strcmp (ea[i]->d_name, "..") != 0)
        {
          cleanup_free char *ca_path = xasprintf ("%s/%s", a, ea[i]->d_name);
          cleanup_free char *cb_path = xasprintf ("%s/%s", b, eb[i]->d_name);
          same_tree (ca_path, cb_path, 0);
        }
      free (ea[i]);
      free (eb[i]);
    }
  free (ea);
  free (eb);
}

static void
unpacked_in_the_same_pass (void **state)
{
  fixture_t *f = *state;
  rich_upper (f);
  /* More to unpack: a read-only directory with a file in it, an empty file, a file larger
     than a read, a user.overlay.* xattr (kept in the tar, never in an unpacked layer). */
  dir (f->upper, "ro", 0555, BASE, BASE);
  put (f->upper, "ro/in", "x", 0400, BASE, BASE);
  put (f->upper, "empty", "", 0644, BASE, BASE);
  size_t big = (3u << 20) + 12345;
  cleanup_free char *data = xmalloc (big + 1);
  for (size_t i = 0; i < big; i++)
    data[i] = (char)('a' + (i * 7919) % 26);
  data[big] = '\0';
  put (f->upper, "big", data, 0644, BASE + 1, BASE + 2);
  xattr (f->upper, "big", "user.overlay.opaque", "y", 1);
  fk_upper_opts_t o = {
    .id_base = BASE, .id_size = SIZE, .exclude = rich_exclude, .lower_fds = &f->lower, .n_lower = 1
  };
  fk_upper_stats_t plain;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (capture (f, &o, &plain, &err), 0);

  cleanup_free char *tree = xasprintf ("%s/tree", f->dir);
  cleanup_free char *applied = xasprintf ("%s/applied", f->dir);
  assert_int_equal (mkdir (tree, 0755), 0);
  assert_int_equal (mkdir (applied, 0755), 0);
  int tfd = open (tree, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int afd = open (applied, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fk_layer_writer_t *w = fk_layer_writer_new (tfd, NULL);
  o.tree = w;
  fk_upper_stats_t st;
  assert_int_equal (capture (f, &o, &st, &err), 0);
  fk_layer_stats_t ws;
  assert_int_equal (fk_layer_writer_finish (w, &ws, &err), 0);
  fk_layer_writer_free (w);
  /* The tar is the same bytes with or without the tree beside it. */
  assert_string_equal (st.diff_id, plain.diff_id);
  assert_int_equal (st.tar_size, plain.tar_size);

  /* The tree is what the tar unpacks to. */
  lseek (f->out, 0, SEEK_SET);
  fk_layer_stats_t ls;
  assert_int_equal (fk_layer_apply (afd, f->out, NULL, &ls, &err), 0);
  assert_string_equal (ls.diff_id, st.diff_id);
  assert_int_equal (ws.entries, ls.entries);
  assert_int_equal (ws.unpacked_size, ls.unpacked_size);
  assert_int_equal (ws.whiteouts, ls.whiteouts);
  assert_int_equal (ws.opaque_dirs, ls.opaque_dirs);
  assert_int_equal (ws.entries, st.entries);
  same_tree (tree, applied, 1);
  /* Spot checks of what the comparison covers. */
  struct stat s;
  assert_int_equal (fstatat (tfd, "etc/motd", &s, AT_SYMLINK_NOFOLLOW), 0);
  assert_true (S_ISCHR (s.st_mode) && s.st_rdev == makedev (0, 0));
  assert_int_equal (fstatat (tfd, "opt/b", &s, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (s.st_nlink, 2);
  assert_int_equal (fstatat (tfd, "ro", &s, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (s.st_mode & 07777, 0555);
  assert_int_equal (fstatat (tfd, "big", &s, AT_SYMLINK_NOFOLLOW), 0);
  assert_int_equal (s.st_size, (off_t)big);
  assert_int_equal (s.st_uid, 1);
  cleanup_free char *opt = xasprintf ("%s/opt", tree), *tbig = xasprintf ("%s/big", tree);
  char v[8];
  assert_int_equal (getxattr (opt, "trusted.overlay.opaque", v, sizeof v), 1);
  assert_true (getxattr (tbig, "user.overlay.opaque", v, sizeof v) < 0);
  close (tfd);
  close (afd);
  /* The writer refuses a file whose data is not its size. */
  cleanup_free char *t2 = xasprintf ("%s/tree2", f->dir);
  assert_int_equal (mkdir (t2, 0755), 0);
  int t2fd = open (t2, O_PATH | O_DIRECTORY | O_CLOEXEC);
  fk_layer_writer_t *w2 = fk_layer_writer_new (t2fd, NULL);
  struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, "short");
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, 10);
  int fd = -1;
  assert_int_equal (fk_layer_writer_entry (w2, e, &fd, &err), 0);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "abc", 3), 3);
  assert_int_equal (fk_layer_writer_file_done (w2, fd, e, &err), -1);
  assert_int_equal (err.code, EIO);
  fk_error_clear (&err);
  close (fd);
  archive_entry_free (e);
  fk_layer_writer_free (w2);
  close (t2fd);
}

static void
nothing_changed_is_empty (void **state)
{
  fixture_t *f = *state;
  dir (f->lower, "etc", 0755, 0, 0);
  dir (f->upper, "etc", 0755, BASE, BASE);
  xattr (f->upper, "etc", "trusted.overlay.origin", "x", 1);
  put (f->upper, "etc/hosts", "a\n", 0644, BASE, BASE);
  put (f->upper, "etc/resolv.conf", "b\n", 0644, BASE, BASE);
  static const char *const exclude[] = { "etc/hosts", "etc/resolv.conf", NULL };
  fk_upper_opts_t o = {
    .id_base = BASE, .id_size = SIZE, .exclude = exclude, .lower_fds = &f->lower, .n_lower = 1
  };
  fk_upper_stats_t st;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (capture (f, &o, &st, &err), 0);
  assert_int_equal (st.entries, 0);
  /* A mode change is a change: the directory is kept. */
  assert_int_equal (fchmodat (f->upper, "etc", 0700, 0), 0);
  assert_int_equal (capture (f, &o, &st, &err), 0);
  assert_int_equal (st.entries, 1);
}

static void
limits_and_unsupported (void **state)
{
  fixture_t *f = *state;
  /* A sparse file claiming more than the cap: refused before any byte is read. */
  int fd = openat (f->upper, "huge", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  assert_int_equal (ftruncate (fd, (off_t)1 << 40), 0);
  close (fd);
  fk_upper_opts_t o = { .id_base = BASE, .id_size = SIZE, .max_bytes = 1 << 20 };
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (capture (f, &o, NULL, &err), -1);
  assert_int_equal (err.code, EFBIG);
  assert_non_null (strstr (fk_error_message (&err), "`huge'"));
  fk_error_clear (&err);
  assert_int_equal (unlinkat (f->upper, "huge", 0), 0);
  /* Too many entries. */
  for (int i = 0; i < 5; i++)
    {
      char n[16];
      snprintf (n, sizeof n, "f%d", i);
      put (f->upper, n, NULL, 0644, BASE, BASE);
    }
  o.max_entries = 3;
  assert_int_equal (capture (f, &o, NULL, &err), -1);
  assert_int_equal (err.code, EFBIG);
  fk_error_clear (&err);
  o.max_entries = 0;
  /* A renamed directory (redirect) and a metadata-only copy-up cannot be a layer. */
  dir (f->upper, "moved", 0755, BASE, BASE);
  xattr (f->upper, "moved", "trusted.overlay.redirect", "/old", 4);
  assert_int_equal (capture (f, &o, NULL, &err), -1);
  assert_int_equal (err.code, ENOTSUP);
  fk_error_clear (&err);
  cleanup_free char *moved = xasprintf ("%s/upper/moved", f->dir);
  assert_int_equal (removexattr (moved, "trusted.overlay.redirect"), 0);
  xattr (f->upper, "f1", "trusted.overlay.metacopy", "", 0);
  assert_int_equal (capture (f, &o, NULL, &err), -1);
  assert_int_equal (err.code, ENOTSUP);
  fk_error_clear (&err);
}

static void
fscaps_mapping (void **state)
{
  (void)state;
  unsigned char v3[24] = { 0x01, 0, 0, 0x03 }, out[24];
  uint32_t root = BASE + 5;
  memcpy (v3 + 20, &root, 4);
  /* Root id 5 in the range: v3 with 5. */
  assert_int_equal (fk_upper_map_fscaps (v3, 24, BASE, SIZE, out), 24);
  assert_int_equal (out[20], 5);
  /* Outside the range: dropped. */
  root = 7;
  memcpy (v3 + 20, &root, 4);
  assert_int_equal (fk_upper_map_fscaps (v3, 24, BASE, SIZE, out), 0);
  /* v2 as it is; garbage dropped. */
  unsigned char v2[20] = { 0x01, 0, 0, 0x02 };
  assert_int_equal (fk_upper_map_fscaps (v2, 20, BASE, SIZE, out), 20);
  assert_int_equal (fk_upper_map_fscaps (v2, 3, BASE, SIZE, out), 0);
  assert_int_equal (fk_upper_map_fscaps (v2, 19, BASE, SIZE, out), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (changes_become_a_layer, setup, teardown),
    cmocka_unit_test_setup_teardown (unpacked_in_the_same_pass, setup, teardown),
    cmocka_unit_test_setup_teardown (nothing_changed_is_empty, setup, teardown),
    cmocka_unit_test_setup_teardown (limits_and_unsupported, setup, teardown),
    cmocka_unit_test (fscaps_mapping),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
