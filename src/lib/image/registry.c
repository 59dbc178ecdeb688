/* image/registry.c: see registry.h. */
#include "image/registry.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"

#define DEFAULT_PARALLEL 4
#define DEFAULT_TIMEOUT_S 30L
#define MAX_ERROR_BODY (64u << 10)

typedef struct client
{
  const fk_reference_t *ref;
  char *base;     /* "https://host/v2/repo" */
  char *host;     /* the API host[:port] */
  char *basic;    /* base64 "user:pass" from the auth file, or NULL */
  char *auth_hdr; /* "Authorization: ..." once a challenge was answered, or NULL */
  int insecure;
  long timeout;
} client_t;

typedef struct response
{
  long status;
  char *body;
  size_t len, cap, max;
  int too_big;
  char *content_type, *docker_digest, *www_auth;
} response_t;

static void
response_clear (response_t *r)
{
  free (r->body);
  free (r->content_type);
  free (r->docker_digest);
  free (r->www_auth);
  memset (r, 0, sizeof *r);
}

static void
client_clear (client_t *c)
{
  free (c->base);
  free (c->host);
  free (c->basic);
  free (c->auth_hdr);
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
        cleanup_free char *plain = xasprintf ("%s:%s", json_string_value (u), json_string_value (p));
        size_t n_plain = strlen (plain);
        char *out = xmalloc (4 * ((n_plain + 2) / 3) + 1);
        EVP_EncodeBlock ((unsigned char *) out, (const unsigned char *) plain, (int) n_plain);
        return out;
      }
  }
  return NULL;
}

/* ---- one request ---- */

static size_t
on_body (char *data, size_t size, size_t nmemb, void *userdata)
{
  response_t *r = userdata;
  size_t n = size * nmemb;
  if (r->len + n > r->max)
    {
      r->too_big = 1;
      return 0;
    }
  xgrow ((void **) &r->body, &r->cap, r->len + n + 1, 1);
  memcpy (r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return n;
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
  return xstrndup (v, (size_t) (end - v));
}

static size_t
on_header (char *data, size_t size, size_t nmemb, void *userdata)
{
  response_t *r = userdata;
  size_t n = size * nmemb;
  char *v;
  if (n >= 5 && strncmp (data, "HTTP/", 5) == 0)
    {
      /* A new response (after a redirect): forget the previous one's headers. */
      free (r->content_type);
      free (r->docker_digest);
      free (r->www_auth);
      r->content_type = r->docker_digest = r->www_auth = NULL;
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
  return n;
}

static void
setup_easy (const client_t *c, CURL *h, const char *url, struct curl_slist *hdrs)
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

static int
curl_failure (const client_t *c, CURLcode rc, const char *what, fk_error_t *err)
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
      return fk_error_set (err, EPROTO, "registry `%s': TLS failed (%s): %s (a plain-HTTP "
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
          return e ? xstrndup (v + 1, (size_t) (e - v - 1)) : NULL;
        }
      return xstrndup (v, strcspn (v, ", "));
    }
  return NULL;
}

static int do_get (client_t *c, const char *url, const char *accept, size_t max, response_t *r,
                   int with_auth, fk_error_t *err);

static int
unauthorised (const client_t *c, const char *why, fk_error_t *err)
{
  return fk_error_set (err, EACCES,
                       "unauthorised: registry `%s' refused access to `%s'%s%s (credentials "
                       "come from REGISTRY_AUTH_FILE or ~/.docker/config.json)",
                       c->host, c->ref->repository, why ? ": " : "", why ? why : "");
}

