/* daemon/controlreq.c: see controlreq.h. */
#include "daemon/controlreq.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/json.h"
#include "base/xalloc.h"

void
fkd_create_req_free (fkd_create_req_t *r)
{
  if (r == NULL)
    return;
  free (r->template_id);
  fk_strv_free (r->metadata);
  fk_strv_free (r->env);
  fk_strv_free (r->allow_out);
  fk_strv_free (r->deny_out);
  free (r);
}

FK_DEFINE_CLEANUP (fkd_create_req_t *, fkd_create_req_free)

static json_t *
field (const json_t *obj, const char *name)
{
  json_t *v = json_object_get (obj, name);
  return json_is_null (v) ? NULL : v;
}

static int
plain_string (const json_t *v)
{
  return json_is_string (v) && json_string_length (v) == strlen (json_string_value (v));
}

/* An object of strings as "K=V" entries. */
static int
kv_object (const json_t *obj, const char *name, int reserved_check, char ***ret, fk_error_t *err)
{
  json_t *o = field (obj, name);
  if (o && !json_is_object (o))
    return fk_error_set (err, EINVAL, "create request: `%s' is not an object", name);
  size_t n = o ? json_object_size (o) : 0;
  if (n > FKD_MAX_ENTRIES)
    return fk_error_set (err, EINVAL, "create request: more than %d `%s' entries", FKD_MAX_ENTRIES,
                         name);
  cleanup_strv char **v = xcalloc (n + 1, sizeof *v);
  size_t k = 0;
  const char *key;
  json_t *val;
  json_object_foreach (o, key, val)
  {
    if (key[0] == '\0' || strchr (key, '='))
      return fk_error_set (err, EINVAL, "create request: `%s' key `%s' is empty or holds '='", name,
                           key);
    if (reserved_check && strncmp (key, FKD_META_PREFIX, strlen (FKD_META_PREFIX)) == 0)
      return fk_error_set (err, EINVAL, "create request: `%s' key `%s' is reserved (%s*)", name,
                           key, FKD_META_PREFIX);
    if (!plain_string (val))
      return fk_error_set (err, EINVAL, "create request: `%s' value of `%s' is not a string", name,
                           key);
    v[k++] = xasprintf ("%s=%s", key, json_string_value (val));
  }
  *ret = steal_pointer (&v);
  return 0;
}

/* An array of at most 4096 strings (the library's bound on rules) under name in obj. */
static int
str_array (const json_t *obj, const char *what, const char *name, char ***ret, fk_error_t *err)
{
  json_t *a = field (obj, name);
  if (a == NULL)
    return 0;
  if (!json_is_array (a) || json_array_size (a) > 4096)
    return fk_error_set (err, EINVAL, "%s: `%s' is not an array of at most 4096 strings", what,
                         name);
  size_t n = json_array_size (a);
  cleanup_strv char **v = xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    {
      json_t *e = json_array_get (a, i);
      if (!plain_string (e))
        return fk_error_set (err, EINVAL, "%s: `%s' entry %zu is not a string", what, name, i);
      v[i] = xstrdup (json_string_value (e));
    }
  *ret = steal_pointer (&v);
  return 0;
}

static int
network_object (const json_t *v, const char *what, char ***ret_allow, char ***ret_deny,
                fk_error_t *err)
{
  if (!json_is_object (v))
    return fk_error_set (err, EINVAL, "%s: `network' is not an object", what);
  return str_array (v, what, "allowOut", ret_allow, err) < 0
                 || str_array (v, what, "denyOut", ret_deny, err) < 0
             ? -1
             : 0;
}

int
fkd_network_req_parse (const char *text, size_t len, char ***ret_allow, char ***ret_deny,
                       fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "network request");
  cleanup_strv char **allow = NULL, **deny = NULL;
  if (network_object (root, "network request", &allow, &deny, err) < 0)
    return -1;
  *ret_allow = steal_pointer (&allow);
  *ret_deny = steal_pointer (&deny);
  return 0;
}

static int
opt_bool (const json_t *obj, const char *name, int *ret, fk_error_t *err)
{
  json_t *v = field (obj, name);
  if (v == NULL)
    return 0;
  if (!json_is_boolean (v))
    return fk_error_set (err, EINVAL, "create request: `%s' is not a boolean", name);
  *ret = json_is_true (v);
  return 0;
}

static int
timeout_value (const json_t *v, const char *what, uint64_t *ret, fk_error_t *err)
{
  if (!json_is_integer (v))
    return fk_error_set (err, EINVAL, "%s: `timeout' is not an integer", what);
  json_int_t t = json_integer_value (v);
  if (t <= 0 || (unsigned long long)t > FKD_MAX_TIMEOUT_SEC)
    return fk_error_set (err, EINVAL, "%s: `timeout' %lld is not 1 to %llu seconds", what,
                         (long long)t, FKD_MAX_TIMEOUT_SEC);
  *ret = (uint64_t)t;
  return 0;
}

