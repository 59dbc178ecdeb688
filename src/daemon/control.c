/* daemon/control.c: the E2B control plane: create, list, info, kill and set-timeout of
   sandboxes, on the library's sandbox calls. What fkd must remember of a sandbox (its envd
   token, the E2B options it was created with) lives in the sandbox's own metadata under
   FKD_META_PREFIX, so a restarted fkd serves the same sandboxes. */
#include <errno.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/controlreq.h"
#include "daemon/server.h"
#include "firkin/pool.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"

/* The Python SDK requires a clientID; any constant does. */
#define CLIENT_ID "fkd"
/* List pages: E2B's default and most. */
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 100

static void
rfc3339 (int64_t t, char out[32])
{
  struct tm tm;
  time_t tt = (time_t)t;
  gmtime_r (&tt, &tm);
  strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ListedSandbox, or SandboxDetail (with the token) when detail. */
static json_t *
sandbox_json (const fk_sandbox_info_t *info, int detail)
{
  char started[32], end[32];
  rfc3339 (info->created, started);
  rfc3339 (info->expires ? info->expires : info->created, end);
  double vcpus = info->resources.vcpus;
  long cpus = vcpus > 0 ? (long)ceil (vcpus) : sysconf (_SC_NPROCESSORS_ONLN);
  json_t *meta = json_object ();
  for (size_t i = 0; info->metadata && info->metadata[i]; i++)
    {
      const char *kv = info->metadata[i], *eq = strchr (kv, '=');
      if (eq == NULL || fkd_meta_reserved (kv))
        continue;
      cleanup_free char *key = xstrndup (kv, (size_t)(eq - kv));
      json_object_set_new (meta, key, json_string (eq + 1));
    }
  json_t *j
      = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s}", "templateID",
                   info->template_id ? info->template_id : "", "sandboxID", info->id, "clientID",
                   CLIENT_ID, "startedAt", started, "endAt", end, "cpuCount", (json_int_t)cpus,
                   "memoryMB", (json_int_t)(info->resources.memory_bytes >> 20), "diskSizeMB",
                   (json_int_t)(info->resources.disk_bytes >> 20), "state",
                   info->status == FK_SANDBOX_PAUSED ? "paused" : "running", "metadata", meta,
                   "envdVersion", FKD_ENVD_VERSION);
  const char *token = fkd_meta_get (info->metadata, FKD_META_TOKEN);
  if (detail && token)
    json_object_set_new (j, "envdAccessToken", json_string (token));
  const char *inet = fkd_meta_get (info->metadata, FKD_META_INTERNET);
  json_object_set_new (j, "allowInternetAccess", json_boolean (inet == NULL || strcmp (inet, "0")));
  return j;
}

/* ---- create ---- */

