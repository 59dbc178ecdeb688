/* image/registry.c: see registry.h. The HTTP side (requests, credentials, challenges, failures)
   is image/registry_http.c. */
#include "image/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "image/registry_http.h"

#define DEFAULT_PARALLEL 4
#define MAX_ERROR_BODY (64u << 10)

/* Fetches a manifest or index by tag or digest; stores it by its digest. */
static int
get_manifest (fk_registry_client_t *c, fk_store_t *store, const char *object,
              const char *want_digest, char **ret_body, size_t *ret_len, char **ret_type,
              char ret_digest[FK_DIGEST_STR_LEN], fk_error_t *err)
{
  cleanup_free char *url = xasprintf ("%s/manifests/%s", c->base, object);
  fk_registry_response_t r = { 0 };
  if (fk_registry_get (c, url, FK_MT_ACCEPT_ALL, FK_MANIFEST_MAX_SIZE, &r, err) < 0)
    {
      fk_registry_response_clear (&r);
      return -1;
    }
  if (r.status == 404)
    {
      /* Registries answer MANIFEST_UNKNOWN for a missing repository too: the tag list tells
         which of the two is missing. */
      cleanup_free char *tags = xasprintf ("%s/tags/list", c->base);
      fk_registry_response_t tr = { 0 };
      if (fk_registry_get (c, tags, "application/json", 1 << 20, &tr, NULL) == 0 && tr.status == 404
          && fk_registry_error_is (&tr, "NAME_UNKNOWN"))
        {
          fk_registry_response_clear (&r);
          r = tr;
          memset (&tr, 0, sizeof tr);
        }
      fk_registry_response_clear (&tr);
    }
  if (r.status != 200)
    {
      fk_registry_http_failure (c, &r, "manifest", object, err);
      fk_registry_response_clear (&r);
      return -1;
    }
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_buffer (r.body ? r.body : "", r.len, got);
  const char *expect = want_digest ? want_digest : r.docker_digest;
  if (expect != NULL && strncmp (expect, "sha256:", 7) == 0 && strcmp (expect, got) != 0)
    {
      fk_error_set (err, EBADMSG,
                    "digest mismatch for manifest `%s': expected `%s', content "
                    "hashes to `%s'",
                    object, expect, got);
      fk_registry_response_clear (&r);
      return -1;
    }
  if (fk_store_blob_put (store, r.body ? r.body : "", r.len, got, NULL, err) < 0)
    {
      fk_registry_response_clear (&r);
      return -1;
    }
  memcpy (ret_digest, got, FK_DIGEST_STR_LEN);
  *ret_len = r.len;
  *ret_body = r.body ? steal_pointer (&r.body) : xstrdup ("");
  *ret_type = steal_pointer (&r.content_type);
  fk_registry_response_clear (&r);
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
  fk_registry_response_t err_body; /* the body of a non-200 answer */
  long status;
  int done;     /* downloaded and verified */
  int reported; /* progress reports: 0 none yet, 1 some, 2 the last (done) */
  uint64_t reported_got;
} transfer_t;

