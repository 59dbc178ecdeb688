/* image/layer.c: see layer.h.

   libarchive only reads (image/tarstream.c): every file is created here with *at() syscalls on
   a parent directory opened below the root without following any symlink (libarchive's disk
   writer resolves paths itself, which is what a hostile layer attacks). */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/tarstream.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OPAQUE_XATTR "trusted.overlay.opaque"
#define OPAQUE_USER_XATTR "user.overlay.opaque"

/* A directory's final mode and times, set once its children are in. */
typedef struct dir_time
{
  char *path;
  mode_t mode;
  struct timespec ts[2];
} dir_time_t;

typedef struct applier
{
  int rootfd;
  int ignore_owners;
  int user_xattrs;
  uint64_t max_size, max_entries;
  fk_layer_stats_t stats;
  char *cached_parent; /* the last parent opened, and its O_PATH fd */
  int cached_fd;
  dir_time_t *dir_times;
  size_t n_dir_times, cap_dir_times;
} applier_t;

static void
applier_forget_parent (applier_t *app)
{
  free (app->cached_parent);
  app->cached_parent = NULL;
  app->cached_fd = close_and_reset (app->cached_fd);
}

/* A directory of the layer: no symlink, no other mount on the way. */
static int
open_dir_beneath (int dirfd, const char *path)
{
  return fk_openat2 (dirfd, path, O_PATH | O_DIRECTORY, 0,
                     RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
                         | RESOLVE_NO_XDEV);
}

/* Normalises an entry path: leading `/' and `.' / empty components dropped; a `..' component is
   an error. "" is the layer root. */
static int
clean_path (const char *in, const char *what, char **ret, fk_error_t *err)
{
  size_t len = strlen (in);
  if (len >= PATH_MAX)
    return fk_error_set (err, ENAMETOOLONG, "%s is longer than %d bytes", what, PATH_MAX - 1);
  cleanup_free char *out = xmalloc (len + 1);
  size_t o = 0, depth = 0;
  const char *p = in;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *end = strchrnul (p, '/');
      size_t n = (size_t)(end - p);
      if (n == 2 && p[0] == '.' && p[1] == '.')
        return fk_error_set (err, EINVAL, "%s `%s' has a `..' component", what, in);
      if (n > 0 && !(n == 1 && p[0] == '.'))
        {
          if (++depth > FK_LAYER_MAX_DEPTH)
            return fk_error_set (err, ENAMETOOLONG, "%s is deeper than %d directories", what,
                                 FK_LAYER_MAX_DEPTH);
          if (o > 0)
            out[o++] = '/';
          memcpy (out + o, p, n);
          o += n;
        }
      p = end;
    }
  out[o] = '\0';
  *ret = steal_pointer (&out);
  return 0;
}

/* Opens the directory `path' (clean, relative to the root; "" is the root) as an O_PATH fd the
   caller closes. No component may be a symlink; missing ones are created (0755) when create is
   set. */
static int
open_dir_in_layer (applier_t *app, const char *path, int create, fk_error_t *err)
{
  if (app->cached_parent != NULL && strcmp (app->cached_parent, path) == 0)
    {
      int fd = fcntl (app->cached_fd, F_DUPFD_CLOEXEC, 3);
      if (fd < 0)
        return fk_error_set_errno (err, "dup");
      return fd;
    }
  int fd = open_dir_beneath (app->rootfd, path[0] ? path : ".");
  if (fd < 0)
    {
      /* Walk one component at a time to create what is missing and name what is wrong. */
      cleanup_close int cur = fcntl (app->rootfd, F_DUPFD_CLOEXEC, 3);
      if (cur < 0)
        return fk_error_set_errno (err, "dup");
      cleanup_free char *buf = xstrdup (path);
      char *save = NULL;
      for (char *comp = strtok_r (buf, "/", &save); comp; comp = strtok_r (NULL, "/", &save))
        {
          int next = open_dir_beneath (cur, comp);
          if (next < 0 && errno == ENOENT && create)
            {
              if (mkdirat (cur, comp, 0755) < 0 && errno != EEXIST)
                return fk_error_set_errno (err, "mkdir `%s' in `%s'", comp, path);
              next = open_dir_beneath (cur, comp);
            }
          if (next < 0)
            {
              int e = errno;
              struct stat st;
              if (e == ELOOP
                  || (fstatat (cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode)))
                return fk_error_set (err, ELOOP,
                                     "`%s' is a symlink of this layer: refusing to write through "
                                     "it",
                                     comp);
              if (e == ENOTDIR)
                return fk_error_set (err, ENOTDIR, "`%s' is not a directory", comp);
              errno = e;
              return fk_error_set_errno (err, "open `%s'", comp);
            }
          close (cur);
          cur = next;
        }
      fd = steal_fd (&cur);
    }
  applier_forget_parent (app);
  app->cached_parent = xstrdup (path);
  app->cached_fd = fd;
  int ret = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (ret < 0)
    return fk_error_set_errno (err, "dup");
  return ret;
}

