/* daemon/control.c: the E2B control plane: create, list, info, kill, set-timeout, pause,
   connect/resume, refresh, metrics and logs of sandboxes, on the library's sandbox calls. What fkd
   must remember of a sandbox (its envd token, the E2B options it was created with) lives in the
   sandbox's own metadata under FKD_META_PREFIX, so a restarted fkd serves the same sandboxes. */
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
#include "daemon/metrics.h"
#include "daemon/server.h"
#include "firkin/pool.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"

/* The Python SDK requires a clientID; any constant does. */
#define CLIENT_ID "fkd"
/* connect's timeout when the body has none (E2B's), resume's, refresh's duration. */
#define CONNECT_TIMEOUT_DEFAULT 300
#define RESUME_TIMEOUT_DEFAULT 15
#define REFRESH_DURATION_DEFAULT 15
/* Log pages: the most entries one answer holds. */
#define LOGS_LIMIT_MAX 1000
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

/* Paused as E2B says it: frozen (memory kept) or asleep on disk (the filesystem alone). */
static int
paused (const fk_sandbox_info_t *info)
{
  return info->status == FK_SANDBOX_PAUSED || info->status == FK_SANDBOX_PAUSED_TO_DISK;
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
  json_t *j = json_pack (
      "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s}", "templateID",
      info->template_id ? info->template_id : "", "sandboxID", info->id, "clientID", CLIENT_ID,
      "startedAt", started, "endAt", end, "cpuCount", (json_int_t)cpus, "memoryMB",
      (json_int_t)(info->resources.memory_bytes >> 20), "diskSizeMB",
      (json_int_t)(info->resources.disk_bytes >> 20), "state", paused (info) ? "paused" : "running",
      "metadata", meta, "envdVersion", FKD_ENVD_VERSION);
  const char *token = fkd_meta_get (info->metadata, FKD_META_TOKEN);
  if (detail && token)
    json_object_set_new (j, "envdAccessToken", json_string (token));
  if (detail)
    json_object_set_new (j, "lifecycle",
                         json_pack ("{s:b, s:s}", "autoResume", 0, "onTimeout",
                                    info->timeout_action == FK_TIMEOUT_PAUSE ? "pause" : "kill"));
  const char *inet = fkd_meta_get (info->metadata, FKD_META_INTERNET);
  json_object_set_new (j, "allowInternetAccess", json_boolean (inet == NULL || strcmp (inet, "0")));
  return j;
}

/* ---- create ---- */

int
fkd_new_token (char out[FKD_TOKEN_LEN + 1])
{
  unsigned char raw[FKD_TOKEN_LEN / 2];
  if (getrandom (raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    return -1;
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (out + 2 * i, 3, "%02x", raw[i]);
  return 0;
}

static void
create_job (fkd_req_t *r, void *data)
{
  fkd_create_req_t *cr = data;
  char token[FKD_TOKEN_LEN + 1];
  if (fkd_new_token (token) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random bytes for the token");
      return;
    }

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
  spec.timeout_action = cr->auto_pause ? FK_TIMEOUT_PAUSE : FK_TIMEOUT_DELETE;
  spec.env = (const char *const *)cr->env;
  spec.metadata = (const char *const *)meta;
  fk_error_t err = FK_ERROR_INIT;
  /* E2B's network: allowInternetAccess false denies everything but what allowOut allows. */
  cleanup_strv char **deny = NULL;
  if (r->srv->network_egress)
    {
      spec.data_plane.kind = FK_DATA_PLANE_EGRESS;
      spec.data_plane.allow_out = (const char *const *)cr->allow_out;
      size_t nd = fk_strv_len (cr->deny_out);
      deny = xcalloc (nd + 2, sizeof *deny);
      for (size_t i = 0; i < nd; i++)
        deny[i] = xstrdup (cr->deny_out[i]);
      if (!cr->allow_internet_access)
        deny[nd] = xstrdup ("0.0.0.0/0");
      spec.data_plane.deny_out = (const char *const *)deny;
    }
  else if ((cr->allow_out && cr->allow_out[0]) || (cr->deny_out && cr->deny_out[0]))
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST,
                       "create request: network rules need an fkd run with --network egress "
                       "(its sandboxes have no network)");
      return;
    }
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
      if (paused (info) && !l->want_paused)
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
  OP_PAUSE,
  OP_CONNECT, /* connect (v1, v2) and resume: resume if paused, then the Sandbox object */
  OP_REFRESH,
  OP_METRICS,
  OP_LOGS,
  OP_LOGS_V2,
  OP_NETWORK, /* PUT network: replace the egress rules */
} sandbox_op_t;

