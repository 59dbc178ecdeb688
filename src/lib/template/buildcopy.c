/* template/buildcopy.c: COPY, ADD and WORKDIR layers of a build (buildcopy.h), written directly
   as a tar: no sandbox is needed to put files in. */
#include "template/buildcopy.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

#define RESOLVE_CONTEXT (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define RESOLVE_LAYER                                                                              \
  (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define DEPTH_MAX 512
#define PASSWD_MAX (1u << 20)

typedef struct entry
{
  char *dest;     /* relative to the root, no leading `/' */
  char *src;      /* relative to the context (files, symlinks), else NULL */
  char *link;     /* symlink target */
  struct stat st; /* type, mode, mtime; for src the inode read */
  int from_lower; /* a parent directory as the lower layers have it */
  int follow;     /* src is a source as written: a symlink (within the context) is followed */
} entry_t;

typedef struct copy
{
  const fk_build_copy_t *c;
  entry_t *e;
  size_t n, cap;
  uint64_t bytes;
} copy_t;

/* ---- .dockerignore ---- */

int
fk_build_ignore_load (int ctxfd, char ***ret, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_close int fd
      = fk_openat2 (ctxfd, ".dockerignore", O_RDONLY | O_NOFOLLOW, 0, RESOLVE_LAYER);
  char **v = xcalloc (1, sizeof *v);
  size_t n = 0;
  if (fd < 0)
    {
      if (errno == ENOENT)
        {
          *ret = v;
          return 0;
        }
      free (v);
      return fk_error_set_errno (err, "open .dockerignore");
    }
  if (fk_read_all (fd, FK_BUILD_IGNORE_MAX, &text, &len, err) < 0)
    {
      free (v);
      return fk_error_wrap (err, ".dockerignore");
    }
  char *save = NULL;
  for (char *l = strtok_r (text, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
    {
      l += strspn (l, " \t");
      size_t e = strlen (l);
      while (e && (l[e - 1] == ' ' || l[e - 1] == '\t' || l[e - 1] == '\r'))
        l[--e] = '\0';
      if (*l == '\0' || *l == '#')
        continue;
      int neg = *l == '!';
      const char *p = l + neg;
      while (*p == '/')
        p++;
      if (strncmp (p, "./", 2) == 0)
        p += 2;
      v = xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = xasprintf ("%s%s", neg ? "!" : "", p);
      v[n] = NULL;
    }
  *ret = v;
  return 0;
}

static int
pattern_matches (const char *pat, const char *path)
{
  /* A pattern naming a directory takes everything below it: try each leading part. */
  int flags = strstr (pat, "**") ? 0 : FNM_PATHNAME;
  cleanup_free char *p = xstrdup (path);
  for (;;)
    {
      if (fnmatch (pat, p, flags) == 0)
        return 1;
      char *slash = strrchr (p, '/');
      if (slash == NULL)
        return 0;
      *slash = '\0';
    }
}

int
fk_build_ignored (char *const *ignore, const char *path)
{
  int ignored = 0;
  for (size_t i = 0; ignore && ignore[i]; i++)
    {
      const char *p = ignore[i];
      int neg = *p == '!';
      if (pattern_matches (p + neg, path))
        ignored = !neg;
    }
  return ignored;
}

/* ---- the lower layers ---- */

int
fk_build_lower_stat (const char *const *lower, size_t n, const char *path, struct stat *ret_st)
{
  while (*path == '/')
    path++;
  if (*path == '\0')
    path = ".";
  for (size_t i = n; i-- > 0;)
    {
      cleanup_close int root = open (lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0)
        continue;
      cleanup_close int fd = fk_openat2 (root, path, O_PATH | O_NOFOLLOW, 0, RESOLVE_LAYER);
      if (fd < 0)
        {
          if (errno == ENOENT)
            continue;
          return 0;
        }
      struct stat st;
      if (fstat (fd, &st) < 0)
        return 0;
      /* overlay's whiteout: a 0/0 character device */
      if (S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0))
        return 0;
      *ret_st = st;
      return 1;
    }
  return 0;
}

/* The id of name in the top layer's etc/passwd (field 3) or etc/group (field 3). */
static int
lookup_name (const char *const *lower, size_t n, const char *file, const char *name,
             uint32_t *ret_id, uint32_t *ret_gid)
{
  for (size_t i = n; i-- > 0;)
    {
      cleanup_close int root = open (lower[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (root < 0)
        continue;
      cleanup_close int fd = fk_openat2 (root, file, O_RDONLY | O_NOFOLLOW, 0, RESOLVE_LAYER);
      if (fd < 0)
        continue;
      cleanup_free char *text = NULL;
      size_t len = 0;
      fk_error_t ignored = FK_ERROR_INIT;
      if (fk_read_all (fd, PASSWD_MAX, &text, &len, &ignored) < 0)
        {
          fk_error_clear (&ignored);
          return -1;
        }
      char *save = NULL;
      for (char *l = strtok_r (text, "\n", &save); l; l = strtok_r (NULL, "\n", &save))
        {
          char *f[4] = { 0 };
          char *p = l;
          for (int k = 0; k < 4 && p; k++)
            {
              f[k] = p;
              p = strchr (p, ':');
              if (p)
                *p++ = '\0';
            }
          if (f[0] && f[3] && strcmp (f[0], name) == 0)
            {
              *ret_id = (uint32_t)strtoul (f[2], NULL, 10);
              if (ret_gid)
                *ret_gid = (uint32_t)strtoul (f[3], NULL, 10);
              return 0;
            }
        }
      return -1;
    }
  return -1;
}

static int
parse_id (const char *s, uint32_t *ret)
{
  char *end = NULL;
  errno = 0;
  unsigned long v = strtoul (s, &end, 10);
  if (*s == '\0' || *end || errno || v > 0xfffffffeul || *s == '-' || *s == '+')
    return -1;
  *ret = (uint32_t)v;
  return 0;
}

int
fk_build_owner (const char *const *lower, size_t n, const char *spec, uint32_t *ret_uid,
                uint32_t *ret_gid, fk_error_t *err)
{
  cleanup_free char *user = xstrdup (spec);
  char *group = strchr (user, ':');
  if (group)
    *group++ = '\0';
  uint32_t uid = 0, gid = 0, pgid = 0;
  if (parse_id (user, &uid) == 0)
    pgid = uid;
  else if (lookup_name (lower, n, "etc/passwd", user, &uid, &pgid) < 0)
    return fk_error_set (err, EINVAL, "--chown: no user `%s' in the image's /etc/passwd", user);
  gid = pgid;
  if (group && parse_id (group, &gid) < 0
      && lookup_name (lower, n, "etc/group", group, &gid, NULL) < 0)
    return fk_error_set (err, EINVAL, "--chown: no group `%s' in the image's /etc/group", group);
  *ret_uid = uid;
  *ret_gid = gid;
  return 0;
}

/* ---- collecting entries ---- */

/* A lexically clean relative path; -1 when `..' leads above the top. */
static int
clean_path (const char *in, char **ret)
{
  size_t n = strlen (in);
  char *out = xmalloc (n + 1);
  size_t o = 0;
  const char *p = in;
  while (*p)
    {
      while (*p == '/')
        p++;
      if (!*p)
        break;
      size_t l = strcspn (p, "/");
      if (l == 1 && p[0] == '.')
        ;
      else if (l == 2 && p[0] == '.' && p[1] == '.')
        {
          if (o == 0)
            {
              free (out);
              return -1;
            }
          while (o > 0 && out[o - 1] != '/')
            o--;
          if (o > 0)
            o--;
        }
      else
        {
          if (o)
            out[o++] = '/';
          memcpy (out + o, p, l);
          o += l;
        }
      p += l;
    }
  out[o] = '\0';
  *ret = out;
  return 0;
}

static entry_t *
add_entry (copy_t *cp, const char *dest)
{
  if (cp->n == cp->cap)
    {
      cp->cap = cp->cap ? cp->cap * 2 : 64;
      cp->e = xrealloc (cp->e, cp->cap * sizeof *cp->e);
    }
  entry_t *e = &cp->e[cp->n++];
  memset (e, 0, sizeof *e);
  e->dest = xstrdup (dest);
  return e;
}

static char *
join (const char *a, const char *b)
{
  if (*a == '\0')
    return xstrdup (b);
  if (*b == '\0')
    return xstrdup (a);
  return xasprintf ("%s/%s", a, b);
}

static int
count (copy_t *cp, const struct stat *st, const char *src, fk_error_t *err)
{
  if (cp->n >= FK_BUILD_COPY_MAX_ENTRIES)
    return fk_error_set (err, EFBIG, "more than %u entries to copy", FK_BUILD_COPY_MAX_ENTRIES);
  if (S_ISREG (st->st_mode))
    {
      cp->bytes += (uint64_t)st->st_size;
      if (cp->bytes > FK_BUILD_COPY_MAX_BYTES)
        return fk_error_set (err, EFBIG, "`%s': more than %llu bytes to copy", src,
                             (unsigned long long)FK_BUILD_COPY_MAX_BYTES);
    }
  return 0;
}

static int
is_archive_name (const char *name)
{
  static const char *const ext[]
      = { ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", NULL };
  size_t n = strlen (name);
  for (size_t i = 0; ext[i]; i++)
    {
      size_t e = strlen (ext[i]);
      if (n > e && strcmp (name + n - e, ext[i]) == 0)
        return 1;
    }
  return 0;
}

/* One context entry (src, already opened at fd and stat'ed) to dest; directories recursively,
   symlinks below a source as links (never followed). */
static int
collect (copy_t *cp, int fd, const struct stat *st, const char *src, const char *dest, int depth,
         fk_error_t *err)
{
  if (depth > DEPTH_MAX)
    return fk_error_set (err, ELOOP, "`%s' is deeper than %d directories", src, DEPTH_MAX);
  if (count (cp, st, src, err) < 0)
    return -1;
  if (S_ISREG (st->st_mode))
    {
      entry_t *e = add_entry (cp, dest);
      e->src = xstrdup (src);
      e->st = *st;
      return 0;
    }
  if (S_ISLNK (st->st_mode))
    {
      char target[PATH_MAX + 1];
      ssize_t l = readlinkat (fd, "", target, sizeof target - 1);
      if (l < 0)
        return fk_error_set_errno (err, "readlink `%s'", src);
      target[l] = '\0';
      entry_t *e = add_entry (cp, dest);
      e->link = xstrdup (target);
      e->st = *st;
      return 0;
    }
  if (!S_ISDIR (st->st_mode))
    return 0; /* fifos, sockets, devices: not copied */
  if (*dest)
    {
      entry_t *e = add_entry (cp, dest);
      e->st = *st;
    }
  cleanup_close int dfd = fk_openat2 (fd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_LAYER);
  if (dfd < 0)
    return fk_error_set_errno (err, "open `%s'", src);
  DIR *d = fdopendir (dfd);
  if (d == NULL)
    return fk_error_set_errno (err, "open `%s'", src);
  dfd = -1;
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      cleanup_free char *csrc = join (src, de->d_name);
      if (fk_build_ignored (cp->c->ignore, csrc))
        continue;
      cleanup_free char *cdest = join (dest, de->d_name);
      cleanup_close int cfd
          = fk_openat2 (dirfd (d), de->d_name, O_PATH | O_NOFOLLOW, 0, RESOLVE_LAYER);
      struct stat cst;
      if (cfd < 0 || fstat (cfd, &cst) < 0)
        rc = fk_error_set_errno (err, "open `%s'", csrc);
      else
        rc = collect (cp, cfd, &cst, csrc, cdest, depth + 1, err);
    }
  if (rc == 0 && errno)
    rc = fk_error_set_errno (err, "read directory `%s'", src);
  closedir (d);
  return rc;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
has_glob (const char *s)
{
  return strpbrk (s, "*?[") != NULL;
}

/* The sources a written source names: itself, or the entries of its directory its last
   component matches. */
static int
expand_source (const copy_t *cp, const char *src, char ***ret, fk_error_t *err)
{
  cleanup_free char *clean = NULL;
  if (clean_path (src, &clean) < 0)
    return fk_error_set (err, EPERM, "source `%s' leads outside the build context", src);
  char **v = xcalloc (2, sizeof *v);
  if (!has_glob (clean))
    {
      v[0] = steal_pointer (&clean);
      *ret = v;
      return 0;
    }
  char *slash = strrchr (clean, '/');
  cleanup_free char *dir = slash ? xstrndup (clean, (size_t)(slash - clean)) : xstrdup ("");
  const char *pat = slash ? slash + 1 : clean;
  if (has_glob (dir))
    {
      free (v);
      return fk_error_set (err, EINVAL,
                           "source `%s': wildcards only in the last component are supported", src);
    }
  cleanup_close int dfd
      = fk_openat2 (cp->c->ctxfd, *dir ? dir : ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_CONTEXT);
  DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
  if (d == NULL)
    {
      free (v);
      return fk_error_set_errno (err, "source `%s'", src);
    }
  dfd = -1;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp (de->d_name, "..") == 0))
        continue;
      if (fnmatch (pat, de->d_name, FNM_PERIOD) != 0)
        continue;
      v = xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = join (dir, de->d_name);
      v[n] = NULL;
    }
  closedir (d);
  qsort (v, n, sizeof *v, cmp_str);
  *ret = v;
  return 0;
}

static int
cmp_entry (const void *a, const void *b)
{
  const entry_t *x = a, *y = b;
  int r = strcmp (x->dest, y->dest);
  /* equal names: the later one wins (kept by the stable index order below) */
  return r ? r : (x < y ? -1 : x > y);
}

/* Every parent of every entry, as the lower layers have it (else 0755 root). */
static void
add_parents (copy_t *cp)
{
  size_t n = cp->n;
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *p = xstrdup (cp->e[i].dest);
      for (char *s = strrchr (p, '/'); s; s = strrchr (p, '/'))
        {
          *s = '\0';
          int have = 0;
          for (size_t k = 0; k < cp->n && !have; k++)
            have = strcmp (cp->e[k].dest, p) == 0;
          if (have)
            break;
          struct stat st;
          entry_t *e = add_entry (cp, p);
          if (fk_build_lower_stat (cp->c->lower, cp->c->n_lower, p, &st) && S_ISDIR (st.st_mode))
            {
              e->st = st;
              e->from_lower = 1;
            }
          else
            {
              e->st.st_mode = S_IFDIR | 0755;
              e->st.st_mtime = 0;
            }
        }
    }
}

/* ---- writing ---- */

static int
write_entry (struct archive *a, const copy_t *cp, const entry_t *e, fk_error_t *err)
{
  const fk_build_copy_t *c = cp->c;
  struct archive_entry *ae = archive_entry_new ();
  int rc = -1;
  cleanup_close int fd = -1;
  archive_entry_copy_pathname (ae, e->dest);
  mode_t perm = e->st.st_mode & 07777;
  if (!e->from_lower && c->has_mode && !S_ISLNK (e->st.st_mode))
    perm = c->mode & 07777;
  archive_entry_set_filetype (ae, e->st.st_mode & S_IFMT);
  archive_entry_set_perm (ae, perm);
  archive_entry_set_mtime (ae, e->st.st_mtime, 0);
  if (e->from_lower)
    {
      archive_entry_set_uid (ae, e->st.st_uid);
      archive_entry_set_gid (ae, e->st.st_gid);
    }
  else
    {
      archive_entry_set_uid (ae, c->has_owner ? c->uid : 0);
      archive_entry_set_gid (ae, c->has_owner ? c->gid : 0);
    }
  if (e->link)
    archive_entry_copy_symlink (ae, e->link);
  if (e->src)
    {
      fd = fk_openat2 (c->ctxfd, e->src, O_RDONLY | O_NONBLOCK | (e->follow ? 0 : O_NOFOLLOW), 0,
                       RESOLVE_CONTEXT);
      struct stat st;
      if (fd < 0 || fstat (fd, &st) < 0)
        {
          fk_error_set_errno (err, "open `%s'", e->src);
          goto out;
        }
      if (st.st_ino != e->st.st_ino || st.st_dev != e->st.st_dev || !S_ISREG (st.st_mode))
        {
          fk_error_set (err, EIO, "`%s' changed during the build", e->src);
          goto out;
        }
      archive_entry_set_size (ae, e->st.st_size);
    }
  if (archive_write_header (a, ae) < ARCHIVE_WARN)
    {
      fk_error_set (err, EIO, "layer entry `%s': %s", e->dest, archive_error_string (a));
      goto out;
    }
  if (e->src)
    {
      char buf[65536];
      off_t left = e->st.st_size;
      while (left > 0)
        {
          ssize_t r = read (fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
          if (r < 0 && errno == EINTR)
            continue;
          if (r <= 0)
            {
              fk_error_set (err, EIO, "`%s' shrank during the build", e->src);
              goto out;
            }
          if (archive_write_data (a, buf, (size_t)r) != r)
            {
              fk_error_set (err, EIO, "layer entry `%s': %s", e->dest, archive_error_string (a));
              goto out;
            }
          left -= r;
        }
    }
  rc = 0;
out:
  archive_entry_free (ae);
  return rc;
}

static int
collect_all (copy_t *cp, fk_error_t *err)
{
  const fk_build_copy_t *c = cp->c;
  cleanup_free char *dest = NULL;
  if (clean_path (c->dest, &dest) < 0)
    dest = xstrdup ("");
  int dest_is_dir = c->dest[strlen (c->dest) - 1] == '/' || c->n_sources > 1 || c->n_sources == 0;
  if (c->n_sources == 0)
    {
      if (*dest)
        {
          entry_t *e = add_entry (cp, dest);
          e->st.st_mode = S_IFDIR | 0755;
        }
      return 0;
    }
  for (size_t i = 0; i < c->n_sources; i++)
    {
      if (strstr (c->sources[i], "://"))
        return fk_error_set (err, ENOTSUP, "source `%s': URLs are not supported", c->sources[i]);
      cleanup_strv char **srcs = NULL;
      if (expand_source (cp, c->sources[i], &srcs, err) < 0)
        return -1;
      if (srcs[0] == NULL)
        return fk_error_set (err, ENOENT, "source `%s' matches nothing in the build context",
                             c->sources[i]);
      if (srcs[1])
        dest_is_dir = 1;
      for (char **s = srcs; *s; s++)
        {
          if (**s && fk_build_ignored (c->ignore, *s))
            return fk_error_set (err, ENOENT, "source `%s' is excluded by .dockerignore", *s);
          /* The source itself may be a symlink: followed, but only within the context. */
          cleanup_close int fd = fk_openat2 (c->ctxfd, **s ? *s : ".", O_PATH, 0, RESOLVE_CONTEXT);
          if (fd < 0)
            {
              if (errno == EXDEV)
                return fk_error_set (err, EPERM,
                                     "source `%s' leads outside the build context (a symlink "
                                     "out, or a mount)",
                                     c->sources[i]);
              if (errno == ENOENT)
                return fk_error_set (err, ENOENT, "source `%s' is not in the build context",
                                     c->sources[i]);
              return fk_error_set_errno (err, "source `%s'", c->sources[i]);
            }
          struct stat st;
          if (fstat (fd, &st) < 0)
            return fk_error_set_errno (err, "source `%s'", c->sources[i]);
          if (c->is_add && S_ISREG (st.st_mode) && is_archive_name (*s))
            return fk_error_set (err, ENOTSUP,
                                 "ADD of the archive `%s': unpacking archives is not supported "
                                 "(use COPY, then RUN tar)",
                                 *s);
          int r;
          if (S_ISDIR (st.st_mode))
            {
              /* A directory's content goes into dest; the top is a directory of the context
                 (the walk of its children below never follows a link). */
              if (*dest)
                {
                  entry_t *e = add_entry (cp, dest);
                  struct stat lst;
                  /* A destination that exists keeps its owner and mode (as other builders
                     do): only what is copied into it gets --chown. */
                  if (fk_build_lower_stat (c->lower, c->n_lower, dest, &lst)
                      && S_ISDIR (lst.st_mode))
                    {
                      e->st = lst;
                      e->from_lower = 1;
                    }
                  else
                    e->st = st;
                  if (count (cp, &st, *s, err) < 0)
                    return -1;
                }
              cleanup_close int dfd = fk_openat2 (fd, ".", O_PATH | O_DIRECTORY, 0, RESOLVE_LAYER);
              r = dfd < 0 ? fk_error_set_errno (err, "open `%s'", *s) : 0;
              if (r == 0)
                {
                  /* the children, not the directory entry itself again */
                  DIR *d = NULL;
                  int rfd = fk_openat2 (dfd, ".", O_RDONLY | O_DIRECTORY, 0, RESOLVE_LAYER);
                  d = rfd >= 0 ? fdopendir (rfd) : NULL;
                  if (d == NULL)
                    {
                      if (rfd >= 0)
                        close (rfd);
                      return fk_error_set_errno (err, "open `%s'", *s);
                    }
                  struct dirent *de;
                  while (r == 0 && (de = readdir (d)) != NULL)
                    {
                      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
                        continue;
                      cleanup_free char *csrc = join (*s, de->d_name);
                      if (fk_build_ignored (c->ignore, csrc))
                        continue;
                      cleanup_free char *cdest = join (dest, de->d_name);
                      cleanup_close int cfd = fk_openat2 (dirfd (d), de->d_name,
                                                          O_PATH | O_NOFOLLOW, 0, RESOLVE_LAYER);
                      struct stat cst;
                      if (cfd < 0 || fstat (cfd, &cst) < 0)
                        r = fk_error_set_errno (err, "open `%s'", csrc);
                      else
                        r = collect (cp, cfd, &cst, csrc, cdest, 1, err);
                    }
                  closedir (d);
                }
            }
          else
            {
              const char *base = strrchr (*s, '/') ? strrchr (*s, '/') + 1 : *s;
              cleanup_free char *to = dest_is_dir ? join (dest, base) : xstrdup (dest);
              if (*to == '\0')
                return fk_error_set (err, EINVAL, "the destination of `%s' is the root",
                                     c->sources[i]);
              if (S_ISREG (st.st_mode))
                {
                  if (count (cp, &st, *s, err) < 0)
                    return -1;
                  entry_t *e = add_entry (cp, to);
                  /* the file the symlink (if any) led to, read by that path again */
                  e->src = xstrdup (*s);
                  e->st = st;
                  e->follow = 1;
                  r = 0;
                }
              else
                r = 0; /* a fifo, socket or device: nothing */
            }
          if (r < 0)
            return -1;
        }
    }
  return 0;
}

static void
free_entries (copy_t *cp)
{
  for (size_t i = 0; i < cp->n; i++)
    {
      free (cp->e[i].dest);
      free (cp->e[i].src);
      free (cp->e[i].link);
    }
  free (cp->e);
}

int
fk_build_copy_layer (fk_store_t *store, const fk_build_copy_t *c,
                     char ret_digest[FK_DIGEST_STR_LEN], uint64_t *ret_size, fk_error_t *err)
{
  copy_t cp = { .c = c };
  cleanup_free char *tmp = NULL;
  cleanup_close int out = -1;
  struct archive *a = NULL;
  int rc = -1;
  if (collect_all (&cp, err) < 0)
    goto out;
  add_parents (&cp);
  qsort (cp.e, cp.n, sizeof *cp.e, cmp_entry);
  if (fk_store_tmp_file (store, &tmp, err) < 0)
    goto out;
  out = openat (store->dirfd, tmp, O_RDWR | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (out < 0)
    {
      fk_error_set_errno (err, "open `%s'", tmp);
      goto out;
    }
  a = archive_write_new ();
  if (archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
      || archive_write_add_filter_none (a) != ARCHIVE_OK
      || archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK
      || archive_write_open_fd (a, out) != ARCHIVE_OK)
    {
      fk_error_set (err, EIO, "layer: %s", archive_error_string (a));
      goto out;
    }
  for (size_t i = 0; i < cp.n; i++)
    {
      /* the same name twice: the last one written wins, so skip all but the last */
      if (i + 1 < cp.n && strcmp (cp.e[i].dest, cp.e[i + 1].dest) == 0)
        continue;
      if (write_entry (a, &cp, &cp.e[i], err) < 0)
        goto out;
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      fk_error_set (err, EIO, "layer: %s", archive_error_string (a));
      goto out;
    }
  uint64_t size = 0;
  if (lseek (out, 0, SEEK_SET) < 0 || fk_sha256_fd (out, ret_digest, &size, err) < 0)
    goto out;
  if (fk_store_blob_commit (store, tmp, ret_digest, (int64_t)size, 1, err) < 0)
    goto out;
  free (steal_pointer (&tmp));
  if (fk_store_layer_unpack (store, ret_digest, ret_digest, err) < 0)
    goto out;
  *ret_size = size;
  rc = 0;
out:
  if (a)
    archive_write_free (a);
  if (tmp)
    unlinkat (store->dirfd, tmp, 0);
  free_entries (&cp);
  return rc;
}