static void
create_job (fkd_req_t *r, void *data)
{
  fkd_create_req_t *cr = data;
  char raw[24], token[2 * sizeof raw + 1];
  if (getrandom (raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    {
      fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random bytes for the token");
      return;
    }
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (token + 2 * i, 3, "%02x", (unsigned char)raw[i]);

  size_t n = fk_strv_len (cr->metadata);
  cleanup_strv char **meta = xcalloc (n + 4, sizeof *meta);
  for (size_t i = 0; i < n; i++)
    meta[i] = xstrdup (cr->metadata[i]);
  if (cr->secure)
    meta[n++] = xasprintf ("%s=%s", FKD_META_TOKEN, token);
  meta[n++] = xasprintf ("%s=%d", FKD_META_AUTOPAUSE, cr->auto_pause);
  meta[n++] = xasprintf ("%s=%d", FKD_META_INTERNET, cr->allow_internet_access);

  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = cr->template_id;
  spec.timeout_sec = cr->timeout_sec;
  spec.env = (const char *const *)cr->env;
  spec.metadata = (const char *const *)meta;
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *sb = NULL;
  int failed = r->srv->pool != NULL
                   ? fk_warm_pool_create (r->srv->pool, &spec, &sb, NULL, NULL, &err) < 0
                   : fk_template_sandbox_create (r->srv->rt, &spec, &sb, &err) < 0;
  if (failed)
    {
      unsigned status = err.code == ENOENT || err.code == EINVAL ? MHD_HTTP_BAD_REQUEST
                                                                 : MHD_HTTP_INTERNAL_SERVER_ERROR;
      fkd_reply_error (r, status, "create a sandbox of template `%s': %s", cr->template_id,
                       fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  json_t *j
      = json_pack ("{s:s, s:s, s:s, s:s}", "templateID", cr->template_id, "sandboxID",
                   fk_sandbox_id (sb), "clientID", CLIENT_ID, "envdVersion", FKD_ENVD_VERSION);
  json_object_set_new (j, "envdAccessToken", cr->secure ? json_string (token) : json_null ());
  json_object_set_new (j, "domain", r->srv->domain ? json_string (r->srv->domain) : json_null ());
  log_info ("created sandbox %s of template %s", fk_sandbox_id (sb), cr->template_id);
  fk_sandbox_free (sb);
  fkd_reply_json (r, MHD_HTTP_CREATED, j);
}

static void
create_req_free (void *p)
{
  fkd_create_req_free (p);
}

/* ---- list ---- */

typedef struct list_req
{
  char **metadata; /* "K=V" all of which must match */
  int want_running, want_paused;
  size_t offset, limit;
} list_req_t;

static void
list_req_free (void *p)
{
  list_req_t *l = p;
  fk_strv_free (l->metadata);
  free (l);
}

static int
meta_matches (const fk_sandbox_info_t *info, char **want)
{
  for (size_t i = 0; want && want[i]; i++)
    {
      const char *eq = strchr (want[i], '=');
      cleanup_free char *key = xstrndup (want[i], (size_t)(eq - want[i]));
      const char *have = fkd_meta_get (info->metadata, key);
      if (have == NULL || strcmp (have, eq + 1) != 0)
        return 0;
    }
  return 1;
}

static void
list_job (fkd_req_t *r, void *data)
{
  list_req_t *l = data;
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_list (r->srv->rt, &infos, &n, &err) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "list sandboxes: %s",
                       fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  json_t *arr = json_array ();
  size_t matched = 0, next = 0;
  for (size_t i = 0; i < n; i++)
    {
      const fk_sandbox_info_t *info = infos[i];
      if (info->status == FK_SANDBOX_STOPPED || fkd_meta_get (info->metadata, FKD_META_POOL))
        continue;
      if (info->status == FK_SANDBOX_RUNNING && !l->want_running)
        continue;
      if (info->status == FK_SANDBOX_PAUSED && !l->want_paused)
        continue;
      if (!meta_matches (info, l->metadata))
        continue;
      if (matched++ < l->offset)
        continue;
      if (json_array_size (arr) == l->limit)
        {
          next = matched - 1;
          break;
        }
      json_array_append_new (arr, sandbox_json (info, 0));
    }
  fk_sandbox_info_list_free (infos, n);
  char *text = json_dumps (arr, JSON_COMPACT);
  json_decref (arr);
  if (text == NULL)
    fk_oom (0);
  struct MHD_Response *resp
      = MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header (resp, "Content-Type", "application/json");
  if (next)
    {
      char tok[32];
      snprintf (tok, sizeof tok, "%zu", next);
      MHD_add_response_header (resp, "X-Next-Token", tok);
    }
  fkd_reply (r, MHD_HTTP_OK, resp);
}

/* Every value of a repeated query argument (state=running&state=paused). */
typedef struct states
{
  int running, paused, bad;
} states_t;

static void
add_states (states_t *s, const char *v)
{
  cleanup_free char *copy = xstrdup (v);
  char *save = NULL;
  for (char *p = strtok_r (copy, ",", &save); p; p = strtok_r (NULL, ",", &save))
    {
      if (strcmp (p, "running") == 0)
        s->running = 1;
      else if (strcmp (p, "paused") == 0)
        s->paused = 1;
      else
        s->bad = 1;
    }
}

static enum MHD_Result
state_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  if (strcmp (key, "state") == 0 && value)
    add_states (cls, value);
  return MHD_YES;
}

static int
parse_size (const char *s, size_t *ret)
{
  if (s == NULL || s[0] < '0' || s[0] > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull (s, &end, 10);
  if (errno || *end || v > (1ULL << 40))
    return -1;
  *ret = (size_t)v;
  return 0;
}

static void
route_list (fkd_req_t *r)
{
  list_req_t *l = xcalloc (1, sizeof *l);
  l->limit = LIST_LIMIT_DEFAULT;
  states_t st = { 0 };
  MHD_get_connection_values (r->conn, MHD_GET_ARGUMENT_KIND, state_arg, &st);
  if (st.bad)
    {
      list_req_free (l);
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "state: running or paused");
      return;
    }
  l->want_running = st.running || !st.paused;
  l->want_paused = st.paused || !st.running;
  cleanup_free char *meta = fkd_arg (r, "metadata");
  cleanup_free char *limit = fkd_arg (r, "limit");
  cleanup_free char *next = fkd_arg (r, "nextToken");
  fk_error_t err = FK_ERROR_INIT;
  if (meta && meta[0] && fkd_metadata_filter_parse (meta, &l->metadata, &err) < 0)
    {
      list_req_free (l);
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  if ((limit && (parse_size (limit, &l->limit) < 0 || l->limit == 0 || l->limit > LIST_LIMIT_MAX))
      || (next && next[0] && parse_size (next, &l->offset) < 0))
    {
      list_req_free (l);
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST,
                       "limit is 1 to %d; nextToken is a token of a "
                       "previous page",
                       LIST_LIMIT_MAX);
      return;
    }
  fkd_run_job (r, list_job, l, list_req_free);
}

/* ---- one sandbox: info, kill, timeout ---- */

int
fkd_pool_member (fk_sandbox_t *sb)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_info_t *info = NULL;
  if (fk_sandbox_inspect (sb, &info, &err) < 0)
    {
      fk_error_clear (&err);
      return 0;
    }
  int member = fkd_meta_get (info->metadata, FKD_META_POOL) != NULL;
  fk_sandbox_info_free (info);
  return member;
}

typedef enum
{
  OP_INFO,
  OP_KILL,
  OP_TIMEOUT,
} sandbox_op_t;

typedef struct sandbox_req
{
  sandbox_op_t op;
  char *id;
  uint64_t timeout_sec;
} sandbox_req_t;

static void
sandbox_req_free (void *p)
{
  sandbox_req_t *s = p;
  free (s->id);
  free (s);
}

static void
sandbox_job (fkd_req_t *r, void *data)
{
  sandbox_req_t *s = data;
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *sb = NULL;
  fk_sandbox_info_t *info = NULL;
  if (fk_sandbox_open (r->srv->rt, s->id, &sb, &err) < 0)
    goto fail;
  if (fkd_pool_member (sb))
    {
      err.code = ENOENT;
      goto fail;
    }
  switch (s->op)
    {
    case OP_INFO:
      if (fk_sandbox_inspect (sb, &info, &err) < 0)
        goto fail;
      if (info->status == FK_SANDBOX_STOPPED)
        {
          fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox %s has stopped", s->id);
          break;
        }
      fkd_reply_json (r, MHD_HTTP_OK, sandbox_json (info, 1));
      break;
    case OP_KILL:
      if (fk_sandbox_delete (sb, 1, &err) < 0)
        goto fail;
      log_info ("deleted sandbox %s", s->id);
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      break;
    case OP_TIMEOUT:
      if (fk_sandbox_extend (sb, s->timeout_sec, &err) < 0)
        goto fail;
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      break;
    }
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  return;
fail:
  if (err.code == ENOENT)
    fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox %s not found", s->id);
  else
    fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "sandbox %s: %s", s->id,
                     fk_error_message (&err));
  fk_error_clear (&err);
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
}

/* ---- routing ---- */

static int
api_key_ok (fkd_req_t *r)
{
  const char *want = r->srv->api_key;
  if (want == NULL)
    return 1;
  const char *got = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "X-API-Key");
  return got && strlen (got) == strlen (want) && CRYPTO_memcmp (got, want, strlen (want)) == 0;
}

