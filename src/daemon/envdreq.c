/* daemon/envdreq.c: see envdreq.h. */
#include "daemon/envdreq.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/json.h"
#include "base/xalloc.h"

void
fkd_fs_req_free (fkd_fs_req_t *r)
{
  if (r == NULL)
    return;
  free (r->path);
  free (r->destination);
  free (r->watcher_id);
  free (r);
}

FK_DEFINE_CLEANUP (fkd_fs_req_t *, fkd_fs_req_free)

void
fkd_proc_req_free (fkd_proc_req_t *r)
{
  if (r == NULL)
    return;
  free (r->tag);
  free (r->data);
  free (r);
}

FK_DEFINE_CLEANUP (fkd_proc_req_t *, fkd_proc_req_free)

static json_t *
field (const json_t *obj, const char *name)
{
  json_t *v = json_object_get (obj, name);
  return json_is_null (v) ? NULL : v;
}

/* A non-empty string without NUL named name, copied to *ret. */
static int
path_field (const json_t *obj, const char *name, char **ret, fk_error_t *err)
{
  json_t *v = field (obj, name);
  if (v == NULL)
    return fk_error_set (err, EINVAL, "`%s' is missing", name);
  if (!json_is_string (v) || json_string_length (v) == 0
      || json_string_length (v) != strlen (json_string_value (v)))
    return fk_error_set (err, EINVAL, "`%s' is not a path", name);
  *ret = xstrdup (json_string_value (v));
  return 0;
}

/* A proto3 JSON unsigned integer: a number, or a decimal string. */
static int
uint_value (const json_t *v, unsigned long long max, unsigned long long *ret)
{
  if (json_is_integer (v))
    {
      json_int_t i = json_integer_value (v);
      if (i < 0 || (unsigned long long)i > max)
        return -1;
      *ret = (unsigned long long)i;
      return 0;
    }
  if (json_is_string (v))
    {
      const char *s = json_string_value (v);
      if (s[0] < '0' || s[0] > '9' || strlen (s) != json_string_length (v) || strlen (s) > 20)
        return -1;
      char *end;
      errno = 0;
      unsigned long long n = strtoull (s, &end, 10);
      if (errno || *end || n > max)
        return -1;
      *ret = n;
      return 0;
    }
  return -1;
}

static int
parse_root (const char *what, const char *text, size_t len, json_t **ret, fk_error_t *err)
{
  if (fk_json_parse (text, len, ret, err) < 0)
    return fk_error_wrap (err, "%s", what);
  if (!json_is_object (*ret))
    return fk_error_set (err, EINVAL, "%s: not a JSON object", what);
  return 0;
}

