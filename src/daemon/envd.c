/* daemon/envd.c: envd, the API the SDK reaches inside a sandbox, served for every sandbox on one
   listener and routed by the E2b-Sandbox-Id header: GET /health, process.Process/Start (Connect,
   JSON, server streaming; the stream itself is envd_stream.c) and GET/POST /files, through the
   sandbox's agent; filesystem.Filesystem is envd_fs.c, the other process.Process calls
   envd_proc.c. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/controlreq.h"
#include "daemon/envd.h"
#include "daemon/envelope.h"
#include "daemon/gzip.h"
#include "daemon/metrics.h"
#include "daemon/proxy.h"
#include "daemon/server.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"

#define CONNECT_JSON "application/connect+json"
/* The most Connect-Timeout-Ms fkd takes (a day). */
#define MAX_TIMEOUT_MS (24ULL * 3600 * 1000)

size_t
fkd_envd_body_max (const char *method, const char *url)
{
  if (strcmp (method, "POST") == 0 && strcmp (url, "/process.Process/StreamInput") == 0)
    return FKD_STREAM_INPUT_MAX;
  return strcmp (method, "POST") == 0 && strcmp (url, "/files") == 0 ? FKD_UPLOAD_MAX
                                                                     : FKD_BODY_MAX;
}

void
fkd_target_clear (fkd_target_t *t)
{
  free (t->id);
  free (t->token);
  free (t->user);
}

static void
target_free (void *p)
{
  fkd_target_clear (p);
  free (p);
}

/* The user of `Authorization: Basic base64(user:)' (the SDK's, below envd 0.4.0 or when
   asked for one), or NULL. */
