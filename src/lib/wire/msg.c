/* wire/msg.c: see msg.h. */
#include "wire/msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

typedef enum
{
  K_NONE = 0,
  K_INT,
  K_STR,
  K_BYTES,
  K_STR_REP,
  K_BYTES_REP,
} kind_t;

static const kind_t kinds[FK_TAG_MAX + 1] = {
  [FK_TAG_MAGIC] = K_STR,      [FK_TAG_VERSION] = K_INT,    [FK_TAG_ARG] = K_STR_REP,
  [FK_TAG_SHELL] = K_STR,      [FK_TAG_ENV] = K_STR_REP,    [FK_TAG_CWD] = K_STR,
  [FK_TAG_USER] = K_STR,       [FK_TAG_STDIN_MODE] = K_INT, [FK_TAG_STDIN_DATA] = K_BYTES,
  [FK_TAG_TIMEOUT_MS] = K_INT, [FK_TAG_TAG] = K_STR,        [FK_TAG_PTY] = K_INT,
  [FK_TAG_ROWS] = K_INT,       [FK_TAG_COLS] = K_INT,       [FK_TAG_KEEP] = K_INT,
  [FK_TAG_PID] = K_INT,        [FK_TAG_TARGET] = K_INT,     [FK_TAG_SIGNAL] = K_INT,
  [FK_TAG_EXIT_CODE] = K_INT,  [FK_TAG_TIMED_OUT] = K_INT,  [FK_TAG_ERRNO] = K_INT,
  [FK_TAG_MESSAGE] = K_STR,    [FK_TAG_PATH] = K_STR,       [FK_TAG_PATH2] = K_STR,
  [FK_TAG_MODE] = K_INT,       [FK_TAG_FLAGS] = K_INT,      [FK_TAG_OFFSET] = K_INT,
  [FK_TAG_SIZE] = K_INT,       [FK_TAG_MTIME_NS] = K_INT,   [FK_TAG_FTYPE] = K_INT,
  [FK_TAG_UID] = K_INT,        [FK_TAG_GID] = K_INT,        [FK_TAG_ENTRY] = K_BYTES_REP,
  [FK_TAG_PROC] = K_BYTES_REP, [FK_TAG_SHELL_ID] = K_STR,   [FK_TAG_DROPPED] = K_INT,
  [FK_TAG_LINK] = K_STR,       [FK_TAG_PORT] = K_INT,       [FK_TAG_FAMILY] = K_INT,
  [FK_TAG_ADDR] = K_STR,
};

static uint64_t
get_le (const uint8_t *p, size_t n)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

void
fk_wire_msg_clear (fk_wire_msg_t *m)
{
  free (m->argv);
  free (m->env);
  free (m->entries);
  free (m->procs);
  memset (m, 0, sizeof *m);
}

static int
check_str (const uint8_t *v, uint32_t len, uint16_t tag, fk_error_t *err)
{
  if (len == 0 || v[len - 1] != '\0')
    return fk_error_set (err, EPROTO, "field %u: string without its terminating NUL", tag);
  if (memchr (v, '\0', len - 1) != NULL)
    return fk_error_set (err, EPROTO, "field %u: string with a NUL inside", tag);
  return 0;
}

static void
push_str (char ***vec, size_t *n, const char *s)
{
  *vec = xrealloc (*vec, (*n + 2) * sizeof (char *));
  (*vec)[(*n)++] = (char *)s;
  (*vec)[*n] = NULL;
}

static void
push_slice (fk_wire_slice_t **vec, size_t *n, const uint8_t *d, size_t len)
{
  if ((*n & (*n - 1)) == 0) /* grow at powers of two */
    *vec = xrealloc (*vec, (*n ? *n * 2 : 1) * sizeof (fk_wire_slice_t));
  (*vec)[*n].data = d;
  (*vec)[*n].len = len;
  (*n)++;
}

