/* agent/files.c: file requests, answered by the agent itself. Every path resolves inside the
   root (openat2 RESOLVE_IN_ROOT); last components are handled relative to a parent opened that
   way, so neither "..", absolute symlinks nor a symlink as the last component can leave it.
   Reads stream in chunks paced by the send queue; writes go to a temp file renamed over the
   target when complete (appends write in place). A request with USER takes relative paths from
   that user's home and makes what it creates (files, directories) owned by that user. */
#include <dirent.h>
#include <limits.h>
#include <linux/openat2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"

#define LIST_DEPTH_MAX 256

static unsigned tmp_counter;

/* Who a request acts as: with USER, relative paths are taken from its home and what the request
   creates is chowned to it. */
typedef struct owner
{
  int set;
  agent_user_t u;
} owner_t;

static void
owner_clear (owner_t *o)
{
  if (o->set)
    agent_user_clear (&o->u);
  o->set = 0;
}

/* USER "" is the agent's default user (--user), else root. */
static int
owner_resolve (const fk_wire_msg_t *m, owner_t *ret, fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  if (!fk_wire_msg_has (m, FK_TAG_USER))
    return 0;
  const char *spec = m->str[FK_TAG_USER];
  if (spec[0] == '\0')
    spec = agent->default_user && agent->default_user[0] ? agent->default_user : "0";
  if (agent_user_resolve (agent->rootfd, spec, &ret->u, err) < 0)
    return -1;
  ret->set = 1;
  return 0;
}

char *
files_expand (const agent_user_t *u, const char *path)
{
  if (u == NULL || path[0] == '/')
    return xstrdup (path);
  const char *home = u->home ? u->home : "/";
  if (strcmp (path, "~") == 0)
    return xstrdup (home);
  if (strncmp (path, "~/", 2) == 0)
    path += 2;
  return xasprintf ("%s/%s", home, path);
}

