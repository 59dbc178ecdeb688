/* base/fs.c: see fs.h. */
#include "base/fs.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

int
fk_openat2 (int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = {
    .flags = (unsigned long long)(flags | O_CLOEXEC),
    .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
    .resolve = resolve,
  };
  int fd;
  do
    fd = (int)syscall (SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

int
fk_open_in_root (int rootfd, const char *path, int flags, mode_t mode, fk_error_t *err)
{
  int fd = fk_openat2 (rootfd, path[0] ? path : ".", flags, mode,
                       RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  return fd;
}

int
fk_open_beneath (int dirfd, const char *path, int flags, mode_t mode, fk_error_t *err)
{
  int fd = fk_openat2 (dirfd, path[0] ? path : ".", flags, mode,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  return fd;
}

void
fk_path_split (const char *path, char **ret_dir, char **ret_base)
{
  size_t len = strlen (path);
  while (len > 1 && path[len - 1] == '/')
    len--;
  const char *slash = NULL;
  for (size_t i = 0; i < len; i++)
    if (path[i] == '/')
      slash = path + i;
  if (slash == NULL)
    {
      *ret_dir = xstrdup (".");
      *ret_base = xstrndup (path, len);
      return;
    }
  *ret_dir = slash == path ? xstrdup ("/") : xstrndup (path, (size_t)(slash - path));
  *ret_base = xstrndup (slash + 1, len - (size_t)(slash - path) - 1);
}

int
fk_mkdir_p_in_root (int rootfd, const char *path, mode_t mode, fk_error_t *err)
{
  /* No allocation but the error's: a process sharing its caller's memory calls it
     (sandbox/reroot.c). */
  char buf[PATH_MAX];
  size_t len = strlen (path);
  if (len >= sizeof buf)
    return fk_error_set (err, ENAMETOOLONG, "mkdir `%s'", path);
  memcpy (buf, path, len + 1);
  /* Walk prefixes; each parent is resolved in the root, then the next component created in it. */
  for (size_t i = 0; i <= len; i++)
    {
      if (buf[i] != '/' && buf[i] != '\0')
        continue;
      if (i == 0 || buf[i - 1] == '/')
        continue;
      char saved = buf[i];
      buf[i] = '\0';
      int fd = fk_openat2 (rootfd, buf, O_PATH | O_DIRECTORY, 0,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0)
        close (fd);
      else if (errno == ENOENT)
        {
          /* The parent is what comes before the last '/' ("/" for a leading one, "." for none),
             trailing '/'s of it dropped. */
          char *slash = strrchr (buf, '/');
          const char *dir = ".", *base = buf;
          char *cut = NULL;
          if (slash)
            {
              base = slash + 1;
              cut = slash;
              while (cut > buf && cut[-1] == '/')
                cut--;
              dir = cut == buf ? "/" : buf;
            }
          char kept = cut ? *cut : '\0';
          if (cut && cut != buf)
            *cut = '\0';
          cleanup_close int pfd = fk_openat2 (rootfd, dir, O_PATH | O_DIRECTORY, 0,
                                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
          if (pfd < 0)
            return fk_error_set_errno (err, "open `%s'", dir);
          if (cut && cut != buf)
            *cut = kept;
          if (mkdirat (pfd, base, mode) < 0 && errno != EEXIST)
            return fk_error_set_errno (err, "mkdir `%s'", buf);
        }
      else
        return fk_error_set_errno (err, "open `%s'", buf);
      buf[i] = saved;
    }
  return 0;
}

int
fk_mkdir_p (const char *path, mode_t mode, fk_error_t *err)
{
  cleanup_free char *buf = xstrdup (path);
  size_t len = strlen (buf);
  for (size_t i = 1; i <= len; i++)
    {
      if (buf[i] != '/' && buf[i] != '\0')
        continue;
      char saved = buf[i];
      buf[i] = '\0';
      if (mkdir (buf, mode) < 0 && errno != EEXIST)
        return fk_error_set_errno (err, "mkdir `%s'", buf);
      buf[i] = saved;
    }
  struct stat st;
  if (stat (path, &st) < 0)
    return fk_error_set_errno (err, "stat `%s'", path);
  if (!S_ISDIR (st.st_mode))
    return fk_error_set (err, ENOTDIR, "`%s' is not a directory", path);
  return 0;
}

int
fk_write_all (int fd, const void *buf, size_t len, fk_error_t *err)
{
  const char *p = buf;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "write");
      p += n;
      len -= (size_t)n;
    }
  return 0;
}

int
fk_read_all (int fd, size_t max, char **ret_buf, size_t *ret_len, fk_error_t *err)
{
  size_t cap = 4096, len = 0;
  cleanup_free char *buf = xmalloc (cap + 1);
  for (;;)
    {
      if (len == cap)
        {
          if (cap > max)
            return fk_error_set (err, EFBIG, "file larger than %zu bytes", max);
          cap *= 2;
          buf = xrealloc (buf, cap + 1);
        }
      ssize_t n = read (fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read");
      if (n == 0)
        break;
      len += (size_t)n;
      if (len > max)
        return fk_error_set (err, EFBIG, "file larger than %zu bytes", max);
    }
  buf[len] = '\0';
  *ret_buf = steal_pointer (&buf);
  if (ret_len)
    *ret_len = len;
  return 0;
}

int
fk_read_file_at (int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
                 fk_error_t *err)
{
  cleanup_close int fd = openat (dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  if (fk_read_all (fd, max, ret_buf, ret_len, err) < 0)
    return fk_error_wrap (err, "read `%s'", path);
  return 0;
}

int
fk_replace_at (int dirfd, const char *tmp, const char *path)
{
  if (renameat2 (dirfd, tmp, dirfd, path, RENAME_EXCHANGE) == 0)
    {
      /* tmp holds the old file now; a failure to remove it leaves a stray temp file only. */
      unlinkat (dirfd, tmp, 0);
      return 0;
    }
  /* ENOENT: nothing at path yet (or no tmp: renameat says so too); EINVAL: no exchange here. */
  if (errno != ENOENT && errno != EINVAL)
    return -1;
  return renameat (dirfd, tmp, dirfd, path);
}

static int
write_replace (int dirfd, const char *path, const void *data, size_t len, mode_t mode, int sync,
               fk_error_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *base = NULL;
  fk_path_split (path, &dir, &base);
  cleanup_free char *tmp = xasprintf ("%s/.%s.tmp.%d", dir, base, (int)getpid ());
  cleanup_close int fd
      = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    return fk_error_set_errno (err, "create `%s'", tmp);
  if (fk_write_all (fd, data, len, err) < 0 || fchmod (fd, mode) < 0 || (sync && fsync (fd) < 0))
    {
      if (!fk_error_is_set (err))
        fk_error_set_errno (err, "write `%s'", tmp);
      unlinkat (dirfd, tmp, 0);
      return fk_error_wrap (err, "write `%s'", path);
    }
  if (fk_replace_at (dirfd, tmp, path) < 0)
    {
      fk_error_set_errno (err, "rename `%s' to `%s'", tmp, path);
      unlinkat (dirfd, tmp, 0);
      return -1;
    }
  return 0;
}

int
fk_write_file_atomic_at (int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                         fk_error_t *err)
{
  return write_replace (dirfd, path, data, len, mode, 1, err);
}

int
fk_write_file_replace_at (int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                          fk_error_t *err)
{
  return write_replace (dirfd, path, data, len, mode, 0, err);
}

static int
rm_rf_children (int dfd, fk_error_t *err)
{
  DIR *d = fdopendir (dfd);
  if (d == NULL)
    {
      close (dfd);
      return fk_error_set_errno (err, "opendir");
    }
  cleanup_dir DIR *dir = d;
  struct dirent *de;
  while ((errno = 0, de = readdir (dir)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (fk_rm_rf_at (dirfd (dir), de->d_name, err) < 0)
        return -1;
    }
  if (errno != 0)
    return fk_error_set_errno (err, "readdir");
  return 0;
}

int
fk_rm_rf_at (int dirfd, const char *path, fk_error_t *err)
{
  if (unlinkat (dirfd, path, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return fk_error_set_errno (err, "unlink `%s'", path);
  int dfd = openat (dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return fk_error_set_errno (err, "open `%s'", path);
    }
  /* A directory made read-only (an image layer may ship 0555 dirs) must be writable to empty. */
  fchmod (dfd, 0700);
  if (rm_rf_children (dfd, err) < 0)
    return fk_error_wrap (err, "remove `%s'", path);
  if (unlinkat (dirfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "rmdir `%s'", path);
  return 0;
}