int
fk_wire_msg_decode (const uint8_t *payload, size_t len, fk_wire_msg_t *ret, fk_error_t *err)
{
  fk_wire_msg_t m;
  memset (&m, 0, sizeof m);
  size_t n_argv = 0, n_env = 0, repeats = 0;
  size_t off = 0;
  while (off < len)
    {
      if (len - off < 6)
        {
          fk_error_set (err, EPROTO, "truncated field header at offset %zu", off);
          goto fail;
        }
      uint16_t tag = (uint16_t)get_le (payload + off, 2);
      uint32_t flen = (uint32_t)get_le (payload + off + 2, 4);
      off += 6;
      if (flen > len - off)
        {
          fk_error_set (err, EPROTO, "field %u of %u bytes runs past the payload", tag, flen);
          goto fail;
        }
      const uint8_t *v = payload + off;
      off += flen;
      kind_t k = tag <= FK_TAG_MAX ? kinds[tag] : K_NONE;
      if (k == K_NONE)
        continue; /* a newer peer's field */
      if (k == K_STR_REP || k == K_BYTES_REP)
        {
          if (++repeats > FK_WIRE_MAX_REPEAT)
            {
              fk_error_set (err, EPROTO, "more than %d repeated fields", FK_WIRE_MAX_REPEAT);
              goto fail;
            }
        }
      else
        {
          if (fk_wire_msg_has (&m, tag))
            {
              fk_error_set (err, EPROTO, "field %u given twice", tag);
              goto fail;
            }
          m.present |= 1ull << tag;
        }
      switch (k)
        {
        case K_INT:
          if (flen != 8)
            {
              fk_error_set (err, EPROTO, "integer field %u of %u bytes (want 8)", tag, flen);
              goto fail;
            }
          m.num[tag] = get_le (v, 8);
          break;
        case K_STR:
          if (check_str (v, flen, tag, err) < 0)
            goto fail;
          m.str[tag] = (const char *)v;
          break;
        case K_BYTES:
          m.bytes[tag].data = v;
          m.bytes[tag].len = flen;
          break;
        case K_STR_REP:
          if (check_str (v, flen, tag, err) < 0)
            goto fail;
          if (tag == FK_TAG_ARG)
            push_str (&m.argv, &n_argv, (const char *)v);
          else
            push_str (&m.env, &n_env, (const char *)v);
          break;
        case K_BYTES_REP:
          if (tag == FK_TAG_ENTRY)
            push_slice (&m.entries, &m.n_entries, v, flen);
          else
            push_slice (&m.procs, &m.n_procs, v, flen);
          break;
        case K_NONE:
          break;
        }
    }
  *ret = m;
  return 0;
fail:
  fk_wire_msg_clear (&m);
  return -1;
}

static int
need (const fk_wire_msg_t *m, fk_wire_tag_t tag, uint16_t type, fk_error_t *err)
{
  if (!fk_wire_msg_has (m, tag))
    return fk_error_set (err, EPROTO, "%s: missing field %u", fk_wire_type_name (type), tag);
  return 0;
}

static int
need_path (const fk_wire_msg_t *m, fk_wire_tag_t tag, uint16_t type, fk_error_t *err)
{
  if (need (m, tag, type, err) < 0)
    return -1;
  if (m->str[tag][0] == '\0')
    return fk_error_set (err, EINVAL, "%s: empty path", fk_wire_type_name (type));
  return 0;
}

