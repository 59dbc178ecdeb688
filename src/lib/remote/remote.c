/* remote/remote.c: the handle, HTTP to fkd (http.h) and the control plane: create, list,
   inspect, delete, extend, pause and resume of sandboxes. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "remote/http.h"
#include "remote/parse.h"
#include "sandbox/sandbox.h"

/* The API's longest timeout: a year (fkd's limit); a sandbox without one gets it. */
#define MAX_TIMEOUT_SEC (366ULL * 24 * 3600)
#define LIST_PAGE 100

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

static char *
strip_slash (const char *u)
{
  size_t n = strlen (u);
  while (n > 0 && u[n - 1] == '/')
    n--;
  return xstrndup (u, n);
}

static int
http_url (const char *u)
{
  return strncmp (u, "http://", 7) == 0 || strncmp (u, "https://", 8) == 0;
}

/* url's scheme and host with envd's port. */
static int
envd_of (const char *url, char **ret, fk_error_t *err)
{
  CURLU *u = curl_url ();
  if (u == NULL)
    return fk_error_set (err, ENOMEM, "curl_url failed");
  char port[16], *out = NULL;
  snprintf (port, sizeof port, "%u", FK_REMOTE_ENVD_PORT);
  if (curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_PORT, port, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_PATH, "/", 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_URL, &out, 0) != CURLUE_OK)
    {
      curl_url_cleanup (u);
      return fk_error_set (err, EINVAL, "`%s' is not a URL of fkd", url);
    }
  curl_url_cleanup (u);
  *ret = strip_slash (out);
  curl_free (out);
  return 0;
}

int
fk_remote_open (const fk_remote_opts_t *opts, fk_remote_t **ret_remote, fk_error_t *err)
{
  if (opts == NULL
      || fk_options_check_version (opts->version, FK_REMOTE_OPTIONS_VERSION, "fk_remote_opts_t",
                                   "FK_REMOTE_OPTIONS_INIT", err)
             < 0)
    return opts ? -1 : fk_error_set (err, EINVAL, "fk_remote_open needs options with a url");
  if (opts->url == NULL || !http_url (opts->url))
    return fk_error_set (err, EINVAL, "`%s' is not a URL of fkd (http:// or https://)",
                         opts->url ? opts->url : "");
  if (opts->envd_url && !http_url (opts->envd_url))
    return fk_error_set (err, EINVAL, "`%s' is not a URL of fkd's envd (http:// or https://)",
                         opts->envd_url);
  if (opts->api_key && strpbrk (opts->api_key, "\r\n"))
    return fk_error_set (err, EINVAL, "the API key holds a line break");
  pthread_once (&curl_once, curl_init_once);
  fk_remote_t *r = xcalloc (1, sizeof *r);
  r->url = strip_slash (opts->url);
  if (opts->envd_url)
    r->envd_url = strip_slash (opts->envd_url);
  else if (envd_of (r->url, &r->envd_url, err) < 0)
    {
      fk_remote_close (r);
      return -1;
    }
  if (opts->api_key && opts->api_key[0])
    r->key_hdr = xasprintf ("X-API-Key: %s", opts->api_key);
  r->timeout = opts->timeout_sec ? (long)opts->timeout_sec : 30;
  r->h = curl_easy_init ();
  if (r->h == NULL)
    {
      fk_remote_close (r);
      return fk_error_set (err, ENOMEM, "curl_easy_init failed");
    }
  *ret_remote = r;
  return 0;
}

void
fk_remote_close (fk_remote_t *r)
{
  if (r == NULL)
    return;
  if (r->h)
    curl_easy_cleanup (r->h);
  free (r->url);
  free (r->envd_url);
  free (r->key_hdr);
  free (r->tok_id);
  free (r->token);
  free (r);
}

/* ---- HTTP ---- */

void
fk_remote_resp_clear (fk_remote_resp_t *resp)
{
  free (resp->body);
  memset (resp, 0, sizeof *resp);
  resp->out_fd = -1;
}