typedef struct sandbox_req
{
  sandbox_op_t op;
  char *id;
  uint64_t timeout_sec;
  unsigned extend_flags;
  /* metrics: the [start, end] range (unix seconds; 0: open). logs: from (ms), limit, and v2's
     direction (backward: newest first), the lowest level and a substring. */
  uint64_t start, end, limit;
  int backward, min_level;
  char *search;
  int memory;                   /* pause, connect, resume: `memory' (0: false: pause to disk) */
  char **allow_out, **deny_out; /* network */
} sandbox_req_t;

static void
sandbox_req_free (void *p)
{
  sandbox_req_t *s = p;
  free (s->id);
  free (s->search);
  fk_strv_free (s->allow_out);
  fk_strv_free (s->deny_out);
  free (s);
}

static json_t *
strv_array (char **v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

/* The Sandbox object connect, resume and fork answer: create's, with the token. */
json_t *
fkd_sandbox_object (fkd_req_t *r, const fk_sandbox_info_t *info)
{
  const char *token = fkd_meta_get (info->metadata, FKD_META_TOKEN);
  json_t *j
      = json_pack ("{s:s, s:s, s:s, s:s}", "templateID", info->template_id ? info->template_id : "",
                   "sandboxID", info->id, "clientID", CLIENT_ID, "envdVersion", FKD_ENVD_VERSION);
  json_object_set_new (j, "envdAccessToken", token ? json_string (token) : json_null ());
  json_object_set_new (j, "domain", r->srv->domain ? json_string (r->srv->domain) : json_null ());
  return j;
}

/* ---- metrics ---- */

/* One sample now: [SandboxMetric] with it when it falls in [start, end], else []. */
static void
metrics_one (fkd_req_t *r, const sandbox_req_t *s)
{
  fkd_metric_t m;
  char *ids[] = { s->id, NULL };
  fkd_metrics_sample (r->srv->rt, ids, 1, &m);
  if (!m.ok)
    {
      fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox %s not found", s->id);
      return;
    }
  json_t *arr = json_array ();
  uint64_t t = (uint64_t)(m.usage.time_ms / 1000);
  /* The SDK rounds its range to whole seconds: a sample in the second after `end' counts. */
  if ((s->start == 0 || t >= s->start) && (s->end == 0 || t <= s->end + 1))
    json_array_append_new (arr, fkd_metric_json (&m));
  fkd_reply_json (r, MHD_HTTP_OK, arr);
}

static void
metrics_many_job (fkd_req_t *r, void *data)
{
  char **ids = data;
  size_t n = fk_strv_len (ids);
  fkd_metric_t *m = xcalloc (n, sizeof *m);
  fkd_metrics_sample (r->srv->rt, ids, n, m);
  json_t *map = json_object ();
  for (size_t i = 0; i < n; i++)
    if (m[i].ok)
      json_object_set_new (map, ids[i], fkd_metric_json (&m[i]));
  free (m);
  fkd_reply_json (r, MHD_HTTP_OK, json_pack ("{s:o}", "sandboxes", map));
}

static void
strv_free_cb (void *p)
{
  fk_strv_free (p);
}

/* ---- logs ---- */

/* An event's level: an expiry is a warning, the rest information. */
static int
event_level (const fk_sandbox_event_t *e)
{
  return strcmp (e->name, "expired") == 0 ? 2 : 1;
}

static const char *const level_names[] = { "debug", "info", "warn", "error", NULL };

static json_t *
log_entry (const fk_sandbox_event_t *e, int structured)
{
  time_t t = (time_t)(e->time_ms / 1000);
  struct tm tm;
  gmtime_r (&t, &tm);
  char base[32], ts[48];
  strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (ts, sizeof ts, "%s.%03dZ", base, (int)(e->time_ms % 1000));
  cleanup_free char *msg
      = e->detail[0] ? xasprintf ("%s: %s", e->name, e->detail) : xstrdup (e->name);
  if (!structured)
    return json_pack ("{s:s, s:s}", "timestamp", ts, "line", msg);
  return json_pack ("{s:s, s:s, s:s, s:{s:s}}", "timestamp", ts, "level",
                    level_names[event_level (e)], "message", msg, "fields", "event", e->name);
}

/* v1 SandboxLogs {logs, logEntries}: the events from `start' (ms) on, oldest first, at most
   `limit'. v2 {logs}: from `cursor' (ms) forward, or back from it (newest first), at the
   level asked or above, holding `search'. */
static json_t *
logs_json (const sandbox_req_t *s, const fk_sandbox_event_t *ev, size_t n)
{
  json_t *entries = json_array (), *lines = json_array ();
  for (size_t k = 0; k < n && json_array_size (entries) < s->limit; k++)
    {
      const fk_sandbox_event_t *e = &ev[s->backward ? n - 1 - k : k];
      uint64_t t = (uint64_t)e->time_ms;
      if (s->start && (s->backward ? t > s->start : t < s->start))
        continue;
      if (event_level (e) < s->min_level)
        continue;
      if (s->search && strstr (e->name, s->search) == NULL && strstr (e->detail, s->search) == NULL)
        continue;
      json_array_append_new (entries, log_entry (e, 1));
      json_array_append_new (lines, log_entry (e, 0));
    }
  if (s->op == OP_LOGS_V2)
    {
      json_decref (lines);
      return json_pack ("{s:o}", "logs", entries);
    }
  return json_pack ("{s:o, s:o}", "logs", lines, "logEntries", entries);
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
      {
        json_t *j = sandbox_json (info, 1);
        fk_sandbox_network_t *net = NULL;
        if (fk_sandbox_network (sb, &net, &err) < 0)
          {
            json_decref (j);
            goto fail;
          }
        if (net->kind == FK_DATA_PLANE_EGRESS)
          json_object_set_new (j, "network",
                               json_pack ("{s:o, s:o}", "allowOut", strv_array (net->allow_out),
                                          "denyOut", strv_array (net->deny_out)));
        fk_sandbox_network_free (net);
        fkd_reply_json (r, MHD_HTTP_OK, j);
        break;
      }
    case OP_NETWORK:
      if (fk_sandbox_set_network (sb, (const char *const *)s->allow_out,
                                  (const char *const *)s->deny_out, &err)
          < 0)
        {
          if (err.code == EINVAL || err.code == E2BIG)
            {
              fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
              fk_error_clear (&err);
              break;
            }
          goto fail;
        }
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      break;
    case OP_KILL:
      if (fk_sandbox_delete (sb, 1, &err) < 0)
        goto fail;
      log_info ("deleted sandbox %s", s->id);
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      break;
    case OP_TIMEOUT:
    case OP_REFRESH:
      if (fk_sandbox_extend_ex (sb, s->timeout_sec, s->extend_flags, NULL, &err) < 0)
        goto fail;
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      break;
    case OP_PAUSE:
      {
        /* memory: false keeps the filesystem alone: a snapshot, then no process and no memory
           (fk_sandbox_pause_to_disk); else a freeze that keeps everything. */
        if (fk_sandbox_inspect (sb, &info, &err) < 0)
          goto fail;
        int already = paused (info);
        if (!already
            && (s->memory ? fk_sandbox_pause (sb, &err) : fk_sandbox_pause_to_disk (sb, NULL, &err))
                   < 0)
          {
            if (err.code != EALREADY)
              goto fail;
            already = 1;
            fk_error_clear (&err);
          }
        if (already)
          {
            fkd_reply_error (r, MHD_HTTP_CONFLICT, "sandbox %s is already paused", s->id);
            break;
          }
        log_info ("paused sandbox %s%s", s->id, s->memory ? "" : " to disk");
        fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
        break;
      }
    case OP_CONNECT:
      {
        int resumed = 0;
        if (s->backward)
          {
            /* resume (the older call) of a running sandbox is a conflict, as E2B answers. */
            if (fk_sandbox_inspect (sb, &info, &err) < 0)
              goto fail;
            if (info->status == FK_SANDBOX_STOPPED)
              {
                fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox %s not found", s->id);
                break;
              }
            if (info->status == FK_SANDBOX_RUNNING)
              {
                fkd_reply_error (r, MHD_HTTP_CONFLICT, "sandbox %s is already running", s->id);
                break;
              }
            fk_sandbox_info_free (info);
            info = NULL;
          }
        /* Asleep on disk: made again from its snapshot, same id, metadata and token. */
        if (fk_sandbox_inspect (sb, &info, &err) < 0)
          goto fail;
        if (info->status == FK_SANDBOX_PAUSED_TO_DISK)
          {
            if (fk_template_sandbox_resume (sb, &err) < 0)
              goto fail;
            resumed = 1;
          }
        fk_sandbox_info_free (info);
        info = NULL;
        int thawed = 0;
        if (fk_sandbox_extend_ex (sb, s->timeout_sec, s->extend_flags, &thawed, &err) < 0
            || fk_sandbox_inspect (sb, &info, &err) < 0)
          goto fail;
        resumed |= thawed;
        if (resumed)
          log_info ("resumed sandbox %s", s->id);
        fkd_reply_json (r, resumed ? MHD_HTTP_CREATED : MHD_HTTP_OK, fkd_sandbox_object (r, info));
        break;
      }
    case OP_METRICS:
      metrics_one (r, s);
      break;
    case OP_LOGS:
    case OP_LOGS_V2:
      {
        fk_sandbox_event_t *ev = NULL;
        size_t n = 0;
        if (fk_sandbox_events (sb, &ev, &n, &err) < 0)
          goto fail;
        fkd_reply_json (r, MHD_HTTP_OK, logs_json (s, ev, n));
        fk_sandbox_events_free (ev, n);
        break;
      }
    }
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  return;
fail:
  if (err.code == ENOENT || err.code == ESRCH)
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

int
fkd_json_body (fkd_req_t *r)
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

/* Every value of sandbox_ids (repeated or comma-separated), joined with commas. */
static enum MHD_Result
ids_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  char **acc = cls;
  if (strcmp (key, "sandbox_ids") != 0 || value == NULL)
    return MHD_YES;
  if (strlen (*acc) > 64 * 1024)
    return MHD_NO;
  char *joined = (*acc)[0] ? xasprintf ("%s,%s", *acc, value) : xstrdup (value);
  free (*acc);
  *acc = joined;
  return MHD_YES;
}

