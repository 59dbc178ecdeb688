/* template/template.c: see firkin/template.h. A record is templates/<id>.json:
   {id, source, indexDigest?, manifestDigest, configDigest, platform, created,
    layers: [{digest, diffID, mediaType, size}] (bottom first),
    config: {Env, Entrypoint, Cmd, WorkingDir, User}}.
   The store's garbage collector reads the digests of these records (image/store.c). */
#include "template/template.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/manifest.h"
#include "image/ocilayout.h"
#include "image/reference.h"
#include "image/registry.h"
#include "image/store.h"
#include "template/buildown.h"
#include "template/record.h"

#define MAX_UNPACK_THREADS 4
#define FALLBACK_REF "docker.io/library/debian:bookworm-slim"
#define FALLBACK_ID "base"

char *
fk_template_default_id (const char *ref)
{
  /* The part after the last '/' (and after an archive prefix), without a digest. */
  const char *s = ref;
  for (const char *p = ref; *p; p++)
    if (*p == '/')
      s = p + 1;
  if (s == ref)
    {
      const char *c = strchr (ref, ':');
      if (c && (strncmp (ref, "oci", 3) == 0 || strncmp (ref, "docker-archive", 14) == 0))
        s = c + 1;
    }
  size_t n = strcspn (s, "@");
  char *id = xstrndup (s, n > 100 ? 100 : n);
  for (char *p = id; *p; p++)
    {
      *p = (char)tolower ((unsigned char)*p);
      if (!isalnum ((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
        *p = '-';
    }
  while (id[0] == '.' || id[0] == '-')
    memmove (id, id + 1, strlen (id));
  if (id[0] == '\0')
    {
      free (id);
      id = xstrdup ("image");
    }
  return id;
}

/* ---- prepare ---- */

typedef struct unpack_job
{
  fk_store_t *store;
  const fk_image_t *img;
  atomic_size_t next;
  pthread_mutex_t lock;
  fk_error_t err; /* the first failure */
  int failed;
} unpack_job_t;

static void *
unpack_worker (void *arg)
{
  unpack_job_t *job = arg;
  for (;;)
    {
      size_t i = atomic_fetch_add (&job->next, 1);
      if (i >= job->img->manifest->n_layers)
        break;
      pthread_mutex_lock (&job->lock);
      int stop = job->failed;
      pthread_mutex_unlock (&job->lock);
      if (stop)
        break;
      fk_error_t e = FK_ERROR_INIT;
      if (fk_store_layer_unpack (job->store, job->img->manifest->layers[i].digest,
                                 job->img->config->diff_ids[i], &e)
          < 0)
        {
          pthread_mutex_lock (&job->lock);
          if (!job->failed)
            {
              job->failed = 1;
              job->err = e;
              e.msg = NULL;
            }
          pthread_mutex_unlock (&job->lock);
        }
      fk_error_clear (&e);
    }
  return NULL;
}

/* Unpacks the image's layers, independent ones in parallel (each into its own directory). */
static int
unpack_layers (fk_store_t *store, const fk_image_t *img, fk_error_t *err)
{
  size_t n = img->manifest->n_layers, todo = 0;
  for (size_t i = 0; i < n; i++)
    todo += !fk_store_layer_has (store, img->config->diff_ids[i]);
  if (todo == 0)
    return 0;
  unpack_job_t job = { .store = store, .img = img };
  atomic_init (&job.next, 0);
  pthread_mutex_init (&job.lock, NULL);
  size_t nthreads = todo < MAX_UNPACK_THREADS ? todo : MAX_UNPACK_THREADS;
  pthread_t th[MAX_UNPACK_THREADS];
  size_t started = 0;
  for (size_t i = 1; i < nthreads; i++)
    if (pthread_create (&th[started], NULL, unpack_worker, &job) == 0)
      started++;
  unpack_worker (&job);
  for (size_t i = 0; i < started; i++)
    pthread_join (th[i], NULL);
  pthread_mutex_destroy (&job.lock);
  if (job.failed)
    {
      fk_error_set (err, job.err.code, "%s", fk_error_message (&job.err));
      fk_error_clear (&job.err);
      return -1;
    }
  return 0;
}

static json_t *
strv_json (char **v)
{
  if (v == NULL)
    return json_null ();
  json_t *a = json_array ();
  for (; *v; v++)
    json_array_append_new (a, json_string (*v));
  return a;
}

static json_t *
make_record (const char *id, const char *source, const fk_image_t *img)
{
  char created[32];
  time_t now = time (NULL);
  struct tm tm;
  gmtime_r (&now, &tm);
  strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fk_platform_t p = { img->config->os, img->config->architecture, img->config->variant };
  cleanup_free char *platform = fk_platform_format (&p);
  json_t *rec = json_pack ("{s:s, s:s}", "id", id, "source", source);
  if (img->index_digest)
    json_object_set_new (rec, "indexDigest", json_string (img->index_digest));
  json_object_set_new (rec, "manifestDigest", json_string (img->manifest_digest));
  json_object_set_new (rec, "configDigest", json_string (img->manifest->config.digest));
  json_object_set_new (rec, "platform", json_string (platform));
  json_object_set_new (rec, "created", json_string (created));
  json_t *layers = json_array ();
  for (size_t i = 0; i < img->manifest->n_layers; i++)
    {
      const fk_descriptor_t *l = &img->manifest->layers[i];
      json_array_append_new (layers, json_pack ("{s:s, s:s, s:s, s:I}", "digest", l->digest,
                                                "diffID", img->config->diff_ids[i], "mediaType",
                                                l->media_type, "size", (json_int_t)l->size));
    }
  json_object_set_new (rec, "layers", layers);
  json_t *cfg = json_object ();
  json_object_set_new (cfg, "Env",
                       strv_json (img->config->env ? img->config->env : (char *[]){ NULL }));
  json_object_set_new (cfg, "Entrypoint", strv_json (img->config->entrypoint));
  json_object_set_new (cfg, "Cmd", strv_json (img->config->cmd));
  json_object_set_new (cfg, "WorkingDir",
                       json_string (img->config->workdir ? img->config->workdir : ""));
  json_object_set_new (cfg, "User", json_string (img->config->user ? img->config->user : ""));
  json_object_set_new (rec, "config", cfg);
  return rec;
}

/* When the record for id already describes this image with every layer in place: nothing to do. */
static int
record_is_current (fk_store_t *store, const char *id, const char *source, const char *manifest)
{
  cleanup_json json_t *rec = NULL;
  cleanup_free char *name = fk_template_record_name (id);
  if (fk_json_load_file_at (store->dirfd, name, FK_TEMPLATE_RECORD_MAX, &rec, NULL) < 0)
    return 0;
  json_t *s = json_object_get (rec, "source"), *m = json_object_get (rec, "manifestDigest");
  if (!json_is_string (s) || !json_is_string (m) || strcmp (json_string_value (s), source) != 0
      || strcmp (json_string_value (m), manifest) != 0)
    return 0;
  size_t i;
  json_t *l;
  json_array_foreach (json_object_get (rec, "layers"), i, l)
  {
    json_t *d = json_object_get (l, "diffID");
    if (!json_is_string (d) || !fk_store_layer_has (store, json_string_value (d)))
      return 0;
  }
  return 1;
}

static int
is_unreachable (const fk_error_t *e)
{
  return e->code == EHOSTUNREACH || e->code == ETIMEDOUT || e->code == EPROTO;
}

/* debian:bookworm-slim without a registry: the locally built `base` stands in for it. */
static int
fallback_to_base (fk_store_t *store, const char *want_id, const fk_error_t *why, char **ret_id,
                  fk_error_t *err)
{
  cleanup_json json_t *rec = NULL;
  if (fk_json_load_file_at (store->dirfd, "templates/" FALLBACK_ID ".json", FK_TEMPLATE_RECORD_MAX,
                            &rec, NULL)
      < 0)
    return -1;
  log_warning ("%s: no registry answered (%s); using the local template `%s'", FALLBACK_REF,
               fk_error_message (why), FALLBACK_ID);
  if (want_id != NULL && strcmp (want_id, FALLBACK_ID) != 0)
    {
      json_object_set_new (rec, "id", json_string (want_id));
      cleanup_free char *name = fk_template_record_name (want_id);
      if (fk_json_dump_file_atomic_at (store->dirfd, name, rec, 1, err) < 0)
        return -1;
      *ret_id = xstrdup (want_id);
      return 0;
    }
  *ret_id = xstrdup (FALLBACK_ID);
  return 0;
}

int
fk_template_prepare (fk_runtime_t *rt, const char *refstr, const fk_template_prepare_opts_t *opts,
                     char **ret_id, fk_error_t *err)
{
  if (opts
      && fk_options_check_version (opts->version, FK_TEMPLATE_PREPARE_OPTIONS_VERSION,
                                   "fk_template_prepare_opts_t", "FK_TEMPLATE_PREPARE_OPTIONS_INIT",
                                   err)
             < 0)
    return -1;
  const char *state_dir = fk_runtime_state_dir (rt);
  cleanup_reference fk_reference_t *ref = NULL;
  if (fk_reference_parse (refstr, &ref, err) < 0)
    return -1;
  cleanup_free char *id = opts && opts->id ? xstrdup (opts->id) : fk_template_default_id (refstr);
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  fk_platform_t platform = { 0 };
  if (opts && opts->platform && fk_platform_parse (opts->platform, &platform, err) < 0)
    return -1;
  const fk_platform_t *want = platform.os ? &platform : NULL;
  int rc = -1;
  cleanup_store fk_store_t *store = NULL;
  cleanup_free char *lockname = xasprintf ("template-%s", id);
  cleanup_free char *source = fk_reference_format (ref);
  cleanup_close int lockfd = -1;
  cleanup_image fk_image_t *img = NULL;

  if (fk_store_open (state_dir, &store, err) < 0)
    goto out;
  /* Two prepares of one id queue up; the layers have their own locks. */
  lockfd = fk_store_lock (store, lockname, err);
  if (lockfd < 0)
    goto out;

  if (ref->kind == FK_REF_REGISTRY)
    {
      fk_pull_opts_t po = {
        .platform = want,
        .progress = opts ? opts->on_progress : NULL,
        .progress_data = opts ? opts->progress_data : NULL,
        .skip_unpacked = 1,
      };
      fk_error_t perr = FK_ERROR_INIT;
      if (fk_registry_pull (store, ref, &po, &img, &perr) < 0)
        {
          if (is_unreachable (&perr) && strcmp (source, FALLBACK_REF) == 0
              && fallback_to_base (store, opts ? opts->id : NULL, &perr, ret_id, err) == 0)
            {
              fk_error_clear (&perr);
              rc = 0;
              goto out;
            }
          fk_error_set (err, perr.code, "%s", fk_error_message (&perr));
          fk_error_clear (&perr);
          goto out;
        }
    }
  else if (fk_oci_import (store, ref, want, 1, &img, err) < 0)
    goto out;

  if (record_is_current (store, id, source, img->manifest_digest))
    {
      *ret_id = steal_pointer (&id);
      rc = 0;
      goto out;
    }
  if (unpack_layers (store, img, err) < 0)
    goto out;
  {
    cleanup_json json_t *rec = make_record (id, source, img);
    cleanup_free char *name = fk_template_record_name (id);
    if (fk_json_dump_file_atomic_at (store->dirfd, name, rec, 1, err) < 0)
      goto out;
  }
  *ret_id = steal_pointer (&id);
  rc = 0;
out:
  fk_platform_clear (&platform);
  if (rc < 0)
    fk_error_wrap (err, "prepare `%s'", refstr);
  return rc;
}

/* ---- list, inspect, remove, prune ---- */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

int
fk_template_list (fk_runtime_t *rt, char ***ret_ids, fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (rt);
  cleanup_free char *dir = xasprintf ("%s/templates", state_dir);
  cleanup_dir DIR *d = opendir (dir);
  size_t n = 0, cap = 8;
  cleanup_strv char **ids = xcalloc (cap, sizeof *ids);
  if (d == NULL && errno != ENOENT)
    return fk_error_set_errno (err, "open `%s'", dir);
  struct dirent *de;
  while (d && (de = readdir (d)) != NULL)
    {
      size_t len = strlen (de->d_name);
      if (de->d_name[0] == '.' || len < 6 || strcmp (de->d_name + len - 5, ".json") != 0)
        continue;
      xgrow ((void **)&ids, &cap, n + 2, sizeof *ids);
      ids[n++] = xstrndup (de->d_name, len - 5);
      ids[n] = NULL;
    }
  qsort (ids, n, sizeof *ids, cmp_str);
  *ret_ids = steal_pointer (&ids);
  return 0;
}

int
fk_template_inspect (fk_runtime_t *rt, const char *id, char **ret_json, fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (rt);
  cleanup_json json_t *rec = NULL;
  if (fk_template_record_load (state_dir, id, &rec, err) < 0)
    return -1;
  char *s = json_dumps (rec, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  if (s == NULL)
    return fk_error_set (err, EINVAL, "template `%s': cannot serialise the record", id);
  *ret_json = s;
  return 0;
}

static int
gc (fk_store_t *store, fk_template_gc_stats_t *ret_stats, fk_error_t *err)
{
  fk_store_gc_stats_t st;
  if (fk_store_gc (store, &st, err) < 0)
    return -1;
  if (ret_stats != NULL)
    {
      ret_stats->blobs_removed = st.blobs_removed;
      ret_stats->layers_removed = st.layers_removed;
      ret_stats->bytes_freed = st.bytes_freed;
    }
  return 0;
}

int
fk_template_remove (fk_runtime_t *rt, const char *id, fk_template_gc_stats_t *ret_stats,
                    fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (rt);
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  cleanup_store fk_store_t *store = NULL;
  if (fk_store_open (state_dir, &store, err) < 0)
    return -1;
  /* A sandbox made from it (its layers are the sandbox's lower layers) or asleep in it (a pause
     to disk: the only copy of its filesystem) keeps it. */
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  if (fk_sandbox_list (rt, &infos, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      const fk_sandbox_info_t *info = infos[i];
      int asleep = info->disk_snapshot && strcmp (info->disk_snapshot, id) == 0;
      if (asleep || (info->template_id && strcmp (info->template_id, id) == 0))
        {
          fk_error_set (err, EBUSY, "template `%s' is %s sandbox %s: remove the sandbox first", id,
                        asleep ? "the filesystem of" : "in use by", info->id);
          fk_sandbox_info_list_free (infos, n);
          return -1;
        }
    }
  fk_sandbox_info_list_free (infos, n);
  cleanup_free char *name = fk_template_record_name (id);
  {
    cleanup_free char *lockname = xasprintf ("template-%s", id);
    cleanup_close int lockfd = fk_store_lock (store, lockname, err);
    if (lockfd < 0)
      return -1;
    if (unlinkat (store->dirfd, name, 0) < 0)
      {
        if (errno == ENOENT)
          return fk_error_set (err, ENOENT, "no template `%s' (see `fk template ls')", id);
        return fk_error_set_errno (err, "remove template `%s'", id);
      }
  }
  return gc (store, ret_stats, err);
}

int
fk_template_prune (fk_runtime_t *rt, fk_template_gc_stats_t *ret_stats, fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (rt);
  cleanup_store fk_store_t *store = NULL;
  if (fk_store_open (state_dir, &store, err) < 0)
    return -1;
  /* Killed builds' sandboxes and temporary records first: their layers are then free. */
  if (fk_build_sweep (rt, store, NULL, err) < 0)
    return -1;
  return gc (store, ret_stats, err);
}