static size_t
on_body (char *data, size_t size, size_t nmemb, void *userdata)
{
  fk_remote_resp_t *resp = userdata;
  size_t n = size * nmemb;
  if (resp->out_fd >= 0 && resp->status / 100 == 2)
    {
      if (resp->written + n > resp->out_max)
        {
          resp->too_big = 1;
          return 0;
        }
      for (size_t off = 0; off < n;)
        {
          ssize_t w = write (resp->out_fd, data + off, n - off);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            {
              resp->out_errno = w < 0 ? errno : EIO;
              return 0;
            }
          off += (size_t)w;
        }
      resp->written += n;
      return n;
    }
  if (resp->len + n > FK_REMOTE_MAX_BODY)
    {
      resp->too_big = 1;
      return 0;
    }
  resp->body = xrealloc (resp->body, resp->len + n + 1);
  memcpy (resp->body + resp->len, data, n);
  resp->len += n;
  resp->body[resp->len] = '\0';
  return n;
}

/* The status is known before the body: on_body must know where the body goes. */
static size_t
on_header (char *data, size_t size, size_t nmemb, void *userdata)
{
  fk_remote_resp_t *resp = userdata;
  size_t n = size * nmemb;
  if (n > 9 && strncmp (data, "HTTP/", 5) == 0)
    {
      const char *sp = memchr (data, ' ', n);
      if (sp && (size_t)(sp - data) + 4 <= n)
        resp->status = strtol (sp + 1, NULL, 10);
    }
  return n;
}

typedef struct in_src
{
  int fd;
  int *err_out;
} in_src_t;

static size_t
on_read (char *buf, size_t size, size_t nitems, void *userdata)
{
  in_src_t *in = userdata;
  for (;;)
    {
      ssize_t n = read (in->fd, buf, size * nitems);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          *in->err_out = errno;
          return CURL_READFUNC_ABORT;
        }
      return (size_t)n;
    }
}

void
fk_remote_setup (const fk_remote_t *r, CURL *h, const char *url)
{
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, r->timeout);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, r->timeout);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "firkin/0.1");
}

int
fk_remote_curl_failure (CURLcode rc, const char *url, fk_error_t *err)
{
  switch (rc)
    {
    case CURLE_COULDNT_CONNECT:
      return fk_error_set (err, ECONNREFUSED, "cannot reach fkd at %s: %s (is fkd running?)", url,
                           curl_easy_strerror (rc));
    case CURLE_COULDNT_RESOLVE_HOST:
      return fk_error_set (err, EHOSTUNREACH, "cannot reach fkd at %s: %s", url,
                           curl_easy_strerror (rc));
    case CURLE_OPERATION_TIMEDOUT:
      return fk_error_set (err, ETIMEDOUT, "fkd at %s did not answer in time", url);
    default:
      return fk_error_set (err, EIO, "fkd at %s: %s", url, curl_easy_strerror (rc));
    }
}