/* mkdir -p in the root, chowning what it makes to o (when set). */
static int
mkdir_p_owned (const char *path, mode_t mode, const owner_t *o, fk_error_t *err)
{
  if (o == NULL || !o->set)
    return fk_mkdir_p_in_root (agent->rootfd, path, mode, err);
  cleanup_free char *buf = xstrdup (path);
  size_t len = strlen (buf);
  for (size_t i = 1; i <= len; i++)
    {
      if (buf[i] != '/' && buf[i] != '\0')
        continue;
      char saved = buf[i];
      buf[i] = '\0';
      int fd = fk_openat2 (agent->rootfd, buf, O_PATH | O_DIRECTORY, 0,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      if (fd >= 0)
        close (fd);
      else if (errno == ENOENT)
        {
          cleanup_free char *dir = NULL;
          cleanup_free char *base = NULL;
          fk_path_split (buf, &dir, &base);
          cleanup_close int pfd = fk_openat2 (agent->rootfd, dir, O_PATH | O_DIRECTORY, 0,
                                              RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
          if (pfd < 0)
            return fk_error_set_errno (err, "open `%s'", dir);
          if (mkdirat (pfd, base, mode) < 0)
            {
              if (errno != EEXIST)
                return fk_error_set_errno (err, "mkdir `%s'", buf);
            }
          else if (fchownat (pfd, base, o->u.uid, o->u.gid, AT_SYMLINK_NOFOLLOW) < 0)
            return fk_error_set_errno (err, "chown `%s'", buf);
        }
      else
        return fk_error_set_errno (err, "open `%s'", buf);
      buf[i] = saved;
    }
  return 0;
}

/* Opens the parent of path in the root (O_PATH) and returns its last component; mkparents makes
   the missing parents (owned by o). */
static int
open_parent (const char *path, int mkparents, const owner_t *o, char **ret_base, fk_error_t *err)
{
  cleanup_free char *dir = NULL;
  cleanup_free char *base = NULL;
  fk_path_split (path, &dir, &base);
  if (base[0] == '\0' || strcmp (base, "/") == 0 || strcmp (base, ".") == 0
      || strcmp (base, "..") == 0)
    return fk_error_set (err, EINVAL, "`%s' does not name an entry of a directory", path);
  if (mkparents && mkdir_p_owned (dir, 0755, o, err) < 0)
    return -1;
  int fd = fk_open_in_root (agent->rootfd, dir, O_PATH | O_DIRECTORY, 0, err);
  if (fd < 0)
    return -1;
  *ret_base = steal_pointer (&base);
  return fd;
}

static int
ftype_of (mode_t m)
{
  return S_ISREG (m)   ? FK_WIRE_FTYPE_FILE
         : S_ISDIR (m) ? FK_WIRE_FTYPE_DIR
         : S_ISLNK (m) ? FK_WIRE_FTYPE_SYMLINK
                       : FK_WIRE_FTYPE_OTHER;
}

/* A symlink's target (dirfd + name, or an O_PATH fd of the link with name ""), as LINK. */
static void
put_link (fk_wire_buf_t *b, int dirfd, const char *name, const struct stat *st)
{
  if (!S_ISLNK (st->st_mode))
    return;
  char target[PATH_MAX];
  ssize_t n = readlinkat (dirfd, name, target, sizeof target - 1);
  if (n <= 0)
    return;
  target[n] = '\0';
  if (strlen (target) == (size_t)n) /* a NUL inside cannot travel as a string */
    fk_wire_put_str (b, FK_TAG_LINK, target);
}

static void
put_stat (fk_wire_buf_t *b, const struct stat *st)
{
  fk_wire_put_int (b, FK_TAG_FTYPE, (uint64_t)ftype_of (st->st_mode));
  fk_wire_put_int (b, FK_TAG_SIZE, (uint64_t)st->st_size);
  fk_wire_put_int (b, FK_TAG_MODE, st->st_mode & 07777);
  fk_wire_put_int (b, FK_TAG_UID, st->st_uid);
  fk_wire_put_int (b, FK_TAG_GID, st->st_gid);
  fk_wire_put_int (b, FK_TAG_MTIME_NS,
                   (uint64_t)((int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec));
}

/* ---- read ---- */

static void
download_free (conn_t *c, download_t *d)
{
  for (download_t **pp = &c->downloads; *pp; pp = &(*pp)->next)
    if (*pp == d)
      {
        *pp = d->next;
        break;
      }
  close (d->fd);
  free (d);
}

void
files_pump (conn_t *c)
{
  /* conn_flush, called below, pumps the downloads again once the send queue drains: that
     nested call would free a download this loop still holds, so it leaves the work to us. */
  if (c->pumping)
    return;
  c->pumping = 1;
  download_t *d = c->downloads;
  while (d != NULL && !c->closed && conn_queued (c) < AGENT_SENDQ_HIGH)
    {
      fk_wire_buf_t *b = conn_outbuf (c);
      size_t want = d->left < FK_WIRE_CHUNK ? (size_t)d->left : FK_WIRE_CHUNK;
      ssize_t n = 0;
      if (want > 0)
        {
          xgrow ((void **)&b->data, &b->cap, b->len + FK_WIRE_HEADER_LEN + want, 1);
          n = read (d->fd, b->data + b->len + FK_WIRE_HEADER_LEN, want);
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          download_t *next = d->next;
          char msg[128];
          snprintf (msg, sizeof msg, "read: %s", strerror (e));
          uint32_t id = d->id;
          download_free (c, d);
          conn_send_error (c, id, e, msg);
          d = next;
          continue;
        }
      if (n > 0)
        {
          fk_wire_header_write (b->data + b->len, FK_WIRE_DATA, 0, d->id, (uint32_t)n);
          b->len += FK_WIRE_HEADER_LEN + (size_t)n;
          d->left -= (uint64_t)n;
          d->size += (uint64_t)n;
          conn_flush (c);
          continue;
        }
      download_t *next = d->next;
      fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, d->id);
      fk_wire_put_int (b, FK_TAG_SIZE, d->size);
      fk_wire_end (b, NULL);
      download_free (c, d);
      conn_flush (c);
      d = next;
    }
  c->pumping = 0;
}

static int
file_read (conn_t *c, uint32_t id, const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  cleanup_close int fd
      = fk_open_in_root (agent->rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, err);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return fk_error_set_errno (err, "stat `%s'", path);
  if (S_ISDIR (st.st_mode))
    return fk_error_set (err, EISDIR, "`%s' is a directory", path);
  if (m->num[FK_TAG_OFFSET] > 0 && lseek (fd, (off_t)m->num[FK_TAG_OFFSET], SEEK_SET) < 0)
    return fk_error_set_errno (err, "seek `%s'", path);
  download_t *d = xcalloc (1, sizeof *d);
  d->id = id;
  d->fd = steal_fd (&fd);
  d->left = m->num[FK_TAG_SIZE] ? m->num[FK_TAG_SIZE] : UINT64_MAX;
  /* Appended: downloads are served in request order. */
  download_t **pp = &c->downloads;
  while (*pp)
    pp = &(*pp)->next;
  *pp = d;
  files_pump (c);
  return 0;
}

/* ---- write ---- */

static upload_t *
find_upload (conn_t *c, uint32_t id)
{
  for (upload_t *u = c->uploads; u; u = u->next)
    if (u->id == id)
      return u;
  return NULL;
}

static void
upload_free (conn_t *c, upload_t *u, int abandon)
{
  for (upload_t **pp = &c->uploads; *pp; pp = &(*pp)->next)
    if (*pp == u)
      {
        *pp = u->next;
        break;
      }
  if (abandon && u->tmp != NULL)
    unlinkat (u->dirfd, u->tmp, 0);
  close_and_reset (u->fd);
  close_and_reset (u->dirfd);
  free (u->tmp);
  free (u->name);
  free (u);
}

static int
file_write (conn_t *c, uint32_t id, const fk_wire_msg_t *m, const owner_t *o, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  unsigned flags = (unsigned)m->num[FK_TAG_FLAGS];
  unsigned mode = fk_wire_msg_has (m, FK_TAG_MODE) ? (unsigned)m->num[FK_TAG_MODE] & 07777 : 0644;
  if (find_upload (c, id) != NULL)
    return fk_error_set (err, EEXIST, "request id already in use");
  cleanup_free char *base = NULL;
  cleanup_close int dirfd = open_parent (path, flags & FK_WIRE_FILE_PARENTS, o, &base, err);
  if (dirfd < 0)
    return -1;
  upload_t *u = xcalloc (1, sizeof *u);
  u->id = id;
  u->mode = mode;
  u->flags = flags;
  u->fd = -1;
  u->dirfd = -1;
  if (flags & FK_WIRE_FILE_APPEND)
    {
      u->fd = fk_open_in_root (agent->rootfd, path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, mode,
                               err);
      if (u->fd < 0)
        {
          free (u);
          return -1;
        }
      if (o->set && fchown (u->fd, o->u.uid, o->u.gid) < 0)
        {
          fk_error_set_errno (err, "chown `%s'", path);
          close (u->fd);
          free (u);
          return -1;
        }
    }
  else
    {
      struct stat st;
      if (fstatat (dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
        {
          if (flags & FK_WIRE_FILE_EXCL)
            {
              free (u);
              return fk_error_set (err, EEXIST, "`%s' exists", path);
            }
          if (S_ISDIR (st.st_mode))
            {
              free (u);
              return fk_error_set (err, EISDIR, "`%s' is a directory", path);
            }
        }
      for (int tries = 0; u->fd < 0; tries++)
        {
          free (u->tmp);
          u->tmp = xasprintf (".%.64s.fk-tmp.%d.%u", base, (int)getpid (), tmp_counter++);
          u->fd
              = openat (dirfd, u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
          if (u->fd < 0 && (errno != EEXIST || tries > 100))
            {
              fk_error_set_errno (err, "create a temp file beside `%s'", path);
              free (u->tmp);
              free (u);
              return -1;
            }
        }
      if (o->set && fchown (u->fd, o->u.uid, o->u.gid) < 0)
        {
          fk_error_set_errno (err, "chown `%s'", path);
          unlinkat (dirfd, u->tmp, 0);
          close (u->fd);
          free (u->tmp);
          free (u);
          return -1;
        }
      u->name = steal_pointer (&base);
    }
  u->dirfd = steal_fd (&dirfd);
  u->next = c->uploads;
  c->uploads = u;
  return 0;
}

static int
upload_finish (upload_t *u, fk_error_t *err)
{
  if (u->tmp == NULL)
    return 0;
  if (fchmod (u->fd, u->mode) < 0)
    return fk_error_set_errno (err, "chmod `%s'", u->name);
  int r;
  if (u->flags & FK_WIRE_FILE_EXCL)
    r = renameat2 (u->dirfd, u->tmp, u->dirfd, u->name, RENAME_NOREPLACE);
  else
    r = renameat (u->dirfd, u->tmp, u->dirfd, u->name);
  if (r < 0)
    return fk_error_set_errno (err, "rename into `%s'", u->name);
  free (u->tmp);
  u->tmp = NULL;
  return 0;
}

void
files_data (conn_t *c, const fk_wire_frame_t *f)
{
  upload_t *u = find_upload (c, f->id);
  if (u == NULL)
    return; /* an upload that failed already */
  fk_error_t err = FK_ERROR_INIT;
  if (!u->failed && f->len > 0)
    {
      if (fk_write_all (u->fd, f->payload, f->len, &err) < 0)
        {
          u->failed = 1;
          conn_send_fk_error (c, f->id, &err);
        }
      u->size += f->len;
    }
  if (!(f->flags & FK_WIRE_F_EOF))
    return;
  if (u->failed)
    {
      upload_free (c, u, 1);
      return;
    }
  if (upload_finish (u, &err) < 0)
    {
      conn_send_fk_error (c, f->id, &err);
      upload_free (c, u, 1);
      return;
    }
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, f->id);
  fk_wire_put_int (b, FK_TAG_SIZE, u->size);
  fk_wire_end (b, NULL);
  upload_free (c, u, 0);
  conn_flush (c);
}

void
files_conn_closed (conn_t *c)
{
  while (c->uploads)
    upload_free (c, c->uploads, 1);
  while (c->downloads)
    download_free (c, c->downloads);
}

/* ---- metadata ---- */

static int
file_stat (conn_t *c, uint32_t id, const char *path, fk_error_t *err)
{
  cleanup_close int fd = fk_open_in_root (agent->rootfd, path, O_PATH | O_NOFOLLOW, 0, err);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstatat (fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "stat `%s'", path);
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  put_stat (b, &st);
  put_link (b, fd, "", &st);
  fk_wire_end (b, NULL);
  conn_flush (c);
  return 0;
}

typedef struct list_entry
{
  char *path;
  char *link; /* a symlink's target */
  struct stat st;
} list_entry_t;

typedef struct list
{
  list_entry_t *v;
  size_t n, cap;
} list_t;

static int
list_dir (int dfd, const char *prefix, int recursive, int depth, list_t *l, fk_error_t *err)
{
  int fd2 = dup (dfd);
  if (fd2 < 0)
    return fk_error_set_errno (err, "dup");
  cleanup_dir DIR *d = fdopendir (fd2);
  if (d == NULL)
    {
      close (fd2);
      return fk_error_set_errno (err, "opendir `%s'", prefix[0] ? prefix : ".");
    }
  struct dirent *de;
  while ((errno = 0, de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      struct stat st;
      if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue; /* removed meanwhile */
      char *p = prefix[0] ? xasprintf ("%s/%s", prefix, de->d_name) : xstrdup (de->d_name);
      xgrow ((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v);
      l->v[l->n].path = p;
      l->v[l->n].link = NULL;
      l->v[l->n].st = st;
      if (S_ISLNK (st.st_mode))
        {
          char target[PATH_MAX];
          ssize_t tn = readlinkat (dfd, de->d_name, target, sizeof target - 1);
          if (tn > 0)
            {
              target[tn] = '\0';
              if (strlen (target) == (size_t)tn)
                l->v[l->n].link = xstrdup (target);
            }
        }
      l->n++;
      if (recursive && S_ISDIR (st.st_mode) && depth < LIST_DEPTH_MAX)
        {
          cleanup_close int sub
              = openat (dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub >= 0 && list_dir (sub, p, recursive, depth + 1, l, err) < 0)
            return -1;
        }
    }
  if (errno != 0)
    return fk_error_set_errno (err, "readdir `%s'", prefix[0] ? prefix : ".");
  return 0;
}

static int
cmp_entry (const void *a, const void *b)
{
  return strcmp (((const list_entry_t *)a)->path, ((const list_entry_t *)b)->path);
}

static int
file_list (conn_t *c, uint32_t id, const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  cleanup_close int fd = fk_open_in_root (agent->rootfd, path, O_RDONLY | O_DIRECTORY, 0, err);
  if (fd < 0)
    return -1;
  list_t l = { NULL, 0, 0 };
  int r = list_dir (fd, "", (m->num[FK_TAG_FLAGS] & FK_WIRE_FILE_RECURSIVE) != 0, 0, &l, err);
  if (r == 0)
    {
      qsort (l.v, l.n, sizeof *l.v, cmp_entry);
      fk_wire_buf_t e = FK_WIRE_BUF_INIT;
      int open = 0;
      for (size_t i = 0; i < l.n; i++)
        {
          fk_wire_buf_reset (&e);
          fk_wire_put_str (&e, FK_TAG_PATH, l.v[i].path);
          put_stat (&e, &l.v[i].st);
          if (l.v[i].link)
            fk_wire_put_str (&e, FK_TAG_LINK, l.v[i].link);
          conn_list_add (c, id, FK_TAG_ENTRY, &e, &open);
        }
      fk_wire_buf_free (&e);
      conn_list_end (c, id, &open);
    }
  for (size_t i = 0; i < l.n; i++)
    {
      free (l.v[i].path);
      free (l.v[i].link);
    }
  free (l.v);
  return r;
}

static int
file_mkdir (const fk_wire_msg_t *m, const owner_t *o, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  unsigned mode = fk_wire_msg_has (m, FK_TAG_MODE) ? (unsigned)m->num[FK_TAG_MODE] & 07777 : 0755;
  if (m->num[FK_TAG_FLAGS] & FK_WIRE_FILE_PARENTS)
    return mkdir_p_owned (path, mode, o, err);
  cleanup_free char *base = NULL;
  cleanup_close int dirfd = open_parent (path, 0, o, &base, err);
  if (dirfd < 0)
    return -1;
  if (mkdirat (dirfd, base, mode) < 0)
    return fk_error_set_errno (err, "mkdir `%s'", path);
  if (o->set && fchownat (dirfd, base, o->u.uid, o->u.gid, AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "chown `%s'", path);
  return 0;
}

static int
file_rename (const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *from = m->str[FK_TAG_PATH], *to = m->str[FK_TAG_PATH2];
  cleanup_free char *b1 = NULL;
  cleanup_free char *b2 = NULL;
  cleanup_close int d1 = open_parent (from, 0, NULL, &b1, err);
  if (d1 < 0)
    return -1;
  cleanup_close int d2 = open_parent (to, 0, NULL, &b2, err);
  if (d2 < 0)
    return -1;
  if (renameat (d1, b1, d2, b2) < 0)
    return fk_error_set_errno (err, "rename `%s' to `%s'", from, to);
  return 0;
}

static int
file_remove (const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  cleanup_free char *base = NULL;
  cleanup_close int dirfd = open_parent (path, 0, NULL, &base, err);
  if (dirfd < 0)
    return -1;
  struct stat st;
  if (fstatat (dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return fk_error_set_errno (err, "remove `%s'", path);
  if (S_ISDIR (st.st_mode) && (m->num[FK_TAG_FLAGS] & FK_WIRE_FILE_RECURSIVE))
    return fk_rm_rf_at (dirfd, base, err);
  if (unlinkat (dirfd, base, S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0) < 0)
    return fk_error_set_errno (err, "remove `%s'", path);
  return 0;
}

static int
file_chmod (const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *path = m->str[FK_TAG_PATH];
  cleanup_close int fd = fk_open_in_root (agent->rootfd, path, O_PATH, 0, err);
  if (fd < 0)
    return -1;
  mode_t mode = (mode_t)m->num[FK_TAG_MODE];
#ifdef SYS_fchmodat2
  if (syscall (SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
    return 0;
#endif
  /* An O_PATH fd cannot be fchmod'ed; its /proc link can (the target is already resolved). */
  char proc[64];
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (chmod (proc, mode) == 0)
    return 0;
  cleanup_close int rfd
      = fk_open_in_root (agent->rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, err);
  if (rfd < 0)
    return -1;
  if (fchmod (rfd, mode) < 0)
    return fk_error_set_errno (err, "chmod `%s'", path);
  return 0;
}

static void
user_lookup (conn_t *c, uint32_t id, const owner_t *o)
{
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  fk_wire_put_int (b, FK_TAG_UID, o->u.uid);
  fk_wire_put_int (b, FK_TAG_GID, o->u.gid);
  fk_wire_put_str (b, FK_TAG_PATH, o->u.home ? o->u.home : "/");
  fk_wire_end (b, NULL);
  conn_flush (c);
}

void
files_request (conn_t *c, const fk_wire_frame_t *f, const fk_wire_msg_t *m_in)
{
  fk_error_t err = FK_ERROR_INIT;
  int r = 0, reply_ok = 1;
  owner_t o;
  if (owner_resolve (m_in, &o, &err) < 0)
    {
      conn_send_fk_error (c, f->id, &err);
      return;
    }
  /* The paths, relative ones taken from the user's home: a shallow copy of the message with
     them swapped in. */
  fk_wire_msg_t mc = *m_in;
  const fk_wire_msg_t *m = &mc;
  cleanup_free char *p1 = NULL;
  cleanup_free char *p2 = NULL;
  if (o.set && mc.str[FK_TAG_PATH])
    mc.str[FK_TAG_PATH] = p1 = files_expand (&o.u, mc.str[FK_TAG_PATH]);
  if (o.set && mc.str[FK_TAG_PATH2])
    mc.str[FK_TAG_PATH2] = p2 = files_expand (&o.u, mc.str[FK_TAG_PATH2]);
  switch (f->type)
    {
    case FK_WIRE_USER_LOOKUP:
      user_lookup (c, f->id, &o);
      reply_ok = 0;
      break;
    case FK_WIRE_FILE_READ:
      r = file_read (c, f->id, m, &err);
      reply_ok = 0;
      break;
    case FK_WIRE_FILE_WRITE:
      r = file_write (c, f->id, m, &o, &err);
      reply_ok = 0;
      break;
    case FK_WIRE_FILE_STAT:
      r = file_stat (c, f->id, m->str[FK_TAG_PATH], &err);
      reply_ok = 0;
      break;
    case FK_WIRE_FILE_LIST:
      r = file_list (c, f->id, m, &err);
      reply_ok = 0;
      break;
    case FK_WIRE_FILE_MKDIR:
      r = file_mkdir (m, &o, &err);
      break;
    case FK_WIRE_FILE_RENAME:
      r = file_rename (m, &err);
      break;
    case FK_WIRE_FILE_REMOVE:
      r = file_remove (m, &err);
      break;
    case FK_WIRE_FILE_CHMOD:
      r = file_chmod (m, &err);
      break;
    default:
      break;
    }
  owner_clear (&o);
  if (r < 0)
    {
      if (f->type == FK_WIRE_FILE_WRITE)
        {
          /* The data frames that follow find no upload and are dropped. */
        }
      conn_send_fk_error (c, f->id, &err);
    }
  else if (reply_ok)
    conn_send_ok (c, f->id);
}