static char *
basic_user (const char *auth)
{
  if (auth == NULL || strncasecmp (auth, "Basic ", 6) != 0)
    return NULL;
  const char *b64 = auth + 6;
  size_t n = strlen (b64);
  if (n == 0 || n > 256 || n % 4)
    return NULL;
  unsigned char out[200];
  int len = EVP_DecodeBlock (out, (const unsigned char *)b64, (int)n);
  if (len <= 0)
    return NULL;
  out[len] = '\0';
  char *colon = strchr ((char *)out, ':');
  if (colon)
    *colon = '\0';
  size_t un = strlen ((char *)out);
  if (un == 0 || un > 32)
    return NULL;
  for (size_t i = 0; i < un; i++)
    if (!strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", out[i]))
      return NULL;
  return xstrdup ((char *)out);
}

/* What a /files request signs instead of carrying X-Access-Token (the SDK's downloadUrl and
   uploadUrl): its raw query values. */
typedef struct file_sig
{
  const char *op;         /* "read" or "write" */
  const char *path;       /* the path query value, "" when absent */
  const char *user;       /* the username query value, "" when absent */
  const char *signature;  /* NULL: none */
  const char *expiration; /* NULL: none */
} file_sig_t;

/* envd's rule for /files: X-Access-Token, when sent, must be the token; without it the request
   must carry signature = "v1_" + base64(sha256("path:op:user:token[:expiration]")) without
   padding, and an expiration (Unix seconds) not yet past. NULL when it passes, else why. */
static const char *
files_signed (const char *token, const char *want, const file_sig_t *sig)
{
  if (token != NULL)
    {
      if (strlen (token) != strlen (want) || CRYPTO_memcmp (token, want, strlen (want)) != 0)
        return "access token present in header but does not match";
      return NULL;
    }
  if (sig->signature == NULL)
    return "missing signature query parameter";
  long long exp = 0;
  if (sig->expiration)
    {
      char *end;
      errno = 0;
      exp = strtoll (sig->expiration, &end, 10);
      if (errno || end == sig->expiration || *end || sig->expiration[0] == '+'
          || sig->expiration[0] == ' ')
        return "invalid signature_expiration";
    }
  cleanup_free char *raw
      = sig->expiration ? xasprintf ("%s:%s:%s:%s:%lld", sig->path, sig->op, sig->user, want, exp)
                        : xasprintf ("%s:%s:%s:%s", sig->path, sig->op, sig->user, want);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256 ((const unsigned char *)raw, strlen (raw), md);
  OPENSSL_cleanse (raw, strlen (raw));
  char expect[3 + 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1];
  memcpy (expect, "v1_", 3);
  int n = EVP_EncodeBlock ((unsigned char *)expect + 3, md, SHA256_DIGEST_LENGTH);
  while (n > 0 && expect[3 + n - 1] == '=')
    n--;
  expect[3 + n] = '\0';
  size_t elen = strlen (expect);
  if (strlen (sig->signature) != elen || CRYPTO_memcmp (sig->signature, expect, elen) != 0)
    return "invalid signature";
  if (sig->expiration && exp < (long long)time (NULL))
    return "signature is already expired";
  return NULL;
}

/* Opens the target's sandbox and checks its token (or, with sig, the /files rule above):
   *ret_socket is its agent's socket. On failure *ret_status is the HTTP status to answer (502
   unknown or stopped, as the hosted proxy does and the SDK expects; 401 bad token or signature)
   and err says why. */
/* A container fk-oci made (--oci-root): it has no token of its own, so the API key is its
   access token when fkd has one (and what /files signatures are made with). */
static int
resolve_oci (fkd_server_t *srv, const fkd_target_t *t, int check_token, const file_sig_t *sig,
             char **ret_socket, unsigned *ret_status, fk_error_t *err)
{
  const char *want = srv->api_key;
  const char *why = sig && want ? files_signed (t->token, want, sig) : NULL;
  if (why)
    {
      *ret_status = MHD_HTTP_UNAUTHORIZED;
      return fk_error_set (err, EACCES, "%s", why);
    }
  if (check_token && !sig && want
      && (t->token == NULL || strlen (t->token) != strlen (want)
          || CRYPTO_memcmp (t->token, want, strlen (want)) != 0))
    {
      *ret_status = MHD_HTTP_UNAUTHORIZED;
      return fk_error_set (err, EACCES, "invalid or missing X-Access-Token");
    }
  if (fk_oci_agent_socket (srv->oci_root, t->id, ret_socket, err) < 0)
    {
      if (err->code == ENOENT)
        {
          fk_error_clear (err);
          fk_error_set (err, ENOENT, "sandbox %s not found", t->id);
        }
      return -1;
    }
  return 0;
}

static int
resolve (fkd_server_t *srv, const fkd_target_t *t, int check_token, const file_sig_t *sig,
         char **ret_socket, unsigned *ret_status, fk_error_t *err)
{
  fk_sandbox_t *sb = NULL;
  fk_sandbox_info_t *info = NULL;
  int ret = -1;
  *ret_status = MHD_HTTP_BAD_GATEWAY;
  if (fk_sandbox_open (srv->rt, t->id, &sb, err) < 0 || fk_sandbox_inspect (sb, &info, err) < 0)
    {
      if (err->code == ENOENT && srv->oci_root)
        {
          fk_error_clear (err);
          ret = resolve_oci (srv, t, check_token, sig, ret_socket, ret_status, err);
          goto out;
        }
      if (err->code == ENOENT)
        {
          fk_error_clear (err);
          fk_error_set (err, ENOENT, "sandbox %s not found", t->id);
        }
      else
        fk_error_wrap (err, "sandbox %s", t->id);
      goto out;
    }
  /* One waiting in the warm pool is nobody's yet (and has no token to check). */
  if (fkd_meta_get (info->metadata, FKD_META_POOL))
    {
      fk_error_set (err, ENOENT, "sandbox %s not found", t->id);
      goto out;
    }
  if (info->status != FK_SANDBOX_RUNNING || info->socket_path == NULL)
    {
      fk_error_set (err, ESRCH, "sandbox %s is %s", t->id, fk_sandbox_status_name (info->status));
      goto out;
    }
  const char *want = fkd_meta_get (info->metadata, FKD_META_TOKEN);
  const char *why = sig && want ? files_signed (t->token, want, sig) : NULL;
  if (why)
    {
      *ret_status = MHD_HTTP_UNAUTHORIZED;
      fk_error_set (err, EACCES, "%s", why);
      goto out;
    }
  if (check_token && !sig && want
      && (t->token == NULL || strlen (t->token) != strlen (want)
          || CRYPTO_memcmp (t->token, want, strlen (want)) != 0))
    {
      *ret_status = MHD_HTTP_UNAUTHORIZED;
      fk_error_set (err, EACCES, "invalid or missing X-Access-Token");
      goto out;
    }
  *ret_socket = xstrdup (info->socket_path);
  ret = 0;
out:
  fk_sandbox_info_free (info);
  fk_sandbox_free (sb);
  return ret;
}

/* fkd_envd_open_agent with the /files rule (sig) instead of the token's. */
static int
open_agent (fkd_server_t *srv, const fkd_target_t *t, const file_sig_t *sig, fk_client_t **ret_c,
            unsigned *ret_status, fk_error_t *err)
{
  cleanup_free char *sock = NULL;
  if (resolve (srv, t, 1, sig, &sock, ret_status, err) < 0)
    return -1;
  if (fk_client_connect (sock, ret_c, err) < 0)
    {
      *ret_status = MHD_HTTP_BAD_GATEWAY;
      return fk_error_wrap (err, "sandbox %s", t->id);
    }
  return 0;
}

int
fkd_envd_open_agent (fkd_server_t *srv, const fkd_target_t *t, fk_client_t **ret_c,
                     unsigned *ret_status, fk_error_t *err)
{
  return open_agent (srv, t, NULL, ret_c, ret_status, err);
}

/* fkd_envd_connect_agent with the /files rule (sig) instead of the token's. */
static int
connect_agent (fkd_req_t *r, const fkd_target_t *t, const file_sig_t *sig, fk_client_t **ret_c)
{
  fk_error_t err = FK_ERROR_INIT;
  unsigned status;
  if (open_agent (r->srv, t, sig, ret_c, &status, &err) < 0)
    {
      fkd_reply_error (r, status, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

int
fkd_envd_connect_agent (fkd_req_t *r, const fkd_target_t *t, fk_client_t **ret_c)
{
  return connect_agent (r, t, NULL, ret_c);
}

unsigned
fkd_envd_file_status (int code)
{
  switch (code)
    {
    case ENOENT:
      return MHD_HTTP_NOT_FOUND;
    case EISDIR:
    case ENOTDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV:
      return MHD_HTTP_BAD_REQUEST;
    case EACCES:
    case EPERM:
      return MHD_HTTP_FORBIDDEN;
    case ENOSPC:
    case EDQUOT:
      return MHD_HTTP_INSUFFICIENT_STORAGE;
    case EFBIG:
      return MHD_HTTP_CONTENT_TOO_LARGE;
    default:
      return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* ---- /health ---- */

static void
health_job (fkd_req_t *r, void *data)
{
  cleanup_free char *sock = NULL;
  fk_error_t err = FK_ERROR_INIT;
  unsigned status;
  if (resolve (r->srv, data, 0, NULL, &sock, &status, &err) == 0)
    fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
  else
    fkd_reply_error (r, status, "%s", fk_error_message (&err));
  fk_error_clear (&err);
}

/* ---- GET /envs: the environment the sandbox's processes start with ---- */

static void
envs_job (fkd_req_t *r, void *data)
{
  const fkd_target_t *t = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, t, &c) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  char **env = NULL;
  if (fk_client_get_env (c, &env, &err) < 0)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_GATEWAY, "sandbox %s: %s", t->id, fk_error_message (&err));
      fk_error_clear (&err);
      fk_client_close (c);
      return;
    }
  fk_client_close (c);
  json_t *j = json_object ();
  for (char **e = env; *e; e++)
    {
      char *eq = strchr (*e, '=');
      *eq = '\0';
      /* jansson takes UTF-8 only: a variable that is not is left out. */
      json_t *v = json_string (eq + 1);
      if (v != NULL)
        json_object_set_new (j, *e, v);
    }
  fk_strv_free (env);
  fkd_reply_json (r, MHD_HTTP_OK, j);
}

/* ---- GET /metrics: the sandbox's usage (daemon/metrics.c), envd's shape ---- */

static void
metrics_job (fkd_req_t *r, void *data)
{
  const fkd_target_t *t = data;
  cleanup_free char *sock = NULL;
  fk_error_t err = FK_ERROR_INIT;
  unsigned status;
  if (resolve (r->srv, t, 1, NULL, &sock, &status, &err) < 0)
    {
      fkd_reply_error (r, status, "%s", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  fkd_metric_t m;
  char *ids[] = { t->id, NULL };
  fkd_metrics_sample (r->srv->rt, ids, 1, &m);
  if (!m.ok)
    fkd_reply_error (r, MHD_HTTP_BAD_GATEWAY, "sandbox %s is not running", t->id);
  else
    fkd_reply_json (r, MHD_HTTP_OK, fkd_metric_envd_json (&m));
}

/* ---- GET /files ---- */

typedef struct file_req
{
  fkd_target_t t;
  char *path;
  char *user;                /* ?username= (NULL: the sandbox's default user) */
  char *signature, *sig_exp; /* ?signature=, ?signature_expiration= */
  int gzip;                  /* GET: answer gzip; POST octet-stream: the body is gzip */
  /* POST: the files, from the body (octet-stream: one, multipart: each part `file'). */
  struct part
  {
    char *path;
    char *data;
    size_t len;
  } * parts;
  size_t n;
} file_req_t;

static void
file_req_free (void *p)
{
  file_req_t *f = p;
  fkd_target_clear (&f->t);
  free (f->path);
  free (f->user);
  free (f->signature);
  free (f->sig_exp);
  for (size_t i = 0; i < f->n; i++)
    {
      free (f->parts[i].path);
      free (f->parts[i].data);
    }
  free (f->parts);
  free (f);
}

/* Connects as the /files rule allows and resolves the request's user; *ret_path is path as the
   user means it. Replies (401 for an unknown user, as envd) and returns -1 on failure. */
static int
file_connect (fkd_req_t *r, file_req_t *f, const char *op, const char *path, fk_client_t **ret_c,
              char **ret_path)
{
  file_sig_t sig = { .op = op,
                     .path = f->path ? f->path : "",
                     .user = f->user ? f->user : "",
                     .signature = f->signature,
                     .expiration = f->sig_exp };
  fk_client_t *c = NULL;
  if (connect_agent (r, &f->t, &sig, &c) < 0)
    return -1;
  fk_error_t err = FK_ERROR_INIT;
  int rc = fkd_envd_as_user (c, f->user, path, ret_path, &err);
  if (rc < 0)
    {
      fkd_reply_error (r, rc == -2 ? MHD_HTTP_UNAUTHORIZED : fkd_envd_file_status (err.code), "%s",
                       fk_error_message (&err));
      fk_error_clear (&err);
      fk_client_close (c);
      return -1;
    }
  *ret_c = c;
  return 0;
}

static void
file_get_job (fkd_req_t *r, void *data)
{
  file_req_t *f = data;
  fk_client_t *c = NULL;
  cleanup_free char *path = NULL;
  if (file_connect (r, f, "read", f->path, &c, &path) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  fk_file_stat_t st;
  cleanup_close int fd = -1;
  if (fk_client_file_stat (c, path, &st, &err) < 0)
    goto fail;
  if (st.type == FK_FILE_TYPE_DIR)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "path '%s' is a directory", path);
      goto out;
    }
  fd = memfd_create ("fkd-file", MFD_CLOEXEC);
  if (fd < 0)
    {
      fk_error_set_errno (&err, "memfd_create");
      goto fail;
    }
  if (fk_client_file_read_fd_stat (c, path, &st, fd, &err) < 0)
    goto fail;
  if (lseek (fd, 0, SEEK_SET) < 0)
    {
      fk_error_set_errno (&err, "the copy of `%s'", path);
      goto fail;
    }
  if (f->gzip)
    {
      cleanup_close int gz = memfd_create ("fkd-file-gz", MFD_CLOEXEC);
      if (gz < 0)
        {
          fk_error_set_errno (&err, "memfd_create");
          goto fail;
        }
      int worth = 0;
      if (fkd_gzip_fd (fd, gz, &worth, &err) < 0)
        goto fail;
      if (!worth)
        f->gzip = 0; /* sent as it is */
      else
        {
          if (lseek (gz, 0, SEEK_SET) < 0)
            {
              fk_error_set_errno (&err, "the compressed copy of `%s'", path);
              goto fail;
            }
          close (fd);
          fd = steal_fd (&gz);
        }
    }
  struct stat fst;
  if (fstat (fd, &fst) < 0)
    {
      fk_error_set_errno (&err, "the copy of `%s'", path);
      goto fail;
    }
  struct MHD_Response *resp = MHD_create_response_from_fd ((uint64_t)fst.st_size, fd);
  if (resp == NULL)
    {
      fkd_reply_error (r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot answer with the file");
      goto out;
    }
  fd = -1; /* the response owns it */
  MHD_add_response_header (resp, "Content-Type", "application/octet-stream");
  MHD_add_response_header (resp, "Vary", "Accept-Encoding");
  if (f->gzip)
    MHD_add_response_header (resp, "Content-Encoding", "gzip");
  fkd_reply (r, MHD_HTTP_OK, resp);
  goto out;
fail:
  fkd_reply_error (r, fkd_envd_file_status (err.code), "%s", fk_error_message (&err));
out:
  fk_error_clear (&err);
  fk_client_close (c);
}

/* ---- POST /files ---- */

static void
file_post_job (fkd_req_t *r, void *data)
{
  file_req_t *f = data;
  fk_client_t *c = NULL;
  cleanup_free char *first = NULL;
  if (file_connect (r, f, "write", f->parts[0].path, &c, &first) < 0)
    return;
  fk_error_t err = FK_ERROR_INIT;
  json_t *out = json_array ();
  if (f->gzip)
    {
      /* Bounded: a body that inflates past the upload limit is refused, not held. */
      char *plain = NULL;
      size_t plen = 0;
      if (fkd_gunzip (f->parts[0].data, f->parts[0].len, FKD_UPLOAD_MAX, &plain, &plen, &err) < 0)
        {
          fkd_reply_error (r, err.code == EFBIG ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST,
                           "%s", fk_error_message (&err));
          json_decref (out);
          goto out;
        }
      free (f->parts[0].data);
      f->parts[0].data = plain;
      f->parts[0].len = plen;
    }
  for (size_t i = 0; i < f->n; i++)
    {
      cleanup_free char *path = NULL;
      if (i == 0)
        path = steal_pointer (&first);
      else if (fkd_envd_as_user (c, f->user, f->parts[i].path, &path, &err) < 0)
        {
          fkd_reply_error (r, fkd_envd_file_status (err.code), "%s", fk_error_message (&err));
          json_decref (out);
          goto out;
        }
      if (fk_client_file_write (c, path, f->parts[i].data, f->parts[i].len, 0644, FK_FILE_PARENTS,
                                &err)
          < 0)
        {
          fkd_reply_error (r, fkd_envd_file_status (err.code), "%s", fk_error_message (&err));
          json_decref (out);
          goto out;
        }
      cleanup_free char *copy = xstrdup (path);
      json_t *jp = json_string (path);
      json_t *jn = json_string (basename (copy));
      if (jp && jn)
        json_array_append_new (
            out, json_pack ("{s:o, s:o, s:s}", "path", jp, "name", jn, "type", "file"));
      else
        {
          json_decref (jp);
          json_decref (jn);
        }
    }
  fkd_reply_json (r, MHD_HTTP_OK, out);
out:
  fk_error_clear (&err);
  fk_client_close (c);
}

typedef struct multipart
{
  file_req_t *f;
  int bad;
} multipart_t;

static enum MHD_Result
multipart_part (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                const char *content_type, const char *transfer_encoding, const char *data,
                uint64_t off, size_t size)
{
  multipart_t *m = cls;
  file_req_t *f = m->f;
  if (key == NULL || strcmp (key, "file") != 0)
    return MHD_YES;
  if (off == 0)
    {
      const char *path = f->path && f->n == 0 ? f->path : filename;
      if (path == NULL || path[0] == '\0')
        {
          m->bad = 1;
          return MHD_NO;
        }
      f->parts = xrealloc (f->parts, (f->n + 1) * sizeof *f->parts);
      f->parts[f->n++] = (struct part){ .path = xstrdup (path) };
    }
  if (f->n == 0)
    return MHD_NO;
  struct part *p = &f->parts[f->n - 1];
  if (size)
    {
      p->data = xrealloc (p->data, p->len + size);
      memcpy (p->data + p->len, data, size);
      p->len += size;
    }
  return MHD_YES;
}

static void
route_file_post (fkd_req_t *r, file_req_t *f)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  const char *ce = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Encoding");
  if (ce && strcasecmp (ce, "gzip") == 0)
    f->gzip = 1;
  else if (ce && ce[0] && strcasecmp (ce, "identity") != 0)
    {
      file_req_free (f);
      fkd_reply_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                       "Content-Encoding %s is not supported (gzip is)", ce);
      return;
    }
  if (ct && strncasecmp (ct, "application/octet-stream", 24) == 0)
    {
      if (f->path == NULL)
        {
          file_req_free (f);
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "an octet-stream upload needs ?path=");
          return;
        }
      f->parts = xcalloc (1, sizeof *f->parts);
      f->parts[0] = (struct part){ .path = xstrdup (f->path),
                                   .data = steal_pointer (&r->body),
                                   .len = r->len };
      f->n = 1;
      fkd_run_job (r, file_post_job, f, file_req_free);
      return;
    }
  if (ct && strncasecmp (ct, "multipart/form-data", 19) == 0)
    {
      if (f->gzip)
        {
          /* The parts are in the compressed body: inflated here (bounded) before they are
             parsed. */
          fk_error_t err = FK_ERROR_INIT;
          char *plain = NULL;
          size_t plen = 0;
          if (fkd_gunzip (r->body ? r->body : "", r->len, FKD_UPLOAD_MAX, &plain, &plen, &err) < 0)
            {
              file_req_free (f);
              fkd_reply_error (
                  r, err.code == EFBIG ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_BAD_REQUEST, "%s",
                  fk_error_message (&err));
              fk_error_clear (&err);
              return;
            }
          free (r->body);
          r->body = plain;
          r->len = plen;
          f->gzip = 0;
        }
      multipart_t m = { .f = f };
      struct MHD_PostProcessor *pp
          = MHD_create_post_processor (r->conn, 64u << 10, multipart_part, &m);
      enum MHD_Result ok = MHD_NO;
      if (pp)
        {
          ok = r->len ? MHD_post_process (pp, r->body, r->len) : MHD_YES;
          if (MHD_destroy_post_processor (pp) != MHD_YES)
            ok = MHD_NO;
        }
      if (ok != MHD_YES || m.bad || f->n == 0)
        {
          file_req_free (f);
          fkd_reply_error (r, MHD_HTTP_BAD_REQUEST,
                           "a multipart upload needs parts named `file' with a path");
          return;
        }
      fkd_run_job (r, file_post_job, f, file_req_free);
      return;
    }
  file_req_free (f);
  fkd_reply_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   "the body must be multipart/form-data or application/octet-stream");
}

/* ---- process.Process/Start ---- */

typedef struct start_req
{
  fkd_target_t t;
  fkd_start_req_t *sr;
  uint64_t timeout_ms;
  unsigned keepalive_s;
} start_req_t;

static void
start_req_free (void *p)
{
  start_req_t *s = p;
  fkd_target_clear (&s->t);
  fkd_start_req_free (s->sr);
  free (s);
}

static void
start_job (fkd_req_t *r, void *data)
{
  start_req_t *s = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &s->t, &c) < 0)
    return;
  fk_exec_opts_t o = FK_EXEC_OPTIONS_INIT;
  o.argv = s->sr->argv;
  o.env = s->sr->env;
  o.cwd = s->sr->cwd;
  o.user = s->t.user;
  /* A terminal is always open for input (closing it would type the EOF character). */
  o.stdin_mode = s->sr->stdin_open || s->sr->pty ? FK_STDIN_STREAM : FK_STDIN_CLOSED;
  o.timeout_ms = s->timeout_ms;
  o.tag = s->sr->tag;
  o.pty = s->sr->pty;
  o.rows = s->sr->rows;
  o.cols = s->sr->cols;
  /* envd runs a process apart from the request that started it: a client that goes away does
     not end it (the SDK's background commands rely on that); Connect-Timeout-Ms still does. */
  o.keep = 1;
  fk_error_t err = FK_ERROR_INIT;
  fk_proc_t *p = NULL;
  if (fk_client_exec_start (c, &o, &p, &err) < 0)
    {
      const char *code = err.code == ENOENT || err.code == EINVAL || err.code == ENOTDIR
                             ? "invalid_argument"
                             : "internal";
      fkd_envd_stream_error (r, code, fk_error_message (&err));
      fk_error_clear (&err);
      fk_client_close (c);
      return;
    }

  fkd_envd_stream_proc (r, c, p, s->keepalive_s, s->t.id, s->sr->tag, s->sr->pty);
}

