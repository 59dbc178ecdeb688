/* image/push.c: see push.h. */
#include "image/push.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "image/manifest.h"
#include "image/registry_http.h"

#define MAX_ANSWER (64u << 10)  /* the body of any answer to a push request */
#define MAX_LOCATION (8u << 10) /* an upload URL */

static int
failed (fk_registry_client_t *c, fk_registry_response_t *r, const char *what, const char *object,
        fk_error_t *err)
{
  fk_registry_http_failure (c, r, what, object, err);
  fk_registry_response_clear (r);
  return -1;
}

/* The registry's Location for an upload, resolved against the API URL (it may be relative), as
   an absolute URL on the registry's own scheme, host and port: an upload, and the credentials
   sent with it, never go to a host the registry names. Caller frees *ret. */
static int
upload_url (const fk_registry_client_t *c, const char *location, char **ret, fk_error_t *err)
{
  if (location == NULL || *location == '\0')
    return fk_error_set (err, EPROTO, "registry `%s' started an upload without a Location",
                         c->host);
  if (strlen (location) > MAX_LOCATION)
    return fk_error_set (err, EPROTO, "registry `%s' sent an upload Location over %u bytes",
                         c->host, MAX_LOCATION);
  for (const char *p = location; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f)
      return fk_error_set (err, EPROTO, "registry `%s' sent a malformed upload Location", c->host);
  CURLU *base = curl_url (), *u = curl_url ();
  char *bs = NULL, *bh = NULL, *bp = NULL, *us = NULL, *uh = NULL, *up = NULL, *full = NULL;
  int rc = -1;
  if (base == NULL || u == NULL)
    {
      fk_error_set (err, ENOMEM, "curl_url failed");
      goto out;
    }
  /* Resolving the Location against the base gives an absolute URL either way. */
  if (curl_url_set (base, CURLUPART_URL, c->base, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_URL, c->base, 0) != CURLUE_OK
      || curl_url_set (u, CURLUPART_URL, location, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_URL, &full, 0) != CURLUE_OK
      || curl_url_get (base, CURLUPART_SCHEME, &bs, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_SCHEME, &us, 0) != CURLUE_OK
      || curl_url_get (base, CURLUPART_HOST, &bh, 0) != CURLUE_OK
      || curl_url_get (u, CURLUPART_HOST, &uh, 0) != CURLUE_OK
      || curl_url_get (base, CURLUPART_PORT, &bp, CURLU_DEFAULT_PORT) != CURLUE_OK
      || curl_url_get (u, CURLUPART_PORT, &up, CURLU_DEFAULT_PORT) != CURLUE_OK)
    {
      fk_error_set (err, EPROTO, "registry `%s' sent an upload Location that is not a URL: `%s'",
                    c->host, location);
      goto out;
    }
  if (strcasecmp (bs, us) != 0 || strcasecmp (bh, uh) != 0 || strcmp (bp, up) != 0)
    {
      fk_error_set (err, EPROTO,
                    "registry `%s' sent an upload Location on another host (`%s'): refused, the "
                    "blob and the credentials go to the registry only",
                    c->host, location);
      goto out;
    }
  *ret = xstrdup (full);
  rc = 0;
out:
  curl_free (bs);
  curl_free (bh);
  curl_free (bp);
  curl_free (us);
  curl_free (uh);
  curl_free (up);
  curl_free (full);
  curl_url_cleanup (base);
  curl_url_cleanup (u);
  return rc;
}

/* A 201 may name what the registry stored; it must be what was sent. */
static int
check_digest (const fk_registry_client_t *c, const fk_registry_response_t *r, const char *what,
              const char *digest, fk_error_t *err)
{
  if (r->docker_digest != NULL && strcmp (r->docker_digest, digest) != 0)
    return fk_error_set (err, EBADMSG,
                         "registry `%s' stored the %s `%s' as `%.80s': digest mismatch", c->host,
                         what, digest, r->docker_digest);
  return 0;
}

/* url + "digest=<digest>" with the right separator (caller frees). */
static char *
with_digest (const char *url, const char *digest)
{
  return xasprintf ("%s%sdigest=sha256%%3A%s", url, strchr (url, '?') ? "&" : "?",
                    fk_digest_hex (digest));
}