/* Answers a 401 challenge: Basic with the stored credentials, or the Bearer token flow. */
static int
answer_challenge (client_t *c, const char *challenge, fk_error_t *err)
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
  char *esc_scope = curl_easy_escape (h, scope ? scope : def_scope, 0);
  cleanup_free char *url = xasprintf ("%s%sscope=%s%s%s", realm, strchr (realm, '?') ? "&" : "?",
                                      esc_scope, esc_service ? "&service=" : "",
                                      esc_service ? esc_service : "");
  curl_free (esc_service);
  curl_free (esc_scope);
  curl_easy_cleanup (h);

  /* The token service gets the stored password when there is one (anonymous otherwise). */
  free (c->auth_hdr);
  c->auth_hdr = c->basic ? xasprintf ("Authorization: Basic %s", c->basic) : NULL;
  response_t r = {0};
  int ret = do_get (c, url, "application/json", 1 << 20, &r, 1, err);
  free (c->auth_hdr);
  c->auth_hdr = NULL;
  if (ret < 0)
    {
      response_clear (&r);
      return fk_error_wrap (err, "token request to `%s'", realm);
    }
  if (r.status == 401 || r.status == 403)
    {
      response_clear (&r);
      return unauthorised (c, "the token service refused the credentials", err);
    }
  if (r.status != 200)
    {
      long st = r.status;
      response_clear (&r);
      return fk_error_set (err, EACCES, "token service `%s' answered HTTP %ld", realm, st);
    }
  cleanup_json json_t *j = NULL;
  int pr = fk_json_parse (r.body ? r.body : "", r.len, &j, err);
  response_clear (&r);
  if (pr < 0)
    return fk_error_wrap (err, "token service `%s'", realm);
  json_t *tok = json_object_get (j, "token");
  if (!json_is_string (tok))
    tok = json_object_get (j, "access_token");
  if (!json_is_string (tok) || json_string_length (tok) == 0)
    return fk_error_set (err, EACCES, "token service `%s' returned no token", realm);
  for (const char *p = json_string_value (tok); *p; p++)
    if ((unsigned char) *p <= 0x20 || *p == 0x7f)
      return fk_error_set (err, EACCES, "token service `%s' returned a malformed token", realm);
  c->auth_hdr = xasprintf ("Authorization: Bearer %s", json_string_value (tok));
  return 0;
}

static int
do_get (client_t *c, const char *url, const char *accept, size_t max, response_t *r,
        int with_auth, fk_error_t *err)
{
  CURL *h = curl_easy_init ();
  if (h == NULL)
    return fk_error_set (err, ENOMEM, "curl_easy_init failed");
  struct curl_slist *hdrs = NULL;
  cleanup_free char *acc = accept ? xasprintf ("Accept: %s", accept) : NULL;
  if (acc)
    hdrs = curl_slist_append (hdrs, acc);
  if (with_auth && c->auth_hdr)
    hdrs = curl_slist_append (hdrs, c->auth_hdr);
  setup_easy (c, h, url, hdrs);
  r->max = max;
  curl_easy_setopt (h, CURLOPT_TIMEOUT, c->timeout * 4);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (h, CURLOPT_HEADERDATA, r);
  CURLcode rc = curl_easy_perform (h);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_cleanup (h);
  curl_slist_free_all (hdrs);
  if (r->too_big)
    return fk_error_set (err, EFBIG, "response from `%s' is larger than %zu bytes", url, max);
  if (rc != CURLE_OK)
    return curl_failure (c, rc, url, err);
  return 0;
}

/* GET with the auth dance: one retry after answering a 401 challenge. */
static int
api_get (client_t *c, const char *url, const char *accept, size_t max, response_t *r,
         fk_error_t *err)
{
  if (do_get (c, url, accept, max, r, 1, err) < 0)
    return -1;
  if (r->status != 401)
    return 0;
  cleanup_free char *challenge = steal_pointer (&r->www_auth);
  int had_auth = c->auth_hdr != NULL;
  response_clear (r);
  if (had_auth)
    return unauthorised (c, "the credentials were refused", err);
  if (answer_challenge (c, challenge, err) < 0)
    return -1;
  if (do_get (c, url, accept, max, r, 1, err) < 0)
    return -1;
  if (r->status == 401)
    return unauthorised (c, "the credentials were refused", err);
  return 0;
}