int
fk_wire_msg_validate (uint16_t type, const fk_wire_msg_t *m, fk_error_t *err)
{
  const char *name = fk_wire_type_name (type);
  switch (type)
    {
    case FK_WIRE_HELLO:
    case FK_WIRE_R_HELLO:
      if (need (m, FK_TAG_MAGIC, type, err) < 0 || need (m, FK_TAG_VERSION, type, err) < 0)
        return -1;
      if (strcmp (m->str[FK_TAG_MAGIC], FK_WIRE_MAGIC) != 0)
        return fk_error_set (err, EPROTO, "%s: bad magic `%s'", name, m->str[FK_TAG_MAGIC]);
      if (m->num[FK_TAG_VERSION] < 1)
        return fk_error_set (err, EPROTO, "%s: version 0", name);
      return 0;
    case FK_WIRE_EXEC:
      if ((m->argv == NULL) == !fk_wire_msg_has (m, FK_TAG_SHELL))
        return fk_error_set (err, EINVAL, "exec: give either argv or a shell command");
      if (m->argv != NULL && m->argv[0][0] == '\0')
        return fk_error_set (err, EINVAL, "exec: empty command name");
      if (m->num[FK_TAG_STDIN_MODE] > FK_WIRE_STDIN_STREAM)
        return fk_error_set (err, EINVAL, "exec: unknown stdin mode %llu",
                             (unsigned long long)m->num[FK_TAG_STDIN_MODE]);
      for (char **e = m->env; e && *e; e++)
        if (strchr (*e, '=') == NULL || **e == '=')
          return fk_error_set (err, EINVAL, "exec: environment entry `%s' is not K=V", *e);
      if (m->num[FK_TAG_ROWS] > 65535 || m->num[FK_TAG_COLS] > 65535)
        return fk_error_set (err, EINVAL, "exec: terminal size out of range");
      if (fk_wire_msg_has (m, FK_TAG_TAG) && m->str[FK_TAG_TAG][0] == '\0')
        return fk_error_set (err, EINVAL, "exec: empty tag");
      return 0;
    case FK_WIRE_SIGNAL:
      if (!fk_wire_msg_has (m, FK_TAG_PID) && !fk_wire_msg_has (m, FK_TAG_TAG)
          && !fk_wire_msg_has (m, FK_TAG_TARGET))
        return fk_error_set (err, EINVAL, "signal: give a pid, a tag or a request");
      if (need (m, FK_TAG_SIGNAL, type, err) < 0)
        return -1;
      if (m->num[FK_TAG_SIGNAL] > 64)
        return fk_error_set (err, EINVAL, "signal: bad signal number %llu",
                             (unsigned long long)m->num[FK_TAG_SIGNAL]);
      return 0;
    case FK_WIRE_RESIZE:
      if (!fk_wire_msg_has (m, FK_TAG_PID) && !fk_wire_msg_has (m, FK_TAG_TAG)
          && !fk_wire_msg_has (m, FK_TAG_TARGET))
        return fk_error_set (err, EINVAL, "resize: give a pid, a tag or a request");
      if (need (m, FK_TAG_ROWS, type, err) < 0 || need (m, FK_TAG_COLS, type, err) < 0)
        return -1;
      if (m->num[FK_TAG_ROWS] > 65535 || m->num[FK_TAG_COLS] > 65535)
        return fk_error_set (err, EINVAL, "resize: terminal size out of range");
      return 0;
    case FK_WIRE_PROC_INPUT:
      if (!fk_wire_msg_has (m, FK_TAG_PID) && !fk_wire_msg_has (m, FK_TAG_TAG))
        return fk_error_set (err, EINVAL, "proc-input: give a pid or a tag");
      return 0;
    case FK_WIRE_ATTACH:
      if (!fk_wire_msg_has (m, FK_TAG_PID) && !fk_wire_msg_has (m, FK_TAG_TAG))
        return fk_error_set (err, EINVAL, "attach: give a pid or a tag");
      return 0;
    case FK_WIRE_CANCEL:
      return need (m, FK_TAG_TARGET, type, err);
    case FK_WIRE_FILE_READ:
    case FK_WIRE_FILE_WRITE:
    case FK_WIRE_FILE_STAT:
    case FK_WIRE_FILE_LIST:
    case FK_WIRE_FILE_MKDIR:
    case FK_WIRE_FILE_REMOVE:
    case FK_WIRE_WATCH:
      return need_path (m, FK_TAG_PATH, type, err);
    case FK_WIRE_WATCH_STOP:
      return need (m, FK_TAG_TARGET, type, err);
    case FK_WIRE_USER_LOOKUP:
      return need (m, FK_TAG_USER, type, err);
    case FK_WIRE_FILE_CHMOD:
      if (need_path (m, FK_TAG_PATH, type, err) < 0 || need (m, FK_TAG_MODE, type, err) < 0)
        return -1;
      if (m->num[FK_TAG_MODE] > 07777)
        return fk_error_set (err, EINVAL, "chmod: mode %llo out of range",
                             (unsigned long long)m->num[FK_TAG_MODE]);
      return 0;
    case FK_WIRE_FILE_RENAME:
      if (need_path (m, FK_TAG_PATH, type, err) < 0 || need_path (m, FK_TAG_PATH2, type, err) < 0)
        return -1;
      return 0;
    case FK_WIRE_SET_ENV:
      if (m->env == NULL)
        return fk_error_set (err, EINVAL, "set-env: no variables");
      for (char **e = m->env; *e; e++)
        if (strchr (*e, '=') == NULL || **e == '=')
          return fk_error_set (err, EINVAL, "set-env: environment entry `%s' is not K=V", *e);
      return 0;
    case FK_WIRE_REROOT:
      for (char **e = m->env; e && *e; e++)
        if (strchr (*e, '=') == NULL || **e == '=')
          return fk_error_set (err, EINVAL, "reroot: environment entry `%s' is not K=V", *e);
      return need_path (m, FK_TAG_CWD, type, err);
    case FK_WIRE_SHELL_OPEN:
    case FK_WIRE_SHELL_CLOSE:
      return need (m, FK_TAG_SHELL_ID, type, err);
    case FK_WIRE_SHELL_RUN:
      if (need (m, FK_TAG_SHELL_ID, type, err) < 0 || need (m, FK_TAG_SHELL, type, err) < 0)
        return -1;
      return 0;
    case FK_WIRE_PORT_CONNECT:
    case FK_WIRE_R_PORT:
      if (need (m, FK_TAG_PORT, type, err) < 0)
        return -1;
      if (m->num[FK_TAG_PORT] < 1 || m->num[FK_TAG_PORT] > 65535)
        return fk_error_set (err, type == FK_WIRE_R_PORT ? EPROTO : EINVAL,
                             "%s: port %llu is not 1-65535", name,
                             (unsigned long long)m->num[FK_TAG_PORT]);
      if (m->num[FK_TAG_FAMILY] != FK_WIRE_FAMILY_ANY
          && m->num[FK_TAG_FAMILY] != FK_WIRE_FAMILY_IPV4
          && m->num[FK_TAG_FAMILY] != FK_WIRE_FAMILY_IPV6)
        return fk_error_set (err, type == FK_WIRE_R_PORT ? EPROTO : EINVAL,
                             "%s: unknown address family %llu", name,
                             (unsigned long long)m->num[FK_TAG_FAMILY]);
      return 0;
    case FK_WIRE_R_ERROR:
      if (need (m, FK_TAG_ERRNO, type, err) < 0 || need (m, FK_TAG_MESSAGE, type, err) < 0)
        return -1;
      return 0;
    case FK_WIRE_R_STARTED:
      return need (m, FK_TAG_PID, type, err);
    case FK_WIRE_R_EXIT:
      if (!fk_wire_msg_has (m, FK_TAG_EXIT_CODE) && !fk_wire_msg_has (m, FK_TAG_SIGNAL))
        return fk_error_set (err, EPROTO, "exit: neither an exit code nor a signal");
      if (m->num[FK_TAG_EXIT_CODE] > 255 || m->num[FK_TAG_SIGNAL] > 64)
        return fk_error_set (err, EPROTO, "exit: status out of range");
      return 0;
    default:
      return 0;
    }
}