int
fkd_create_req_parse (const char *text, size_t len, fkd_create_req_t **ret_req, fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "create request");
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "create request: not a JSON object");
  __attribute__ ((cleanup (fkd_create_req_freep))) fkd_create_req_t *r = xcalloc (1, sizeof *r);
  r->secure = 1;
  r->allow_internet_access = 1;
  r->timeout_sec = FKD_DEFAULT_TIMEOUT_SEC;

  json_t *t = field (root, "templateID");
  if (t && (!plain_string (t) || json_string_length (t) == 0))
    return fk_error_set (err, EINVAL, "create request: `templateID' is not a template id");
  r->template_id = xstrdup (t ? json_string_value (t) : "base");
  json_t *to = field (root, "timeout");
  if (to && timeout_value (to, "create request", &r->timeout_sec, err) < 0)
    return -1;
  if (kv_object (root, "metadata", 1, &r->metadata, err) < 0
      || kv_object (root, "envVars", 0, &r->env, err) < 0)
    return -1;
  if (opt_bool (root, "secure", &r->secure, err) < 0
      || opt_bool (root, "allow_internet_access", &r->allow_internet_access, err) < 0
      || opt_bool (root, "autoPause", &r->auto_pause, err) < 0)
    return -1;
  json_t *net = field (root, "network");
  if (net && network_object (net, "create request", &r->allow_out, &r->deny_out, err) < 0)
    return -1;
  *ret_req = steal_pointer (&r);
  return 0;
}

int
fkd_timeout_req_parse (const char *text, size_t len, uint64_t *ret_sec, fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "timeout request");
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "timeout request: not a JSON object");
  json_t *v = field (root, "timeout");
  if (v == NULL)
    return fk_error_set (err, EINVAL, "timeout request: `timeout' is missing");
  return timeout_value (v, "timeout request", ret_sec, err);
}

static int
hexval (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int
fkd_url_decode (char *s, int form)
{
  char *w = s;
  for (const char *p = s; *p; p++)
    {
      if (*p == '%')
        {
          int hi = hexval (p[1]), lo = hi < 0 ? -1 : hexval (p[2]);
          if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
          *w++ = (char)(hi << 4 | lo);
          p += 2;
        }
      else if (form && *p == '+')
        *w++ = ' ';
      else
        *w++ = *p;
    }
  *w = '\0';
  return 0;
}

int
fkd_metadata_filter_parse (const char *query, char ***ret_kv, fk_error_t *err)
{
  cleanup_free char *copy = xstrdup (query);
  size_t n = 1;
  for (const char *p = copy; *p; p++)
    n += *p == '&';
  if (n > FKD_MAX_ENTRIES)
    return fk_error_set (err, EINVAL, "metadata filter: more than %d entries", FKD_MAX_ENTRIES);
  cleanup_strv char **kv = xcalloc (n + 1, sizeof *kv);
  size_t k = 0;
  char *save = NULL;
  for (char *part = strtok_r (copy, "&", &save); part; part = strtok_r (NULL, "&", &save))
    {
      char *eq = strchr (part, '=');
      if (eq == NULL || eq == part)
        return fk_error_set (err, EINVAL, "metadata filter: `%s' is not key=value", part);
      *eq = '\0';
      char *key = part, *val = eq + 1;
      /* Form-decoded once (URLSearchParams), then the SDK's own encodeURIComponent. */
      if (fkd_url_decode (key, 1) < 0 || fkd_url_decode (key, 0) < 0 || fkd_url_decode (val, 1) < 0
          || fkd_url_decode (val, 0) < 0)
        return fk_error_set (err, EINVAL, "metadata filter: a bad %%-escape");
      if (key[0] == '\0' || strchr (key, '='))
        return fk_error_set (err, EINVAL, "metadata filter: a key is empty or holds '='");
      kv[k++] = xasprintf ("%s=%s", key, val);
    }
  *ret_kv = steal_pointer (&kv);
  return 0;
}

const char *
fkd_meta_get (char *const *metadata, const char *key)
{
  size_t n = strlen (key);
  for (size_t i = 0; metadata && metadata[i]; i++)
    if (strncmp (metadata[i], key, n) == 0 && metadata[i][n] == '=')
      return metadata[i] + n + 1;
  return NULL;
}

int
fkd_meta_reserved (const char *kv)
{
  return strncmp (kv, FKD_META_PREFIX, strlen (FKD_META_PREFIX)) == 0;
}

int
fkd_sandbox_id_valid (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
      return 0;
  return 1;
}

int
fkd_lifecycle_req_parse (fkd_body_kind_t kind, const char *text, size_t len, uint64_t dflt,
                         uint64_t *ret_sec, int *ret_memory, fk_error_t *err)
{
  static const char *const what[]
      = { "connect request", "resume request", "refresh request", "pause request" };
  const char *w = what[kind];
  uint64_t sec = kind == FKD_BODY_PAUSE ? 0 : dflt;
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
    i++;
  if (i == len)
    {
      *ret_sec = sec;
      *ret_memory = 1;
      return 0;
    }
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "%s", w);
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "%s: not a JSON object", w);
  json_t *mem = field (root, "memory");
  if (mem && !json_is_boolean (mem))
    return fk_error_set (err, EINVAL, "%s: `memory' is not a boolean", w);
  int memory = !(mem && json_is_false (mem));
  if (kind == FKD_BODY_RESUME)
    {
      json_t *ap = field (root, "autoPause");
      if (ap && !json_is_boolean (ap))
        return fk_error_set (err, EINVAL, "%s: `autoPause' is not a boolean", w);
    }
  if (kind != FKD_BODY_PAUSE)
    {
      const char *name = kind == FKD_BODY_REFRESH ? "duration" : "timeout";
      json_t *v = field (root, name);
      if (v)
        {
          if (!json_is_integer (v))
            return fk_error_set (err, EINVAL, "%s: `%s' is not an integer", w, name);
          json_int_t t = json_integer_value (v);
          if (t <= 0 || (unsigned long long)t > FKD_MAX_TIMEOUT_SEC)
            return fk_error_set (err, EINVAL, "%s: `%s' %lld is not 1 to %llu seconds", w, name,
                                 (long long)t, FKD_MAX_TIMEOUT_SEC);
          sec = (uint64_t)t;
        }
    }
  *ret_sec = sec;
  *ret_memory = memory;
  return 0;
}