/* The registry's error code ("MANIFEST_UNKNOWN", ...) from an error body, or NULL. */
static const char *
registry_error_code (const response_t *r, json_t **holder)
{
  if (r->body == NULL || fk_json_parse (r->body, r->len, holder, NULL) < 0)
    return NULL;
  json_t *e = json_array_get (json_object_get (*holder, "errors"), 0);
  json_t *code = json_object_get (e, "code");
  return json_is_string (code) ? json_string_value (code) : NULL;
}

static int
http_failure (const client_t *c, const response_t *r, const char *what, const char *object,
              fk_error_t *err)
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
        return fk_error_set (err, ENOENT, "registry `%s' has no blob `%s' in `%s'", c->host,
                             object, c->ref->repository);
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

/* Fetches a manifest or index by tag or digest; stores it by its digest. */
static int
get_manifest (client_t *c, fk_store_t *store, const char *object, const char *want_digest,
              char **ret_body, size_t *ret_len, char **ret_type,
              char ret_digest[FK_DIGEST_STR_LEN], fk_error_t *err)
{
  cleanup_free char *url = xasprintf ("%s/manifests/%s", c->base, object);
  response_t r = {0};
  if (api_get (c, url, FK_MT_ACCEPT_ALL, FK_MANIFEST_MAX_SIZE, &r, err) < 0)
    {
      response_clear (&r);
      return -1;
    }
  if (r.status == 404)
    {
      /* Registries answer MANIFEST_UNKNOWN for a missing repository too: the tag list tells
         which of the two is missing. */
      cleanup_free char *tags = xasprintf ("%s/tags/list", c->base);
      response_t tr = {0};
      if (api_get (c, tags, "application/json", 1 << 20, &tr, NULL) == 0 && tr.status == 404)
        {
          cleanup_json json_t *holder = NULL;
          const char *code = registry_error_code (&tr, &holder);
          if (code != NULL && strcmp (code, "NAME_UNKNOWN") == 0)
            {
              response_clear (&r);
              r = tr;
              memset (&tr, 0, sizeof tr);
            }
        }
      response_clear (&tr);
    }
  if (r.status != 200)
    {
      http_failure (c, &r, "manifest", object, err);
      response_clear (&r);
      return -1;
    }
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_buffer (r.body ? r.body : "", r.len, got);
  const char *expect = want_digest ? want_digest : r.docker_digest;
  if (expect != NULL && strncmp (expect, "sha256:", 7) == 0 && strcmp (expect, got) != 0)
    {
      fk_error_set (err, EBADMSG, "digest mismatch for manifest `%s': expected `%s', content "
                                  "hashes to `%s'",
                    object, expect, got);
      response_clear (&r);
      return -1;
    }
  if (fk_store_blob_put (store, r.body ? r.body : "", r.len, got, NULL, err) < 0)
    {
      response_clear (&r);
      return -1;
    }
  memcpy (ret_digest, got, FK_DIGEST_STR_LEN);
  *ret_len = r.len;
  *ret_body = r.body ? steal_pointer (&r.body) : xstrdup ("");
  *ret_type = steal_pointer (&r.content_type);
  response_clear (&r);
  return 0;
}

/* ---- blobs, in parallel ---- */

typedef struct transfer
{
  const fk_descriptor_t *desc;
  char *tmp; /* relative to the state dir */
  int fd;
  fk_sha256_t *sha;
  uint64_t got;
  int overflow, write_error;
  CURL *h;
  struct curl_slist *hdrs;
  response_t err_body; /* the body of a non-200 answer */
  long status;
  int done;
} transfer_t;

