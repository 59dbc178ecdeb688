/* image/upper.c: an overlay upper dir as a layer tar; see image/upper.h. */
#include "image/upper.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/blobsink.h"
#include "image/layer.h"

#define OVL_PREFIX "trusted.overlay."
#define NOBODY 65534u
/* Every lookup below the upper root: never a symlink, never another mount. */
#define RESOLVE_UPPER                                                                              \
  (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define XATTR_LIST_MAX_BYTES (64u << 10)
#define XATTR_VALUE_MAX_BYTES (64u << 10)

typedef struct link_seen
{
  dev_t dev;
  ino_t ino;
  char *path;
} link_seen_t;

typedef struct capture
{
  const fk_upper_opts_t *opts;
  struct archive *a;
  fk_blobsink_t *out; /* the tar's bytes: hashed and written by a second thread */
  fk_error_t write_err;
  int write_failed;
  int discard; /* failed: what the archive still writes on its way out goes nowhere */
  uint64_t max_bytes, max_entries;
  link_seen_t *links;
  size_t n_links, cap_links;
  /* Copied-up directories whose header waits for a first entry below them. */
  struct archive_entry **pending;
  size_t n_pending, cap_pending;
  fk_upper_stats_t stats;
  /* Large reads, and large writes to the tree (fewer syscalls, larger page cache folios). */
  char buf[1 << 20];
} capture_t;

static la_ssize_t
out_write (struct archive *a, void *data, const void *buf, size_t len)
{
  (void)a;
  capture_t *c = data;
  if (c->discard)
    return (la_ssize_t)len;
  if (fk_blobsink_write (c->out, buf, len, &c->write_err) < 0)
    {
      c->write_failed = 1;
      return -1;
    }
  return (la_ssize_t)len;
}

static uint32_t
map_id (const capture_t *c, uint32_t id)
{
  const fk_upper_opts_t *o = c->opts;
  if (o->id_size == 0)
    return id;
  if (id >= o->id_base && id - o->id_base < o->id_size)
    return id - o->id_base;
  return NOBODY;
}

static int
archive_fail (capture_t *c, const char *path, fk_error_t *err)
{
  if (c->write_failed)
    {
      fk_error_set (err, c->write_err.code ? c->write_err.code : EIO, "%s",
                    fk_error_message (&c->write_err));
      fk_error_clear (&c->write_err);
      return -1;
    }
  return fk_error_set (err, EIO, "upper entry `%s': %s", path, archive_error_string (c->a));
}

static int
count_entry (capture_t *c, const char *path, fk_error_t *err)
{
  if (++c->stats.entries > c->max_entries)
    return fk_error_set (err, EFBIG, "upper entry `%s': more than %llu entries", path,
                         (unsigned long long)c->max_entries);
  return 0;
}

/* The entry e, just written to the tar, into the unpacked tree too (when there is one); a
   regular file's new inode is left in *ret_fd (else -1) for its data. */
static int
tree_entry (capture_t *c, struct archive_entry *e, int *ret_fd, fk_error_t *err)
{
  int fd = -1;
  if (ret_fd)
    *ret_fd = -1;
  if (c->opts->tree == NULL)
    return 0;
  if (fk_layer_writer_entry (c->opts->tree, e, &fd, err) < 0)
    return fk_error_wrap (err, "unpack");
  if (ret_fd)
    *ret_fd = fd;
  else if (fd >= 0)
    close (fd);
  return 0;
}

/* Writes e's header (after the pending directories' above it); ret_fd (may be NULL) as for
   tree_entry. */
static int
write_header (capture_t *c, struct archive_entry *e, const char *path, int *ret_fd, fk_error_t *err)
{
  for (size_t i = 0; i < c->n_pending; i++)
    {
      struct archive_entry *p = c->pending[i];
      c->pending[i] = NULL;
      int r = count_entry (c, archive_entry_pathname (p), err);
      if (r == 0 && archive_write_header (c->a, p) < ARCHIVE_WARN)
        r = archive_fail (c, archive_entry_pathname (p), err);
      if (r == 0)
        r = tree_entry (c, p, NULL, err);
      archive_entry_free (p);
      if (r < 0)
        {
          for (size_t j = i + 1; j < c->n_pending; j++)
            archive_entry_free (c->pending[j]);
          c->n_pending = 0;
          return -1;
        }
    }
  c->n_pending = 0;
  if (count_entry (c, path, err) < 0)
    return -1;
  if (archive_write_header (c->a, e) < ARCHIVE_WARN)
    return archive_fail (c, path, err);
  return tree_entry (c, e, ret_fd, err);
}

/* security.capability: VFS_CAP_REVISION_2 is 20 bytes, _3 24 (the root id last, little endian). */
size_t
fk_upper_map_fscaps (const void *v, size_t len, uint32_t id_base, uint32_t id_size,
                     unsigned char out[24])
{
  const unsigned char *p = v;
  if (len < 4)
    return 0;
  uint32_t magic
      = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  uint32_t rev = magic & 0xff000000u;
  if (rev == 0x02000000u && len == 20)
    {
      memcpy (out, p, 20);
      return 20;
    }
  if (rev != 0x03000000u || len != 24)
    return 0;
  uint32_t root
      = (uint32_t)p[20] | (uint32_t)p[21] << 8 | (uint32_t)p[22] << 16 | (uint32_t)p[23] << 24;
  if (id_size != 0)
    {
      if (root < id_base || root - id_base >= id_size)
        return 0;
      root -= id_base;
    }
  memcpy (out, p, 20);
  if (root == 0)
    {
      uint32_t m2 = (magic & 0x00ffffffu) | 0x02000000u;
      for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(m2 >> (8 * i));
      return 20;
    }
  for (int i = 0; i < 4; i++)
    out[20 + i] = (unsigned char)(root >> (8 * i));
  return 24;
}

/* POSIX ACLs as getxattr gives them (ids as the host sees them): header u32 version, then
   entries {u16 tag, u16 perm, u32 id}; named users (2) and groups (8) carry ids. */
static void
map_acl (const capture_t *c, unsigned char *v, size_t len)
{
  for (size_t off = 4; off + 8 <= len; off += 8)
    {
      unsigned tag = (unsigned)v[off] | (unsigned)v[off + 1] << 8;
      if (tag != 2 && tag != 8)
        continue;
      unsigned char *q = v + off + 4;
      uint32_t id
          = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
      id = map_id (c, id);
      for (int i = 0; i < 4; i++)
        q[i] = (unsigned char)(id >> (8 * i));
    }
}

typedef struct ovl_attrs
{
  int opaque, whiteout, redirect, metacopy, origin;
} ovl_attrs_t;

/* The xattrs of fd worth a layer, added to e; overlay's own are read into ovl instead. */
static int
add_xattrs (capture_t *c, int fd, const char *path, struct archive_entry *e, ovl_attrs_t *ovl,
            fk_error_t *err)
{
  char list[XATTR_LIST_MAX_BYTES];
  ssize_t n = flistxattr (fd, list, sizeof list);
  if (n < 0)
    {
      if (errno == ENOTSUP)
        return 0;
      return fk_error_set_errno (err, "upper entry `%s': list xattrs", path);
    }
  cleanup_free unsigned char *val = xmalloc (XATTR_VALUE_MAX_BYTES);
  for (ssize_t off = 0; off < n; off += (ssize_t)strlen (list + off) + 1)
    {
      const char *name = list + off;
      ssize_t vn = fgetxattr (fd, name, val, XATTR_VALUE_MAX_BYTES);
      if (vn < 0)
        {
          if (errno == ENODATA)
            continue;
          return fk_error_set_errno (err, "upper entry `%s': xattr `%s'", path, name);
        }
      if (strncmp (name, OVL_PREFIX, strlen (OVL_PREFIX)) == 0)
        {
          const char *what = name + strlen (OVL_PREFIX);
          if (strcmp (what, "opaque") == 0)
            ovl->opaque = vn == 1 && val[0] == 'y';
          else if (strcmp (what, "whiteout") == 0)
            ovl->whiteout = 1;
          else if (strcmp (what, "redirect") == 0)
            ovl->redirect = 1;
          else if (strcmp (what, "metacopy") == 0)
            ovl->metacopy = 1;
          else if (strcmp (what, "origin") == 0)
            ovl->origin = 1;
          continue;
        }
      if (e == NULL)
        continue;
      if (strcmp (name, "security.capability") == 0)
        {
          unsigned char caps[24];
          size_t cn
              = fk_upper_map_fscaps (val, (size_t)vn, c->opts->id_base, c->opts->id_size, caps);
          if (cn)
            archive_entry_xattr_add_entry (e, name, caps, cn);
          continue;
        }
      if (strcmp (name, "system.posix_acl_access") == 0
          || strcmp (name, "system.posix_acl_default") == 0)
        {
          map_acl (c, val, (size_t)vn);
          archive_entry_xattr_add_entry (e, name, val, (size_t)vn);
          continue;
        }
      /* user.* is the sandbox's own; trusted.* and the other security.* are the host's (the
         sandbox cannot set them) and mean nothing in another sandbox. */
      if (strncmp (name, "user.", 5) == 0)
        archive_entry_xattr_add_entry (e, name, val, (size_t)vn);
    }
  return 0;
}

static struct archive_entry *
new_entry (const capture_t *c, const char *path, const struct stat *st)
{
  struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, path);
  archive_entry_set_mode (e, st->st_mode);
  archive_entry_set_uid (e, map_id (c, st->st_uid));
  archive_entry_set_gid (e, map_id (c, st->st_gid));
  archive_entry_set_mtime (e, st->st_mtim.tv_sec, 0);
  return e;
}

