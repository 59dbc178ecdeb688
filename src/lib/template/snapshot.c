/* template/snapshot.c: a running sandbox's filesystem as a template (fk_sandbox_snapshot), and
   what is built on it: fork (N sandboxes sharing one snapshot layer), pause to disk and resume.

   A snapshot is an OCI image in the store like a prepared one: the sandbox's template layers,
   then one layer with the sandbox's changes (its overlay's upper dir, captured frozen by
   image/upper.c), an image config with the sandbox's env, cwd and user, a manifest, and a
   template record naming them. Nothing in it has a time of its own (the config keeps the
   parent's `created'), so the same changes give the same digests: a second snapshot of a
   sandbox that did nothing adds no blob. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/store.h"
#include "image/upper.h"
#include "sandbox/capture.h"
#include "sandbox/create.h"
#include "sandbox/sandbox.h"
#include "template/record.h"
#include "template/snapshot.h"
#include "template/template.h"

#define LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CONFIG_MAX (4u << 20)

/* What the runtime writes into every sandbox's upper dir at create: a snapshot leaves them out
   (the next create writes them again). */
static const char *const runtime_files[] = { "etc/hosts", "etc/resolv.conf", NULL };

static char *
generated_id (const char *prefix, const char *sandbox_id)
{
  unsigned char raw[4] = { 0 };
  if (getrandom (raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    {
      unsigned v = (unsigned)time (NULL) ^ (unsigned)getpid ();
      memcpy (raw, &v, sizeof raw);
    }
  return xasprintf ("%s-%s-%02x%02x%02x%02x", prefix, sandbox_id, raw[0], raw[1], raw[2], raw[3]);
}

/* The sandbox's env as an image's: one entry per name, the last value, in first-seen order. */
static json_t *
env_json (const char *const *env)
{
  json_t *a = json_array ();
  size_t n = fk_strv_len ((char *const *)env);
  for (size_t i = 0; i < n; i++)
    {
      size_t klen = strcspn (env[i], "=");
      int seen = 0;
      for (size_t j = 0; j < i && !seen; j++)
        seen = strncmp (env[j], env[i], klen) == 0 && env[j][klen] == '=';
      if (seen)
        continue;
      const char *last = env[i];
      for (size_t j = i + 1; j < n; j++)
        if (strncmp (env[j], env[i], klen) == 0 && env[j][klen] == '=')
          last = env[j];
      json_array_append_new (a, json_string (last));
    }
  return a;
}

/* The parent's record, checked to be the one the sandbox runs on: its layers are the
   sandbox's, bottom first. */
static int
parent_record (fk_store_t *store, const fk_sandbox_state_t *st, json_t **ret, fk_error_t *err)
{
  if (st->template_id == NULL)
    return fk_error_set (err, ENOTSUP,
                         "sandbox `%s' was made from explicit layers, not a template: it has "
                         "no image to snapshot on",
                         st->id);
  cleanup_json json_t *rec = NULL;
  if (fk_template_record_load (store->dir, st->template_id, &rec, err) < 0)
    return fk_error_wrap (err, "the template of sandbox `%s'", st->id);
  json_t *layers = json_object_get (rec, "layers");
  size_t n = fk_strv_len (st->layers);
  int same = json_is_array (layers) && json_array_size (layers) == n;
  for (size_t i = 0; same && i < n; i++)
    {
      const char *d = json_string_value (json_object_get (json_array_get (layers, i), "diffID"));
      cleanup_free char *path
          = d && fk_digest_validate (d, NULL) == 0 ? fk_store_layer_path (store, d) : NULL;
      same = path && strcmp (path, st->layers[i]) == 0;
    }
  if (!same)
    return fk_error_set (err, ESTALE,
                         "template `%s' was prepared again since sandbox `%s' was made from it",
                         st->template_id, st->id);
  *ret = steal_pointer (&rec);
  return 0;
}

typedef struct captured
{
  int has_layer;
  char digest[FK_DIGEST_STR_LEN];
  uint64_t size;
  fk_upper_stats_t stats;
  /* The layer unpacked in the same pass: tree_tmp (under the state dir) until committed. */
  char *tree_tmp;
  int tree_root;
  fk_layer_writer_t *tree;
} captured_t;

static void
captured_release (fk_store_t *store, captured_t *cl)
{
  fk_layer_writer_free (cl->tree);
  cl->tree = NULL;
  cl->tree_root = close_and_reset (cl->tree_root);
  if (cl->tree_tmp)
    fk_store_layer_abort (store, cl->tree_tmp);
  free (cl->tree_tmp);
  cl->tree_tmp = NULL;
}

/* The unpacked layer's directory modes and times (the sandbox may run again meanwhile: the
   tree is the store's own), then the layer itself in the store. */
static int
commit_tree (fk_store_t *store, captured_t *cl, fk_error_t *err)
{
  fk_layer_stats_t ls;
  if (fk_layer_writer_finish (cl->tree, &ls, err) < 0)
    return fk_error_wrap (err, "unpack layer `%s'", cl->digest);
  fk_layer_writer_free (cl->tree);
  cl->tree = NULL;
  cl->tree_root = close_and_reset (cl->tree_root);
  cleanup_free char *tmp = steal_pointer (&cl->tree_tmp);
  return fk_store_layer_commit (store, tmp, cl->digest, cl->digest, ls.unpacked_size, ls.entries,
                                err);
}

/* The frozen sandbox's upper dir as a blob in the store (none when nothing changed), and the
   same layer unpacked into cl->tree, in one pass: the data is read once, hashed once. */
static int
capture_layer (fk_store_t *store, const fk_sandbox_state_t *st, const fk_sandbox_capture_t *cap,
               captured_t *ret, fk_error_t *err)
{
  size_t n = fk_strv_len (st->layers);
  int *lower = xcalloc (n ? n : 1, sizeof *lower);
  int rc = -1;
  cleanup_free char *tmp = NULL;
  cleanup_close int out = -1;
  for (size_t i = 0; i < n; i++)
    lower[i] = -1;
  for (size_t i = 0; i < n; i++)
    {
      lower[i] = open (st->layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (lower[i] < 0)
        {
          fk_error_set_errno (err, "layer `%s'", st->layers[i]);
          goto out;
        }
    }
  if (fk_store_tmp_file (store, &tmp, err) < 0
      || fk_store_layer_begin (store, &ret->tree_tmp, &ret->tree_root, err) < 0)
    goto out;
  /* As fk_store_layer_unpack would unpack the blob: image owners need root on the host. */
  fk_layer_opts_t lo = { .ignore_owners = geteuid () != 0 };
  ret->tree = fk_layer_writer_new (ret->tree_root, &lo);
  out = openat (store->dirfd, tmp, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (out < 0)
    {
      fk_error_set_errno (err, "open `%s'", tmp);
      goto out;
    }
  fk_upper_opts_t uo = {
    .id_base = cap->id_base,
    .id_size = cap->id_size,
    /* The upper dir lives on the sandbox's disk, so its real bytes are bounded by the disk
       limit; what a file claims (a sparse file) is bounded here by the same limit. */
    .max_bytes = st->resources.disk_bytes,
    .exclude = runtime_files,
    .lower_fds = lower,
    .n_lower = n,
    .tree = ret->tree,
    .direct = 1,
  };
  if (fk_upper_to_layer (cap->upperfd, &uo, out, &ret->stats, err) < 0)
    goto out;
  out = close_and_reset (out);
  ret->has_layer = ret->stats.entries > 0;
  if (ret->has_layer)
    {
      memcpy (ret->digest, ret->stats.diff_id, sizeof ret->digest);
      ret->size = ret->stats.tar_size;
      if (fk_store_blob_commit (store, tmp, ret->digest, (int64_t)ret->size, 1, err) < 0)
        goto out;
      free (steal_pointer (&tmp));
    }
  rc = 0;
out:
  if (tmp)
    unlinkat (store->dirfd, tmp, 0);
  for (size_t i = 0; i < n; i++)
    if (lower[i] >= 0)
      close (lower[i]);
  free (lower);
  return rc;
}

static int
put_json_blob (fk_store_t *store, json_t *j, char ret_digest[FK_DIGEST_STR_LEN], size_t *ret_size,
               fk_error_t *err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "cannot serialise a snapshot's JSON");
  *ret_size = strlen (text);
  return fk_store_blob_put (store, text, *ret_size, NULL, ret_digest, err);
}

/* The config, manifest and record of the snapshot id over parent; the record fsynced when
   durable (see snapshot). */
static int
write_image (fk_store_t *store, const fk_sandbox_state_t *st, const json_t *parent,
             const captured_t *cl, const char *id, int durable, fk_error_t *err)
{
  const fk_sandbox_spec_t *spec = st->spec;
  const char *pcfg = json_string_value (json_object_get (parent, "configDigest"));
  if (pcfg == NULL)
    return fk_error_set (err, EINVAL, "template `%s': no configDigest", st->template_id);
  cleanup_free char *ctext = NULL;
  size_t clen = 0;
  if (fk_store_blob_read (store, pcfg, CONFIG_MAX, &ctext, &clen, err) < 0)
    return fk_error_wrap (err, "template `%s': its image config", st->template_id);
  json_error_t jerr;
  cleanup_json json_t *config = json_loadb (ctext, clen, 0, &jerr);
  if (!json_is_object (config))
    return fk_error_set (err, EINVAL, "template `%s': its image config is not a JSON object",
                         st->template_id);
  json_t *c = json_object_get (config, "config");
  if (!json_is_object (c))
    {
      c = json_object ();
      json_object_set_new (config, "config", c);
    }
  json_t *env = env_json (spec ? spec->env : NULL);
  json_object_set_new (c, "Env", env);
  json_object_set_new (c, "WorkingDir", json_string (spec && spec->workdir ? spec->workdir : ""));
  json_object_set_new (c, "User", json_string (spec && spec->user ? spec->user : ""));
  json_t *rootfs = json_object_get (config, "rootfs");
  json_t *diff_ids = json_object_get (rootfs, "diff_ids");
  if (!json_is_array (diff_ids))
    return fk_error_set (err, EINVAL, "template `%s': its image config has no diff_ids",
                         st->template_id);
  if (cl->has_layer)
    {
      json_array_append_new (diff_ids, json_string (cl->digest));
      json_t *history = json_object_get (config, "history");
      if (!json_is_array (history))
        {
          history = json_array ();
          json_object_set_new (config, "history", history);
        }
      json_array_append_new (history, json_pack ("{s:s}", "created_by", "fk snapshot"));
    }
  char cdigest[FK_DIGEST_STR_LEN], mdigest[FK_DIGEST_STR_LEN];
  size_t csize, msize;
  if (put_json_blob (store, config, cdigest, &csize, err) < 0)
    return -1;

  json_t *rlayers = json_deep_copy (json_object_get (parent, "layers"));
  json_t *mlayers = json_array ();
  size_t i;
  json_t *l;
  json_array_foreach (rlayers, i, l)
  {
    json_array_append_new (mlayers, json_pack ("{s:O, s:O, s:O}", "mediaType",
                                               json_object_get (l, "mediaType"), "digest",
                                               json_object_get (l, "digest"), "size",
                                               json_object_get (l, "size")));
  }
  if (cl->has_layer)
    {
      json_array_append_new (mlayers,
                             json_pack ("{s:s, s:s, s:I}", "mediaType", LAYER_TAR, "digest",
                                        cl->digest, "size", (json_int_t)cl->size));
      json_array_append_new (rlayers, json_pack ("{s:s, s:s, s:s, s:I}", "digest", cl->digest,
                                                 "diffID", cl->digest, "mediaType", LAYER_TAR,
                                                 "size", (json_int_t)cl->size));
    }
  cleanup_json json_t *manifest = json_pack (
      "{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType", OCI_MANIFEST, "config",
      "mediaType", OCI_CONFIG, "digest", cdigest, "size", (json_int_t)csize, "layers", mlayers);
  if (manifest == NULL || put_json_blob (store, manifest, mdigest, &msize, err) < 0)
    {
      json_decref (rlayers);
      return manifest == NULL ? fk_error_set (err, EINVAL, "cannot build the manifest") : -1;
    }

  char created[32];
  time_t now = time (NULL);
  struct tm tm;
  gmtime_r (&now, &tm);
  strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cleanup_free char *source = xasprintf ("snapshot:%s", st->id);
  json_t *rcfg = json_object ();
  json_object_set (rcfg, "Env", env);
  json_object_set (rcfg, "Entrypoint", json_object_get (c, "Entrypoint") ?: json_null ());
  json_object_set (rcfg, "Cmd", json_object_get (c, "Cmd") ?: json_null ());
  json_object_set (rcfg, "WorkingDir", json_object_get (c, "WorkingDir"));
  json_object_set (rcfg, "User", json_object_get (c, "User"));
  cleanup_json json_t *rec
      = json_pack ("{s:s, s:s, s:s, s:s, s:O, s:s, s:o, s:o}", "id", id, "source", source,
                   "manifestDigest", mdigest, "configDigest", cdigest, "platform",
                   json_object_get (parent, "platform") ?: json_string ("linux/amd64"), "created",
                   created, "layers", rlayers, "config", rcfg);
  if (rec == NULL)
    return fk_error_set (err, EINVAL, "cannot build the record of template `%s'", id);
  /* The processes are not captured: a sandbox made from the snapshot starts the template's
     start command again and waits for it as the first one did. */
  static const char *const kept[] = { "startCmd", "readyCmd", "readyTimeout" };
  for (size_t k = 0; k < sizeof kept / sizeof *kept; k++)
    if (json_object_get (parent, kept[k]))
      json_object_set (rec, kept[k], json_object_get (parent, kept[k]));
  cleanup_free char *lockname = xasprintf ("template-%s", id);
  cleanup_close int lockfd = fk_store_lock (store, lockname, err);
  if (lockfd < 0)
    return -1;
  cleanup_free char *name = fk_template_record_name (id);
  return durable ? fk_json_dump_file_atomic_at (store->dirfd, name, rec, 1, err)
                 : fk_json_dump_file_replace_at (store->dirfd, name, rec, 1, err);
}

/* A snapshot of an id that exists replaces it (as E2B's createSnapshot with a name does) when it
   is a snapshot no sandbox runs on or sleeps in: a sandbox made from it resolves its template
   by id, and its next snapshot, fork or resume would then stack its changes on another image. */
static int
replaceable (fk_runtime_t *rt, fk_store_t *store, const char *id, fk_error_t *err)
{
  cleanup_free char *name = fk_template_record_name (id);
  cleanup_json json_t *rec = NULL;
  fk_error_t local = FK_ERROR_INIT;
  if (fk_json_load_file_at (store->dirfd, name, FK_TEMPLATE_RECORD_MAX, &rec, &local) < 0)
    {
      int missing = local.code == ENOENT;
      fk_error_clear (&local);
      if (missing)
        return 0;
      return fk_error_set (err, EEXIST, "template `%s' exists (and cannot be read)", id);
    }
  const char *source = json_string_value (json_object_get (rec, "source"));
  if (source == NULL
      || (strncmp (source, "snapshot:", 9) != 0 && strncmp (source, "fork:", 5) != 0))
    return fk_error_set (err, EEXIST,
                         "template `%s' exists and is not a snapshot: pick another id, or remove "
                         "it",
                         id);
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  if (fk_sandbox_list (rt, &infos, &n, err) < 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    if ((infos[i]->template_id && strcmp (infos[i]->template_id, id) == 0)
        || (infos[i]->disk_snapshot && strcmp (infos[i]->disk_snapshot, id) == 0))
      rc = fk_error_set (err, EBUSY,
                         "snapshot `%s' exists and sandbox %s runs on it: pick another id, or "
                         "remove the sandbox",
                         id, infos[i]->id);
  fk_sandbox_info_list_free (infos, n);
  return rc;
}

/* The snapshot itself; with to_disk the sandbox then stops and sleeps in it. Not durable (a
   fork's): its record is not fsynced. A fork's snapshot is what its forks run on, and they end
   with the boot; its blobs are not fsynced either (nor any snapshot's), so a crash could break
   a record that was, and the fsync (about 1 ms here, tens under other I/O) bought a fork
   nothing. */
static int
snapshot (fk_sandbox_t *sb, const char *want_id, int replace, int to_disk, int durable,
          char **ret_id, fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (sb->rt);
  cleanup_free char *id = want_id ? xstrdup (want_id) : generated_id ("snap", sb->state->id);
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  cleanup_store fk_store_t *store = NULL;
  if (fk_store_open (state_dir, &store, err) < 0)
    return -1;
  if (!replace && replaceable (sb->rt, store, id, err) < 0)
    return -1;
  fk_sandbox_capture_t cap = FK_SANDBOX_CAPTURE_INIT;
  if (fk_sandbox_capture_begin (sb, &cap, err) < 0)
    return -1;
  const fk_sandbox_state_t *st = sb->state;
  cleanup_json json_t *parent = NULL;
  captured_t cl = { .tree_root = -1 };
  int rc = -1;
  if (parent_record (store, st, &parent, err) < 0 || capture_layer (store, st, &cap, &cl, err) < 0)
    goto out;
  /* The files are read: the sandbox goes on (unless it goes to disk, once all is written). */
  if (!to_disk && fk_sandbox_capture_end (sb, &cap, err) < 0)
    goto out;
  if (cl.has_layer && commit_tree (store, &cl, err) < 0)
    goto out;
  if (write_image (store, st, parent, &cl, id, durable, err) < 0)
    goto out;
  if (to_disk && fk_sandbox_capture_end_to_disk (sb, &cap, id, err) < 0)
    goto out;
  log_info ("snapshot `%s' of sandbox `%s': %llu entries, %llu bytes", id, st->id,
            (unsigned long long)cl.stats.entries, (unsigned long long)cl.stats.bytes);
  *ret_id = steal_pointer (&id);
  rc = 0;
out:
  captured_release (store, &cl);
  if (cap.lockfd >= 0)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_sandbox_capture_end (sb, &cap, &ignored);
      fk_error_clear (&ignored);
    }
  if (rc < 0)
    fk_error_wrap (err, "snapshot of sandbox `%s'", sb->state->id);
  return rc;
}

int
fk_sandbox_snapshot (fk_sandbox_t *sb, const fk_snapshot_opts_t *opts, char **ret_id,
                     fk_error_t *err)
{
  if (opts
      && fk_options_check_version (opts->version, FK_SNAPSHOT_OPTIONS_VERSION, "fk_snapshot_opts_t",
                                   "FK_SNAPSHOT_OPTIONS_INIT", err)
             < 0)
    return -1;
  return snapshot (sb, opts ? opts->id : NULL, 0, 0, 1, ret_id, err);
}

#define FORK_THREADS 4

typedef struct fork_job
{
  const fk_fork_maker_t *maker;
  const fk_sandbox_spec_t *spec;
  unsigned count;
  char **ids; /* ids[i]: the i-th fork, written by the thread that made it */
  pthread_mutex_t lock;
  unsigned next;         /* under lock */
  int failed;            /* under lock: no new create starts once set */
  unsigned failed_index; /* under lock */
  fk_error_t err;        /* the first failure's, under lock */
} fork_job_t;

static void *
fork_worker (void *data)
{
  fork_job_t *job = data;
  for (;;)
    {
      pthread_mutex_lock (&job->lock);
      unsigned i = job->next++;
      int stop = job->failed || i >= job->count;
      pthread_mutex_unlock (&job->lock);
      if (stop)
        return NULL;
      fk_sandbox_t *child = NULL;
      fk_error_t err = FK_ERROR_INIT;
      if (job->maker->make (job->maker->data, job->spec, &child, &err) < 0)
        {
          pthread_mutex_lock (&job->lock);
          if (!job->failed)
            {
              job->failed = 1;
              job->failed_index = i;
              job->err = err;
            }
          else
            fk_error_clear (&err);
          pthread_mutex_unlock (&job->lock);
          return NULL;
        }
      job->ids[i] = xstrdup (fk_sandbox_id (child));
      fk_sandbox_free (child);
    }
}

static int
create_one (void *data, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb, fk_error_t *err)
{
  return fk_template_sandbox_create (data, spec, ret_sb, err);
}

int
fk_sandbox_fork (fk_sandbox_t *sb, unsigned count, char ***ret_ids, fk_error_t *err)
{
  fk_fork_maker_t maker = { .make = create_one, .data = sb->rt };
  return fk_sandbox_fork_with (sb, count, &maker, ret_ids, err);
}

int
fk_sandbox_fork_with (fk_sandbox_t *sb, unsigned count, const fk_fork_maker_t *maker,
                      char ***ret_ids, fk_error_t *err)
{
  if (count < 1 || count > FK_FORK_MAX)
    return fk_error_set (err, EINVAL, "fork: count %u is not between 1 and %d", count, FK_FORK_MAX);
  cleanup_free char *tid = generated_id ("fork", sb->state->id);
  cleanup_free char *snap = NULL;
  if (snapshot (sb, tid, 0, 0, 0, &snap, err) < 0)
    return -1;
  const fk_sandbox_state_t *st = sb->state;
  time_t now = time (NULL);
  uint64_t left = st->expires ? (st->expires > now ? (uint64_t)(st->expires - now) : 1) : 0;
  fk_sandbox_spec_t spec;
  fk_snapshot_spec_from (st, snap, left, &spec);
  if (maker->prepare && maker->prepare (maker->data, st, &spec, err) < 0)
    return fk_error_wrap (err, "fork of sandbox `%s'", st->id);
  cleanup_strv char **ids = xcalloc (count + 1, sizeof *ids);
  /* The creates run side by side (a few threads take the next index): most of a create is
     waiting on the kernel and on the new agent, so even two cores overlap them well. */
  fork_job_t job = { .maker = maker, .spec = &spec, .count = count, .ids = ids };
  pthread_mutex_init (&job.lock, NULL);
  unsigned n_threads = count < FORK_THREADS ? count : FORK_THREADS;
  pthread_t threads[FORK_THREADS];
  unsigned started = 0;
  for (; started < n_threads; started++)
    if (pthread_create (&threads[started], NULL, fork_worker, &job) != 0)
      break;
  if (started == 0)
    fork_worker (&job);
  for (unsigned i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  pthread_mutex_destroy (&job.lock);
  if (job.failed)
    {
      fk_error_set (err, job.err.code, "fork of sandbox `%s' (%u of %u): %s", st->id,
                    job.failed_index + 1, count, fk_error_message (&job.err));
      fk_error_clear (&job.err);
      /* The forks made so far go: a fork is all of them or none. */
      for (unsigned j = 0; j < count; j++)
        {
          if (ids[j] == NULL)
            continue;
          fk_sandbox_t *c = NULL;
          fk_error_t ignored = FK_ERROR_INIT;
          if (fk_sandbox_open (sb->rt, ids[j], &c, &ignored) == 0)
            fk_sandbox_delete (c, 1, &ignored);
          fk_sandbox_free (c);
          fk_error_clear (&ignored);
        }
      return -1;
    }
  *ret_ids = steal_pointer (&ids);
  return 0;
}

int
fk_sandbox_pause_to_disk (fk_sandbox_t *sb, char **ret_snapshot, fk_error_t *err)
{
  /* One template per sandbox, replaced at each pause: the new one holds the old one's layers
     and one more. */
  cleanup_free char *id = xasprintf ("disk-%s", sb->state->id);
  cleanup_free char *snap = NULL;
  if (snapshot (sb, id, 1, 1, 1, &snap, err) < 0)
    return -1;
  if (ret_snapshot)
    *ret_snapshot = steal_pointer (&snap);
  return 0;
}
