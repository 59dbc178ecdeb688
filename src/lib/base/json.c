/* base/json.c: see json.h. */
#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

int
fk_json_parse (const char *buf, size_t len, json_t **ret_json, fk_error_t *err)
{
  json_error_t je;
  json_t *j = json_loadb (buf, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return fk_error_set (err, EINVAL, "invalid JSON at line %d column %d: %s", je.line, je.column,
                         je.text);
  *ret_json = j;
  return 0;
}

int
fk_json_load_file_at (int dirfd, const char *path, size_t max, json_t **ret_json, fk_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (fk_read_file_at (dirfd, path, max, &buf, &len, err) < 0)
    return -1;
  if (fk_json_parse (buf, len, ret_json, err) < 0)
    return fk_error_wrap (err, "`%s'", path);
  return 0;
}

static int
dump_file (int dirfd, const char *path, const json_t *json, int pretty, int sync, fk_error_t *err)
{
  size_t flags = JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT (2) : JSON_COMPACT);
  cleanup_free char *s = json_dumps (json, flags | JSON_ENCODE_ANY);
  if (s == NULL)
    return fk_error_set (err, EINVAL, "cannot serialise JSON for `%s'", path);
  size_t n = strlen (s);
  cleanup_free char *out = xmalloc (n + 2);
  memcpy (out, s, n);
  out[n] = '\n';
  return sync ? fk_write_file_atomic_at (dirfd, path, out, n + 1, 0644, err)
              : fk_write_file_replace_at (dirfd, path, out, n + 1, 0644, err);
}

int
fk_json_dump_file_atomic_at (int dirfd, const char *path, const json_t *json, int pretty,
                             fk_error_t *err)
{
  return dump_file (dirfd, path, json, pretty, 1, err);
}

int
fk_json_dump_file_replace_at (int dirfd, const char *path, const json_t *json, int pretty,
                              fk_error_t *err)
{
  return dump_file (dirfd, path, json, pretty, 0, err);
}

static int
lookup (const json_t *obj, const char *key, int required, json_t **ret, fk_error_t *err)
{
  if (!json_is_object (obj))
    return fk_error_set (err, EINVAL, "expected an object holding `%s'", key);
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    {
      if (required)
        return fk_error_set (err, EINVAL, "missing field `%s'", key);
      return 0;
    }
  *ret = v;
  return 1;
}

int
fk_json_get_string (const json_t *obj, const char *key, int required, const char **ret,
                    fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_string (v))
    return fk_error_set (err, EINVAL, "field `%s' must be a string", key);
  *ret = json_string_value (v);
  return 1;
}

int
fk_json_get_int (const json_t *obj, const char *key, int required, long long *ret, fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_integer (v))
    return fk_error_set (err, EINVAL, "field `%s' must be an integer", key);
  *ret = json_integer_value (v);
  return 1;
}

int
fk_json_get_number (const json_t *obj, const char *key, int required, double *ret, fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_number (v))
    return fk_error_set (err, EINVAL, "field `%s' must be a number", key);
  *ret = json_number_value (v);
  return 1;
}

int
fk_json_get_bool (const json_t *obj, const char *key, int required, int *ret, fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_boolean (v))
    return fk_error_set (err, EINVAL, "field `%s' must be a boolean", key);
  *ret = json_is_true (v);
  return 1;
}

int
fk_json_get_object (const json_t *obj, const char *key, int required, json_t **ret, fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_object (v))
    return fk_error_set (err, EINVAL, "field `%s' must be an object", key);
  *ret = v;
  return 1;
}

int
fk_json_get_array (const json_t *obj, const char *key, int required, json_t **ret, fk_error_t *err)
{
  json_t *v = NULL;
  int r = lookup (obj, key, required, &v, err);
  if (r <= 0)
    return r;
  if (!json_is_array (v))
    return fk_error_set (err, EINVAL, "field `%s' must be an array", key);
  *ret = v;
  return 1;
}

void
fk_cleanup_jsonp (void *j)
{
  json_t **jj = (json_t **)j;
  if (*jj != NULL)
    json_decref (*jj);
  *jj = NULL;
}