void
fkd_envd_connect_error (fkd_req_t *r, unsigned status, const char *code, const char *msg)
{
  cleanup_free char *m = xstrdup (msg);
  fkd_utf8_sanitize (m);
  fkd_reply_json (r, status, json_pack ("{s:s, s:s}", "code", code, "message", m));
}

void
fkd_envd_connect_fail (fkd_req_t *r, const fk_error_t *err)
{
  /* Connect's codes and the HTTP statuses its protocol pairs them with. */
  const char *code;
  unsigned status;
  switch (err->code)
    {
    case ENOENT:
    case ESRCH:
      code = "not_found", status = MHD_HTTP_NOT_FOUND;
      break;
    case EEXIST:
      code = "already_exists", status = MHD_HTTP_CONFLICT;
      break;
    case EISDIR:
    case ENOTDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV:
      code = "invalid_argument", status = MHD_HTTP_BAD_REQUEST;
      break;
    case ENOTEMPTY:
    case EBUSY:
    case EPIPE:
      code = "failed_precondition", status = MHD_HTTP_BAD_REQUEST;
      break;
    case EACCES:
    case EPERM:
      code = "permission_denied", status = MHD_HTTP_FORBIDDEN;
      break;
    case ENOSPC:
    case EDQUOT:
    case ENOBUFS:
      code = "resource_exhausted", status = MHD_HTTP_TOO_MANY_REQUESTS;
      break;
    case ETIMEDOUT:
      code = "deadline_exceeded", status = MHD_HTTP_GATEWAY_TIMEOUT;
      break;
    default:
      code = "internal", status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
  fkd_envd_connect_error (r, status, code, fk_error_message (err));
}

void
fkd_envd_connect_reply (fkd_req_t *r, json_t *j)
{
  fkd_reply_json (r, MHD_HTTP_OK, j);
}

int
fkd_envd_json_body (fkd_req_t *r, const char *service)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct && strncasecmp (ct, "application/json", 16) == 0 && (ct[16] == '\0' || ct[16] == ';'))
    return 0;
  char msg[128];
  snprintf (msg, sizeof msg, "%s's unary calls take application/json", service);
  fkd_envd_connect_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unknown", msg);
  return -1;
}