static size_t
on_blob (char *data, size_t size, size_t nmemb, void *userdata)
{
  transfer_t *t = userdata;
  size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo (t->h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    return on_body (data, size, nmemb, &t->err_body);
  if (t->got + n > (uint64_t) t->desc->size)
    {
      t->overflow = 1;
      return 0;
    }
  fk_sha256_update (t->sha, data, n);
  if (fk_write_all (t->fd, data, n, NULL) < 0)
    {
      t->write_error = errno ? errno : EIO;
      return 0;
    }
  t->got += n;
  return n;
}

typedef struct progress
{
  int on, drawn;
  struct timespec last;
} progress_t;

static void
draw_progress (progress_t *p, transfer_t *ts, size_t n, int force)
{
  if (!p->on)
    return;
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
  if (!force && p->drawn && ms < 100)
    return;
  p->last = now;
  if (p->drawn)
    fprintf (stderr, "\033[%zuA", n);
  for (size_t i = 0; i < n; i++)
    {
      double total = (double) ts[i].desc->size, got = (double) ts[i].got;
      int width = 30, fill = total > 0 ? (int) (width * got / total) : width;
      if (fill > width)
        fill = width;
      fprintf (stderr, "\r\033[K%.19s [", ts[i].desc->digest);
      for (int k = 0; k < width; k++)
        fputc (k < fill ? '#' : ' ', stderr);
      fprintf (stderr, "] %7.1f/%.1f MB%s\n", got / 1e6, total / 1e6,
               ts[i].done ? " done" : "");
    }
  p->drawn = 1;
  fflush (stderr);
}

static void
transfer_clear (fk_store_t *store, transfer_t *t)
{
  if (t->h)
    curl_easy_cleanup (t->h);
  curl_slist_free_all (t->hdrs);
  if (t->sha)
    fk_sha256_free (t->sha);
  close_and_reset (t->fd);
  if (t->tmp)
    unlinkat (store->dirfd, t->tmp, 0);
  free (t->tmp);
  response_clear (&t->err_body);
  memset (t, 0, sizeof *t);
  t->fd = -1;
}

static int
start_transfer (client_t *c, fk_store_t *store, CURLM *multi, transfer_t *t, fk_error_t *err)
{
  if (fk_store_tmp_file (store, &t->tmp, err) < 0)
    return -1;
  t->fd = openat (store->dirfd, t->tmp, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (t->fd < 0)
    return fk_error_set_errno (err, "open `%s/%s'", store->dir, t->tmp);
  t->sha = fk_sha256_new ();
  t->h = curl_easy_init ();
  if (t->h == NULL)
    return fk_error_set (err, ENOMEM, "curl_easy_init failed");
  cleanup_free char *url = xasprintf ("%s/blobs/%s", c->base, t->desc->digest);
  if (c->auth_hdr)
    t->hdrs = curl_slist_append (t->hdrs, c->auth_hdr);
  setup_easy (c, t->h, url, t->hdrs);
  /* Blobs are already compressed: no Accept-Encoding, so the byte count is the blob's. */
  curl_easy_setopt (t->h, CURLOPT_ACCEPT_ENCODING, NULL);
  t->err_body.max = MAX_ERROR_BODY;
  curl_easy_setopt (t->h, CURLOPT_WRITEFUNCTION, on_blob);
  curl_easy_setopt (t->h, CURLOPT_WRITEDATA, t);
  curl_easy_setopt (t->h, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle (multi, t->h) != CURLM_OK)
    return fk_error_set (err, EIO, "curl_multi_add_handle failed");
  return 0;
}

static int
finish_transfer (client_t *c, fk_store_t *store, transfer_t *t, CURLcode rc, fk_error_t *err)
{
  const char *digest = t->desc->digest;
  curl_easy_getinfo (t->h, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->overflow)
    return fk_error_set (err, EBADMSG, "size mismatch for blob `%s': the registry sent more than "
                                       "the %lld bytes the manifest says",
                         digest, (long long) t->desc->size);
  if (t->write_error)
    return fk_error_set (err, t->write_error, "write blob `%s': %s", digest,
                         strerror (t->write_error));
  if (rc != CURLE_OK && t->status == 200)
    return curl_failure (c, rc, digest, err);
  if (rc != CURLE_OK && t->status == 0)
    return curl_failure (c, rc, digest, err);
  if (t->status != 200)
    return http_failure (c, &t->err_body, "blob", digest, err);
  if (t->got != (uint64_t) t->desc->size)
    return fk_error_set (err, EBADMSG, "size mismatch for blob `%s': expected %lld bytes, got "
                                       "%llu",
                         digest, (long long) t->desc->size, (unsigned long long) t->got);
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_final (t->sha, got);
  fk_sha256_free (t->sha);
  t->sha = NULL;
  if (strcmp (got, digest) != 0)
    return fk_error_set (err, EBADMSG, "digest mismatch for blob `%s': the registry sent content "
                                       "that hashes to `%s'",
                         digest, got);
  if (fsync (t->fd) < 0)
    return fk_error_set_errno (err, "fsync blob `%s'", digest);
  t->fd = close_and_reset (t->fd);
  cleanup_free char *tmp = steal_pointer (&t->tmp);
  return fk_store_blob_commit (store, tmp, digest, t->desc->size, 1, err);
}

static int
fetch_blobs (client_t *c, fk_store_t *store, const fk_descriptor_t **descs, size_t n,
             const fk_pull_opts_t *opts, fk_error_t *err)
{
  if (n == 0)
    return 0;
  CURLM *multi = curl_multi_init ();
  if (multi == NULL)
    return fk_error_set (err, ENOMEM, "curl_multi_init failed");
  transfer_t *ts = xcalloc (n, sizeof *ts);
  for (size_t i = 0; i < n; i++)
    {
      ts[i].fd = -1;
      ts[i].desc = descs[i];
    }
  size_t parallel = opts && opts->parallel > 0 ? (size_t) opts->parallel : DEFAULT_PARALLEL;
  progress_t prog = {0};
  prog.on = opts && opts->progress >= 0 ? opts->progress : isatty (STDERR_FILENO);
  size_t next = 0, finished = 0;
  int running = 0, ret = 0;
  while (finished < n && ret == 0)
    {
      while (next < n && next - finished < parallel && ret == 0)
        ret = start_transfer (c, store, multi, &ts[next++], err);
      if (ret < 0)
        break;
      if (curl_multi_perform (multi, &running) != CURLM_OK)
        {
          ret = fk_error_set (err, EIO, "curl_multi_perform failed");
          break;
        }
      CURLMsg *m;
      int left;
      while ((m = curl_multi_info_read (multi, &left)) != NULL)
        {
          if (m->msg != CURLMSG_DONE)
            continue;
          transfer_t *t = NULL;
          curl_easy_getinfo (m->easy_handle, CURLINFO_PRIVATE, (char **) &t);
          CURLcode rc = m->data.result;
          curl_multi_remove_handle (multi, t->h);
          if (ret == 0 && finish_transfer (c, store, t, rc, err) < 0)
            ret = -1;
          t->done = 1;
          finished++;
        }
      draw_progress (&prog, ts, next, 0);
      if (ret == 0 && finished < n)
        curl_multi_poll (multi, NULL, 0, 100, NULL);
    }
  draw_progress (&prog, ts, next, 1);
  for (size_t i = 0; i < n; i++)
    {
      if (ts[i].h)
        curl_multi_remove_handle (multi, ts[i].h);
      transfer_clear (store, &ts[i]);
    }
  free (ts);
  curl_multi_cleanup (multi);
  return ret;
}

/* ---- the pull ---- */

int
fk_registry_pull (fk_store_t *store, const fk_reference_t *ref, const fk_pull_opts_t *opts,
                  fk_image_t **ret, fk_error_t *err)
{
  if (ref->kind != FK_REF_REGISTRY)
    return fk_error_set (err, EINVAL, "not a registry reference");
  pthread_once (&curl_once, curl_init_once);
  client_t c = {.ref = ref};
  const char *host = fk_reference_api_host (ref);
  c.host = xstrdup (host);
  c.insecure = fk_registry_is_insecure (host);
  c.base = xasprintf ("%s://%s/v2/%s", c.insecure ? "http" : "https", host, ref->repository);
  c.basic = load_basic (ref->registry);
  c.timeout = DEFAULT_TIMEOUT_S;
  const char *t = getenv ("FIRKIN_REGISTRY_TIMEOUT");
  if (t && atol (t) > 0)
    c.timeout = atol (t);

  fk_platform_t host_platform = {0};
  const fk_platform_t *want = opts && opts->platform ? opts->platform : NULL;
  if (want == NULL)
    {
      fk_platform_host (&host_platform);
      want = &host_platform;
    }

  int rc = -1;
  cleanup_free char *body = NULL, *type = NULL;
  size_t len = 0;
  char digest[FK_DIGEST_STR_LEN];
  fk_image_t *img = xcalloc (1, sizeof *img);
  const fk_descriptor_t **descs = NULL;
  fk_index_t *idx = NULL;

  if (get_manifest (&c, store, fk_reference_object (ref), ref->digest, &body, &len, &type, digest,
                    err)
      < 0)
    goto out;
  int kind = fk_manifest_doc_kind (body, len, type, err);
  if (kind < 0)
    goto out;
  if (kind == FK_DOC_INDEX)
    {
      if (fk_index_parse (body, len, &idx, err) < 0)
        goto out;
      int i = fk_index_select (idx, want, err);
      if (i < 0)
        {
          fk_error_wrap (err, "wrong platform: `%s/%s'", ref->registry, ref->repository);
          goto out;
        }
      img->index_digest = xstrdup (digest);
      free (body);
      free (type);
      body = type = NULL;
      if (get_manifest (&c, store, idx->manifests[i].digest, idx->manifests[i].digest, &body, &len,
                        &type, digest, err)
          < 0)
        goto out;
      if (fk_manifest_doc_kind (body, len, type, err) != FK_DOC_MANIFEST)
        {
          fk_error_set (err, EINVAL, "index entry `%s' is not an image manifest",
                        idx->manifests[i].digest);
          goto out;
        }
    }
  img->manifest_digest = xstrdup (digest);
  if (fk_manifest_parse (body, len, &img->manifest, err) < 0)
    goto out;

  /* The config first (it names the diff-ids), then the layers not already in the store. */
  const fk_descriptor_t *cfg = &img->manifest->config;
  if (!fk_store_blob_has (store, cfg->digest, cfg->size)
      && fetch_blobs (&c, store, &cfg, 1, &(fk_pull_opts_t){.progress = 0}, err) < 0)
    goto out;
  {
    cleanup_free char *cbuf = NULL;
    size_t clen = 0;
    if (fk_store_blob_read (store, cfg->digest, FK_MANIFEST_MAX_SIZE, &cbuf, &clen, err) < 0
        || fk_image_config_parse (cbuf, clen, &img->config, err) < 0)
      goto out;
  }
  if (fk_image_check (img, want, err) < 0)
    goto out;

  size_t n = 0;
  descs = xcalloc (img->manifest->n_layers + 1, sizeof *descs);
  for (size_t i = 0; i < img->manifest->n_layers; i++)
    {
      const fk_descriptor_t *l = &img->manifest->layers[i];
      if (fk_store_blob_has (store, l->digest, l->size))
        continue;
      if (opts && opts->skip_unpacked && fk_store_layer_has (store, img->config->diff_ids[i]))
        continue;
      int dup = 0;
      for (size_t k = 0; k < n; k++)
        dup |= strcmp (descs[k]->digest, l->digest) == 0;
      if (!dup)
        descs[n++] = l;
    }
  if (fetch_blobs (&c, store, descs, n, opts, err) < 0)
    goto out;
  *ret = steal_pointer (&img);
  rc = 0;

out:
  free (descs);
  fk_index_free (idx);
  fk_image_free (img);
  fk_platform_clear (&host_platform);
  client_clear (&c);
  return rc;
}