static void
route_metrics_many (fkd_req_t *r)
{
  cleanup_free char *list = xstrdup ("");
  MHD_get_connection_values (r->conn, MHD_GET_ARGUMENT_KIND, ids_arg, &list);
  char **ids = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fkd_sandbox_ids_parse (list, &ids, &err) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  fkd_run_job (r, metrics_many_job, ids, strv_free_cb);
}

/* A query argument that must be a whole number when present. */
static int
query_num (fkd_req_t *r, const char *name, uint64_t max, uint64_t *ret)
{
  cleanup_free char *v = fkd_arg (r, name);
  if (v == NULL || v[0] == '\0')
    return 0;
  if (fkd_query_u64 (v, max, ret) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "`%s' is not a whole number up to %llu", name,
                       (unsigned long long)max);
      return -1;
    }
  return 0;
}

/* The optional JSON body of a lifecycle call: application/json when there is one. */
static int
lifecycle_body (fkd_req_t *r, fkd_body_kind_t kind, uint64_t dflt, uint64_t *ret_sec,
                int *ret_memory)
{
  if (r->len && !fkd_json_body (r))
    return -1;
  fk_error_t err = FK_ERROR_INIT;
  if (fkd_lifecycle_req_parse (kind, r->body ? r->body : "", r->len, dflt, ret_sec, ret_memory,
                               &err)
      < 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

/* Fills s from the logs query: v1 start, limit; v2 cursor, limit, direction, level, search. */
static int
logs_query (fkd_req_t *r, sandbox_req_t *s, int v2)
{
  s->limit = LOGS_LIMIT_MAX;
  s->min_level = 0;
  if (query_num (r, v2 ? "cursor" : "start", UINT64_MAX >> 1, &s->start) < 0
      || query_num (r, "limit", LOGS_LIMIT_MAX, &s->limit) < 0)
    return -1;
  if (!v2)
    return 0;
  cleanup_free char *dir = fkd_arg (r, "direction");
  cleanup_free char *level = fkd_arg (r, "level");
  if (dir && strcmp (dir, "backward") == 0)
    s->backward = 1;
  else if (dir && dir[0] && strcmp (dir, "forward") != 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "direction: forward or backward");
      return -1;
    }
  if (level && level[0])
    {
      int found = -1;
      for (int i = 0; level_names[i]; i++)
        if (strcmp (level, level_names[i]) == 0)
          found = i;
      if (found < 0)
        {
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "level: debug, info, warn or error");
          return -1;
        }
      s->min_level = found;
    }
  s->search = fkd_arg (r, "search");
  if (s->search && s->search[0] == '\0')
    s->search = (free (s->search), NULL);
  return 0;
}