unsigned
fkd_envd_keepalive (fkd_req_t *r)
{
  const char *ka
      = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Keepalive-Ping-Interval");
  if (ka == NULL)
    return 0;
  unsigned long v = strtoul (ka, NULL, 10);
  return v > 3600 ? 3600 : (unsigned)v;
}

static void
route_start (fkd_req_t *r, fkd_target_t *t)
{
  const char *ct = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Content-Type");
  if (ct == NULL || strcasecmp (ct, CONNECT_JSON) != 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unknown",
                              "process.Process/Start takes " CONNECT_JSON);
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  unsigned flags;
  const char *msg;
  size_t len;
  fkd_start_req_t *sr = NULL;
  if (fkd_envelope_parse (r->body ? r->body : "", r->len, FKD_ENVELOPE_MAX, &flags, &msg, &len,
                          &err)
          < 0
      || fkd_start_req_parse (msg, len, &sr, &err) < 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  start_req_t *s = xcalloc (1, sizeof *s);
  s->t = *t;
  s->sr = sr;
  /* No Connect-Timeout-Ms is no deadline (Connect's rule, and envd's): the Python SDK sends
     none for timeout=0, the JS SDK sends 0. */
  s->timeout_ms = 0;
  const char *tm = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Connect-Timeout-Ms");
  if (tm)
    {
      char *end;
      errno = 0;
      unsigned long long v = strtoull (tm, &end, 10);
      if (errno || end == tm || *end || tm[0] == '-' || v > MAX_TIMEOUT_MS)
        {
          start_req_free (s);
          fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument",
                                  "Connect-Timeout-Ms is not a number of milliseconds");
          return;
        }
      s->timeout_ms = v;
    }
  s->keepalive_s = fkd_envd_keepalive (r);
  fkd_run_job (r, start_job, s, start_req_free);
}

