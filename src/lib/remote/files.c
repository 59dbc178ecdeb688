/* remote/files.c: files through envd: filesystem.Filesystem/Stat, GET /files into an fd (bounded
   by the size Stat gave), POST /files as application/octet-stream from an fd. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "remote/http.h"
#include "remote/parse.h"

/* A path as a query argument. */
static char *
path_query (const char *path)
{
  char *esc = curl_easy_escape (NULL, path, 0);
  char *q = xasprintf ("path=%s", esc ? esc : "");
  curl_free (esc);
  return q;
}

/* A failed envd call: fkd's message (the library's, as the agent saw it) with the errno its
   status stands for. */
static int
envd_failure (const fk_remote_t *r, const char *what, const char *path,
              const fk_remote_resp_t *resp, fk_error_t *err)
{
  cleanup_free char *code = NULL;
  cleanup_free char *msg = fk_remote_parse_error (resp->body ? resp->body : "", resp->len, &code);
  int e;
  switch (resp->status)
    {
    case 404:
      e = ENOENT;
      break;
    case 400:
      e = EINVAL;
      break;
    case 403:
      e = EACCES;
      break;
    case 409:
      e = EEXIST;
      break;
    case 413:
      e = EFBIG;
      break;
    case 507:
      e = ENOSPC;
      break;
    case 401:
      return fk_error_set (err, EACCES, "fkd at %s refused the sandbox's access token (%s)",
                           r->envd_url, msg ? msg : "401");
    case 502:
      return fk_error_set (err, ESRCH, "%s", msg ? msg : "the sandbox is not running");
    default:
      e = EIO;
    }
  if (msg)
    return fk_error_set (err, e, "%s", msg);
  return fk_error_set (err, e, "fkd: %s `%s': HTTP %ld", what, path, resp->status);
}

int
fk_remote_file_stat (fk_remote_t *r, const char *id, const char *path, fk_file_stat_t *ret,
                     fk_error_t *err)
{
  struct curl_slist *hdrs = NULL;
  if (fk_remote_envd_headers (r, id, "application/json", &hdrs, err) < 0)
    return -1;
  cleanup_json json_t *j = json_pack ("{s:s}", "path", path);
  cleanup_free char *body = j ? json_dumps (j, JSON_COMPACT) : NULL;
  if (body == NULL)
    {
      curl_slist_free_all (hdrs);
      return fk_error_set (err, EINVAL, "the path is not UTF-8");
    }
  cleanup_free char *url = xasprintf ("%s/filesystem.Filesystem/Stat", r->envd_url);
  fk_remote_req_t req = FK_REMOTE_REQ_INIT;
  req.method = "POST";
  req.url = url;
  req.headers = hdrs;
  req.body = body;
  req.body_len = strlen (body);
  fk_remote_resp_t resp = { 0 };
  int rc = fk_remote_perform (r, &req, &resp, err);
  curl_slist_free_all (hdrs);
  if (rc == 0)
    rc = resp.status == 200 ? fk_remote_parse_entry (resp.body ? resp.body : "", resp.len, ret, err)
                            : envd_failure (r, "stat", path, &resp, err);
  fk_remote_resp_clear (&resp);
  return rc;
}

int
fk_remote_file_read_fd (fk_remote_t *r, const char *id, const char *path, const fk_file_stat_t *st,
                        int fd, fk_error_t *err)
{
  struct curl_slist *hdrs = NULL;
  if (fk_remote_envd_headers (r, id, NULL, &hdrs, err) < 0)
    return -1;
  cleanup_free char *q = path_query (path);
  cleanup_free char *url = xasprintf ("%s/files?%s", r->envd_url, q);
  fk_remote_req_t req = FK_REMOTE_REQ_INIT;
  req.method = "GET";
  req.url = url;
  req.headers = hdrs;
  req.out_fd = fd;
  req.out_max = st && st->type == FK_FILE_TYPE_FILE ? st->size : FK_REMOTE_MAX_UNSIZED_READ;
  fk_remote_resp_t resp = { 0 };
  int rc = fk_remote_perform (r, &req, &resp, err);
  curl_slist_free_all (hdrs);
  if (rc == 0 && resp.status != 200)
    rc = envd_failure (r, "read", path, &resp, err);
  fk_remote_resp_clear (&resp);
  return rc;
}

int
fk_remote_file_write_fd (fk_remote_t *r, const char *id, const char *path, int fd, fk_error_t *err)
{
  struct curl_slist *hdrs = NULL;
  if (fk_remote_envd_headers (r, id, "application/octet-stream", &hdrs, err) < 0)
    return -1;
  struct stat st;
  int64_t size = fstat (fd, &st) == 0 && S_ISREG (st.st_mode) ? (int64_t)st.st_size : -1;
  if (size < 0)
    hdrs = curl_slist_append (hdrs, "Transfer-Encoding: chunked");
  /* libcurl sends Expect: 100-continue for big bodies and waits; fkd answers at once anyway */
  hdrs = curl_slist_append (hdrs, "Expect:");
  cleanup_free char *q = path_query (path);
  cleanup_free char *url = xasprintf ("%s/files?%s", r->envd_url, q);
  fk_remote_req_t req = FK_REMOTE_REQ_INIT;
  req.method = "POST";
  req.url = url;
  req.headers = hdrs;
  req.in_fd = fd;
  req.in_size = size;
  fk_remote_resp_t resp = { 0 };
  int rc = fk_remote_perform (r, &req, &resp, err);
  curl_slist_free_all (hdrs);
  if (rc == 0 && resp.status != 200)
    rc = envd_failure (r, "write", path, &resp, err);
  fk_remote_resp_clear (&resp);
  return rc;
}