/* /sandboxes/{id}[/...] and /v2/sandboxes/{id}/...: rest is what follows the prefix. */
static void
route_sandbox (fkd_req_t *r, const char *method, const char *url, const char *rest, int v2)
{
  int get = strcmp (method, "GET") == 0, post = strcmp (method, "POST") == 0,
      del = strcmp (method, "DELETE") == 0, put = strcmp (method, "PUT") == 0;
  const char *slash = strchr (rest, '/');
  cleanup_free char *sid = slash ? xstrndup (rest, (size_t)(slash - rest)) : xstrdup (rest);
  const char *sub = slash ? slash : "";
  if (!fkd_sandbox_id_valid (sid))
    {
      fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "sandbox `%.64s' not found", sid);
      return;
    }
  /* Snapshots and forks (daemon/snapshots.c). */
  if (!v2 && fkd_snapshot_route (r, method, sid, sub))
    return;
  sandbox_req_t *s = xcalloc (1, sizeof *s);
  s->id = steal_pointer (&sid);
  int bad = 0;
  if (!v2 && sub[0] == '\0' && get)
    s->op = OP_INFO;
  else if (!v2 && sub[0] == '\0' && del)
    s->op = OP_KILL;
  else if (!v2 && strcmp (sub, "/timeout") == 0 && post)
    {
      s->op = OP_TIMEOUT;
      fk_error_t err = FK_ERROR_INIT;
      if (!fkd_json_body (r))
        bad = 1;
      else if (fkd_timeout_req_parse (r->body ? r->body : "", r->len, &s->timeout_sec, &err) < 0)
        {
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
          fk_error_clear (&err);
          bad = 1;
        }
    }
  else if (!v2 && strcmp (sub, "/network") == 0 && put)
    {
      s->op = OP_NETWORK;
      fk_error_t err = FK_ERROR_INIT;
      if (!fkd_json_body (r))
        bad = 1;
      else if (fkd_network_req_parse (r->body ? r->body : "", r->len, &s->allow_out, &s->deny_out,
                                      &err)
               < 0)
        {
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "%s", fk_error_message (&err));
          fk_error_clear (&err);
          bad = 1;
        }
    }
  else if (!v2 && strcmp (sub, "/pause") == 0 && post)
    {
      s->op = OP_PAUSE;
      bad = lifecycle_body (r, FKD_BODY_PAUSE, 0, &s->timeout_sec, &s->memory) < 0;
    }
  else if (strcmp (sub, "/connect") == 0 && post)
    {
      /* Connect only moves the deadline later (E2B: "TTL is only extended"). */
      s->op = OP_CONNECT;
      s->extend_flags = FK_EXTEND_RESUME | FK_EXTEND_NO_SHORTEN;
      bad = lifecycle_body (r, FKD_BODY_CONNECT, CONNECT_TIMEOUT_DEFAULT, &s->timeout_sec,
                            &s->memory)
            < 0;
    }
  else if (!v2 && strcmp (sub, "/resume") == 0 && post)
    {
      s->op = OP_CONNECT;
      s->extend_flags = FK_EXTEND_RESUME;
      s->backward = 1; /* resume: a running sandbox is a conflict */
      bad = lifecycle_body (r, FKD_BODY_RESUME, RESUME_TIMEOUT_DEFAULT, &s->timeout_sec, &s->memory)
            < 0;
    }
  else if (!v2 && strcmp (sub, "/refreshes") == 0 && post)
    {
      s->op = OP_REFRESH;
      s->extend_flags = FK_EXTEND_NO_SHORTEN;
      bad = lifecycle_body (r, FKD_BODY_REFRESH, REFRESH_DURATION_DEFAULT, &s->timeout_sec,
                            &s->memory)
            < 0;
    }
  else if (!v2 && strcmp (sub, "/metrics") == 0 && get)
    {
      s->op = OP_METRICS;
      bad = query_num (r, "start", UINT64_MAX >> 1, &s->start) < 0
            || query_num (r, "end", UINT64_MAX >> 1, &s->end) < 0;
    }
  else if (strcmp (sub, "/logs") == 0 && get)
    {
      s->op = v2 ? OP_LOGS_V2 : OP_LOGS;
      bad = logs_query (r, s, v2) < 0;
    }
  else
    {
      sandbox_req_free (s);
      fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "%s %s is not served by this fkd", method, url);
      return;
    }
  if (bad)
    {
      sandbox_req_free (s);
      return;
    }
  fkd_run_job (r, sandbox_job, s, sandbox_req_free);
}