/* Starts an upload session (or mounts the blob: *ret_mounted). *ret_url is the session's. */
static int
start_upload (fk_registry_client_t *c, const fk_push_blob_t *b, char **ret_url, int *ret_mounted,
              fk_error_t *err)
{
  cleanup_free char *url = NULL;
  if (b->mount_from)
    url = xasprintf ("%s/blobs/uploads/?mount=sha256%%3A%s&from=%s", c->base,
                     fk_digest_hex (b->digest), b->mount_from);
  else
    url = xasprintf ("%s/blobs/uploads/", c->base);
  fk_registry_request_t rq = { .method = "POST", .url = url, .body_fd = -1 };
  fk_registry_response_t r = { 0 };
  if (fk_registry_request (c, &rq, MAX_ANSWER, &r, err) < 0)
    {
      fk_registry_response_clear (&r);
      return fk_error_wrap (err, "start the upload of blob `%s'", b->digest);
    }
  if (b->mount_from && r.status == 201)
    {
      int ret = check_digest (c, &r, "mounted blob", b->digest, err);
      fk_registry_response_clear (&r);
      if (ret == 0)
        *ret_mounted = 1;
      return ret;
    }
  if (r.status != 202)
    return failed (c, &r, "upload of blob", b->digest, err);
  int ret = upload_url (c, r.location, ret_url, err);
  fk_registry_response_clear (&r);
  return ret;
}

/* The Range a PATCH answer must carry: "0-<last byte received>". */
static int
check_range (const fk_registry_client_t *c, const fk_registry_response_t *r, const char *digest,
             uint64_t end, fk_error_t *err)
{
  cleanup_free char *want = xasprintf ("0-%llu", (unsigned long long)(end - 1));
  const char *got = r->range;
  if (got && strncmp (got, "bytes=", 6) == 0)
    got += 6;
  if (got == NULL || strcmp (got, want) != 0)
    return fk_error_set (err, EPROTO,
                         "registry `%s' acknowledged `%.40s' of blob `%s' after %llu bytes were "
                         "sent: the upload is not what was sent",
                         c->host, got ? got : "(no Range)", digest, (unsigned long long)end);
  return 0;
}

static int
push_blob (fk_registry_client_t *c, fk_store_t *store, const fk_push_blob_t *b, uint64_t chunk,
           fk_push_stats_t *st, fk_error_t *err)
{
  cleanup_close int fd = fk_store_blob_open (store, b->digest, err);
  if (fd < 0)
    return -1;
  struct stat sb;
  if (fstat (fd, &sb) < 0)
    return fk_error_set_errno (err, "stat blob `%s'", b->digest);
  uint64_t size = (uint64_t)sb.st_size;

  /* Already there? */
  cleanup_free char *head = xasprintf ("%s/blobs/%s", c->base, b->digest);
  fk_registry_request_t hq = { .method = "HEAD", .url = head, .body_fd = -1 };
  fk_registry_response_t r = { 0 };
  if (fk_registry_request (c, &hq, MAX_ANSWER, &r, err) < 0)
    {
      fk_registry_response_clear (&r);
      return fk_error_wrap (err, "blob `%s'", b->digest);
    }
  if (r.status == 200)
    {
      int64_t has = r.content_length;
      fk_registry_response_clear (&r);
      if (has >= 0 && (uint64_t)has != size)
        return fk_error_set (err, EBADMSG,
                             "registry `%s' has blob `%s' with %lld bytes; it has %llu: the "
                             "registry's copy is not this blob",
                             c->host, b->digest, (long long)has, (unsigned long long)size);
      st->present++;
      return 0;
    }
  if (r.status != 404)
    return failed (c, &r, "blob", b->digest, err);
  fk_registry_response_clear (&r);

  cleanup_free char *url = NULL;
  int mounted = 0;
  if (start_upload (c, b, &url, &mounted, err) < 0)
    return -1;
  if (mounted)
    {
      st->mounted++;
      return 0;
    }

  /* Big blobs in chunks, each acknowledged with the Range received so far. */
  uint64_t off = 0;
  if (size > chunk)
    while (off < size)
      {
        uint64_t n = size - off < chunk ? size - off : chunk;
        char range[64];
        snprintf (range, sizeof range, "%llu-%llu", (unsigned long long)off,
                  (unsigned long long)(off + n - 1));
        fk_registry_request_t pq = {
          .method = "PATCH",
          .url = url,
          .content_type = "application/octet-stream",
          .content_range = range,
          .body_fd = fd,
          .body_offset = (int64_t)off,
          .body_len = n,
        };
        if (fk_registry_request (c, &pq, MAX_ANSWER, &r, err) < 0)
          {
            fk_registry_response_clear (&r);
            return fk_error_wrap (err, "upload of blob `%s' (bytes %s)", b->digest, range);
          }
        if (r.status != 202)
          return failed (c, &r, "upload of blob", b->digest, err);
        char *next = NULL;
        if (check_range (c, &r, b->digest, off + n, err) < 0
            || upload_url (c, r.location, &next, err) < 0)
          {
            fk_registry_response_clear (&r);
            return -1;
          }
        fk_registry_response_clear (&r);
        free (url);
        url = next;
        off += n;
      }
  /* The rest (all of a small blob, nothing after chunks) with the closing PUT. */
  cleanup_free char *put = with_digest (url, b->digest);
  fk_registry_request_t uq = {
    .method = "PUT",
    .url = put,
    .content_type = "application/octet-stream",
    .body_fd = fd,
    .body_offset = (int64_t)off,
    .body_len = size - off,
  };
  if (fk_registry_request (c, &uq, MAX_ANSWER, &r, err) < 0)
    {
      fk_registry_response_clear (&r);
      return fk_error_wrap (err, "upload of blob `%s'", b->digest);
    }
  if (r.status != 201)
    return failed (c, &r, "upload of blob", b->digest, err);
  int ret = check_digest (c, &r, "blob", b->digest, err);
  fk_registry_response_clear (&r);
  if (ret == 0)
    {
      st->uploaded++;
      st->bytes_uploaded += size;
    }
  return ret;
}