int
fkd_sandbox_ids_parse (const char *list, char ***ret_ids, fk_error_t *err)
{
  cleanup_free char *copy = xstrdup (list);
  cleanup_strv char **ids = xcalloc (FKD_MAX_METRICS_IDS + 1, sizeof *ids);
  size_t n = 0;
  char *save = NULL;
  for (char *p = strtok_r (copy, ",", &save); p; p = strtok_r (NULL, ",", &save))
    {
      if (!fkd_sandbox_id_valid (p))
        return fk_error_set (err, EINVAL, "sandbox_ids: `%.64s' is not a sandbox id", p);
      int seen = 0;
      for (size_t i = 0; i < n && !seen; i++)
        seen = strcmp (ids[i], p) == 0;
      if (seen)
        continue;
      if (n == FKD_MAX_METRICS_IDS)
        return fk_error_set (err, EINVAL, "sandbox_ids: more than %d ids", FKD_MAX_METRICS_IDS);
      ids[n++] = xstrdup (p);
    }
  if (n == 0)
    return fk_error_set (err, EINVAL, "sandbox_ids: no sandbox id");
  *ret_ids = steal_pointer (&ids);
  return 0;
}

int
fkd_query_u64 (const char *s, uint64_t max, uint64_t *ret)
{
  if (s == NULL || s[0] == '\0' || strlen (s) > 20)
    return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++)
    {
      if (*p < '0' || *p > '9')
        return -1;
      if (v > (UINT64_MAX - 9) / 10)
        return -1;
      v = v * 10 + (uint64_t)(*p - '0');
    }
  if (v > max)
    return -1;
  *ret = v;
  return 0;
}

int
fkd_snapshot_req_parse (const char *text, size_t len, char **ret_name, fk_error_t *err)
{
  *ret_name = NULL;
  if (len == 0)
    return 0;
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "snapshot request");
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "snapshot request: not a JSON object");
  json_t *n = field (root, "name");
  if (n == NULL)
    return 0;
  if (!plain_string (n) || json_string_length (n) == 0 || json_string_length (n) > 128)
    return fk_error_set (err, EINVAL, "snapshot request: `name' is not 1 to 128 characters");
  const char *v = json_string_value (n);
  /* A template id: [A-Za-z0-9_.-], not starting with `.' or `-' (the store's rule). */
  if (v[0] == '.' || v[0] == '-')
    return fk_error_set (err, EINVAL, "snapshot request: `name' starts with `%c'", v[0]);
  for (const char *c = v; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
          || *c == '_' || *c == '.' || *c == '-'))
      return fk_error_set (err, EINVAL,
                           "snapshot request: `name' may hold letters, digits, `_', `.' and `-'");
  *ret_name = xstrdup (v);
  return 0;
}

int
fkd_fork_req_parse (const char *text, size_t len, uint64_t *ret_sec, unsigned *ret_count,
                    fk_error_t *err)
{
  uint64_t sec = FKD_DEFAULT_TIMEOUT_SEC;
  unsigned count = 1;
  if (len > 0)
    {
      cleanup_json json_t *root = NULL;
      if (fk_json_parse (text, len, &root, err) < 0)
        return fk_error_wrap (err, "fork request");
      if (!json_is_object (root))
        return fk_error_set (err, EINVAL, "fork request: not a JSON object");
      json_t *t = field (root, "timeout");
      if (t && timeout_value (t, "fork request", &sec, err) < 0)
        return -1;
      json_t *c = field (root, "count");
      if (c)
        {
          if (!json_is_integer (c) || json_integer_value (c) < 1
              || json_integer_value (c) > FKD_MAX_FORKS)
            return fk_error_set (err, EINVAL, "fork request: `count' is not 1 to %d",
                                 FKD_MAX_FORKS);
          count = (unsigned)json_integer_value (c);
        }
    }
  *ret_sec = sec;
  *ret_count = count;
  return 0;
}