FK_DEFINE_CLEANUP (struct archive_entry *, archive_entry_free)
#define cleanup_entry FK_CLEANUP (archive_entry_free)

static int
write_marker (capture_t *c, const char *path, fk_error_t *err)
{
  cleanup_entry struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, path);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0);
  archive_entry_set_size (e, 0);
  return write_header (c, e, path, NULL, err);
}

static char *
join (const char *dir, const char *name)
{
  return dir[0] ? xasprintf ("%s/%s", dir, name) : xstrdup (name);
}

static char *
whiteout_path (const char *dir, const char *name)
{
  return dir[0] ? xasprintf ("%s/.wh.%s", dir, name) : xasprintf (".wh.%s", name);
}

static int
excluded (const capture_t *c, const char *path)
{
  for (const char *const *p = c->opts->exclude; p && *p; p++)
    if (strcmp (*p, path) == 0)
      return 1;
  return 0;
}

/* 1 when the topmost lower layer that has path has a directory there with this mode and the
   sandbox's owners (lower layers hold image owners). */
static int
lower_dir_same (const capture_t *c, const char *path, const struct stat *st)
{
  for (size_t i = c->opts->n_lower; i-- > 0;)
    {
      cleanup_close int fd = fk_openat2 (c->opts->lower_fds[i], path, O_PATH | O_NOFOLLOW, 0,
                                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                                             | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
      if (fd < 0)
        continue;
      struct stat l;
      if (fstat (fd, &l) < 0 || !S_ISDIR (l.st_mode))
        return 0;
      return l.st_mode == st->st_mode && l.st_uid == map_id (c, st->st_uid)
             && l.st_gid == map_id (c, st->st_gid);
    }
  return 0;
}

/* size bytes of fd into the tar, and into treefd (-1: none). */
static int
copy_data (capture_t *c, int fd, int treefd, const char *path, uint64_t size, fk_error_t *err)
{
  uint64_t left = size;
  while (left > 0)
    {
      size_t want = left < sizeof c->buf ? (size_t)left : sizeof c->buf;
      ssize_t n = read (fd, c->buf, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "upper entry `%s': read", path);
      if (n == 0)
        return fk_error_set (err, EIO, "upper entry `%s': shrank while being captured", path);
      if (archive_write_data (c->a, c->buf, (size_t)n) != n)
        return archive_fail (c, path, err);
      if (treefd >= 0 && fk_write_all (treefd, c->buf, (size_t)n, err) < 0)
        return fk_error_wrap (err, "upper entry `%s': unpack", path);
      left -= (uint64_t)n;
    }
  return 0;
}

static int
regular (capture_t *c, int dirfd, const char *dir, const char *name, const char *path,
         const struct stat *lst, fk_error_t *err)
{
  cleanup_close int fd
      = fk_openat2 (dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, RESOLVE_UPPER);
  if (fd < 0)
    return fk_error_set_errno (err, "upper entry `%s': open", path);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return fk_error_set_errno (err, "upper entry `%s': stat", path);
  if (!S_ISREG (st.st_mode) || st.st_ino != lst->st_ino || st.st_dev != lst->st_dev)
    return fk_error_set (err, EIO, "upper entry `%s': changed while being captured", path);
  ovl_attrs_t ovl = { 0 };
  cleanup_entry struct archive_entry *e = new_entry (c, path, &st);
  if (add_xattrs (c, fd, path, e, &ovl, err) < 0)
    return -1;
  if (ovl.metacopy)
    return fk_error_set (err, ENOTSUP,
                         "upper entry `%s': a metadata-only copy-up (overlay metacopy) cannot be "
                         "captured",
                         path);
  if (ovl.whiteout)
    {
      cleanup_free char *wh = whiteout_path (dir, name);
      c->stats.whiteouts++;
      return write_marker (c, wh, err);
    }
  if (st.st_nlink > 1)
    {
      for (size_t i = 0; i < c->n_links; i++)
        if (c->links[i].dev == st.st_dev && c->links[i].ino == st.st_ino)
          {
            archive_entry_set_size (e, 0);
            archive_entry_copy_hardlink (e, c->links[i].path);
            c->stats.hardlinks++;
            return write_header (c, e, path, NULL, err);
          }
      xgrow ((void **)&c->links, &c->cap_links, c->n_links + 1, sizeof *c->links);
      c->links[c->n_links++] = (link_seen_t){ st.st_dev, st.st_ino, xstrdup (path) };
    }
  uint64_t size = (uint64_t)st.st_size;
  if (size > c->max_bytes - c->stats.bytes)
    return fk_error_set (err, EFBIG,
                         "upper entry `%s': %llu bytes: the changes are over the limit of %llu "
                         "bytes",
                         path, (unsigned long long)size, (unsigned long long)c->max_bytes);
  c->stats.bytes += size;
  archive_entry_set_size (e, (la_int64_t)size);
  cleanup_close int treefd = -1;
  if (write_header (c, e, path, &treefd, err) < 0 || copy_data (c, fd, treefd, path, size, err) < 0)
    return -1;
  if (treefd >= 0 && fk_layer_writer_file_done (c->opts->tree, treefd, e, err) < 0)
    return fk_error_wrap (err, "unpack");
  return 0;
}

static int walk (capture_t *c, int dirfd, const char *dir, unsigned depth, fk_error_t *err);

static int
directory (capture_t *c, int dirfd, const char *name, const char *path, unsigned depth,
           fk_error_t *err)
{
  if (depth >= FK_LAYER_MAX_DEPTH)
    return fk_error_set (err, EFBIG, "upper entry `%s': deeper than %d directories", path,
                         FK_LAYER_MAX_DEPTH);
  cleanup_close int fd
      = fk_openat2 (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, RESOLVE_UPPER);
  if (fd < 0)
    return fk_error_set_errno (err, "upper entry `%s': open", path);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return fk_error_set_errno (err, "upper entry `%s': stat", path);
  ovl_attrs_t ovl = { 0 };
  cleanup_free char *dirpath = xasprintf ("%s/", path);
  cleanup_entry struct archive_entry *e = new_entry (c, dirpath, &st);
  if (add_xattrs (c, fd, path, e, &ovl, err) < 0)
    return -1;
  if (ovl.redirect)
    return fk_error_set (err, ENOTSUP,
                         "upper entry `%s': a renamed directory (overlay redirect) cannot be "
                         "captured",
                         path);
  if (ovl.origin && !ovl.opaque && lower_dir_same (c, path, &st))
    {
      /* Only copied up: its header waits for an entry below it, and goes if none comes. */
      size_t mine = c->n_pending;
      xgrow ((void **)&c->pending, &c->cap_pending, mine + 1, sizeof *c->pending);
      c->pending[c->n_pending++] = steal_pointer (&e);
      int r = walk (c, fd, path, depth + 1, err);
      if (c->n_pending > mine)
        {
          for (size_t j = mine; j < c->n_pending; j++)
            archive_entry_free (c->pending[j]);
          c->n_pending = mine;
        }
      return r;
    }
  if (write_header (c, e, dirpath, NULL, err) < 0)
    return -1;
  if (ovl.opaque)
    {
      cleanup_free char *opq = xasprintf ("%s/.wh..wh..opq", path);
      c->stats.opaque_dirs++;
      if (write_marker (c, opq, err) < 0)
        return -1;
    }
  return walk (c, fd, path, depth + 1, err);
}

static int
symlink_entry (capture_t *c, int dirfd, const char *name, const char *path, const struct stat *st,
               fk_error_t *err)
{
  char target[PATH_MAX + 1];
  ssize_t n = readlinkat (dirfd, name, target, sizeof target);
  if (n < 0)
    return fk_error_set_errno (err, "upper entry `%s': readlink", path);
  if ((size_t)n >= sizeof target)
    return fk_error_set (err, ENAMETOOLONG, "upper entry `%s': symlink target too long", path);
  target[n] = '\0';
  cleanup_entry struct archive_entry *e = new_entry (c, path, st);
  archive_entry_copy_symlink (e, target);
  return write_header (c, e, path, NULL, err);
}

static int
one (capture_t *c, int dirfd, const char *dir, const char *name, unsigned depth, fk_error_t *err)
{
  cleanup_free char *path = join (dir, name);
  if (excluded (c, path))
    return 0;
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "upper entry `%s': stat", path);
  switch (st.st_mode & S_IFMT)
    {
    case S_IFDIR:
      return directory (c, dirfd, name, path, depth, err);
    case S_IFREG:
      return regular (c, dirfd, dir, name, path, &st, err);
    case S_IFLNK:
      return symlink_entry (c, dirfd, name, path, &st, err);
    case S_IFCHR:
      if (st.st_rdev == makedev (0, 0))
        {
          cleanup_free char *wh = whiteout_path (dir, name);
          c->stats.whiteouts++;
          return write_marker (c, wh, err);
        }
      break;
    case S_IFIFO:
      {
        cleanup_entry struct archive_entry *e = new_entry (c, path, &st);
        return write_header (c, e, path, NULL, err);
      }
    default:
      break;
    }
  /* Sockets mean nothing once their listener is gone; device nodes never go into a layer. */
  c->stats.skipped++;
  return 0;
}

