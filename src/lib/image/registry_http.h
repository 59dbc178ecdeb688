/* image/registry_http.h: speaking to a Distribution API v2 registry over HTTP (libcurl): which
   hosts are plain HTTP, the stored credentials, requests bounded in size and time, the 401
   challenge answered once (Basic, or the Bearer token flow), and transport and HTTP failures
   named. The pull (image/registry.c) builds on it.

   HTTPS always, except plain HTTP for loopback registries (localhost, 127.0.0.0/8, [::1]) and for
   registries listed as insecure: host[:port] entries in $FIRKIN_INSECURE_REGISTRIES (separated
   by commas or spaces) or one a line in /etc/firkin/insecure-registries (or the file named by
   $FIRKIN_INSECURE_REGISTRIES_FILE). Credentials come from $REGISTRY_AUTH_FILE, else
   $DOCKER_CONFIG/config.json, else ~/.docker/config.json ("auths": {host: {"auth": base64}}),
   and go only to the registry host and its token realm: libcurl drops the Authorization header
   when a redirect leads to another host, port or scheme (the blob store a registry redirects to).
   $FIRKIN_REGISTRY_TIMEOUT (seconds, default 30) bounds connecting and any stall. */
#ifndef FK_IMAGE_REGISTRY_HTTP_H
#define FK_IMAGE_REGISTRY_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/reference.h"

/* One registry repository as spoken to during a pull. */
typedef struct fk_registry_client
{
  const fk_reference_t *ref;
  char *base;     /* "https://host/v2/repo" */
  char *host;     /* the API host[:port] */
  char *basic;    /* base64 "user:pass" from the auth file, or NULL */
  char *auth_hdr; /* "Authorization: ..." once a challenge was answered, or NULL */
  int insecure;
  long timeout; /* seconds */
  /* The scopes asked of a token service, space-separated ("repository:a:pull,push
     repository:b:pull"); NULL: the challenge's own, else pull of ref's repository. Set before
     the first request (a push asks for push at once, so one challenge is answered once). */
  char *scope;
} fk_registry_client_t;

/* An answer held in memory: status, a body of at most max bytes, the headers a pull reads. */
typedef struct fk_registry_response
{
  long status;
  char *body;
  size_t len, cap, max;
  int too_big;
  char *content_type, *docker_digest, *www_auth;
  char *location, *range; /* Location and Range headers (uploads), or NULL */
  int64_t content_length; /* the Content-Length announced, -1 when none */
} fk_registry_response_t;

/* One request of any method. The body, when there is one, is body_len bytes from body, or
   from body_fd at body_offset (read with pread, so a retry after a 401 sends it again). */
typedef struct fk_registry_request
{
  const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH" */
  const char *url;
  const char *accept;        /* NULL: no Accept */
  const char *content_type;  /* NULL: none */
  const char *content_range; /* "START-END" for a PATCH, or NULL */
  const void *body;
  int body_fd; /* -1 (or 0 with body_len 0): none */
  int64_t body_offset;
  uint64_t body_len;
} fk_registry_request_t;

/* Sets c up for ref (FK_REF_REGISTRY): API host, scheme, credentials, timeout. Clear it with
   fk_registry_client_clear. */
void fk_registry_client_init (fk_registry_client_t *c, const fk_reference_t *ref);
void fk_registry_client_clear (fk_registry_client_t *c);
void fk_registry_response_clear (fk_registry_response_t *r);

/* Appends n bytes to r's body. Past r->max: too_big is set and 0 returned (which, returned from
   a libcurl write callback, ends the transfer). */
size_t fk_registry_response_append (fk_registry_response_t *r, const void *data, size_t n);

/* Sets the options every request to the registry shares on h: url, headers, the allowed
   protocols (redirects too), no credentials to another host, connect and stall timeouts. */
void fk_registry_setup_easy (const fk_registry_client_t *c, CURL *h, const char *url,
                             struct curl_slist *hdrs);

/* GETs url into r (at most max bytes; any status is success, r->status says which), sending c's
   credentials; a 401 is answered once (c->auth_hdr then holds the answer for later requests,
   blobs too) and the request repeated. Fails on transport errors, an oversized body, and
   credentials refused. */
int fk_registry_get (fk_registry_client_t *c, const char *url, const char *accept, size_t max,
                     fk_registry_response_t *r, fk_error_t *err);

/* Sends rq (a 401 answered once as for fk_registry_get) and reads the answer into r (at most
   max body bytes; any status is success). Only GET and HEAD follow redirects: an upload is
   sent to the registry itself. */
int fk_registry_request (fk_registry_client_t *c, const fk_registry_request_t *rq, size_t max,
                         fk_registry_response_t *r, fk_error_t *err);

/* 1 when r's error body names the registry error code ("NAME_UNKNOWN", ...). */
int fk_registry_error_is (const fk_registry_response_t *r, const char *code);

/* Fills err for a non-200 answer r to the request for `what' (manifest, blob) `object': unknown
   repository, tag, manifest or blob (ENOENT), unauthorised (EACCES), rate limited (EBUSY), else
   EIO with the status and code. Returns -1. */
int fk_registry_http_failure (const fk_registry_client_t *c, const fk_registry_response_t *r,
                              const char *what, const char *object, fk_error_t *err);

/* Fills err for a transport failure rc while fetching what: unreachable (EHOSTUNREACH), timed
   out (ETIMEDOUT), TLS (EPROTO), else EIO. Returns -1. */
int fk_registry_curl_failure (const fk_registry_client_t *c, CURLcode rc, const char *what,
                              fk_error_t *err);

/* True when host[:port] is spoken to over plain HTTP (loopback or listed insecure). */
int fk_registry_is_insecure (const char *host);

#endif
