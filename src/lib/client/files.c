/* client/files.c: see firkin/client.h (files). */
#include "client/files.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "client/reply.h"
#include "wire/frame.h"
#include "wire/msg.h"

static void
stat_from (const fk_wire_msg_t *m, fk_file_stat_t *st)
{
  memset (st, 0, sizeof *st);
  uint64_t t = m->num[FK_TAG_FTYPE];
  st->type = t >= 1 && t <= 4 ? (fk_file_type_t)t : FK_FILE_TYPE_OTHER;
  st->size = m->num[FK_TAG_SIZE];
  st->mode = (unsigned)m->num[FK_TAG_MODE] & 07777;
  st->uid = (uid_t)m->num[FK_TAG_UID];
  st->gid = (gid_t)m->num[FK_TAG_GID];
  st->mtime_ns = (int64_t)m->num[FK_TAG_MTIME_NS];
}

/* The USER of a file request, when the connection has one. */
static void
put_user (fk_client_t *c, fk_wire_buf_t *b)
{
  const char *u = fk_client_file_user (c);
  if (u)
    fk_wire_put_str (b, FK_TAG_USER, u);
}

/* A symlink target the agent sent: a copy, or NULL (none, or not within PATH_MAX). */
static char *
link_from (const fk_wire_msg_t *m)
{
  const char *l = m->str[FK_TAG_LINK];
  return l && l[0] && strlen (l) < PATH_MAX ? xstrdup (l) : NULL;
}