int
fk_remote_perform (fk_remote_t *r, const fk_remote_req_t *req, fk_remote_resp_t *resp,
                   fk_error_t *err)
{
  CURL *h = r->h;
  curl_easy_reset (h);
  memset (resp, 0, sizeof *resp);
  resp->out_fd = req->out_fd;
  resp->out_max = req->out_max;
  fk_remote_setup (r, h, req->url);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, req->headers);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, resp);
  int in_errno = 0;
  in_src_t in = { .fd = req->in_fd, .err_out = &in_errno };
  if (req->in_fd >= 0)
    {
      curl_easy_setopt (h, CURLOPT_POST, 1L);
      curl_easy_setopt (h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt (h, CURLOPT_READDATA, &in);
      if (req->in_size >= 0)
        curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->in_size);
    }
  else if (req->body)
    {
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, req->body);
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
  if (strcmp (req->method, "GET") != 0 && strcmp (req->method, "POST") != 0)
    curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, req->method);
  else if (strcmp (req->method, "POST") == 0 && req->body == NULL && req->in_fd < 0)
    {
      curl_easy_setopt (h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt (h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
  CURLcode rc = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &resp->status);
  if (in_errno)
    {
      errno = in_errno;
      return fk_error_set_errno (err, "read what goes to %s", req->url);
    }
  if (resp->out_errno)
    {
      errno = resp->out_errno;
      return fk_error_set_errno (err, "write what came from %s", req->url);
    }
  if (resp->too_big)
    return fk_error_set (err, EPROTO, "fkd's answer to %s %s is over its size limit", req->method,
                         req->url);
  if (rc != CURLE_OK)
    return fk_remote_curl_failure (
        rc, strncmp (req->url, r->url, strlen (r->url)) == 0 ? r->url : r->envd_url, err);
  return 0;
}

int
fk_remote_status_failure (const fk_remote_t *r, const char *what, const char *id,
                          const fk_remote_resp_t *resp, fk_error_t *err)
{
  cleanup_free char *msg = fk_remote_parse_error (resp->body ? resp->body : "", resp->len, NULL);
  switch (resp->status)
    {
    case 401:
      return fk_error_set (err, EACCES, "fkd at %s refused the API key (%s)", r->url,
                           msg ? msg : "401");
    case 404:
      /* fkd names a route it does not serve (one older than this client) apart from a sandbox
         it does not have */
      if (msg && strstr (msg, "is not served"))
        return fk_error_set (err, ENOTSUP, "fkd at %s does not serve %s (%s)", r->url, what, msg);
      if (id)
        return fk_sandbox_error_missing (err, id);
      break;
    default:
      break;
    }
  int code = resp->status == 400 ? EINVAL : resp->status == 409 ? EEXIST : EIO;
  if (msg)
    return fk_error_set (err, code, "%s", msg);
  return fk_error_set (err, code, "fkd: %s: HTTP %ld", what, resp->status);
}

struct curl_slist *
fk_remote_control_headers (const fk_remote_t *r, int json)
{
  struct curl_slist *h = NULL;
  if (r->key_hdr)
    h = curl_slist_append (h, r->key_hdr);
  if (json)
    h = curl_slist_append (h, "Content-Type: application/json");
  h = curl_slist_append (h, "Accept: application/json");
  return h;
}

/* A control-plane call: method on path, body (JSON) or none; the answer in resp (2xx), else
   the failure. */
static int
control (fk_remote_t *r, const char *method, const char *path, const char *id, const char *body,
         fk_remote_resp_t *resp, fk_error_t *err)
{
  cleanup_free char *url = xasprintf ("%s%s", r->url, path);
  struct curl_slist *hdrs = fk_remote_control_headers (r, body != NULL);
  fk_remote_req_t req = FK_REMOTE_REQ_INIT;
  req.method = method;
  req.url = url;
  req.headers = hdrs;
  req.body = body;
  req.body_len = body ? strlen (body) : 0;
  int rc = fk_remote_perform (r, &req, resp, err);
  curl_slist_free_all (hdrs);
  if (rc < 0)
    return -1;
  if (resp->status / 100 != 2)
    {
      cleanup_free char *what = xasprintf ("%s %s", method, path);
      fk_remote_status_failure (r, what, id, resp, err);
      fk_remote_resp_clear (resp);
      return -1;
    }
  return 0;
}

/* ---- the control plane ---- */

static int
kv_object (json_t *obj, const char *name, const char *const *kv, fk_error_t *err)
{
  json_t *o = json_object ();
  for (size_t i = 0; kv && kv[i]; i++)
    {
      const char *eq = strchr (kv[i], '=');
      if (eq == NULL)
        {
          json_decref (o);
          return fk_error_set (err, EINVAL, "`%s' is not K=V", kv[i]);
        }
      cleanup_free char *k = xstrndup (kv[i], (size_t)(eq - kv[i]));
      json_object_set_new (o, k, json_string (eq + 1));
    }
  json_object_set_new (obj, name, o);
  return 0;
}

/* The first field of spec the API cannot carry, by its name, else NULL. */
static const char *
unsupported_field (const fk_sandbox_spec_t *spec)
{
  fk_sandbox_spec_t d;
  fk_sandbox_spec_init (&d);
  if (spec->layers && spec->layers[0])
    return "layers";
  if (spec->resources.vcpus != d.resources.vcpus)
    return "resources.vcpus";
  if (spec->resources.memory_bytes != d.resources.memory_bytes)
    return "resources.memory_bytes";
  if (spec->resources.disk_bytes != d.resources.disk_bytes)
    return "resources.disk_bytes";
  if (spec->resources.pids != d.resources.pids)
    return "resources.pids";
  if (spec->workdir)
    return "workdir";
  if (spec->user)
    return "user";
  if (spec->hostname)
    return "hostname";
  if (spec->init)
    return "init";
  /* What is left (data plane, seccomp) is compared by the codec: the fields above, the ones
     that go over the API and the ones checked here, made equal, must leave equal specs. */
  fk_sandbox_spec_t t = *spec;
  t.template_id = d.template_id;
  t.env = d.env;
  t.metadata = d.metadata;
  t.timeout_sec = d.timeout_sec;
  t.init_stdio = d.init_stdio;
  t.init_rows = d.init_rows;
  t.init_cols = d.init_cols;
  if (!fk_sandbox_spec_equal (&t, &d))
    return spec->seccomp.unconfined || spec->seccomp.deny || spec->seccomp.allow ? "seccomp"
                                                                                 : "data_plane";
  return NULL;
}

int
fk_remote_sandbox_create (fk_remote_t *r, const fk_sandbox_spec_t *spec, char **ret_id,
                          fk_error_t *err)
{
  const char *bad = unsupported_field (spec);
  if (bad)
    return fk_error_set (err, ENOTSUP, "fkd's API cannot set the sandbox's `%s'", bad);
  if (spec->timeout_sec > MAX_TIMEOUT_SEC)
    return fk_error_set (err, EINVAL, "timeout %llu s: fkd takes 1 s to a year",
                         (unsigned long long)spec->timeout_sec);
  const char *tmpl = spec->template_id ? spec->template_id : "base";
  cleanup_json json_t *j = json_pack (
      "{s:s, s:I, s:b}", "templateID", tmpl, "timeout",
      (json_int_t)(spec->timeout_sec ? spec->timeout_sec : MAX_TIMEOUT_SEC), "secure", 1);
  if (kv_object (j, "envVars", spec->env, err) < 0
      || kv_object (j, "metadata", spec->metadata, err) < 0)
    return -1;
  cleanup_free char *body = json_dumps (j, JSON_COMPACT);
  if (body == NULL)
    return fk_error_set (err, EINVAL, "the sandbox's env or metadata is not UTF-8");
  fk_remote_resp_t resp = { 0 };
  if (control (r, "POST", "/sandboxes", NULL, body, &resp, err) < 0)
    {
      /* fkd puts the template before the library's own message: the message is the library's */
      cleanup_free char *prefix = xasprintf ("create a sandbox of template `%s': ", tmpl);
      if (err->msg && strncmp (err->msg, prefix, strlen (prefix)) == 0)
        memmove (err->msg, err->msg + strlen (prefix), strlen (err->msg + strlen (prefix)) + 1);
      return -1;
    }
  cleanup_json json_t *a = NULL;
  fk_error_t jerr = FK_ERROR_INIT;
  const char *id = NULL;
  if (fk_json_parse (resp.body ? resp.body : "", resp.len, &a, &jerr) < 0 || !json_is_object (a)
      || !json_is_string (json_object_get (a, "sandboxID"))
      || fk_sandbox_id_check (id = json_string_value (json_object_get (a, "sandboxID")), &jerr) < 0)
    {
      fk_error_clear (&jerr);
      fk_remote_resp_clear (&resp);
      return fk_error_set (err, EPROTO, "fkd's answer to create has no sandbox id");
    }
  *ret_id = xstrdup (id);
  json_t *tok = json_object_get (a, "envdAccessToken");
  free (r->tok_id);
  free (r->token);
  r->tok_id = xstrdup (id);
  r->token = json_is_string (tok) && fk_remote_token_ok (json_string_value (tok))
                 ? xstrdup (json_string_value (tok))
                 : NULL;
  fk_remote_resp_clear (&resp);
  return 0;
}

int
fk_remote_sandbox_list (fk_remote_t *r, fk_sandbox_info_t ***ret_infos, size_t *ret_n,
                        fk_error_t *err)
{
  fk_sandbox_info_t **all = NULL;
  size_t n = 0;
  /* Every page, by offset; fkd's list is oldest first, so pages follow one another. A
     bound on pages keeps a lying fkd from looping us. */
  for (size_t page = 0; page < 100000; page++)
    {
      cleanup_free char *path = xasprintf ("/v2/sandboxes?limit=%d&nextToken=%zu", LIST_PAGE, n);
      fk_remote_resp_t resp = { 0 };
      if (control (r, "GET", path, NULL, NULL, &resp, err) < 0)
        goto fail;
      fk_sandbox_info_t **infos = NULL;
      size_t k = 0;
      int rc = fk_remote_parse_sandbox_list (resp.body ? resp.body : "", resp.len, &infos, &k, err);
      fk_remote_resp_clear (&resp);
      if (rc < 0)
        goto fail;
      all = xrealloc (all, (n + k + 1) * sizeof *all);
      memcpy (all + n, infos, k * sizeof *infos);
      n += k;
      free (infos);
      if (k < LIST_PAGE)
        {
          *ret_infos = all;
          *ret_n = n;
          return 0;
        }
    }
  fk_error_set (err, EPROTO, "fkd's list does not end");
fail:
  fk_sandbox_info_list_free (all, n);
  return -1;
}

/* GET /sandboxes/{id}: the info and its token. */
static int
info_of (fk_remote_t *r, const char *id, fk_sandbox_info_t **ret_info, char **ret_token,
         fk_error_t *err)
{
  if (fk_sandbox_id_check (id, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf ("/sandboxes/%s", id);
  fk_remote_resp_t resp = { 0 };
  if (control (r, "GET", path, id, NULL, &resp, err) < 0)
    return -1;
  int rc = fk_remote_parse_sandbox (resp.body ? resp.body : "", resp.len, ret_info, ret_token, err);
  fk_remote_resp_clear (&resp);
  if (rc == 0 && strcmp ((*ret_info)->id, id) != 0)
    {
      fk_sandbox_info_free (*ret_info);
      *ret_info = NULL;
      if (ret_token)
        {
          free (*ret_token);
          *ret_token = NULL;
        }
      return fk_error_set (err, EPROTO, "fkd answered for sandbox `%s' about another", id);
    }
  return rc;
}

int
fk_remote_sandbox_inspect (fk_remote_t *r, const char *id, fk_sandbox_info_t **ret_info,
                           fk_error_t *err)
{
  return info_of (r, id, ret_info, NULL, err);
}

int
fk_remote_sandbox_delete (fk_remote_t *r, const char *id, int force, fk_error_t *err)
{
  if (fk_sandbox_id_check (id, err) < 0)
    return -1;
  /* fkd's delete always kills: without force, a running sandbox is refused here, as
     fk_sandbox_delete refuses it (fkd lists no stopped sandbox: every one it has runs). */
  if (!force)
    {
      fk_sandbox_info_t *info = NULL;
      if (info_of (r, id, &info, NULL, err) < 0)
        return -1;
      fk_sandbox_info_free (info);
      return fk_error_set (err, EBUSY, "sandbox `%s' is running: stop it first, or force", id);
    }
  cleanup_free char *path = xasprintf ("/sandboxes/%s", id);
  fk_remote_resp_t resp = { 0 };
  if (control (r, "DELETE", path, id, NULL, &resp, err) < 0)
    return -1;
  fk_remote_resp_clear (&resp);
  return 0;
}

static int
set_timeout (fk_remote_t *r, const char *id, const char *route, uint64_t seconds, fk_error_t *err)
{
  cleanup_free char *path = xasprintf ("/sandboxes/%s/%s", id, route);
  cleanup_free char *body = xasprintf ("{\"timeout\":%llu}", (unsigned long long)seconds);
  fk_remote_resp_t resp = { 0 };
  if (control (r, "POST", path, id, body, &resp, err) < 0)
    return -1;
  fk_remote_resp_clear (&resp);
  return 0;
}

int
fk_remote_sandbox_extend (fk_remote_t *r, const char *id, uint64_t seconds, fk_error_t *err)
{
  if (fk_sandbox_id_check (id, err) < 0)
    return -1;
  if (seconds == 0 || seconds > MAX_TIMEOUT_SEC)
    return fk_error_set (err, EINVAL, "extend by %llu s: expected 1 s to a year",
                         (unsigned long long)seconds);
  return set_timeout (r, id, "timeout", seconds, err);
}

int
fk_remote_sandbox_pause (fk_remote_t *r, const char *id, fk_error_t *err)
{
  if (fk_sandbox_id_check (id, err) < 0)
    return -1;
  cleanup_free char *path = xasprintf ("/sandboxes/%s/pause", id);
  fk_remote_resp_t resp = { 0 };
  if (control (r, "POST", path, id, NULL, &resp, err) < 0)
    {
      /* 409: already paused, which fk_sandbox_pause does not count as a failure */
      if (err->code == EEXIST)
        {
          fk_error_clear (err);
          return 0;
        }
      return -1;
    }
  fk_remote_resp_clear (&resp);
  return 0;
}

int
fk_remote_sandbox_resume (fk_remote_t *r, const char *id, fk_error_t *err)
{
  /* connect sets the deadline to now + timeout: send what is left of the sandbox's own. */
  fk_sandbox_info_t *info = NULL;
  if (info_of (r, id, &info, NULL, err) < 0)
    return -1;
  int64_t left = info->expires ? info->expires - (int64_t)time (NULL) : (int64_t)MAX_TIMEOUT_SEC;
  fk_sandbox_info_free (info);
  return set_timeout (r, id, "connect", left > 0 ? (uint64_t)left : 1, err);
}

int
fk_remote_sandbox_attach (fk_remote_t *r, const char *id, fk_error_t *err)
{
  fk_sandbox_info_t *info = NULL;
  char *token = NULL;
  if (info_of (r, id, &info, &token, err) < 0)
    return -1;
  fk_sandbox_status_t status = info->status;
  fk_sandbox_info_free (info);
  if (status == FK_SANDBOX_PAUSED)
    {
      free (token);
      return fk_error_set (err, EAGAIN, "sandbox `%s' is paused: resume it first", id);
    }
  free (r->tok_id);
  free (r->token);
  r->tok_id = xstrdup (id);
  r->token = token;
  return 0;
}

int
fk_remote_envd_headers (fk_remote_t *r, const char *id, const char *content_type,
                        struct curl_slist **ret, fk_error_t *err)
{
  if ((r->tok_id == NULL || strcmp (r->tok_id, id) != 0)
      && fk_remote_sandbox_attach (r, id, err) < 0)
    return -1;
  struct curl_slist *h = NULL;
  cleanup_free char *sid = xasprintf ("E2b-Sandbox-Id: %s", id);
  cleanup_free char *port = xasprintf ("E2b-Sandbox-Port: %u", FK_REMOTE_ENVD_PORT);
  h = curl_slist_append (h, sid);
  h = curl_slist_append (h, port);
  if (r->token)
    {
      cleanup_free char *tok = xasprintf ("X-Access-Token: %s", r->token);
      h = curl_slist_append (h, tok);
    }
  if (content_type)
    {
      cleanup_free char *ct = xasprintf ("Content-Type: %s", content_type);
      h = curl_slist_append (h, ct);
    }
  *ret = h;
  return 0;
}