int
fk_wire_frame_decode (const fk_wire_frame_t *f, fk_wire_msg_t *ret, fk_error_t *err)
{
  if (fk_wire_type_is_data (f->type))
    return fk_error_set (err, EPROTO, "%s frames carry no fields", fk_wire_type_name (f->type));
  fk_wire_msg_t m;
  if (fk_wire_msg_decode (f->payload, f->len, &m, err) < 0)
    return fk_error_wrap (err, "%s frame", fk_wire_type_name (f->type));
  if (fk_wire_msg_validate (f->type, &m, err) < 0)
    {
      fk_wire_msg_clear (&m);
      return -1;
    }
  *ret = m;
  return 0;
}

/* ---- encoding ---- */

void
fk_wire_buf_free (fk_wire_buf_t *b)
{
  free (b->data);
  memset (b, 0, sizeof *b);
}

void
fk_wire_buf_reset (fk_wire_buf_t *b)
{
  b->len = 0;
  b->open = 0;
  b->frame_start = 0;
}

static uint8_t *
reserve (fk_wire_buf_t *b, size_t n)
{
  xgrow ((void **)&b->data, &b->cap, b->len + n, 1);
  uint8_t *p = b->data + b->len;
  b->len += n;
  return p;
}

static void
put_le (uint8_t *p, uint64_t v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

void
fk_wire_begin (fk_wire_buf_t *b, uint16_t type, uint16_t flags, uint32_t id)
{
  b->frame_start = b->len;
  b->open = 1;
  fk_wire_header_write (reserve (b, FK_WIRE_HEADER_LEN), type, flags, id, 0);
}

static void
put_field (fk_wire_buf_t *b, fk_wire_tag_t tag, const void *v, size_t len)
{
  if (len > UINT32_MAX)
    len = UINT32_MAX; /* fk_wire_end rejects the frame as oversized anyway */
  uint8_t *p = reserve (b, 6 + len);
  put_le (p, tag, 2);
  put_le (p + 2, len, 4);
  if (len)
    memcpy (p + 6, v, len);
}

void
fk_wire_put_int (fk_wire_buf_t *b, fk_wire_tag_t tag, uint64_t v)
{
  uint8_t tmp[8];
  put_le (tmp, v, 8);
  put_field (b, tag, tmp, 8);
}

void
fk_wire_put_str (fk_wire_buf_t *b, fk_wire_tag_t tag, const char *s)
{
  put_field (b, tag, s, strlen (s) + 1);
}

void
fk_wire_put_bytes (fk_wire_buf_t *b, fk_wire_tag_t tag, const void *data, size_t len)
{
  put_field (b, tag, data, len);
}

void
fk_wire_put_raw (fk_wire_buf_t *b, const void *data, size_t len)
{
  if (len)
    memcpy (reserve (b, len), data, len);
}

int
fk_wire_end (fk_wire_buf_t *b, fk_error_t *err)
{
  size_t plen = b->len - b->frame_start - FK_WIRE_HEADER_LEN;
  b->open = 0;
  if (plen > FK_WIRE_MAX_PAYLOAD)
    {
      b->len = b->frame_start;
      return fk_error_set (err, E2BIG, "request of %zu bytes is over the frame limit of %u", plen,
                           FK_WIRE_MAX_PAYLOAD);
    }
  put_le (b->data + b->frame_start, plen, 4);
  return 0;
}

void
fk_wire_put_data_frame (fk_wire_buf_t *b, uint16_t type, uint16_t flags, uint32_t id,
                        const void *data, size_t len)
{
  fk_wire_header_write (reserve (b, FK_WIRE_HEADER_LEN), type, flags, id, (uint32_t)len);
  fk_wire_put_raw (b, data, len);
}