static size_t
on_blob (char *data, size_t size, size_t nmemb, void *userdata)
{
  transfer_t *t = userdata;
  size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo (t->h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    return fk_registry_response_append (&t->err_body, data, n);
  if (t->got + n > (uint64_t)t->desc->size)
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
  fk_pull_progress_fn fn; /* NULL: none */
  void *data;
  uint64_t last_ms;
} progress_t;

/* Reports the blobs started so far whose count moved since their last report, at most every
   100 ms (force: now), each one last when it is done. */
static void
report_progress (progress_t *p, transfer_t *ts, size_t n, int force)
{
  if (p->fn == NULL)
    return;
  uint64_t now = fk_now_ms ();
  if (!force && p->last_ms != 0 && now - p->last_ms < 100)
    return;
  p->last_ms = now;
  for (size_t i = 0; i < n; i++)
    {
      transfer_t *t = &ts[i];
      if (t->reported == 2 || (t->reported == 1 && !t->done && t->got == t->reported_got))
        continue;
      fk_pull_progress_t pp = {
        .digest = t->desc->digest,
        .bytes = t->got,
        .total = (uint64_t)t->desc->size,
        .done = t->done,
      };
      p->fn (&pp, p->data);
      t->reported = t->done ? 2 : 1;
      t->reported_got = t->got;
    }
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
  fk_registry_response_clear (&t->err_body);
  memset (t, 0, sizeof *t);
  t->fd = -1;
}

static int
start_transfer (fk_registry_client_t *c, fk_store_t *store, CURLM *multi, transfer_t *t,
                fk_error_t *err)
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
  fk_registry_setup_easy (c, t->h, url, t->hdrs);
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
finish_transfer (fk_registry_client_t *c, fk_store_t *store, transfer_t *t, CURLcode rc,
                 fk_error_t *err)
{
  const char *digest = t->desc->digest;
  curl_easy_getinfo (t->h, CURLINFO_RESPONSE_CODE, &t->status);
  if (t->overflow)
    return fk_error_set (err, EBADMSG,
                         "size mismatch for blob `%s': the registry sent more than "
                         "the %lld bytes the manifest says",
                         digest, (long long)t->desc->size);
  if (t->write_error)
    return fk_error_set (err, t->write_error, "write blob `%s': %s", digest,
                         strerror (t->write_error));
  if (rc != CURLE_OK && t->status == 200)
    return fk_registry_curl_failure (c, rc, digest, err);
  if (rc != CURLE_OK && t->status == 0)
    return fk_registry_curl_failure (c, rc, digest, err);
  if (t->status != 200)
    return fk_registry_http_failure (c, &t->err_body, "blob", digest, err);
  if (t->got != (uint64_t)t->desc->size)
    return fk_error_set (err, EBADMSG,
                         "size mismatch for blob `%s': expected %lld bytes, got "
                         "%llu",
                         digest, (long long)t->desc->size, (unsigned long long)t->got);
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_final (t->sha, got);
  fk_sha256_free (t->sha);
  t->sha = NULL;
  if (strcmp (got, digest) != 0)
    return fk_error_set (err, EBADMSG,
                         "digest mismatch for blob `%s': the registry sent content "
                         "that hashes to `%s'",
                         digest, got);
  /* No fsync: a killed pull never renames, and the page cache outlives the process; what the
     rename publishes is complete. (Power loss is what `sync' is for.) */
  t->fd = close_and_reset (t->fd);
  cleanup_free char *tmp = steal_pointer (&t->tmp);
  return fk_store_blob_commit (store, tmp, digest, t->desc->size, 1, err);
}

static int
fetch_blobs (fk_registry_client_t *c, fk_store_t *store, const fk_descriptor_t **descs, size_t n,
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
  size_t parallel = opts && opts->parallel > 0 ? (size_t)opts->parallel : DEFAULT_PARALLEL;
  progress_t prog
      = { .fn = opts ? opts->progress : NULL, .data = opts ? opts->progress_data : NULL };
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
          curl_easy_getinfo (m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
          CURLcode rc = m->data.result;
          curl_multi_remove_handle (multi, t->h);
          if (ret == 0 && finish_transfer (c, store, t, rc, err) < 0)
            ret = -1;
          else if (ret == 0)
            t->done = 1;
          finished++;
        }
      report_progress (&prog, ts, next, 0);
      if (ret == 0 && finished < n)
        curl_multi_poll (multi, NULL, 0, 100, NULL);
    }
  report_progress (&prog, ts, next, 1);
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
  fk_registry_client_t c;
  fk_registry_client_init (&c, ref);

  fk_platform_t host_platform = { 0 };
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
      && fetch_blobs (&c, store, &cfg, 1, &(fk_pull_opts_t){ 0 }, err) < 0)
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
  fk_registry_client_clear (&c);
  return rc;
}