void
fkd_control_route (fkd_req_t *r, const char *method, const char *url)
{
  if (!api_key_ok (r))
    {
      fkd_reply_error (r, MHD_HTTP_UNAUTHORIZED, "invalid or missing X-API-Key");
      return;
    }
  int get = strcmp (method, "GET") == 0, post = strcmp (method, "POST") == 0;
  if (strcmp (url, "/sandboxes") == 0 || strcmp (url, "/v2/sandboxes") == 0)
    {
      if (get)
        route_list (r);
      else if (post)
        {
          if (!fkd_json_body (r))
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
  if (strcmp (url, "/sandboxes/metrics") == 0 && get)
    {
      route_metrics_many (r);
      return;
    }
  if (strcmp (url, "/snapshots") == 0 && get)
    {
      fkd_snapshots_list_route (r);
      return;
    }
  if (strncmp (url, "/templates/", 11) == 0 && strcmp (method, "DELETE") == 0)
    {
      /* A snapshot's template (the SDK's deleteSnapshot); a template id's characters only. */
      const char *tid = url + 11;
      size_t n = strspn (tid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");
      if (n == 0 || n > 128 || tid[n] != '\0' || tid[0] == '.' || tid[0] == '-')
        fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "no snapshot `%.64s'", tid);
      else
        fkd_template_delete_route (r, tid);
      return;
    }
  int v2 = strncmp (url, "/v2/sandboxes/", 14) == 0;
  if (v2 || strncmp (url, "/sandboxes/", 11) == 0)
    {
      route_sandbox (r, method, url, url + (v2 ? 14 : 11), v2);
      return;
    }
  fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "%s %s is not served by this fkd", method, url);
}