/* One request with a path (and optional second path, mode, flags), answered OK or ERROR. */
static int
path_call (fk_client_t *c, uint16_t type, const char *path, const char *path2, int with_mode,
           unsigned mode, unsigned flags, fk_cframe_t **ret_final, fk_error_t *err)
{
  if (path == NULL || path[0] == '\0'
      || (type == FK_WIRE_FILE_RENAME && (path2 == NULL || !*path2)))
    return fk_error_set (err, EINVAL, "%s: empty path", fk_wire_type_name (type));
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, type, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  if (path2)
    fk_wire_put_str (&b, FK_TAG_PATH2, path2);
  put_user (c, &b);
  if (with_mode)
    fk_wire_put_int (&b, FK_TAG_MODE, mode);
  if (flags)
    fk_wire_put_int (&b, FK_TAG_FLAGS, flags);
  int ret = fk_wire_end (&b, err);
  if (ret == 0)
    ret = fk_client_call (c, r, &b, NULL, NULL, ret_final, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  return ret;
}

int
fk_client_file_stat_link (fk_client_t *c, const char *path, fk_file_stat_t *ret_st, char **ret_link,
                          fk_error_t *err)
{
  fk_cframe_t *f = NULL;
  if (path_call (c, FK_WIRE_FILE_STAT, path, NULL, 0, 0, 0, &f, err) < 0)
    return -1;
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    {
      free (f);
      return -1;
    }
  stat_from (&m, ret_st);
  if (ret_link)
    *ret_link = ret_st->type == FK_FILE_TYPE_SYMLINK ? link_from (&m) : NULL;
  fk_wire_msg_clear (&m);
  free (f); /* m's strings point into it */
  return 0;
}

int
fk_client_file_stat (fk_client_t *c, const char *path, fk_file_stat_t *ret_st, fk_error_t *err)
{
  return fk_client_file_stat_link (c, path, ret_st, NULL, err);
}

int
fk_client_user_lookup (fk_client_t *c, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                       char **ret_home, fk_error_t *err)
{
  if (user == NULL)
    user = "";
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_USER_LOOKUP, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_USER, user);
  int ret = fk_wire_end (&b, err);
  fk_cframe_t *f = NULL;
  if (ret == 0)
    ret = fk_client_call (c, r, &b, NULL, NULL, &f, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  if (ret < 0)
    return -1;
  fk_wire_msg_t m;
  ret = fk_cframe_decode (f, &m, err);
  if (ret < 0)
    {
      free (f);
      return -1;
    }
  const char *home = m.str[FK_TAG_PATH];
  if (!fk_wire_msg_has (&m, FK_TAG_UID) || !fk_wire_msg_has (&m, FK_TAG_GID) || home == NULL
      || home[0] != '/' || strlen (home) >= PATH_MAX || m.num[FK_TAG_UID] > UINT32_MAX - 1
      || m.num[FK_TAG_GID] > UINT32_MAX - 1)
    ret = fk_error_set (err, EPROTO,
                        "the agent answered a user lookup without a uid, gid and home");
  else
    {
      if (ret_uid)
        *ret_uid = (uid_t)m.num[FK_TAG_UID];
      if (ret_gid)
        *ret_gid = (gid_t)m.num[FK_TAG_GID];
      if (ret_home)
        *ret_home = xstrdup (home);
    }
  fk_wire_msg_clear (&m);
  free (f);
  return ret;
}

int
fk_client_file_mkdir (fk_client_t *c, const char *path, unsigned mode, unsigned flags,
                      fk_error_t *err)
{
  return path_call (c, FK_WIRE_FILE_MKDIR, path, NULL, 1, mode ? mode : 0755, flags, NULL, err);
}

int
fk_client_file_rename (fk_client_t *c, const char *from, const char *to, fk_error_t *err)
{
  return path_call (c, FK_WIRE_FILE_RENAME, from, to, 0, 0, 0, NULL, err);
}

int
fk_client_file_remove (fk_client_t *c, const char *path, unsigned flags, fk_error_t *err)
{
  return path_call (c, FK_WIRE_FILE_REMOVE, path, NULL, 0, 0, flags, NULL, err);
}

int
fk_client_file_chmod (fk_client_t *c, const char *path, unsigned mode, fk_error_t *err)
{
  if (mode > 07777)
    return fk_error_set (err, EINVAL, "chmod `%s': mode %o out of range", path, mode);
  return path_call (c, FK_WIRE_FILE_CHMOD, path, NULL, 1, mode, 0, NULL, err);
}

/* ---- list ---- */

typedef struct list_acc
{
  fk_file_entry_t *v;
  size_t n, cap;
  size_t bytes; /* of paths */
} list_acc_t;

/* A path of a listing names something inside the listed directory: relative, no empty, `.' or
   `..' component (a consumer joining it to a host directory must not be led out of it). */
static int
entry_path_ok (const char *p)
{
  if (*p == '\0' || *p == '/')
    return 0;
  for (const char *c = p; *c;)
    {
      size_t n = strcspn (c, "/");
      if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
        return 0;
      c += n;
      if (*c == '/')
        c++;
      if (*c == '\0' && c[-1] == '/')
        return 0;
    }
  return 1;
}

static int
list_entry (list_acc_t *acc, const fk_wire_msg_t *e, fk_error_t *err)
{
  const char *path = e->str[FK_TAG_PATH];
  if (path == NULL)
    return fk_error_set (err, EPROTO, "the agent sent a list entry without a path");
  if (!entry_path_ok (path))
    return fk_error_set (err, EPROTO,
                         "the agent sent a list entry that is not a path inside the directory");
  if (acc->n >= FK_CLIENT_MAX_ENTRIES)
    return fk_error_set (err, EPROTO, "the agent listed more than %u entries",
                         FK_CLIENT_MAX_ENTRIES);
  size_t len = strlen (path) + 1;
  if (len > FK_CLIENT_MAX_ENTRY_BYTES - acc->bytes)
    return fk_error_set (err, EPROTO, "the agent's listing is over %u MiB of paths",
                         FK_CLIENT_MAX_ENTRY_BYTES >> 20);
  char *link = link_from (e);
  if (link && strlen (link) + 1 > FK_CLIENT_MAX_ENTRY_BYTES - acc->bytes - len)
    {
      free (link);
      return fk_error_set (err, EPROTO, "the agent's listing is over %u MiB of paths",
                           FK_CLIENT_MAX_ENTRY_BYTES >> 20);
    }
  acc->bytes += len + (link ? strlen (link) + 1 : 0);
  xgrow ((void **)&acc->v, &acc->cap, acc->n + 1, sizeof *acc->v);
  fk_file_entry_t *fe = &acc->v[acc->n++];
  fe->path = xstrdup (path);
  stat_from (e, &fe->st);
  fe->link = fe->st.type == FK_FILE_TYPE_SYMLINK ? link : (free (link), NULL);
  return 0;
}

static int
list_chunk (void *ud, const fk_cframe_t *f, fk_error_t *err)
{
  list_acc_t *acc = ud;
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  /* Every chunk carries something: empty ones could go on forever. */
  int r = m.n_entries == 0 ? fk_error_set (err, EPROTO, "the agent sent an empty list chunk") : 0;
  for (size_t i = 0; i < m.n_entries && r == 0; i++)
    {
      fk_wire_msg_t e;
      if (fk_wire_msg_decode (m.entries[i].data, m.entries[i].len, &e, err) < 0)
        r = -1;
      else
        {
          r = list_entry (acc, &e, err);
          fk_wire_msg_clear (&e);
        }
    }
  fk_wire_msg_clear (&m);
  return r;
}

int
fk_client_file_list (fk_client_t *c, const char *path, unsigned flags,
                     fk_file_entry_t **ret_entries, size_t *ret_n, fk_error_t *err)
{
  if (path == NULL || path[0] == '\0')
    return fk_error_set (err, EINVAL, "file-list: empty path");
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_FILE_LIST, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  fk_wire_put_int (&b, FK_TAG_FLAGS, flags & FK_FILE_RECURSIVE);
  put_user (c, &b);
  fk_wire_end (&b, NULL);
  list_acc_t acc = { NULL, 0, 0, 0 };
  int ret = fk_client_call (c, r, &b, list_chunk, &acc, NULL, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  if (ret < 0)
    {
      fk_file_entries_free (acc.v, acc.n);
      return -1;
    }
  *ret_entries = acc.v;
  *ret_n = acc.n;
  return 0;
}

void
fk_file_entries_free (fk_file_entry_t *entries, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (entries[i].path);
      free (entries[i].link);
    }
  free (entries);
}

/* ---- read ---- */

typedef struct sink
{
  int fd;    /* >= 0: write here */
  char *buf; /* else: collect here */
  size_t len, cap;
  uint64_t keep;  /* write or collect at most this many bytes (the rest is counted) */
  uint64_t limit; /* the agent sending more than this is EPROTO */
  int sized;      /* limit is the file's size (else what was asked for) */
  uint64_t got;
} sink_t;

/* Reads path into s, asking the agent for at most ask bytes (0: all). Each frame must come
   within the connection's deadline. */
static int
read_into (fk_client_t *c, const char *path, uint64_t ask, sink_t *s, fk_error_t *err)
{
  if (path == NULL || path[0] == '\0')
    return fk_error_set (err, EINVAL, "file-read: empty path");
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_FILE_READ, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  if (ask > 0)
    fk_wire_put_int (&b, FK_TAG_SIZE, ask);
  put_user (c, &b);
  fk_wire_end (&b, NULL);
  int ret = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  while (ret == 0)
    {
      fk_cframe_t *f;
      int n = fk_creq_next (c, r, fk_client_deadline_ms (c), &f, err);
      if (n <= 0)
        {
          char secs[32];
          if (n == 0)
            fk_error_set (err, ETIMEDOUT, "the agent sent nothing of `%s' for %s", path,
                          fk_client_fmt_secs (secs, sizeof secs, fk_client_deadline_ms (c)));
          ret = -1;
          break;
        }
      if (f->type == FK_WIRE_DATA)
        {
          if (f->len > s->limit - s->got)
            ret = fk_error_set (err, EPROTO, "the agent sent more than %s %llu bytes%s (`%s')",
                                s->sized ? "the file's" : "the", (unsigned long long)s->limit,
                                s->sized ? "" : " asked for", path);
          else
            {
              size_t n_keep = s->got >= s->keep           ? 0
                              : f->len < s->keep - s->got ? f->len
                                                          : (size_t)(s->keep - s->got);
              if (s->fd >= 0)
                ret = fk_write_all (s->fd, f->data, n_keep, err);
              else if (n_keep > 0)
                {
                  xgrow ((void **)&s->buf, &s->cap, s->len + n_keep + 1, 1);
                  memcpy (s->buf + s->len, f->data, n_keep);
                  s->len += n_keep;
                }
              s->got += f->len;
            }
          free (f);
          continue;
        }
      if (f->type == FK_WIRE_R_ERROR)
        ret = fk_cframe_error (f, err);
      else if (f->type != FK_WIRE_R_OK || !(f->flags & FK_WIRE_F_END))
        ret = fk_error_set (err, EPROTO, "the agent sent %s in a file read",
                            fk_wire_type_name (f->type));
      else
        {
          /* The size it reports is the size it sent. */
          fk_wire_msg_t m;
          ret = fk_cframe_decode (f, &m, err);
          if (ret == 0 && fk_wire_msg_has (&m, FK_TAG_SIZE) && m.num[FK_TAG_SIZE] != s->got)
            ret = fk_error_set (err, EPROTO, "the agent said it sent %llu bytes of `%s', not %llu",
                                (unsigned long long)m.num[FK_TAG_SIZE], path,
                                (unsigned long long)s->got);
          if (ret == 0)
            fk_wire_msg_clear (&m);
        }
      free (f);
      break;
    }
  fk_creq_free (c, r);
  return ret;
}

int
fk_client_file_read (fk_client_t *c, const char *path, size_t max, char **ret_data, size_t *ret_len,
                     fk_error_t *err)
{
  /* One byte more than max tells a file over it without moving the whole file. */
  uint64_t ask = (uint64_t)max < UINT64_MAX ? (uint64_t)max + 1 : 0;
  sink_t s = { .fd = -1, .keep = max, .limit = ask ? ask : UINT64_MAX };
  if (read_into (c, path, ask, &s, err) < 0)
    {
      free (s.buf);
      return -1;
    }
  if (s.got > max)
    {
      free (s.buf);
      return fk_error_set (err, EFBIG, "`%s' is larger than %zu bytes", path, max);
    }
  if (s.buf == NULL)
    s.buf = xcalloc (1, 1);
  s.buf[s.len] = '\0';
  *ret_data = s.buf;
  *ret_len = s.len;
  return 0;
}

int
fk_client_file_read_fd_stat (fk_client_t *c, const char *path, const fk_file_stat_t *st, int fd,
                             fk_error_t *err)
{
  /* The stat announced the size; the read asks for no more, so an honest agent never sends
     more, even for a file that grows meanwhile. */
  if (st->type == FK_FILE_TYPE_DIR)
    return fk_error_set (err, EISDIR, "`%s' is a directory", path);
  sink_t s = { .fd = fd };
  uint64_t ask;
  int sized = st->type == FK_FILE_TYPE_FILE;
  if (sized)
    {
      /* An empty file is asked for one byte (0 would mean all of it): one that has grown since
         may send it, and it is dropped (keep), not taken for an agent sending too much. */
      ask = st->size > 0 ? st->size : 1;
      s.keep = st->size;
      s.limit = ask;
      s.sized = st->size > 0;
    }
  else
    {
      /* A symlink's stat is the link's, a device's or a fifo's says nothing of its contents. */
      s.keep = FK_CLIENT_MAX_UNSIZED_READ;
      s.limit = ask = (uint64_t)FK_CLIENT_MAX_UNSIZED_READ + 1;
    }
  if (read_into (c, path, ask, &s, err) < 0)
    return -1;
  if (!sized && s.got > FK_CLIENT_MAX_UNSIZED_READ)
    return fk_error_set (err, EFBIG, "`%s' is not a regular file and holds more than %u bytes",
                         path, FK_CLIENT_MAX_UNSIZED_READ);
  return 0;
}

int
fk_client_file_read_fd (fk_client_t *c, const char *path, int fd, fk_error_t *err)
{
  fk_file_stat_t st;
  if (fk_client_file_stat (c, path, &st, err) < 0)
    return -1;
  return fk_client_file_read_fd_stat (c, path, &st, fd, err);
}

/* ---- write ---- */

/* The reply that ends an upload of `sent' bytes: R_OK (with the size written, when given, equal
   to what was sent), or the agent's error. */
static int
upload_reply (fk_cframe_t *f, const char *path, uint64_t sent, int complete, fk_error_t *err)
{
  if (f->type == FK_WIRE_R_ERROR)
    return fk_cframe_error (f, err);
  if (f->type != FK_WIRE_R_OK || !(f->flags & FK_WIRE_F_END))
    return fk_error_set (err, EPROTO, "the agent answered the upload of `%s' with %s", path,
                         fk_wire_type_name (f->type));
  if (!complete)
    return fk_error_set (err, EPROTO, "the agent acknowledged the upload of `%s' before its end",
                         path);
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  int r = 0;
  if (fk_wire_msg_has (&m, FK_TAG_SIZE) && m.num[FK_TAG_SIZE] != sent)
    r = fk_error_set (err, EPROTO, "the agent wrote %llu bytes into `%s', not the %llu sent",
                      (unsigned long long)m.num[FK_TAG_SIZE], path, (unsigned long long)sent);
  fk_wire_msg_clear (&m);
  return r;
}

static int
write_from (fk_client_t *c, const char *path, const void *data, size_t len, int fd, unsigned mode,
            unsigned flags, fk_error_t *err)
{
  if (path == NULL || path[0] == '\0')
    return fk_error_set (err, EINVAL, "file-write: empty path");
  fk_creq_t *r = fk_creq_new (c);
  uint32_t id = fk_creq_id (r);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_FILE_WRITE, 0, id);
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  fk_wire_put_int (&b, FK_TAG_MODE, mode ? mode & 07777 : 0644);
  fk_wire_put_int (&b, FK_TAG_FLAGS, flags & (FK_FILE_APPEND | FK_FILE_PARENTS | FK_FILE_EXCL));
  put_user (c, &b);
  fk_wire_end (&b, NULL);
  int ret = 0;
  const uint8_t *d = data;
  int eof = 0, sent_any = 0, early = 0;
  uint64_t sent = 0;
  while (ret == 0 && !eof)
    {
      size_t n;
      if (fd >= 0)
        {
          /* Read straight into the frame under construction. */
          xgrow ((void **)&b.data, &b.cap, b.len + FK_WIRE_HEADER_LEN + FK_WIRE_CHUNK, 1);
          ssize_t got;
          do
            got = read (fd, b.data + b.len + FK_WIRE_HEADER_LEN, FK_WIRE_CHUNK);
          while (got < 0 && errno == EINTR);
          if (got < 0)
            {
              ret = fk_error_set_errno (err, "read the source of `%s'", path);
              break;
            }
          n = (size_t)got;
          eof = n == 0;
          fk_wire_header_write (b.data + b.len, FK_WIRE_DATA, eof ? FK_WIRE_F_EOF : 0, id,
                                (uint32_t)n);
          b.len += FK_WIRE_HEADER_LEN + n;
        }
      else
        {
          n = len < FK_WIRE_CHUNK ? len : FK_WIRE_CHUNK;
          eof = n == len;
          fk_wire_put_data_frame (&b, FK_WIRE_DATA, eof ? FK_WIRE_F_EOF : 0, id, d, n);
          d += n;
          len -= n;
        }
      sent += n;
      if (b.len >= (1u << 20) || eof)
        {
          /* Each piece within the deadline: an agent that stops reading is an error. */
          ret = fk_client_send (c, &b, err);
          fk_wire_buf_reset (&b);
          sent_any = 1;
          /* An early answer (an error: the path cannot be written) ends the upload rather
             than sending the rest for nothing: a look at what arrived, once a MiB. */
          if (ret == 0 && !eof)
            {
              fk_client_take_arrived (c);
              int ready = fk_creq_ready (c, r, err);
              if (ready < 0)
                ret = -1;
              early = ready > 0;
              if (early)
                break;
            }
        }
    }
  fk_wire_buf_free (&b);
  if (ret == 0 || early)
    {
      if (!eof && sent_any)
        {
          /* Cut short: the EOF frame lets the agent drop its temp file. */
          fk_wire_buf_t e = FK_WIRE_BUF_INIT;
          fk_wire_put_data_frame (&e, FK_WIRE_DATA, FK_WIRE_F_EOF, id, NULL, 0);
          fk_client_send (c, &e, NULL);
          fk_wire_buf_free (&e);
        }
      fk_cframe_t *f = NULL;
      ret = fk_creq_wait (c, r, "file-write", &f, err) < 0 ? -1 : 0;
      if (ret == 0)
        {
          ret = upload_reply (f, path, sent, eof, err);
          free (f);
        }
    }
  else if (sent_any)
    {
      /* The source (or the connection) failed mid-way: end the upload so the agent drops its
         temp file. */
      fk_wire_buf_t e = FK_WIRE_BUF_INIT;
      fk_wire_put_data_frame (&e, FK_WIRE_DATA, FK_WIRE_F_EOF, id, NULL, 0);
      fk_client_send (c, &e, NULL);
      fk_wire_buf_free (&e);
    }
  fk_creq_free (c, r);
  return ret;
}

int
fk_client_file_write (fk_client_t *c, const char *path, const void *data, size_t len, unsigned mode,
                      unsigned flags, fk_error_t *err)
{
  return write_from (c, path, data, len, -1, mode, flags, err);
}

int
fk_client_file_write_fd (fk_client_t *c, const char *path, int fd, unsigned mode, unsigned flags,
                         fk_error_t *err)
{
  return write_from (c, path, NULL, 0, fd, mode, flags, err);
}
