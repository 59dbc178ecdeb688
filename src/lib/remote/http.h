/* remote/http.h: the remote client's handle and its HTTP requests to fkd (libcurl): bounded
   answers, deadlines, transport and status failures as the library's errors. The control plane
   (remote.c), commands (exec.c) and files (files.c) build on it. */
#ifndef FK_REMOTE_HTTP_H
#define FK_REMOTE_HTTP_H

#include <curl/curl.h>
#include <stdint.h>

#include "base/error.h"
#include "firkin/remote.h"

struct fk_remote
{
  char *url;      /* the control plane, without a trailing '/' */
  char *envd_url; /* envd, likewise */
  char *key_hdr;  /* "X-API-Key: ...", or NULL */
  long timeout;   /* seconds: connect and stall */
  CURL *h;        /* kept for keep-alive between requests */
  char *tok_id;   /* the sandbox whose envd access token is `token' (NULL: none asked yet) */
  char *token;    /* NULL: that sandbox has none */
};

/* One request. Body out: body/body_len, or in_fd (read to its end; in_size its size, -1 when
   unknown: chunked). Answer: into resp's buffer (at most FK_REMOTE_MAX_BODY), or, when out_fd
   >= 0 and the status is 2xx, into out_fd (at most out_max bytes, else EPROTO). */
typedef struct fk_remote_req
{
  const char *method;
  const char *url;
  struct curl_slist *headers;
  const char *body;
  size_t body_len;
  int in_fd;
  int64_t in_size;
  int out_fd;
  uint64_t out_max;
} fk_remote_req_t;

typedef struct fk_remote_resp
{
  long status;
  char *body; /* NUL-terminated */
  size_t len;
  uint64_t written; /* to out_fd */
  int too_big;
  int out_errno;
  int in_errno;
  int out_fd;
  uint64_t out_max;
} fk_remote_resp_t;

#define FK_REMOTE_REQ_INIT                                                                         \
  {                                                                                                \
    .in_fd = -1, .in_size = -1, .out_fd = -1                                                       \
  }

void fk_remote_resp_clear (fk_remote_resp_t *resp);

/* Sets up an easy handle for url: timeouts, protocols (http and https only, no redirects). */
void fk_remote_setup (const fk_remote_t *r, CURL *h, const char *url);

/* Runs req on r's handle; transport failures fail (naming the URL), any status succeeds. */
int fk_remote_perform (fk_remote_t *r, const fk_remote_req_t *req, fk_remote_resp_t *resp,
                       fk_error_t *err);

/* Fills err for a transport failure rc on url. Returns -1. */
int fk_remote_curl_failure (CURLcode rc, const char *url, fk_error_t *err);

/* Fills err for a non-2xx answer to `what' about sandbox id (NULL: none): 401 EACCES, 404 with
   an id ENOENT "no sandbox `ID'", 400 EINVAL, 409 EEXIST, else EIO; the message is fkd's when
   it sent one. Returns -1. */
int fk_remote_status_failure (const fk_remote_t *r, const char *what, const char *id,
                              const fk_remote_resp_t *resp, fk_error_t *err);

/* The control plane's headers (API key, JSON) and envd's for sandbox id (its token: asked of the
   control plane once, which also fails with EAGAIN for a paused sandbox). Free with
   curl_slist_free_all. */
struct curl_slist *fk_remote_control_headers (const fk_remote_t *r, int json);
int fk_remote_envd_headers (fk_remote_t *r, const char *id, const char *content_type,
                            struct curl_slist **ret, fk_error_t *err);

#endif