int
fk_registry_push (fk_store_t *store, const fk_reference_t *ref, const fk_push_image_t *im,
                  uint64_t chunk, fk_push_stats_t *ret_stats, fk_error_t *err)
{
  if (ref->kind != FK_REF_REGISTRY)
    return fk_error_set (err, EINVAL, "not a registry reference");
  if (chunk == 0)
    chunk = FK_PUSH_CHUNK_DEFAULT;
  cleanup_free char *manifest = NULL;
  size_t mlen = 0;
  if (fk_store_blob_read (store, im->manifest_digest, FK_MANIFEST_MAX_SIZE, &manifest, &mlen, err)
      < 0)
    return -1;
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_buffer (manifest, mlen, got);
  if (strcmp (got, im->manifest_digest) != 0)
    return fk_error_set (err, EBADMSG, "the stored manifest `%s' hashes to `%s'",
                         im->manifest_digest, got);
  const char *object = fk_reference_object (ref);
  if (ref->digest && strcmp (ref->digest, im->manifest_digest) != 0)
    return fk_error_set (err, EINVAL, "push to `@%s': the manifest's digest is `%s'", ref->digest,
                         im->manifest_digest);

  fk_registry_client_t c;
  fk_registry_client_init (&c, ref);
  /* Push and pull of the target, pull of every repository a blob is mounted from. */
  c.scope = xasprintf ("repository:%s:pull,push", ref->repository);
  for (size_t i = 0; i < im->n_blobs; i++)
    if (im->blobs[i].mount_from)
      {
        cleanup_free char *one = xasprintf ("repository:%s:pull", im->blobs[i].mount_from);
        if (strstr (c.scope, one) == NULL)
          {
            char *s = xasprintf ("%s %s", c.scope, one);
            free (c.scope);
            c.scope = s;
          }
      }

  fk_push_stats_t st = { 0 };
  int rc = -1;
  for (size_t i = 0; i < im->n_blobs; i++)
    {
      int dup = 0;
      for (size_t j = 0; j < i; j++)
        dup |= strcmp (im->blobs[i].digest, im->blobs[j].digest) == 0;
      if (!dup && push_blob (&c, store, &im->blobs[i], chunk, &st, err) < 0)
        goto out;
    }
  {
    cleanup_free char *url = xasprintf ("%s/manifests/%s", c.base, object);
    fk_registry_request_t mq = {
      .method = "PUT",
      .url = url,
      .content_type = im->manifest_type,
      .body = manifest,
      .body_fd = -1,
      .body_len = mlen,
    };
    fk_registry_response_t r = { 0 };
    if (fk_registry_request (&c, &mq, MAX_ANSWER, &r, err) < 0)
      {
        fk_registry_response_clear (&r);
        fk_error_wrap (err, "put the manifest `%s'", object);
        goto out;
      }
    if (r.status != 201)
      {
        failed (&c, &r, "manifest", object, err);
        goto out;
      }
    int ok = check_digest (&c, &r, "manifest", im->manifest_digest, err);
    fk_registry_response_clear (&r);
    if (ok < 0)
      goto out;
  }
  if (ret_stats)
    *ret_stats = st;
  rc = 0;
out:
  fk_registry_client_clear (&c);
  return rc;
}
