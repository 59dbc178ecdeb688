/* client/files.c: see firkin/client.h (files). */
#include "client/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "wire/frame.h"
#include "wire/msg.h"

static int
frame_msg (const fk_cframe_t *f, fk_wire_msg_t *m, fk_error_t *err)
{
  fk_wire_frame_t wf = { .type = f->type, .flags = f->flags, .len = f->len, .payload = f->data };
  return fk_wire_frame_decode (&wf, m, err);
}

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
fk_client_file_stat (fk_client_t *c, const char *path, fk_file_stat_t *ret_st, fk_error_t *err)
{
  fk_cframe_t *f = NULL;
  if (path_call (c, FK_WIRE_FILE_STAT, path, NULL, 0, 0, 0, &f, err) < 0)
    return -1;
  fk_wire_msg_t m;
  int r = frame_msg (f, &m, err);
  free (f);
  if (r < 0)
    return -1;
  stat_from (&m, ret_st);
  fk_wire_msg_clear (&m);
  return 0;
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
} list_acc_t;

static int
list_chunk (void *ud, const fk_cframe_t *f, fk_error_t *err)
{
  list_acc_t *acc = ud;
  fk_wire_msg_t m;
  if (frame_msg (f, &m, err) < 0)
    return -1;
  for (size_t i = 0; i < m.n_entries; i++)
    {
      fk_wire_msg_t e;
      if (fk_wire_msg_decode (m.entries[i].data, m.entries[i].len, &e, err) < 0)
        {
          fk_wire_msg_clear (&m);
          return -1;
        }
      if (e.str[FK_TAG_PATH] == NULL)
        {
          fk_wire_msg_clear (&e);
          fk_wire_msg_clear (&m);
          return fk_error_set (err, EPROTO, "list entry without a path");
        }
      xgrow ((void **)&acc->v, &acc->cap, acc->n + 1, sizeof *acc->v);
      fk_file_entry_t *fe = &acc->v[acc->n++];
      fe->path = xstrdup (e.str[FK_TAG_PATH]);
      stat_from (&e, &fe->st);
      fk_wire_msg_clear (&e);
    }
  fk_wire_msg_clear (&m);
  return 0;
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
  fk_wire_end (&b, NULL);
  list_acc_t acc = { NULL, 0, 0 };
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
    free (entries[i].path);
  free (entries);
}

/* ---- read ---- */

typedef struct sink
{
  int fd;    /* >= 0: write here */
  char *buf; /* else: collect here */
  size_t len, cap, max;
} sink_t;

static int
read_into (fk_client_t *c, const char *path, sink_t *s, fk_error_t *err)
{
  if (path == NULL || path[0] == '\0')
    return fk_error_set (err, EINVAL, "file-read: empty path");
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_FILE_READ, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  fk_wire_end (&b, NULL);
  int ret = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  int too_big = 0;
  while (ret == 0)
    {
      fk_cframe_t *f;
      if (fk_creq_next (c, r, -1, &f, err) < 0)
        {
          ret = -1;
          break;
        }
      if (f->type == FK_WIRE_DATA)
        {
          if (s->fd >= 0)
            ret = fk_write_all (s->fd, f->data, f->len, err);
          else if (!too_big)
            {
              if (s->len + f->len > s->max)
                too_big = 1; /* keep draining the stream so the request ends cleanly */
              else
                {
                  xgrow ((void **)&s->buf, &s->cap, s->len + f->len + 1, 1);
                  memcpy (s->buf + s->len, f->data, f->len);
                  s->len += f->len;
                }
            }
          free (f);
          continue;
        }
      if (f->type == FK_WIRE_R_ERROR)
        ret = fk_cframe_error (f, err);
      else if (f->type != FK_WIRE_R_OK)
        ret = fk_error_set (err, EPROTO, "unexpected %s frame in a file read",
                            fk_wire_type_name (f->type));
      free (f);
      break;
    }
  fk_creq_free (c, r);
  if (ret == 0 && too_big)
    return fk_error_set (err, EFBIG, "`%s' is larger than %zu bytes", path, s->max);
  return ret;
}

int
fk_client_file_read (fk_client_t *c, const char *path, size_t max, char **ret_data, size_t *ret_len,
                     fk_error_t *err)
{
  sink_t s = { .fd = -1, .max = max };
  if (read_into (c, path, &s, err) < 0)
    {
      free (s.buf);
      return -1;
    }
  if (s.buf == NULL)
    s.buf = xcalloc (1, 1);
  s.buf[s.len] = '\0';
  *ret_data = s.buf;
  *ret_len = s.len;
  return 0;
}

int
fk_client_file_read_fd (fk_client_t *c, const char *path, int fd, fk_error_t *err)
{
  sink_t s = { .fd = fd };
  return read_into (c, path, &s, err);
}

/* ---- write ---- */

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
  fk_wire_end (&b, NULL);
  int ret = 0;
  const uint8_t *d = data;
  int eof = 0;
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
      if (b.len >= (1u << 20) || eof)
        {
          ret = fk_client_send (c, &b, err);
          fk_wire_buf_reset (&b);
        }
    }
  fk_wire_buf_free (&b);
  if (ret == 0)
    ret = fk_client_call (c, r, NULL, NULL, NULL, NULL, err);
  else if (fd >= 0)
    {
      /* The source failed mid-way: end the upload so the agent drops its temp file. */
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
