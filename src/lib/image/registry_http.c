/* image/registry_http.c: see registry_http.h. */
#include "image/registry_http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"

#define DEFAULT_TIMEOUT_S 30L

void
fk_registry_response_clear (fk_registry_response_t *r)
{
  free (r->body);
  free (r->content_type);
  free (r->docker_digest);
  free (r->www_auth);
  free (r->location);
  free (r->range);
  memset (r, 0, sizeof *r);
}

void
fk_registry_client_clear (fk_registry_client_t *c)
{
  free (c->base);
  free (c->host);
  free (c->basic);
  free (c->auth_hdr);
  free (c->scope);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

/* ---- configuration: insecure registries and credentials ---- */

static int
host_is_loopback (const char *host)
{
  cleanup_free char *h = xstrdup (host);
  if (h[0] == '[')
    {
      char *end = strchr (h, ']');
      if (end)
        *end = '\0';
      return strcmp (h + 1, "::1") == 0;
    }
  char *colon = strchr (h, ':');
  if (colon)
    *colon = '\0';
  return strcmp (h, "localhost") == 0 || strncmp (h, "127.", 4) == 0;
}

static int
listed (const char *list, const char *host)
{
  size_t n = strlen (host);
  const char *p = list;
  while (*p)
    {
      p += strspn (p, ", \t\r\n");
      if (*p == '#')
        {
          p += strcspn (p, "\n");
          continue;
        }
      size_t m = strcspn (p, ", \t\r\n");
      if (m == n && strncmp (p, host, n) == 0)
        return 1;
      p += m;
    }
  return 0;
}

int
fk_registry_is_insecure (const char *host)
{
  if (host_is_loopback (host))
    return 1;
  const char *env = getenv ("FIRKIN_INSECURE_REGISTRIES");
  if (env != NULL && listed (env, host))
    return 1;
  const char *file = getenv ("FIRKIN_INSECURE_REGISTRIES_FILE");
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (fk_read_file_at (AT_FDCWD, file ? file : "/etc/firkin/insecure-registries", 1 << 20, &buf,
                       &len, NULL)
      == 0)
    {
      /* Comments run to the end of a line. */
      for (char *line = buf; line && *line;)
        {
          char *nl = strchr (line, '\n');
          if (nl)
            *nl = '\0';
          char *hash = strchr (line, '#');
          if (hash)
            *hash = '\0';
          if (listed (line, host))
            return 1;
          line = nl ? nl + 1 : NULL;
        }
    }
  return 0;
}

static char *
auth_file_path (void)
{
  const char *f = getenv ("REGISTRY_AUTH_FILE");
  if (f && *f)
    return xstrdup (f);
  const char *dc = getenv ("DOCKER_CONFIG");
  if (dc && *dc)
    return xasprintf ("%s/config.json", dc);
  const char *home = getenv ("HOME");
  return home ? xasprintf ("%s/.docker/config.json", home) : NULL;
}

/* The base64 "user:pass" for registry, or NULL. A broken auth file is reported, not fatal. */
static char *
load_basic (const char *registry)
{
  cleanup_free char *path = auth_file_path ();
  if (path == NULL)
    return NULL;
  fk_error_t err = FK_ERROR_INIT;
  cleanup_json json_t *cfg = NULL;
  if (fk_json_load_file_at (AT_FDCWD, path, 1 << 20, &cfg, &err) < 0)
    {
      if (err.code != ENOENT)
        log_warning ("auth file `%s' ignored: %s", path, fk_error_message (&err));
      fk_error_clear (&err);
      return NULL;
    }
  json_t *auths = json_object_get (cfg, "auths");
  if (!json_is_object (auths))
    return NULL;
  int hub = strcmp (registry, "docker.io") == 0;
  const char *key;
  json_t *v;
  json_object_foreach (auths, key, v)
  {
    /* Keys are "host", "https://host", "http://host", maybe with a "/v1/" or "/v2/" path. */
    const char *k = key;
    if (strncmp (k, "https://", 8) == 0)
      k += 8;
    else if (strncmp (k, "http://", 7) == 0)
      k += 7;
    size_t n = strcspn (k, "/");
    int match = (strlen (registry) == n && strncmp (k, registry, n) == 0);
    if (hub && !match)
      match = (n == 15 && strncmp (k, "index.docker.io", n) == 0)
              || (n == 20 && strncmp (k, "registry-1.docker.io", n) == 0);
    if (!match)
      continue;
    json_t *a = json_object_get (v, "auth");
    if (json_is_string (a) && json_string_length (a) > 0)
      return xstrdup (json_string_value (a));
    json_t *u = json_object_get (v, "username"), *p = json_object_get (v, "password");
    if (json_is_string (u) && json_is_string (p))
      {
        cleanup_free char *plain
            = xasprintf ("%s:%s", json_string_value (u), json_string_value (p));
        size_t n_plain = strlen (plain);
        char *out = xmalloc (4 * ((n_plain + 2) / 3) + 1);
        EVP_EncodeBlock ((unsigned char *)out, (const unsigned char *)plain, (int)n_plain);
        return out;
      }
  }
  return NULL;
}

void
fk_registry_client_init (fk_registry_client_t *c, const fk_reference_t *ref)
{
  pthread_once (&curl_once, curl_init_once);
  memset (c, 0, sizeof *c);
  c->ref = ref;
  const char *host = fk_reference_api_host (ref);
  c->host = xstrdup (host);
  c->insecure = fk_registry_is_insecure (host);
  c->base = xasprintf ("%s://%s/v2/%s", c->insecure ? "http" : "https", host, ref->repository);
  c->basic = load_basic (ref->registry);
  c->timeout = DEFAULT_TIMEOUT_S;
  const char *t = getenv ("FIRKIN_REGISTRY_TIMEOUT");
  if (t && atol (t) > 0)
    c->timeout = atol (t);
}

/* ---- one request ---- */

size_t
fk_registry_response_append (fk_registry_response_t *r, const void *data, size_t n)
{
  if (r->len + n > r->max)
    {
      r->too_big = 1;
      return 0;
    }
  xgrow ((void **)&r->body, &r->cap, r->len + n + 1, 1);
  memcpy (r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return n;
}

static size_t
on_body (char *data, size_t size, size_t nmemb, void *userdata)
{
  return fk_registry_response_append (userdata, data, size * nmemb);
}

/* Returns a copy of the value of header `name' in line, or NULL. */
static char *
header_value (const char *line, size_t n, const char *name)
{
  size_t k = strlen (name);
  if (n <= k || strncasecmp (line, name, k) != 0 || line[k] != ':')
    return NULL;
  const char *v = line + k + 1;
  const char *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return xstrndup (v, (size_t)(end - v));
}

static size_t
on_header (char *data, size_t size, size_t nmemb, void *userdata)
{
  fk_registry_response_t *r = userdata;
  size_t n = size * nmemb;
  char *v;
  if (n >= 5 && strncmp (data, "HTTP/", 5) == 0)
    {
      /* A new response (after a redirect): forget the previous one's headers. */
      free (r->content_type);
      free (r->docker_digest);
      free (r->www_auth);
      free (r->location);
      free (r->range);
      r->content_type = r->docker_digest = r->www_auth = r->location = r->range = NULL;
    }
  else if ((v = header_value (data, n, "content-type")) != NULL)
    {
      free (r->content_type);
      r->content_type = v;
    }
  else if ((v = header_value (data, n, "docker-content-digest")) != NULL)
    {
      free (r->docker_digest);
      r->docker_digest = v;
    }
  else if ((v = header_value (data, n, "www-authenticate")) != NULL)
    {
      free (r->www_auth);
      r->www_auth = v;
    }
  else if ((v = header_value (data, n, "location")) != NULL)
    {
      free (r->location);
      r->location = v;
    }
  else if ((v = header_value (data, n, "range")) != NULL)
    {
      free (r->range);
      r->range = v;
    }
  return n;
}

void
fk_registry_setup_easy (const fk_registry_client_t *c, CURL *h, const char *url,
                        struct curl_slist *hdrs)
{
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (h, CURLOPT_MAXREDIRS, 5L);
  /* Never hand credentials to another host a redirect names (the default, kept explicit). */
  curl_easy_setopt (h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt (h, CURLOPT_PROTOCOLS_STR, c->insecure ? "http,https" : "https");
  curl_easy_setopt (h, CURLOPT_REDIR_PROTOCOLS_STR, c->insecure ? "http,https" : "https");
  curl_easy_setopt (h, CURLOPT_CONNECTTIMEOUT, c->timeout);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (h, CURLOPT_LOW_SPEED_TIME, c->timeout);
  curl_easy_setopt (h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (h, CURLOPT_USERAGENT, "firkin/0.1");
  curl_easy_setopt (h, CURLOPT_ACCEPT_ENCODING, "");
}

int
fk_registry_curl_failure (const fk_registry_client_t *c, CURLcode rc, const char *what,
                          fk_error_t *err)
{
  switch (rc)
    {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return fk_error_set (err, EHOSTUNREACH, "registry `%s' is unreachable: %s (%s)", c->host,
                           curl_easy_strerror (rc), what);
    case CURLE_OPERATION_TIMEDOUT:
      return fk_error_set (err, ETIMEDOUT, "registry `%s' timed out (%s, %lds without progress)",
                           c->host, what, c->timeout);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return fk_error_set (err, EPROTO,
                           "registry `%s': TLS failed (%s): %s (a plain-HTTP "
                           "registry must be listed in FIRKIN_INSECURE_REGISTRIES)",
                           c->host, what, curl_easy_strerror (rc));
    default:
      return fk_error_set (err, EIO, "registry `%s': %s failed: %s", c->host, what,
                           curl_easy_strerror (rc));
    }
}

/* Extracts param="value" (or param=value) from a challenge; caller frees. */
static char *
challenge_param (const char *ch, const char *param)
{
  size_t k = strlen (param);
  for (const char *p = ch; (p = strcasestr (p, param)) != NULL; p += k)
    {
      if (p != ch && p[-1] != ' ' && p[-1] != ',')
        continue;
      if (p[k] != '=')
        continue;
      const char *v = p + k + 1;
      if (*v == '"')
        {
          const char *e = strchr (v + 1, '"');
          return e ? xstrndup (v + 1, (size_t)(e - v - 1)) : NULL;
        }
      return xstrndup (v, strcspn (v, ", "));
    }
  return NULL;
}

static int do_request (fk_registry_client_t *c, const fk_registry_request_t *rq, size_t max,
                       fk_registry_response_t *r, fk_error_t *err);

static int
do_get (fk_registry_client_t *c, const char *url, const char *accept, size_t max,
        fk_registry_response_t *r, fk_error_t *err)
{
  fk_registry_request_t rq = { .method = "GET", .url = url, .accept = accept, .body_fd = -1 };
  return do_request (c, &rq, max, r, err);
}

static int
unauthorised (const fk_registry_client_t *c, const char *why, fk_error_t *err)
{
  return fk_error_set (err, EACCES,
                       "unauthorised: registry `%s' refused access to `%s'%s%s (credentials "
                       "come from REGISTRY_AUTH_FILE or ~/.docker/config.json)",
                       c->host, c->ref->repository, why ? ": " : "", why ? why : "");
}

/* Answers a 401 challenge: Basic with the stored credentials, or the Bearer token flow. */
static int
answer_challenge (fk_registry_client_t *c, const char *challenge, fk_error_t *err)
{
  if (challenge == NULL)
    return unauthorised (c, "no WWW-Authenticate challenge", err);
  if (strncasecmp (challenge, "Basic", 5) == 0)
    {
      if (c->basic == NULL)
        return unauthorised (c, "it asks for a password and none is stored", err);
      free (c->auth_hdr);
      c->auth_hdr = xasprintf ("Authorization: Basic %s", c->basic);
      return 0;
    }
  if (strncasecmp (challenge, "Bearer", 6) != 0)
    return unauthorised (c, "unsupported authentication scheme", err);

  cleanup_free char *realm = challenge_param (challenge, "realm");
  cleanup_free char *service = challenge_param (challenge, "service");
  cleanup_free char *scope = challenge_param (challenge, "scope");
  if (realm == NULL)
    return unauthorised (c, "the Bearer challenge has no realm", err);
  if (strncmp (realm, "https://", 8) != 0 && !(c->insecure && strncmp (realm, "http://", 7) == 0))
    return unauthorised (c, "the token realm is not an https URL", err);
  CURL *h = curl_easy_init ();
  if (h == NULL)
    return fk_error_set (err, ENOMEM, "curl_easy_init failed");
  cleanup_free char *def_scope = xasprintf ("repository:%s:pull", c->ref->repository);
  char *esc_service = service ? curl_easy_escape (h, service, 0) : NULL;
  /* One scope= parameter per scope wanted (the client's own list wins over the challenge's). */
  const char *scopes = c->scope ? c->scope : scope ? scope : def_scope;
  cleanup_free char *query = xstrdup ("");
  for (const char *p = scopes; *p;)
    {
      size_t m = strcspn (p, " ");
      if (m > 0)
        {
          cleanup_free char *one = xstrndup (p, m);
          char *esc = curl_easy_escape (h, one, 0);
          char *q = xasprintf ("%s%sscope=%s", query, *query ? "&" : "", esc ? esc : "");
          curl_free (esc);
          free (query);
          query = q;
        }
      p += m;
      p += strspn (p, " ");
    }
  cleanup_free char *url
      = xasprintf ("%s%s%s%s%s", realm, strchr (realm, '?') ? "&" : "?", query,
                   esc_service ? "&service=" : "", esc_service ? esc_service : "");
  curl_free (esc_service);
  curl_easy_cleanup (h);

  /* The token service gets the stored password when there is one (anonymous otherwise). */
  free (c->auth_hdr);
  c->auth_hdr = c->basic ? xasprintf ("Authorization: Basic %s", c->basic) : NULL;
  fk_registry_response_t r = { 0 };
  int ret = do_get (c, url, "application/json", 1 << 20, &r, err);
  free (c->auth_hdr);
  c->auth_hdr = NULL;
  if (ret < 0)
    {
      fk_registry_response_clear (&r);
      return fk_error_wrap (err, "token request to `%s'", realm);
    }
  if (r.status == 401 || r.status == 403)
    {
      fk_registry_response_clear (&r);
      return unauthorised (c, "the token service refused the credentials", err);
    }
  if (r.status != 200)
    {
      long st = r.status;
      fk_registry_response_clear (&r);
      return fk_error_set (err, EACCES, "token service `%s' answered HTTP %ld", realm, st);
    }
  cleanup_json json_t *j = NULL;
  int pr = fk_json_parse (r.body ? r.body : "", r.len, &j, err);
  fk_registry_response_clear (&r);
  if (pr < 0)
    return fk_error_wrap (err, "token service `%s'", realm);
  json_t *tok = json_object_get (j, "token");
  if (!json_is_string (tok))
    tok = json_object_get (j, "access_token");
  if (!json_is_string (tok) || json_string_length (tok) == 0)
    return fk_error_set (err, EACCES, "token service `%s' returned no token", realm);
  for (const char *p = json_string_value (tok); *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return fk_error_set (err, EACCES, "token service `%s' returned a malformed token", realm);
  c->auth_hdr = xasprintf ("Authorization: Bearer %s", json_string_value (tok));
  return 0;
}

/* The body of an upload, read with pread so that a repeated request starts over. */
typedef struct upload
{
  const fk_registry_request_t *rq;
  uint64_t sent;
  int error;
} upload_t;

static size_t
on_read (char *buf, size_t size, size_t nitems, void *userdata)
{
  upload_t *u = userdata;
  uint64_t left = u->rq->body_len - u->sent;
  size_t n = size * nitems;
  if (n > left)
    n = (size_t)left;
  if (n == 0)
    return 0;
  if (u->rq->body != NULL)
    memcpy (buf, (const char *)u->rq->body + u->sent, n);
  else
    {
      ssize_t got;
      do
        got = pread (u->rq->body_fd, buf, n, (off_t)(u->rq->body_offset + (int64_t)u->sent));
      while (got < 0 && errno == EINTR);
      if (got <= 0)
        {
          /* A file that shrank under the upload (or a read error) aborts it. */
          u->error = got < 0 ? errno : EIO;
          return CURL_READFUNC_ABORT;
        }
      n = (size_t)got;
    }
  u->sent += n;
  return n;
}

static int
do_request (fk_registry_client_t *c, const fk_registry_request_t *rq, size_t max,
            fk_registry_response_t *r, fk_error_t *err)
{
  CURL *h = curl_easy_init ();
  if (h == NULL)
    return fk_error_set (err, ENOMEM, "curl_easy_init failed");
  int get = strcmp (rq->method, "GET") == 0, head = strcmp (rq->method, "HEAD") == 0;
  struct curl_slist *hdrs = NULL;
  cleanup_free char *acc = rq->accept ? xasprintf ("Accept: %s", rq->accept) : NULL;
  cleanup_free char *ct
      = rq->content_type ? xasprintf ("Content-Type: %s", rq->content_type) : NULL;
  cleanup_free char *cr
      = rq->content_range ? xasprintf ("Content-Range: %s", rq->content_range) : NULL;
  if (acc)
    hdrs = curl_slist_append (hdrs, acc);
  if (ct)
    hdrs = curl_slist_append (hdrs, ct);
  if (cr)
    hdrs = curl_slist_append (hdrs, cr);
  if (c->auth_hdr)
    hdrs = curl_slist_append (hdrs, c->auth_hdr);
  upload_t u = { .rq = rq };
  if (!get && !head)
    hdrs = curl_slist_append (hdrs, "Expect:"); /* no 100-continue round trip */
  fk_registry_setup_easy (c, h, rq->url, hdrs);
  if (head)
    curl_easy_setopt (h, CURLOPT_NOBODY, 1L);
  else if (!get)
    {
      /* An upload goes to the registry that asked for it: no redirect is followed. */
      curl_easy_setopt (h, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt (h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt (h, CURLOPT_CUSTOMREQUEST, rq->method);
      curl_easy_setopt (h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
      curl_easy_setopt (h, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt (h, CURLOPT_READDATA, &u);
    }
  r->max = max;
  r->content_length = -1;
  /* Small requests have a deadline; a blob upload is bounded by the stall timeout only. */
  if (rq->body_len < (1u << 20))
    curl_easy_setopt (h, CURLOPT_TIMEOUT, c->timeout * 4);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, r);
  CURLcode rc = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &r->status);
  curl_off_t cl = -1;
  if (curl_easy_getinfo (h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl >= 0)
    r->content_length = (int64_t)cl;
  curl_easy_cleanup (h);
  curl_slist_free_all (hdrs);
  if (r->too_big)
    return fk_error_set (err, EFBIG, "response from `%s' is larger than %zu bytes", rq->url, max);
  if (u.error)
    return fk_error_set (err, u.error, "read the body of %s `%s': %s", rq->method, rq->url,
                         strerror (u.error));
  if (rc != CURLE_OK)
    return fk_registry_curl_failure (c, rc, rq->url, err);
  return 0;
}

int
fk_registry_request (fk_registry_client_t *c, const fk_registry_request_t *rq, size_t max,
                     fk_registry_response_t *r, fk_error_t *err)
{
  if (do_request (c, rq, max, r, err) < 0)
    return -1;
  if (r->status != 401)
    return 0;
  cleanup_free char *challenge = steal_pointer (&r->www_auth);
  int had_auth = c->auth_hdr != NULL;
  fk_registry_response_clear (r);
  if (had_auth)
    return unauthorised (c, "the credentials were refused", err);
  if (answer_challenge (c, challenge, err) < 0)
    return -1;
  if (do_request (c, rq, max, r, err) < 0)
    return -1;
  if (r->status == 401)
    return unauthorised (c, "the credentials were refused", err);
  return 0;
}

int
fk_registry_get (fk_registry_client_t *c, const char *url, const char *accept, size_t max,
                 fk_registry_response_t *r, fk_error_t *err)
{
  fk_registry_request_t rq = { .method = "GET", .url = url, .accept = accept, .body_fd = -1 };
  return fk_registry_request (c, &rq, max, r, err);
}

/* The registry's error code ("MANIFEST_UNKNOWN", ...) from an error body, or NULL. */
static const char *
registry_error_code (const fk_registry_response_t *r, json_t **holder)
{
  if (r->body == NULL || fk_json_parse (r->body, r->len, holder, NULL) < 0)
    return NULL;
  json_t *e = json_array_get (json_object_get (*holder, "errors"), 0);
  json_t *code = json_object_get (e, "code");
  return json_is_string (code) ? json_string_value (code) : NULL;
}

int
fk_registry_error_is (const fk_registry_response_t *r, const char *code)
{
  cleanup_json json_t *holder = NULL;
  const char *got = registry_error_code (r, &holder);
  return got != NULL && strcmp (got, code) == 0;
}

int
fk_registry_http_failure (const fk_registry_client_t *c, const fk_registry_response_t *r,
                          const char *what, const char *object, fk_error_t *err)
{
  cleanup_json json_t *holder = NULL;
  const char *code = registry_error_code (r, &holder);
  if (r->status == 401 || r->status == 403)
    return unauthorised (c, code, err);
  if (r->status == 404)
    {
      if (code && strcmp (code, "NAME_UNKNOWN") == 0)
        return fk_error_set (err, ENOENT, "unknown repository `%s' on registry `%s'",
                             c->ref->repository, c->host);
      if (code && strcmp (code, "BLOB_UNKNOWN") == 0)
        return fk_error_set (err, ENOENT, "registry `%s' has no blob `%s' in `%s'", c->host, object,
                             c->ref->repository);
      if (strcmp (what, "manifest") == 0)
        return fk_error_set (err, ENOENT, "unknown %s `%s' in repository `%s' on registry `%s'",
                             object[0] == 's' && strncmp (object, "sha256:", 7) == 0 ? "manifest"
                                                                                     : "tag",
                             object, c->ref->repository, c->host);
      return fk_error_set (err, ENOENT, "registry `%s' has no %s `%s' in `%s'", c->host, what,
                           object, c->ref->repository);
    }
  if (r->status == 429)
    return fk_error_set (err, EBUSY, "registry `%s' is rate-limiting (HTTP 429) the %s `%s'",
                         c->host, what, object);
  return fk_error_set (err, EIO, "registry `%s' answered HTTP %ld%s%s for the %s `%s'", c->host,
                       r->status, code ? " " : "", code ? code : "", what, object);
}