/* ---- routing ---- */

void
fkd_envd_route (fkd_req_t *r, const char *method, const char *url)
{
  fkd_target_t t = { 0 };
  t.id = fkd_header (r, "E2b-Sandbox-Id");
  unsigned host_port;
  char *host_id;
  /* A Host `49983-{id}.{domain}' names the sandbox as E2b-Sandbox-Id does. */
  if (fkd_proxy_match (r, &host_port, &host_id))
    {
      if (t.id == NULL && host_port == FKD_ENVD_PORT)
        t.id = host_id;
      else
        free (host_id);
    }
  int get = strcmp (method, "GET") == 0, post = strcmp (method, "POST") == 0;
  if (strcmp (url, "/health") == 0 && get && t.id == NULL)
    {
      fkd_reply_empty (r, MHD_HTTP_NO_CONTENT);
      return;
    }
  if (t.id == NULL)
    {
      fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "the E2b-Sandbox-Id header is missing");
      return;
    }
  if (!fkd_sandbox_id_valid (t.id))
    {
      fkd_reply_error (r, MHD_HTTP_BAD_GATEWAY, "sandbox not found");
      fkd_target_clear (&t);
      return;
    }
  t.token = fkd_header (r, "X-Access-Token");
  t.user = basic_user (MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Authorization"));

  if (strcmp (url, "/health") == 0 && get)
    {
      fkd_target_t *h = xmalloc (sizeof *h);
      *h = t;
      fkd_run_job (r, health_job, h, target_free);
      return;
    }
  if (strcmp (url, "/envs") == 0 && get)
    {
      fkd_target_t *h = xmalloc (sizeof *h);
      *h = t;
      fkd_run_job (r, envs_job, h, target_free);
      return;
    }
  if (strcmp (url, "/metrics") == 0 && get)
    {
      fkd_target_t *h = xmalloc (sizeof *h);
      *h = t;
      fkd_run_job (r, metrics_job, h, target_free);
      return;
    }
  if (strcmp (url, "/process.Process/Start") == 0 && post)
    {
      route_start (r, &t);
      return;
    }
  if (strcmp (url, "/process.Process/StreamInput") == 0 && post)
    {
      fkd_envd_input_route (r, &t);
      return;
    }
  if (strcmp (url, "/files") == 0 && (get || post))
    {
      file_req_t *f = xcalloc (1, sizeof *f);
      f->t = t;
      f->path = fkd_arg (r, "path");
      if (f->path && f->path[0] == '\0')
        f->path = (free (f->path), NULL);
      /* envd takes the user of /files from the query only. */
      f->user = fkd_arg (r, "username");
      if (f->user && f->user[0] == '\0')
        f->user = (free (f->user), NULL);
      f->signature = fkd_arg (r, "signature");
      f->sig_exp = fkd_arg (r, "signature_expiration");
      if (get)
        {
          f->gzip = fkd_accepts_gzip (
              MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND, "Accept-Encoding"));
          if (f->path == NULL)
            {
              file_req_free (f);
              fkd_reply_error (r, MHD_HTTP_BAD_REQUEST, "GET /files needs ?path=");
              return;
            }
          fkd_run_job (r, file_get_job, f, file_req_free);
        }
      else
        route_file_post (r, f);
      return;
    }
  if (post && strncmp (url, "/filesystem.Filesystem/", 23) == 0
      && fkd_envd_fs_route (r, &t, url + 23) == 0)
    return;
  if (post && strncmp (url, "/process.Process/", 17) == 0
      && fkd_envd_proc_route (r, &t, url + 17) == 0)
    return;
  fkd_target_clear (&t);
  if (strncmp (url, "/process.", 9) == 0 || strncmp (url, "/filesystem.", 12) == 0)
    fkd_envd_connect_error (r, MHD_HTTP_NOT_FOUND, "unimplemented",
                            "this envd method is not served by this fkd yet");
  else
    fkd_reply_error (r, MHD_HTTP_NOT_FOUND, "%s %s is not served by this fkd", method, url);
}