static int
cmp_name (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

/* The entries of the directory dirfd, sorted bytewise (the same tree gives the same tar). */
static int
walk (capture_t *c, int dirfd, const char *dir, unsigned depth, fk_error_t *err)
{
  int dupfd = fk_openat2 (dirfd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_UPPER);
  if (dupfd < 0)
    return fk_error_set_errno (err, "upper dir `%s': open", dir[0] ? dir : "/");
  cleanup_dir DIR *d = fdopendir (dupfd);
  if (d == NULL)
    {
      close (dupfd);
      return fk_error_set_errno (err, "upper dir `%s': read", dir[0] ? dir : "/");
    }
  size_t n = 0, cap = 16;
  cleanup_strv char **names = xcalloc (cap, sizeof *names);
  struct dirent *de;
  errno = 0;
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (c->stats.entries + n >= c->max_entries)
        return fk_error_set (err, EFBIG, "upper dir `%s': more than %llu entries",
                             dir[0] ? dir : "/", (unsigned long long)c->max_entries);
      xgrow ((void **)&names, &cap, n + 2, sizeof *names);
      names[n++] = xstrdup (de->d_name);
      names[n] = NULL;
      errno = 0;
    }
  if (errno != 0)
    return fk_error_set_errno (err, "upper dir `%s': read", dir[0] ? dir : "/");
  qsort (names, n, sizeof *names, cmp_name);
  for (size_t i = 0; i < n; i++)
    if (one (c, dirfd, dir, names[i], depth, err) < 0)
      return -1;
  return 0;
}