static int
json_body (fkd_req_t *r)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct == NULL || strncasecmp (ct, "application/json", 16) != 0
      || (ct[16] != '\0' && ct[16] != ';'))
    {
      fkd_reply_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
      return 0;
    }
  return 1;
}

void
fkd_control_route (fkd_req_t *r, const char *method, const char *url)
{
  if (!api_key_ok (r))
    {
      fkd_reply_error (r, MHD_HTTP_UNAUTHORIZED, "invalid or missing X-API-Key");
      return;
    }
  int get = strcmp (method, "GET") == 0, post = strcmp (method, "POST") == 0,
      del = strcmp (method, "DELETE") == 0;
  if (strcmp (url, "/sandboxes") == 0 || strcmp (url, "/v2/sandboxes") == 0)
    {
      if (get)
        route_list (r);
      else if (post)
        {
          if (!json_body (r))
            return;
          fkd_create_req_t *cr = NULL;
          fk_error_t err = FK_ERROR_INIT;
          if (fkd_create_req_parse (r->body ? r->body : "", r->len, &cr, &err) < 0)
            {
              fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
              fk_error_clear (&err);
              return;
            }
          fkd_run_job (r, create_job, cr, create_req_free);
        }
      else
        fkd_reply_error (r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s %s is not served", method, url);
      return;
    }
  const char *prefix = "/sandboxes/";
  if (strncmp (url, prefix, strlen (prefix)) == 0)
    {
      const char *id = url + strlen (prefix);
      const char *slash = strchr (id, '/');
      cleanup_free char *sid = slash ? xstrndup (id, (size_t)(slash - id)) : xstrdup (id);
      const char *rest = slash ? slash : "";
      if (!fkd_sandbox_id_valid (sid))
        {
          fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox `%s' not found", sid);
          return;
        }
      sandbox_req_t *s = xcalloc (1, sizeof *s);
      s->id = steal_pointer (&sid);
      if (rest[0] == '\0' && get)
        s->op = OP_INFO;
      else if (rest[0] == '\0' && del)
        s->op = OP_KILL;
      else if (strcmp (rest, "/timeout") == 0 && post)
        {
          s->op = OP_TIMEOUT;
          fk_error_t err = FK_ERROR_INIT;
          if (!json_body (r))
            {
              sandbox_req_free (s);
              return;
            }
          if (fkd_timeout_req_parse (r->body ? r->body : "", r->len, &s->timeout_sec, &err) < 0)
            {
              sandbox_req_free (s);
              fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
              fk_error_clear (&err);
              return;
            }
        }
      else
        {
          sandbox_req_free (s);
          fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "%s %s is not served by this fkd", method, url);
          return;
        }
      fkd_run_job (r, sandbox_job, s, sandbox_req_free);
      return;
    }
  fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "%s %s is not served by this fkd", method, url);
}