static int
is_whiteout_node (const struct stat *st)
{
  return S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0);
}

/* Makes room for a new entry `base' in parentfd: a later entry replaces an earlier one of the
   same path, except a directory over a directory (metadata updated in place). Returns 1 when a
   directory is kept, 2 when a whiteout was replaced, else 0. */
static int
make_room (applier_t *app, int parentfd, const char *base, int is_dir, fk_error_t *err)
{
  struct stat st;
  if (fstatat (parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return fk_error_set_errno (err, "stat");
    }
  if (S_ISDIR (st.st_mode))
    {
      if (is_dir)
        return 1;
      /* The cached parent may live below the directory that goes. */
      applier_forget_parent (app);
      if (fk_rm_rf_at (parentfd, base, err) < 0)
        return -1;
      return 0;
    }
  if (unlinkat (parentfd, base, 0) < 0)
    return fk_error_set_errno (err, "unlink");
  return is_whiteout_node (&st) ? 2 : 0;
}

static int
entry_owner (const applier_t *app, struct archive_entry *e, uid_t *uid, gid_t *gid, fk_error_t *err)
{
  la_int64_t u = archive_entry_uid (e), g = archive_entry_gid (e);
  /* (uid_t) -1 means "unchanged" to chown: never a real owner. */
  if (u < 0 || u >= (la_int64_t)UINT32_MAX || g < 0 || g >= (la_int64_t)UINT32_MAX)
    return fk_error_set (err, EINVAL, "owner %lld:%lld out of range", (long long)u, (long long)g);
  *uid = (uid_t)u;
  *gid = (gid_t)g;
  return 0;
}

static void
entry_times (struct archive_entry *e, struct timespec ts[2])
{
  ts[1].tv_sec = archive_entry_mtime (e);
  ts[1].tv_nsec = archive_entry_mtime_nsec (e);
  if (archive_entry_atime_is_set (e))
    {
      ts[0].tv_sec = archive_entry_atime (e);
      ts[0].tv_nsec = archive_entry_atime_nsec (e);
    }
  else
    ts[0] = ts[1];
  if (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000)
    ts[0].tv_nsec = 0;
  if (ts[1].tv_nsec < 0 || ts[1].tv_nsec >= 1000000000)
    ts[1].tv_nsec = 0;
}

static int
forbidden_xattr (const char *name)
{
  /* Overlay reads its own xattrs (opaque, redirect, metacopy, origin) from lower dirs: a layer
     that ships them could forge whiteouts or redirect lookups. */
  return strncmp (name, "trusted.overlay.", 16) == 0 || strncmp (name, "user.overlay.", 13) == 0;
}

/* Sets the entry's xattrs on fd, or (fd < 0) on the symlink `base' of parentfd. */
static int
set_xattrs (int fd, int parentfd, const char *base, const char *path, struct archive_entry *e,
            fk_error_t *err)
{
  if (archive_entry_xattr_reset (e) == 0)
    return 0;
  const char *name;
  const void *value;
  size_t size;
  while (archive_entry_xattr_next (e, &name, &value, &size) == ARCHIVE_OK)
    {
      if (forbidden_xattr (name))
        {
          log_warning ("layer entry `%s': xattr `%s' skipped: overlay's own attributes are not "
                       "taken from images",
                       path, name);
          continue;
        }
      int r;
      if (fd >= 0)
        r = fsetxattr (fd, name, value, size, 0);
      else
        {
          cleanup_free char *p = xasprintf ("/proc/self/fd/%d/%s", parentfd, base);
          r = lsetxattr (p, name, value, size, 0);
        }
      if (r < 0 && (errno == ENOTSUP || errno == EPERM))
        {
          log_warning_errno (errno, "layer entry `%s': xattr `%s' skipped", path, name);
          continue;
        }
      if (r < 0)
        return fk_error_set_errno (err, "set xattr `%s'", name);
    }
  return 0;
}

/* Owner, mode, xattrs (and times unless a directory) on an open file or directory. */
static int
set_metadata_fd (applier_t *app, int fd, const char *path, struct archive_entry *e, int is_dir,
                 fk_error_t *err)
{
  uid_t uid = 0;
  gid_t gid = 0;
  if (entry_owner (app, e, &uid, &gid, err) < 0)
    return -1;
  /* chown first: it clears setuid/setgid, which the chmod then restores. */
  if (!app->ignore_owners && fchown (fd, uid, gid) < 0)
    return fk_error_set_errno (err, "chown");
  /* A directory stays writable by its owner until its children are in (a 0555 directory
     would refuse them when unpacking without CAP_DAC_OVERRIDE). */
  if (fchmod (fd, (archive_entry_perm (e) & 07777) | (is_dir ? 0700 : 0)) < 0)
    return fk_error_set_errno (err, "chmod");
  if (set_xattrs (fd, -1, NULL, path, e, err) < 0)
    return -1;
  if (!is_dir)
    {
      struct timespec ts[2];
      entry_times (e, ts);
      if (futimens (fd, ts) < 0)
        return fk_error_set_errno (err, "set times");
    }
  return 0;
}

static int
pwrite_all (int fd, const void *buf, size_t len, off_t off, fk_error_t *err)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "write");
      p += n;
      len -= (size_t)n;
      off += n;
    }
  return 0;
}

