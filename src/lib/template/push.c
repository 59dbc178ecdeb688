/* template/push.c: fk_template_push: a template's image (its manifest, config and layer blobs
   as the store has them, so the digests stay) pushed to a registry by image/push.c. A layer that
   another template was pulled with from the same registry is mounted from that repository
   rather than uploaded again. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "firkin/strv.h"
#include "image/manifest.h"
#include "image/push.h"
#include "image/reference.h"
#include "image/store.h"
#include "template/record.h"
#include "template/stored.h"
#include "template/template.h"

static size_t
strv_len (char **v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

/* For each of blobs[0..n) without a source yet: the repository of another template pulled from
   the registry ref is on, whose record names that blob. *ret_repos keeps the names alive. */
static void
find_mount_sources (fk_runtime_t *rt, fk_store_t *store, const fk_reference_t *ref,
                    fk_push_blob_t *blobs, size_t n, char ***ret_repos)
{
  cleanup_strv char **ids = NULL;
  fk_error_t lerr = FK_ERROR_INIT;
  if (fk_template_list (rt, &ids, &lerr) < 0)
    {
      fk_error_clear (&lerr); /* no sources: every blob is uploaded */
      return;
    }
  size_t k = 0;
  char **repos = xcalloc (strv_len (ids) + 1, sizeof *repos);
  for (char **id = ids; *id; id++)
    {
      cleanup_json json_t *rec = NULL;
      if (fk_template_record_load (store->dir, *id, &rec, &lerr) < 0)
        {
          fk_error_clear (&lerr);
          continue;
        }
      const char *source = json_string_value (json_object_get (rec, "source"));
      cleanup_reference fk_reference_t *src = NULL;
      if (source == NULL || fk_reference_parse (source, &src, NULL) < 0
          || src->kind != FK_REF_REGISTRY
          || strcmp (fk_reference_api_host (src), fk_reference_api_host (ref)) != 0
          || strcmp (src->repository, ref->repository) == 0)
        continue;
      int used = 0;
      json_t *layers = json_object_get (rec, "layers");
      const char *cfg = json_string_value (json_object_get (rec, "configDigest"));
      for (size_t i = 0; i < n; i++)
        {
          if (blobs[i].mount_from)
            continue;
          int has = cfg && strcmp (cfg, blobs[i].digest) == 0;
          for (size_t j = 0; !has && j < json_array_size (layers); j++)
            {
              const char *d
                  = json_string_value (json_object_get (json_array_get (layers, j), "digest"));
              has = d && strcmp (d, blobs[i].digest) == 0;
            }
          if (has)
            {
              if (!used)
                repos[k++] = xstrdup (src->repository);
              used = 1;
              blobs[i].mount_from = repos[k - 1];
            }
        }
    }
  *ret_repos = repos;
}

int
fk_template_push (fk_runtime_t *rt, const char *id, const char *dest,
                  const fk_template_push_opts_t *opts, char **ret_digest,
                  fk_template_push_stats_t *ret_stats, fk_error_t *err)
{
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  cleanup_reference fk_reference_t *ref = NULL;
  if (fk_reference_parse (dest, &ref, err) < 0)
    return fk_error_wrap (err, "push to `%s'", dest);
  if (ref->kind != FK_REF_REGISTRY)
    return fk_error_set (err, EINVAL,
                         "push to `%s': not a registry reference (`fk template export' writes "
                         "oci:, oci-archive: and docker-archive:)",
                         dest);
  cleanup_store fk_store_t *store = NULL;
  if (fk_store_open (fk_runtime_state_dir (rt), &store, err) < 0)
    return -1;
  fk_template_image_t im = { 0 };
  fk_push_blob_t *blobs = NULL;
  char **repos = NULL;
  int rc = fk_template_image_load (store, id, &im, err);
  if (rc == 0)
    {
      size_t n = 0, nl = strv_len (im.layers);
      blobs = xcalloc (nl + 1, sizeof *blobs);
      for (size_t i = 0; i < nl; i++)
        blobs[n++].digest = im.layers[i];
      blobs[n++].digest = im.config_digest;
      find_mount_sources (rt, store, ref, blobs, n, &repos);
      fk_push_image_t pi = {
        .manifest_digest = im.manifest_digest,
        .manifest_type = im.manifest_type,
        .blobs = blobs,
        .n_blobs = n,
      };
      fk_push_stats_t st = { 0 };
      rc = fk_registry_push (store, ref, &pi, opts ? opts->chunk_size : 0, &st, err);
      if (rc == 0)
        {
          if (ret_stats)
            *ret_stats = (fk_template_push_stats_t){ .present = st.present,
                                                     .mounted = st.mounted,
                                                     .uploaded = st.uploaded,
                                                     .bytes_uploaded = st.bytes_uploaded };
          if (ret_digest)
            *ret_digest = xstrdup (im.manifest_digest);
        }
    }
  free (blobs);
  fk_strv_free (repos);
  fk_template_image_clear (&im);
  if (rc < 0)
    fk_error_wrap (err, "push template `%s' to `%s'", id, dest);
  return rc;
}