int
fk_upper_to_layer (int upperfd, const fk_upper_opts_t *opts, int outfd, fk_upper_stats_t *ret_stats,
                   fk_error_t *err)
{
  static const fk_upper_opts_t defaults = { 0 };
  if (opts == NULL)
    opts = &defaults;
  cleanup_free capture_t *c = xcalloc (1, sizeof *c);
  c->opts = opts;
  c->out = fk_blobsink_new (outfd, opts->direct);
  c->max_bytes = opts->max_bytes ? opts->max_bytes : FK_LAYER_DEFAULT_MAX_SIZE;
  c->max_entries = opts->max_entries ? opts->max_entries : FK_LAYER_DEFAULT_MAX_ENTRIES;
  int rc = -1;
  cleanup_close int root = fk_openat2 (upperfd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_UPPER);
  struct archive *a = archive_write_new ();
  c->a = a;
  if (root < 0)
    {
      fk_error_set_errno (err, "open the upper dir");
      goto out;
    }
  /* pax: long names, big ids and sizes, xattrs; names as the bytes they are (a sandbox may
     name a file with any bytes but `/' and NUL). Unpadded last block: the tar ends where its
     end-of-archive marker does, so the block size (1 MiB: a hundredth of the writes of
     libarchive's 10 KiB, none of them a partial page) changes no byte of the tar. */
  if (archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
      || archive_write_add_filter_none (a) != ARCHIVE_OK
      || archive_write_set_bytes_per_block (a, 1 << 20) != ARCHIVE_OK
      || archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK
      || archive_write_open2 (a, c, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
    {
      archive_fail (c, "/", err);
      goto out;
    }
  if (walk (c, root, "", 0, err) < 0)
    goto out;
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      archive_fail (c, "/", err);
      goto out;
    }
  char diff_id[FK_DIGEST_STR_LEN];
  uint64_t tar_size = 0;
  if (fk_blobsink_finish (c->out, diff_id, &tar_size, err) < 0)
    goto out;
  rc = 0;
  if (ret_stats)
    {
      *ret_stats = c->stats;
      ret_stats->tar_size = tar_size;
      memcpy (ret_stats->diff_id, diff_id, sizeof diff_id);
    }
out:
  /* A failed archive must not write its end marker on the way out (archive_write_fail would
     leak its filters). */
  c->discard = rc < 0;
  archive_write_free (a);
  for (size_t i = 0; i < c->n_pending; i++)
    archive_entry_free (c->pending[i]);
  free (c->pending);
  for (size_t i = 0; i < c->n_links; i++)
    free (c->links[i].path);
  free (c->links);
  fk_blobsink_free (c->out);
  fk_error_clear (&c->write_err);
  return rc;
}