/* A regular file's new, empty inode (its data and metadata come after), as an fd the caller
   closes. */
static int
create_file (applier_t *app, int parentfd, const char *base, struct archive_entry *e,
             fk_error_t *err)
{
  la_int64_t size = archive_entry_size_is_set (e) ? archive_entry_size (e) : 0;
  if (size < 0)
    return fk_error_set (err, EINVAL, "negative size");
  if ((uint64_t)size > app->max_size - app->stats.unpacked_size)
    return fk_error_set (err, EFBIG,
                         "claims %" PRIu64 " bytes: over the layer size limit of %" PRIu64
                         " bytes (%" PRIu64 " unpacked before it)",
                         (uint64_t)size, app->max_size, app->stats.unpacked_size);
  app->stats.unpacked_size += (uint64_t)size;
  if (make_room (app, parentfd, base, 0, err) < 0)
    return -1;
  int fd = openat (parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return fk_error_set_errno (err, "create");
  return fd;
}

static int
write_file (applier_t *app, struct archive *tar, int parentfd, const char *base, const char *path,
            struct archive_entry *e, fk_error_t *err)
{
  la_int64_t size = archive_entry_size_is_set (e) ? archive_entry_size (e) : 0;
  cleanup_close int fd = create_file (app, parentfd, base, e, err);
  if (fd < 0)
    return -1;
  uint64_t end = 0;
  for (;;)
    {
      const void *block;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (tar, &block, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return fk_error_set (err, archive_errno (tar) > 0 ? archive_errno (tar) : EIO, "%s",
                             fk_tarstream_message (tar));
      if (off < 0 || (uint64_t)off > (uint64_t)size || len > (uint64_t)size - (uint64_t)off)
        return fk_error_set (err, EINVAL, "data beyond the entry's size");
      if (len > 0 && pwrite_all (fd, block, len, (off_t)off, err) < 0)
        return -1;
      if ((uint64_t)off + len > end)
        end = (uint64_t)off + len;
    }
  /* A sparse tail is a hole: the size is set, nothing written. */
  if (end < (uint64_t)size && ftruncate (fd, (off_t)size) < 0)
    return fk_error_set_errno (err, "truncate");
  return set_metadata_fd (app, fd, path, e, 0, err);
}

static int
record_dir_time (applier_t *app, const char *path, struct archive_entry *e)
{
  xgrow ((void **)&app->dir_times, &app->cap_dir_times, app->n_dir_times + 1,
         sizeof *app->dir_times);
  dir_time_t *d = &app->dir_times[app->n_dir_times++];
  d->path = xstrdup (path);
  d->mode = archive_entry_perm (e) & 07777;
  entry_times (e, d->ts);
  return 0;
}

static int
set_opaque (const applier_t *app, int dirfd, fk_error_t *err)
{
  const char *name = app->user_xattrs ? OPAQUE_USER_XATTR : OPAQUE_XATTR;
  cleanup_close int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open");
  if (fsetxattr (fd, name, "y", 1, 0) < 0)
    return fk_error_set_errno (err, "set xattr `%s'", name);
  return 0;
}

static int
write_dir (applier_t *app, int parentfd, const char *base, const char *path,
           struct archive_entry *e, fk_error_t *err)
{
  int r = make_room (app, parentfd, base, 1, err);
  if (r < 0)
    return -1;
  if (r != 1 && mkdirat (parentfd, base, 0700) < 0)
    return fk_error_set_errno (err, "mkdir");
  cleanup_close int fd = openat (parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open");
  /* A directory over this layer's own whiteout still hides the lower directory's content. */
  if (r == 2 && set_opaque (app, fd, err) < 0)
    return -1;
  if (set_metadata_fd (app, fd, path, e, 1, err) < 0)
    return -1;
  return record_dir_time (app, path, e);
}

/* Owner and times of a node that cannot be opened for writing (symlink, fifo). */
static int
set_metadata_at (applier_t *app, int parentfd, const char *base, const char *path,
                 struct archive_entry *e, int is_link, fk_error_t *err)
{
  uid_t uid = 0;
  gid_t gid = 0;
  if (entry_owner (app, e, &uid, &gid, err) < 0)
    return -1;
  if (!app->ignore_owners && fchownat (parentfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "chown");
  /* A fifo we just created in our own directory: nothing can have swapped it for a symlink. */
  if (!is_link && fchmodat (parentfd, base, archive_entry_perm (e) & 07777, 0) < 0)
    return fk_error_set_errno (err, "chmod");
  if (set_xattrs (-1, parentfd, base, path, e, err) < 0)
    return -1;
  struct timespec ts[2];
  entry_times (e, ts);
  if (utimensat (parentfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "set times");
  return 0;
}

static int
write_symlink (applier_t *app, int parentfd, const char *base, const char *path,
               struct archive_entry *e, fk_error_t *err)
{
  const char *target = archive_entry_symlink (e);
  if (target == NULL || target[0] == '\0')
    return fk_error_set (err, EINVAL, "symlink without a target");
  if (make_room (app, parentfd, base, 0, err) < 0)
    return -1;
  /* Stored as it is: it only points outside when followed, and nothing here follows one. */
  if (symlinkat (target, parentfd, base) < 0)
    return fk_error_set_errno (err, "symlink");
  return set_metadata_at (app, parentfd, base, path, e, 1, err);
}

static int
write_fifo (applier_t *app, int parentfd, const char *base, const char *path,
            struct archive_entry *e, fk_error_t *err)
{
  if (make_room (app, parentfd, base, 0, err) < 0)
    return -1;
  if (mknodat (parentfd, base, S_IFIFO | 0600, 0) < 0)
    return fk_error_set_errno (err, "mkfifo");
  return set_metadata_at (app, parentfd, base, path, e, 0, err);
}

static int
write_hardlink (applier_t *app, int parentfd, const char *base, const char *linkname,
                fk_error_t *err)
{
  cleanup_free char *target = NULL;
  if (clean_path (linkname, "hard link target", &target, err) < 0)
    return -1;
  if (target[0] == '\0')
    return fk_error_set (err, EINVAL, "hard link to the layer root");
  cleanup_free char *tdir = NULL;
  cleanup_free char *tbase = NULL;
  fk_path_split (target, &tdir, &tbase);
  if (strncmp (tbase, WHITEOUT_PREFIX, strlen (WHITEOUT_PREFIX)) == 0)
    return fk_error_set (err, EINVAL, "hard link to the whiteout `%s'", linkname);
  fk_error_t sub = FK_ERROR_INIT;
  cleanup_close int tfd = open_dir_in_layer (app, strcmp (tdir, ".") == 0 ? "" : tdir, 0, &sub);
  struct stat st;
  if (tfd < 0 || fstatat (tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      fk_error_clear (&sub);
      return fk_error_set (err, ENOENT,
                           "hard link target `%s' is not an earlier entry of the layer (links "
                           "never leave the layer)",
                           linkname);
    }
  if (S_ISDIR (st.st_mode))
    return fk_error_set (err, EPERM, "hard link to the directory `%s'", linkname);
  if (is_whiteout_node (&st))
    return fk_error_set (err, EINVAL, "hard link to the whiteout `%s'", linkname);
  /* linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself. */
  struct stat cur;
  if (fstatat (parentfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_ino == st.st_ino
      && cur.st_dev == st.st_dev)
    return 0;
  if (make_room (app, parentfd, base, 0, err) < 0)
    return -1;
  if (linkat (tfd, tbase, parentfd, base, 0) < 0)
    return fk_error_set_errno (err, "link to `%s'", linkname);
  return 0;
}

static int
write_whiteout (applier_t *app, const char *parent, const char *base, fk_error_t *err)
{
  cleanup_close int parentfd = open_dir_in_layer (app, parent, 1, err);
  if (parentfd < 0)
    return -1;
  if (strcmp (base, WHITEOUT_OPAQUE) == 0)
    {
      if (set_opaque (app, parentfd, err) < 0)
        return -1;
      app->stats.opaque_dirs++;
      return 0;
    }
  const char *name = base + strlen (WHITEOUT_PREFIX);
  if (name[0] == '\0' || strcmp (name, ".") == 0 || strcmp (name, "..") == 0
      || strncmp (name, WHITEOUT_PREFIX, strlen (WHITEOUT_PREFIX)) == 0)
    return fk_error_set (err, EINVAL, "whiteout names no file");
  struct stat st;
  if (fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      /* A whiteout hides lower layers only; an entry of this same layer stays. A directory of
         this layer then hides the lower directory's content, as an opaque one. */
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int dfd
              = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (dfd < 0 || set_opaque (app, dfd, err) < 0)
            return fk_error_is_set (err) ? -1 : fk_error_set_errno (err, "open");
        }
      app->stats.whiteouts++;
      return 0;
    }
  if (mknodat (parentfd, name, S_IFCHR | 0, makedev (0, 0)) < 0)
    return fk_error_set_errno (err, "create whiteout");
  app->stats.whiteouts++;
  return 0;
}

static int
apply_root_entry (applier_t *app, struct archive_entry *e, fk_error_t *err)
{
  if (archive_entry_filetype (e) != AE_IFDIR || archive_entry_hardlink (e) != NULL)
    return fk_error_set (err, EINVAL, "the layer root is not a directory");
  cleanup_close int fd = openat (app->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open the layer root");
  if (set_metadata_fd (app, fd, "", e, 1, err) < 0)
    return -1;
  return record_dir_time (app, "", e);
}

/* One entry; a regular file's data comes from tar, or (tar NULL) is the caller's to write to
   the fd left in *ret_fd (-1 for every other entry). */
static int
apply_entry (applier_t *app, struct archive *tar, struct archive_entry *e, int *ret_fd,
             fk_error_t *err)
{
  const char *raw = archive_entry_pathname (e);
  if (raw == NULL)
    return fk_error_set (err, EINVAL, "layer entry %" PRIu64 " has no usable path",
                         app->stats.entries);
  cleanup_free char *path = NULL;
  if (clean_path (raw, "path", &path, err) < 0)
    return fk_error_wrap (err, "layer entry `%s'", raw);
  int r;
  if (path[0] == '\0')
    r = apply_root_entry (app, e, err);
  else
    {
      cleanup_free char *parent = NULL;
      cleanup_free char *base = NULL;
      fk_path_split (path, &parent, &base);
      const char *pdir = strcmp (parent, ".") == 0 ? "" : parent;
      if (strncmp (base, WHITEOUT_PREFIX, strlen (WHITEOUT_PREFIX)) == 0)
        r = write_whiteout (app, pdir, base, err);
      else
        {
          cleanup_close int parentfd = open_dir_in_layer (app, pdir, 1, err);
          if (parentfd < 0)
            return fk_error_wrap (err, "layer entry `%s'", raw);
          const char *hardlink = archive_entry_hardlink (e);
          mode_t type = archive_entry_filetype (e);
          if (hardlink != NULL)
            r = write_hardlink (app, parentfd, base, hardlink, err);
          else if (type == AE_IFREG && tar == NULL)
            r = (*ret_fd = create_file (app, parentfd, base, e, err)) < 0 ? -1 : 0;
          else if (type == AE_IFREG)
            r = write_file (app, tar, parentfd, base, path, e, err);
          else if (type == AE_IFDIR)
            r = write_dir (app, parentfd, base, path, e, err);
          else if (type == AE_IFLNK)
            r = write_symlink (app, parentfd, base, path, e, err);
          else if (type == AE_IFIFO)
            r = write_fifo (app, parentfd, base, path, e, err);
          else if (type == AE_IFCHR || type == AE_IFBLK)
            {
              /* The sandbox brings its own /dev; a device node from an image is never
                 needed and, outside a user namespace, dangerous. */
              log_warning ("layer entry `%s': %s device %u:%u skipped: images do not create "
                           "device nodes",
                           raw, type == AE_IFCHR ? "char" : "block",
                           (unsigned)archive_entry_rdevmajor (e),
                           (unsigned)archive_entry_rdevminor (e));
              app->stats.skipped++;
              r = 0;
            }
          else
            {
              log_warning ("layer entry `%s': file type 0%o skipped", raw, (unsigned)type);
              app->stats.skipped++;
              r = 0;
            }
        }
    }
  if (r < 0)
    return fk_error_wrap (err, "layer entry `%s'", raw);
  return 0;
}

/* Directory modes and mtimes last: creating their children changed the times, and a read-only
   mode would have refused the children. */
static int
apply_dir_times (applier_t *app, fk_error_t *err)
{
  for (size_t i = 0; i < app->n_dir_times; i++)
    {
      dir_time_t *d = &app->dir_times[i];
      if (d->path[0] == '\0')
        {
          cleanup_close int fd = openat (app->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (fd < 0 || fchmod (fd, d->mode) < 0 || futimens (fd, d->ts) < 0)
            return fk_error_set_errno (err, "set mode and times of the layer root");
          continue;
        }
      cleanup_free char *parent = NULL;
      cleanup_free char *base = NULL;
      fk_path_split (d->path, &parent, &base);
      fk_error_t sub = FK_ERROR_INIT;
      cleanup_close int pfd
          = open_dir_in_layer (app, strcmp (parent, ".") == 0 ? "" : parent, 0, &sub);
      struct stat st;
      /* A later entry may have replaced the directory: then its times are already right. */
      if (pfd < 0 || fstatat (pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode))
        {
          fk_error_clear (&sub);
          continue;
        }
      /* Checked a directory just above, in the tree this call owns: fchmodat cannot follow. */
      if (fchmodat (pfd, base, d->mode, 0) < 0)
        return fk_error_set_errno (err, "chmod `%s'", d->path);
      if (utimensat (pfd, base, d->ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fk_error_set_errno (err, "set times of `%s'", d->path);
    }
  return 0;
}

static void
applier_free (applier_t *app)
{
  applier_forget_parent (app);
  for (size_t i = 0; i < app->n_dir_times; i++)
    free (app->dir_times[i].path);
  free (app->dir_times);
}

static applier_t
applier_init (int rootfd, const fk_layer_opts_t *opts)
{
  return (applier_t){
    .rootfd = rootfd,
    .ignore_owners = opts ? opts->ignore_owners : 0,
    .user_xattrs = opts ? opts->user_xattrs : 0,
    .max_size = opts && opts->max_size ? opts->max_size : FK_LAYER_DEFAULT_MAX_SIZE,
    .max_entries = opts && opts->max_entries ? opts->max_entries : FK_LAYER_DEFAULT_MAX_ENTRIES,
    .cached_fd = -1,
  };
}

int
fk_layer_apply (int rootfd, int blobfd, const fk_layer_opts_t *opts, fk_layer_stats_t *ret_stats,
                fk_error_t *err)
{
  fk_tarstream_t *ts = NULL;
  if (fk_tarstream_open (blobfd, &ts, err) < 0)
    return -1;
  struct archive *tar = fk_tarstream_archive (ts);
  fk_layer_compression_t compression = fk_tarstream_compression (ts);
  applier_t app = applier_init (rootfd, opts);
  int ret = -1;
  for (;;)
    {
      struct archive_entry *e;
      int r = archive_read_next_header (tar, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        {
          fk_error_set (err, archive_errno (tar) > 0 ? archive_errno (tar) : EINVAL,
                        "layer (%s), after %" PRIu64 " entries: %s",
                        fk_layer_compression_name (compression), app.stats.entries,
                        fk_tarstream_message (tar));
          goto out;
        }
      if (app.stats.entries >= app.max_entries)
        {
          fk_error_set (err, EFBIG, "layer: more than %" PRIu64 " entries", app.max_entries);
          goto out;
        }
      if (r == ARCHIVE_WARN)
        log_debug ("layer entry %" PRIu64 ": %s", app.stats.entries, fk_tarstream_message (tar));
      if (apply_entry (&app, tar, e, NULL, err) < 0)
        goto out;
      app.stats.entries++;
    }
  if (fk_tarstream_finish (ts, app.stats.diff_id, &app.stats.tar_size, err) < 0)
    goto out;
  if (apply_dir_times (&app, err) < 0)
    goto out;
  app.stats.compression = compression;
  if (ret_stats)
    *ret_stats = app.stats;
  ret = 0;
out:
  applier_free (&app);
  fk_tarstream_free (ts);
  return ret;
}

struct fk_layer_writer
{
  applier_t app;
};

fk_layer_writer_t *
fk_layer_writer_new (int rootfd, const fk_layer_opts_t *opts)
{
  fk_layer_writer_t *w = xcalloc (1, sizeof *w);
  w->app = applier_init (rootfd, opts);
  return w;
}

int
fk_layer_writer_entry (fk_layer_writer_t *w, struct archive_entry *e, int *ret_fd, fk_error_t *err)
{
  *ret_fd = -1;
  if (w->app.stats.entries >= w->app.max_entries)
    return fk_error_set (err, EFBIG, "layer: more than %" PRIu64 " entries", w->app.max_entries);
  if (apply_entry (&w->app, NULL, e, ret_fd, err) < 0)
    return -1;
  w->app.stats.entries++;
  return 0;
}

int
fk_layer_writer_file_done (fk_layer_writer_t *w, int fd, struct archive_entry *e, fk_error_t *err)
{
  const char *raw = archive_entry_pathname (e);
  la_int64_t size = archive_entry_size_is_set (e) ? archive_entry_size (e) : 0;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return fk_error_set_errno (err, "layer entry `%s': stat", raw);
  if (st.st_size != (off_t)size)
    return fk_error_set (err, EIO, "layer entry `%s': %lld bytes written, %lld in its header", raw,
                         (long long)st.st_size, (long long)size);
  if (set_metadata_fd (&w->app, fd, raw, e, 0, err) < 0)
    return fk_error_wrap (err, "layer entry `%s'", raw);
  return 0;
}

int
fk_layer_writer_finish (fk_layer_writer_t *w, fk_layer_stats_t *ret_stats, fk_error_t *err)
{
  if (apply_dir_times (&w->app, err) < 0)
    return -1;
  if (ret_stats)
    *ret_stats = w->app.stats;
  return 0;
}

void
fk_layer_writer_free (fk_layer_writer_t *w)
{
  if (w == NULL)
    return;
  applier_free (&w->app);
  free (w);
}