int
fkd_fs_req_parse (fkd_fs_kind_t kind, const char *text, size_t len, fkd_fs_req_t **ret_req,
                  fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (parse_root ("filesystem request", text, len, &root, err) < 0)
    return -1;
  __attribute__ ((cleanup (fkd_fs_req_freep))) fkd_fs_req_t *r = xcalloc (1, sizeof *r);
  r->depth = 1;
  if (kind == FKD_FS_MOVE)
    {
      if (path_field (root, "source", &r->path, err) < 0
          || path_field (root, "destination", &r->destination, err) < 0)
        return -1;
    }
  else if (kind == FKD_FS_WATCHER)
    {
      json_t *v = field (root, "watcherId");
      if (v == NULL)
        v = field (root, "watcher_id");
      if (v == NULL)
        return fk_error_set (err, EINVAL, "`watcherId' is missing");
      const char *id = json_is_string (v) ? json_string_value (v) : NULL;
      size_t n = id ? json_string_length (v) : 0;
      if (id == NULL || n == 0 || n > FKD_WATCHER_ID_MAX
          || strspn (id, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-")
                 != n)
        return fk_error_set (err, EINVAL, "`watcherId' is not a watcher id");
      r->watcher_id = xstrdup (id);
    }
  else if (path_field (root, "path", &r->path, err) < 0)
    return -1;
  if (kind == FKD_FS_WATCH)
    {
      static const char *const flags[][2] = {
        { "recursive", "recursive" },
        { "includeEntry", "include_entry" },
        { "allowNetworkMounts", "allow_network_mounts" },
      };
      for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        {
          json_t *v = field (root, flags[i][0]);
          if (v == NULL)
            v = field (root, flags[i][1]);
          if (v && !json_is_boolean (v))
            return fk_error_set (err, EINVAL, "`%s' is not a boolean", flags[i][0]);
          if (i == 0)
            r->recursive = json_is_true (v);
        }
    }
  if (kind == FKD_FS_LISTDIR)
    {
      json_t *d = field (root, "depth");
      unsigned long long depth = 0;
      if (d && uint_value (d, UINT32_MAX, &depth) < 0)
        return fk_error_set (err, EINVAL, "`depth' is not a non-negative integer");
      if (depth == 0)
        depth = 1;
      r->depth = depth > FKD_LIST_DEPTH_MAX ? FKD_LIST_DEPTH_MAX : (unsigned)depth;
    }
  *ret_req = steal_pointer (&r);
  return 0;
}

static int
b64val (char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

int
fkd_base64_decode (const char *s, size_t n, size_t max, unsigned char **ret, size_t *ret_len)
{
  while (n > 0 && s[n - 1] == '=' && n % 4 != 1)
    n--;
  if (n % 4 == 1)
    return -1;
  size_t out_len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (out_len > max)
    return -1;
  cleanup_free unsigned char *out = xmalloc (out_len + 1);
  size_t k = 0;
  unsigned acc = 0;
  for (size_t i = 0; i < n; i++)
    {
      int v = b64val (s[i]);
      if (v < 0)
        return -1;
      acc = acc << 6 | (unsigned)v;
      if (i % 4 == 3)
        {
          out[k++] = (unsigned char)(acc >> 16);
          out[k++] = (unsigned char)(acc >> 8);
          out[k++] = (unsigned char)acc;
          acc = 0;
        }
    }
  if (n % 4 == 2)
    out[k++] = (unsigned char)(acc >> 4);
  else if (n % 4 == 3)
    {
      out[k++] = (unsigned char)(acc >> 10);
      out[k++] = (unsigned char)(acc >> 2);
    }
  *ret = steal_pointer (&out);
  *ret_len = k;
  return 0;
}

static int
selector (const json_t *root, fkd_proc_req_t *r, fk_error_t *err)
{
  json_t *p = field (root, "process");
  if (p == NULL || !json_is_object (p))
    return fk_error_set (err, EINVAL, "`process' is missing or not a selector");
  json_t *pid = field (p, "pid"), *tag = field (p, "tag");
  if (pid && tag)
    return fk_error_set (err, EINVAL, "`process' names both a pid and a tag");
  if (pid)
    {
      unsigned long long v;
      if (uint_value (pid, INT_MAX, &v) < 0 || v == 0)
        return fk_error_set (err, EINVAL, "`process.pid' is not a pid");
      r->pid = (pid_t)v;
      return 0;
    }
  if (tag)
    {
      if (!json_is_string (tag) || json_string_length (tag) == 0
          || json_string_length (tag) != strlen (json_string_value (tag)))
        return fk_error_set (err, EINVAL, "`process.tag' is not a tag");
      r->tag = xstrdup (json_string_value (tag));
      return 0;
    }
  return fk_error_set (err, EINVAL, "`process' names neither a pid nor a tag");
}

static int
signal_field (const json_t *root, int *ret, fk_error_t *err)
{
  json_t *v = field (root, "signal");
  if (v == NULL)
    return fk_error_set (err, EINVAL, "`signal' is missing");
  if (json_is_string (v))
    {
      const char *s = json_string_value (v);
      if (strcmp (s, "SIGNAL_SIGKILL") == 0)
        return *ret = SIGKILL, 0;
      if (strcmp (s, "SIGNAL_SIGTERM") == 0)
        return *ret = SIGTERM, 0;
    }
  else if (json_is_integer (v))
    {
      json_int_t i = json_integer_value (v);
      if (i == 9 || i == 15)
        return *ret = i == 9 ? SIGKILL : SIGTERM, 0;
    }
  return fk_error_set (err, EINVAL, "`signal' is not SIGNAL_SIGKILL or SIGNAL_SIGTERM");
}

int
fkd_pty_size_parse (const json_t *pty, unsigned *ret_rows, unsigned *ret_cols, fk_error_t *err)
{
  if (pty != NULL && !json_is_object (pty))
    return fk_error_set (err, EINVAL, "`pty' is not an object");
  json_t *size = pty ? field (pty, "size") : NULL;
  if (size == NULL)
    {
      *ret_rows = 24;
      *ret_cols = 80;
      return 0;
    }
  if (!json_is_object (size))
    return fk_error_set (err, EINVAL, "`pty.size' is not an object");
  json_t *rows = field (size, "rows"), *cols = field (size, "cols");
  unsigned long long r = 0, c = 0;
  if ((rows && uint_value (rows, UINT32_MAX, &r) < 0)
      || (cols && uint_value (cols, UINT32_MAX, &c) < 0) || r == 0 || c == 0 || r > FKD_PTY_SIZE_MAX
      || c > FKD_PTY_SIZE_MAX)
    return fk_error_set (err, EINVAL, "`pty.size' is not rows and cols from 1 to %u",
                         FKD_PTY_SIZE_MAX);
  *ret_rows = (unsigned)r;
  *ret_cols = (unsigned)c;
  return 0;
}

static int
input_field (const json_t *root, fkd_proc_req_t *r, fk_error_t *err)
{
  json_t *in = field (root, "input");
  if (in == NULL || !json_is_object (in))
    return fk_error_set (err, EINVAL, "`input' is missing or not an object");
  json_t *v = field (in, "stdin");
  if (v == NULL)
    {
      v = field (in, "pty");
      r->pty = v != NULL;
    }
  if (v == NULL)
    return fk_error_set (err, EINVAL, "`input' has neither `stdin' nor `pty'");
  if (!json_is_string (v)
      || fkd_base64_decode (json_string_value (v), json_string_length (v), FKD_INPUT_MAX, &r->data,
                            &r->len)
             < 0)
    return fk_error_set (err, EINVAL, "`input' is not base64 of at most %u bytes", FKD_INPUT_MAX);
  return 0;
}

int
fkd_proc_req_parse (fkd_proc_kind_t kind, const char *text, size_t len, fkd_proc_req_t **ret_req,
                    fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (parse_root ("process request", text, len, &root, err) < 0)
    return -1;
  __attribute__ ((cleanup (fkd_proc_req_freep))) fkd_proc_req_t *r = xcalloc (1, sizeof *r);
  if (selector (root, r, err) < 0)
    return -1;
  if (kind == FKD_PROC_SIGNAL && signal_field (root, &r->signal, err) < 0)
    return -1;
  if (kind == FKD_PROC_INPUT && input_field (root, r, err) < 0)
    return -1;
  if (kind == FKD_PROC_UPDATE)
    {
      json_t *pty = field (root, "pty");
      r->pty = pty != NULL;
      if (pty && fkd_pty_size_parse (pty, &r->rows, &r->cols, err) < 0)
        return -1;
    }
  *ret_req = steal_pointer (&r);
  return 0;
}

int
fkd_stream_input_parse (const char *text, size_t len, fkd_stream_input_kind_t *ret_kind,
                        fkd_proc_req_t **ret_req, fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (parse_root ("stream input message", text, len, &root, err) < 0)
    return -1;
  json_t *start = field (root, "start"), *data = field (root, "data");
  json_t *ka = field (root, "keepalive");
  if ((start != NULL) + (data != NULL) + (ka != NULL) != 1)
    return fk_error_set (err, EINVAL,
                         "a stream input message is one of `start', `data' and `keepalive'");
  __attribute__ ((cleanup (fkd_proc_req_freep))) fkd_proc_req_t *r = xcalloc (1, sizeof *r);
  if (start)
    {
      if (!json_is_object (start) || selector (start, r, err) < 0)
        return start && json_is_object (start)
                   ? -1
                   : fk_error_set (err, EINVAL, "`start' is not an object");
      *ret_kind = FKD_STREAM_INPUT_START;
    }
  else if (data)
    {
      if (!json_is_object (data))
        return fk_error_set (err, EINVAL, "`data' is not an object");
      if (input_field (data, r, err) < 0)
        return -1;
      *ret_kind = FKD_STREAM_INPUT_DATA;
    }
  else
    {
      if (!json_is_object (ka))
        return fk_error_set (err, EINVAL, "`keepalive' is not an object");
      *ret_kind = FKD_STREAM_INPUT_KEEPALIVE;
    }
  *ret_req = steal_pointer (&r);
  return 0;
}
