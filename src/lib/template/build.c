/* template/build.c: fk_template_build, a Dockerfile built into a template. The image grows one
   step at a time in memory (the record's layers and the image config); RUN runs in a sandbox
   made from the layers so far (a temporary template record) and its changes are captured as a
   snapshot layer; COPY, ADD and WORKDIR write their layers directly (buildcopy.c); the other
   instructions only change the config. A RUN's layer is kept in the step cache
   (build-cache/<key>.json in the state dir) under a key chained from the base image's manifest
   digest and every step's inputs before it, so an unchanged rebuild makes no sandbox. The
   template's record is written last: a failed build registers nothing. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "image/store.h"
#include "template/buildcopy.h"
#include "template/buildown.h"
#include "template/dockerfile.h"
#include "template/record.h"
#include "template/template.h"

#define LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CONFIG_MAX (4u << 20)
#define BUILD_ARG_MAX (64u << 10) /* bytes of one --build-arg */
#define BUILD_ARGS_MAX 256
#define RUN_OUTPUT_MAX (1u << 20) /* bytes of a RUN's stdout and of its stderr kept */
#define RUN_TIMEOUT_DEFAULT 3600

typedef struct build
{
  fk_runtime_t *rt;
  fk_store_t *store;
  const fk_template_build_opts_t *opts;
  fk_template_build_stats_t stats;
  int ctxfd;
  char *context;
  fk_dockerfile_t *df;
  char **ignore;
  json_t *layers;   /* the record's layer entries, bottom first */
  json_t *config;   /* the image config */
  json_t *platform; /* the base's */
  char chain[FK_DIGEST_STR_LEN];
  char **scope;                       /* ARG values in scope, "K=V" */
  int cmd_set;                        /* CMD given by this Dockerfile (ENTRYPOINT then keeps it) */
  char token[FK_BUILD_TOKEN_LEN + 1]; /* names what the build owns while it runs */
  int token_fd;                       /* holds locks/build-TOKEN */
  unsigned seq;                       /* temporary records made */
} build_t;

static void say (build_t *b, int stream, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
say (build_t *b, int stream, const char *fmt, ...)
{
  if (b->opts->on_log == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  char *s = NULL;
  int n = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (n >= 0)
    b->opts->on_log (b->opts->log_data, stream, s, (size_t)n);
  free (s);
}

static void
strv_add (char ***v, char *s)
{
  size_t n = fk_strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof **v);
  (*v)[n] = s;
  (*v)[n + 1] = NULL;
}

/* Sets "K=V" in v, replacing an earlier K. */
static void
strv_set (char ***v, const char *k, const char *val)
{
  size_t kl = strlen (k);
  for (size_t i = 0; *v && (*v)[i]; i++)
    if (strncmp ((*v)[i], k, kl) == 0 && (*v)[i][kl] == '=')
      {
        free ((*v)[i]);
        (*v)[i] = xasprintf ("%s=%s", k, val);
        return;
      }
  strv_add (v, xasprintf ("%s=%s", k, val));
}

static json_t *
cfg (build_t *b)
{
  json_t *c = json_object_get (b->config, "config");
  if (!json_is_object (c))
    {
      c = json_object ();
      json_object_set_new (b->config, "config", c);
    }
  return c;
}

/* The variables words see: the ARGs in scope, then the config's Env (which wins). */
static char **
vars (build_t *b)
{
  char **v = xcalloc (1, sizeof *v);
  for (size_t i = 0; b->scope && b->scope[i]; i++)
    strv_add (&v, xstrdup (b->scope[i]));
  json_t *env = json_object_get (cfg (b), "Env");
  size_t i;
  json_t *e;
  json_array_foreach (env, i, e)
  {
    if (json_is_string (e))
      strv_add (&v, xstrdup (json_string_value (e)));
  }
  return v;
}

static int
word (build_t *b, const fk_df_instr_t *in, const char *raw, char **ret, fk_error_t *err)
{
  cleanup_strv char **v = vars (b);
  if (fk_dockerfile_word (raw, b->df->escape, (const char *const *)v, ret, err) < 0)
    return fk_error_wrap (err, "line %u", in->line);
  return 0;
}

/* chain = sha256(chain, kind, text) */
static void
chain_step (build_t *b, const char *kind, const char *text, size_t len)
{
  fk_sha256_t *h = fk_sha256_new ();
  fk_sha256_update (h, b->chain, strlen (b->chain));
  fk_sha256_update (h, "\n", 1);
  fk_sha256_update (h, kind, strlen (kind) + 1);
  fk_sha256_update (h, text, len);
  fk_sha256_final (h, b->chain);
  fk_sha256_free (h);
}

static void
history (build_t *b, const char *created_by, int empty)
{
  json_t *h = json_object_get (b->config, "history");
  if (!json_is_array (h))
    {
      h = json_array ();
      json_object_set_new (b->config, "history", h);
    }
  json_t *e = json_pack ("{s:s}", "created_by", created_by);
  if (empty)
    json_object_set_new (e, "empty_layer", json_true ());
  json_array_append_new (h, e);
}

static void
add_layer (build_t *b, json_t *entry)
{
  json_t *rootfs = json_object_get (b->config, "rootfs");
  if (!json_is_object (rootfs))
    {
      rootfs = json_pack ("{s:s, s:[]}", "type", "layers", "diff_ids");
      json_object_set_new (b->config, "rootfs", rootfs);
    }
  json_array_append_new (json_object_get (rootfs, "diff_ids"),
                         json_string (json_string_value (json_object_get (entry, "diffID"))));
  json_array_append_new (b->layers, entry);
}

static char **
lower_paths (build_t *b)
{
  char **v = xcalloc (json_array_size (b->layers) + 1, sizeof *v);
  for (size_t i = 0; i < json_array_size (b->layers); i++)
    v[i] = fk_store_layer_path (
        b->store, json_string_value (json_object_get (json_array_get (b->layers, i), "diffID")));
  return v;
}

static int
put_json_blob (fk_store_t *store, json_t *j, char ret_digest[FK_DIGEST_STR_LEN], size_t *ret_size,
               fk_error_t *err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT | JSON_SORT_KEYS);
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "cannot serialise the image's JSON");
  *ret_size = strlen (text);
  return fk_store_blob_put (store, text, *ret_size, NULL, ret_digest, err);
}

/* The config and manifest as blobs, and the record templates/<id>.json over them. */
static int
write_image (build_t *b, const char *id, const char *source, fk_error_t *err)
{
  char cdigest[FK_DIGEST_STR_LEN], mdigest[FK_DIGEST_STR_LEN];
  size_t csize, msize;
  if (put_json_blob (b->store, b->config, cdigest, &csize, err) < 0)
    return -1;
  json_t *mlayers = json_array ();
  size_t i;
  json_t *l;
  json_array_foreach (b->layers, i, l)
  {
    json_array_append_new (mlayers, json_pack ("{s:O, s:O, s:O}", "mediaType",
                                               json_object_get (l, "mediaType"), "digest",
                                               json_object_get (l, "digest"), "size",
                                               json_object_get (l, "size")));
  }
  cleanup_json json_t *manifest = json_pack (
      "{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType", OCI_MANIFEST, "config",
      "mediaType", OCI_CONFIG, "digest", cdigest, "size", (json_int_t)csize, "layers", mlayers);
  if (manifest == NULL)
    return fk_error_set (err, EINVAL, "cannot build the manifest");
  if (put_json_blob (b->store, manifest, mdigest, &msize, err) < 0)
    return -1;
  char created[32];
  time_t now = time (NULL);
  struct tm tm;
  gmtime_r (&now, &tm);
  strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_t *c = cfg (b);
  json_t *rcfg = json_object ();
  json_t *v;
  json_object_set_new (rcfg, "Env",
                       (v = json_object_get (c, "Env")) ? json_incref (v) : json_array ());
  json_object_set_new (rcfg, "Entrypoint",
                       (v = json_object_get (c, "Entrypoint")) ? json_incref (v) : json_null ());
  json_object_set_new (rcfg, "Cmd",
                       (v = json_object_get (c, "Cmd")) ? json_incref (v) : json_null ());
  json_object_set_new (rcfg, "WorkingDir",
                       (v = json_object_get (c, "WorkingDir")) ? json_incref (v)
                                                               : json_string (""));
  json_object_set_new (rcfg, "User",
                       (v = json_object_get (c, "User")) ? json_incref (v) : json_string (""));
  cleanup_json json_t *rec
      = json_pack ("{s:s, s:s, s:s, s:s, s:O, s:s, s:O, s:o}", "id", id, "source", source,
                   "manifestDigest", mdigest, "configDigest", cdigest, "platform", b->platform,
                   "created", created, "layers", b->layers, "config", rcfg);
  if (rec == NULL)
    return fk_error_set (err, EINVAL, "cannot build the record of template `%s'", id);
  if (b->opts->start_cmd && strcmp (source, "build-step") != 0)
    json_object_set_new (rec, "startCmd", json_string (b->opts->start_cmd));
  if (b->opts->ready_cmd && strcmp (source, "build-step") != 0)
    json_object_set_new (rec, "readyCmd", json_string (b->opts->ready_cmd));
  if (b->opts->version >= 2 && b->opts->ready_timeout_sec && strcmp (source, "build-step") != 0)
    json_object_set_new (rec, "readyTimeout",
                         json_integer ((json_int_t)b->opts->ready_timeout_sec));
  cleanup_free char *lockname = xasprintf ("template-%s", id);
  cleanup_close int lockfd = fk_store_lock (b->store, lockname, err);
  if (lockfd < 0)
    return -1;
  cleanup_free char *name = fk_template_record_name (id);
  return fk_json_dump_file_atomic_at (b->store->dirfd, name, rec, 1, err);
}

static void
remove_record (build_t *b, const char *id)
{
  cleanup_free char *name = fk_template_record_name (id);
  unlinkat (b->store->dirfd, name, 0);
}

/* A temporary record's id: its token ties it to this build (buildown.h). */
static char *
temp_id (build_t *b, const char *what)
{
  return xasprintf ("build-%s-%s-%u", what, b->token, ++b->seq);
}

/* ---- FROM ---- */

static int
step_from (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  cleanup_free char *ref = NULL;
  if (word (b, in, in->args[0], &ref, err) < 0)
    return -1;
  cleanup_free char *id = NULL;
  fk_error_t ignored = FK_ERROR_INIT;
  cleanup_free char *name = fk_template_record_name (ref);
  if (fk_template_id_validate (ref, &ignored) == 0
      && faccessat (b->store->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    id = xstrdup (ref);
  fk_error_clear (&ignored);
  if (id == NULL)
    {
      fk_template_prepare_opts_t po = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
      po.progress = 0;
      if (fk_template_prepare (b->rt, ref, &po, &id, err) < 0)
        return fk_error_wrap (err, "line %u: FROM %s", in->line, ref);
    }
  cleanup_json json_t *rec = NULL;
  if (fk_template_record_load (fk_runtime_state_dir (b->rt), id, &rec, err) < 0)
    return fk_error_wrap (err, "line %u: FROM %s", in->line, ref);
  const char *cd = json_string_value (json_object_get (rec, "configDigest"));
  const char *md = json_string_value (json_object_get (rec, "manifestDigest"));
  json_t *layers = json_object_get (rec, "layers");
  if (cd == NULL || md == NULL || !json_is_array (layers))
    return fk_error_set (err, EINVAL, "line %u: template `%s' has no image config", in->line, id);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (fk_store_blob_read (b->store, cd, CONFIG_MAX, &text, &len, err) < 0)
    return fk_error_wrap (err, "line %u: FROM %s", in->line, ref);
  json_error_t jerr;
  b->config = json_loadb (text, len, 0, &jerr);
  if (!json_is_object (b->config))
    return fk_error_set (err, EINVAL, "line %u: template `%s': its config is not JSON", in->line,
                         id);
  b->layers = json_deep_copy (layers);
  json_t *platform = json_object_get (rec, "platform");
  b->platform = platform ? json_incref (platform) : json_string ("linux/amd64");
  for (size_t i = 0; i < json_array_size (b->layers); i++)
    {
      const char *d = json_string_value (json_object_get (json_array_get (b->layers, i), "diffID"));
      if (d == NULL || fk_digest_validate (d, NULL) < 0 || !fk_store_layer_has (b->store, d))
        return fk_error_set (err, ENOENT, "line %u: template `%s': a layer is missing", in->line,
                             id);
    }
  memset (b->chain, 0, sizeof b->chain);
  chain_step (b, "FROM", md, strlen (md));
  /* ARGs before FROM are for FROM only. */
  fk_strv_free (b->scope);
  b->scope = xcalloc (1, sizeof *b->scope);
  say (b, 1, " -> %s (%s)\n", id, md);
  return 0;
}

/* ---- RUN ---- */

static int
cache_lookup (build_t *b, const char *key, json_t **ret_entry)
{
  cleanup_free char *name = xasprintf ("build-cache/%s.json", fk_digest_hex (key));
  cleanup_json json_t *j = NULL;
  fk_error_t ignored = FK_ERROR_INIT;
  if (fk_json_load_file_at (b->store->dirfd, name, 64u << 10, &j, &ignored) < 0)
    {
      fk_error_clear (&ignored);
      return 0;
    }
  json_t *layer = json_object_get (j, "layer");
  if (json_is_null (layer))
    {
      *ret_entry = NULL;
      return 1;
    }
  const char *d = json_string_value (json_object_get (layer, "diffID"));
  /* A layer garbage-collected since is a miss. */
  if (d == NULL || fk_digest_validate (d, NULL) < 0 || !fk_store_layer_has (b->store, d))
    return 0;
  *ret_entry = json_incref (layer);
  return 1;
}

static void
cache_store (build_t *b, const char *key, json_t *entry)
{
  fk_error_t ignored = FK_ERROR_INIT;
  if (fk_mkdir_p_in_root (b->store->dirfd, "build-cache", 0700, &ignored) == 0)
    {
      cleanup_free char *name = xasprintf ("build-cache/%s.json", fk_digest_hex (key));
      cleanup_json json_t *j = json_pack ("{s:O}", "layer", entry ? entry : json_null ());
      fk_json_dump_file_atomic_at (b->store->dirfd, name, j, 0, &ignored);
    }
  fk_error_clear (&ignored);
}

/* Runs the command in a sandbox from the layers so far; the layer of its changes (none when it
   changed nothing) is added. */
static int
run_in_sandbox (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  cleanup_free char *parent = temp_id (b, "step");
  cleanup_free char *snap = temp_id (b, "snap");
  cleanup_free char *owner = xasprintf ("%s=%s", FK_BUILD_META_KEY, b->token);
  const char *metadata[] = { owner, NULL };
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  fk_exec_result_t res = { 0 };
  cleanup_free char *got = NULL;
  int rc = -1;
  if (write_image (b, parent, "build-step", err) < 0)
    goto out;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = parent;
  spec.metadata = metadata;
  uint64_t limit = b->opts->run_timeout_sec ? b->opts->run_timeout_sec : RUN_TIMEOUT_DEFAULT;
  /* The sandbox outlives a killed build by the RUN's limit at most. */
  spec.timeout_sec = limit + 60;
  if (fk_template_sandbox_create (b->rt, &spec, &sb, err) < 0)
    goto out;
  b->stats.sandboxes++;
  if (fk_client_connect (fk_sandbox_socket_path (sb), &c, err) < 0)
    goto out;
  fk_client_set_deadline_ms (c, -1);
  json_t *jc = cfg (b);
  const char *wd = json_string_value (json_object_get (jc, "WorkingDir"));
  const char *user = json_string_value (json_object_get (jc, "User"));
  fk_exec_opts_t eo = FK_EXEC_OPTIONS_INIT;
  if (in->exec_form)
    {
      char **argv = xcalloc (in->n_args + 1, sizeof *argv);
      memcpy (argv, in->args, in->n_args * sizeof *argv);
      eo.argv = argv;
    }
  else
    eo.shell = in->args[0];
  /* ARGs are the command's environment, not the image's. */
  eo.env = b->scope;
  eo.cwd = wd && *wd ? wd : NULL;
  eo.user = user && *user ? user : NULL;
  eo.timeout_ms = limit * 1000;
  int r = fk_client_exec (c, &eo, RUN_OUTPUT_MAX, &res, err);
  free ((void *)eo.argv);
  if (r < 0)
    {
      fk_error_wrap (err, "line %u: RUN", in->line);
      goto out;
    }
  if (res.out_len)
    b->opts->on_log ? b->opts->on_log (b->opts->log_data, 1, res.out, res.out_len) : (void)0;
  if (res.err_len)
    b->opts->on_log ? b->opts->on_log (b->opts->log_data, 2, res.err, res.err_len) : (void)0;
  if (res.status.exit_code != 0)
    {
      b->stats.run_exit_code = res.status.exit_code;
      size_t n = res.err_len > 2048 ? 2048 : res.err_len;
      fk_error_set (err, ECANCELED, "line %u: RUN %s %s with code %d%s%.*s", in->line,
                    in->exec_form ? in->args[0] : in->args[0],
                    res.status.timed_out ? "timed out" : "exited", res.status.exit_code,
                    n ? ": " : "", (int)n, res.err_len > n ? res.err + res.err_len - n : res.err);
      goto out;
    }
  fk_client_close (c);
  c = NULL;
  fk_snapshot_opts_t so = FK_SNAPSHOT_OPTIONS_INIT;
  so.id = snap;
  if (fk_sandbox_snapshot (sb, &so, &got, err) < 0)
    goto out;
  rc = 0;
out:
  fk_exec_result_free (&res);
  if (c)
    fk_client_close (c);
  if (sb)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_sandbox_delete (sb, 1, &ignored);
      fk_error_clear (&ignored);
      fk_sandbox_free (sb);
    }
  remove_record (b, parent);
  if (rc == 0)
    {
      cleanup_json json_t *rec = NULL;
      rc = fk_template_record_load (fk_runtime_state_dir (b->rt), snap, &rec, err);
      json_t *layers = json_object_get (rec, "layers");
      if (rc == 0 && json_array_size (layers) > json_array_size (b->layers))
        {
          json_t *entry = json_incref (json_array_get (layers, json_array_size (layers) - 1));
          add_layer (b, entry);
        }
    }
  remove_record (b, snap);
  return rc;
}

static int
step_run (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  /* The key: the chain so far, the command, and the ARG values it sees. */
  fk_sha256_t *h = fk_sha256_new ();
  fk_sha256_update (h, in->exec_form ? "exec" : "shell", 5);
  for (size_t i = 0; i < in->n_args; i++)
    fk_sha256_update (h, in->args[i], strlen (in->args[i]) + 1);
  fk_sha256_update (h, "\n", 1);
  for (size_t i = 0; b->scope && b->scope[i]; i++)
    fk_sha256_update (h, b->scope[i], strlen (b->scope[i]) + 1);
  char inputs[FK_DIGEST_STR_LEN];
  fk_sha256_final (h, inputs);
  fk_sha256_free (h);
  chain_step (b, "RUN", inputs, strlen (inputs));
  json_t *entry = NULL;
  if (cache_lookup (b, b->chain, &entry))
    {
      b->stats.cached++;
      say (b, 1, " -> cached\n");
      if (entry)
        add_layer (b, entry);
      history (b, in->text, entry == NULL);
      return 0;
    }
  size_t before = json_array_size (b->layers);
  if (run_in_sandbox (b, in, err) < 0)
    return -1;
  json_t *added = json_array_size (b->layers) > before
                      ? json_array_get (b->layers, json_array_size (b->layers) - 1)
                      : NULL;
  cache_store (b, b->chain, added);
  history (b, in->text, added == NULL);
  return 0;
}

/* ---- COPY, ADD, WORKDIR ---- */

static int
copy_layer (build_t *b, const fk_df_instr_t *in, fk_build_copy_t *c, const char *what,
            const char *created_by, fk_error_t *err)
{
  cleanup_strv char **lower = lower_paths (b);
  c->ctxfd = b->ctxfd;
  c->ignore = b->ignore;
  c->lower = (const char *const *)lower;
  c->n_lower = fk_strv_len (lower);
  char digest[FK_DIGEST_STR_LEN];
  uint64_t size = 0;
  if (fk_build_copy_layer (b->store, c, digest, &size, err) < 0)
    return fk_error_wrap (err, "line %u: %s", in->line, what);
  add_layer (b, json_pack ("{s:s, s:s, s:s, s:I}", "digest", digest, "diffID", digest, "mediaType",
                           LAYER_TAR, "size", (json_int_t)size));
  chain_step (b, what, digest, strlen (digest));
  history (b, created_by, 0);
  return 0;
}

/* dest as an absolute path: relative ones are below the WORKDIR. */
static char *
absolute (build_t *b, const char *path)
{
  if (path[0] == '/')
    return xstrdup (path);
  const char *wd = json_string_value (json_object_get (cfg (b), "WorkingDir"));
  if (wd == NULL || *wd == '\0')
    wd = "/";
  return xasprintf ("%s%s%s", wd, wd[strlen (wd) - 1] == '/' ? "" : "/", path);
}

static int
step_copy (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  const char *what = fk_dockerfile_kind_name (in->kind);
  fk_build_copy_t c = { .is_add = in->kind == FK_DF_ADD };
  cleanup_strv char **words = xcalloc (in->n_args + 1, sizeof *words);
  for (size_t i = 0; i < in->n_args; i++)
    if (word (b, in, in->args[i], &words[i], err) < 0)
      return -1;
  cleanup_strv char **lower = lower_paths (b);
  if (in->chown)
    {
      cleanup_free char *own = NULL;
      if (word (b, in, in->chown, &own, err) < 0
          || fk_build_owner ((const char *const *)lower, fk_strv_len (lower), own, &c.uid, &c.gid,
                             err)
                 < 0)
        return fk_error_wrap (err, "line %u: %s", in->line, what);
      c.has_owner = 1;
    }
  if (in->chmod)
    {
      char *end = NULL;
      unsigned long m = strtoul (in->chmod, &end, 8);
      if (*end || m > 07777)
        return fk_error_set (err, EINVAL, "line %u: %s --chmod=%s: only octal modes", in->line,
                             what, in->chmod);
      c.has_mode = 1;
      c.mode = (mode_t)m;
    }
  cleanup_free char *dest = absolute (b, words[in->n_args - 1]);
  if (words[in->n_args - 1][strlen (words[in->n_args - 1]) - 1] == '/')
    {
      char *d = xasprintf ("%s/", dest);
      free (dest);
      dest = d;
    }
  c.sources = words;
  c.n_sources = in->n_args - 1;
  c.dest = dest;
  cleanup_free char *created = xasprintf ("%s %s", what, in->text);
  return copy_layer (b, in, &c, what, created, err);
}

static int
step_workdir (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  cleanup_free char *w = NULL;
  if (word (b, in, in->args[0], &w, err) < 0)
    return -1;
  cleanup_free char *dir = absolute (b, w);
  json_object_set_new (cfg (b), "WorkingDir", json_string (dir));
  chain_step (b, "WORKDIR", dir, strlen (dir));
  cleanup_strv char **lower = lower_paths (b);
  struct stat st;
  if (fk_build_lower_stat ((const char *const *)lower, fk_strv_len (lower), dir, &st))
    {
      history (b, in->text, 1);
      return 0;
    }
  /* The directory is made, as a layer of its own, owned by the USER then (as other builders
     do; root when the image's passwd and group files do not name it). */
  fk_build_copy_t c = { .dest = dir };
  const char *user = json_string_value (json_object_get (cfg (b), "User"));
  if (user && *user)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      c.has_owner = fk_build_owner ((const char *const *)lower, fk_strv_len (lower), user, &c.uid,
                                    &c.gid, &ignored)
                    == 0;
      fk_error_clear (&ignored);
    }
  cleanup_free char *created = xasprintf ("WORKDIR %s", dir);
  return copy_layer (b, in, &c, "WORKDIR", created, err);
}

/* ---- config ---- */

static int
step_env (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  json_t *c = cfg (b);
  for (size_t i = 0; i + 1 < in->n_args; i += 2)
    {
      cleanup_free char *v = NULL;
      if (word (b, in, in->args[i + 1], &v, err) < 0)
        return -1;
      cleanup_strv char **env = NULL;
      json_t *je = json_object_get (c, "Env");
      size_t k;
      json_t *e;
      json_array_foreach (je, k, e)
      {
        if (json_is_string (e))
          strv_add (&env, xstrdup (json_string_value (e)));
      }
      strv_set (&env, in->args[i], v);
      json_t *a = json_array ();
      for (size_t j = 0; env && env[j]; j++)
        json_array_append_new (a, json_string (env[j]));
      json_object_set_new (c, "Env", a);
      cleanup_free char *kv = xasprintf ("%s=%s", in->args[i], v);
      chain_step (b, "ENV", kv, strlen (kv) + 1);
    }
  return 0;
}

static int
step_label (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  json_t *c = cfg (b);
  json_t *labels = json_object_get (c, "Labels");
  if (!json_is_object (labels))
    {
      labels = json_object ();
      json_object_set_new (c, "Labels", labels);
    }
  for (size_t i = 0; i + 1 < in->n_args; i += 2)
    {
      cleanup_free char *k = NULL, *v = NULL;
      if (word (b, in, in->args[i], &k, err) < 0 || word (b, in, in->args[i + 1], &v, err) < 0)
        return -1;
      json_object_set_new (labels, k, json_string (v));
      cleanup_free char *kv = xasprintf ("%s=%s", k, v);
      chain_step (b, "LABEL", kv, strlen (kv) + 1);
    }
  return 0;
}

static int
step_arg (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  for (size_t i = 0; i + 1 < in->n_args; i += 2)
    {
      const char *name = in->args[i];
      const char *given = NULL;
      size_t nl = strlen (name);
      for (const char *const *a = b->opts->build_args; a && *a; a++)
        if (strncmp (*a, name, nl) == 0 && (*a)[nl] == '=')
          given = *a + nl + 1;
      cleanup_free char *v = NULL;
      if (given)
        v = xstrdup (given);
      else if (in->args[i + 1] && word (b, in, in->args[i + 1], &v, err) < 0)
        return -1;
      if (v == NULL)
        continue;
      strv_set (&b->scope, name, v);
      cleanup_free char *kv = xasprintf ("%s=%s", name, v);
      chain_step (b, "ARG", kv, strlen (kv) + 1);
    }
  return 0;
}

static json_t *
command_json (const fk_df_instr_t *in)
{
  json_t *a = json_array ();
  if (in->exec_form)
    for (size_t i = 0; i < in->n_args; i++)
      json_array_append_new (a, json_string (in->args[i]));
  else if (in->n_args && in->args[0][0])
    {
      json_array_append_new (a, json_string ("/bin/sh"));
      json_array_append_new (a, json_string ("-c"));
      json_array_append_new (a, json_string (in->args[0]));
    }
  return a;
}

static int
step_config (build_t *b, const fk_df_instr_t *in, fk_error_t *err)
{
  json_t *c = cfg (b);
  cleanup_free char *w = NULL;
  switch (in->kind)
    {
    case FK_DF_USER:
      if (word (b, in, in->args[0], &w, err) < 0)
        return -1;
      json_object_set_new (c, "User", json_string (w));
      chain_step (b, "USER", w, strlen (w));
      return 0;
    case FK_DF_CMD:
    case FK_DF_ENTRYPOINT:
      {
        json_t *a = command_json (in);
        cleanup_free char *text = json_dumps (a, JSON_COMPACT | JSON_ENCODE_ANY);
        chain_step (b, fk_dockerfile_kind_name (in->kind), text, strlen (text));
        if (in->kind == FK_DF_CMD)
          {
            json_object_set_new (c, "Cmd", a);
            b->cmd_set = 1;
          }
        else
          {
            json_object_set_new (c, "Entrypoint", a);
            /* the base image's CMD does not go with a new ENTRYPOINT */
            if (!b->cmd_set)
              json_object_set_new (c, "Cmd", json_null ());
          }
        return 0;
      }
    case FK_DF_EXPOSE:
      {
        json_t *ports = json_object_get (c, "ExposedPorts");
        if (!json_is_object (ports))
          {
            ports = json_object ();
            json_object_set_new (c, "ExposedPorts", ports);
          }
        for (size_t i = 0; i < in->n_args; i++)
          {
            cleanup_free char *p = NULL;
            if (word (b, in, in->args[i], &p, err) < 0)
              return -1;
            char *end = NULL;
            unsigned long port = strtoul (p, &end, 10);
            if (end == p || port < 1 || port > 65535
                || (*end && strcmp (end, "/tcp") && strcmp (end, "/udp") && strcmp (end, "/sctp")))
              return fk_error_set (err, EINVAL, "line %u: EXPOSE `%s': not PORT[/tcp|udp|sctp]",
                                   in->line, p);
            cleanup_free char *key = xasprintf ("%lu%s", port, *end ? end : "/tcp");
            json_object_set_new (ports, key, json_object ());
            chain_step (b, "EXPOSE", key, strlen (key));
          }
        return 0;
      }
    default:
      return 0;
    }
}

/* ---- the build ---- */

static int
read_dockerfile (build_t *b, fk_error_t *err)
{
  const char *path = b->opts->dockerfile;
  cleanup_close int fd = -1;
  if (path)
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  else
    fd = fk_openat2 (b->ctxfd, "Dockerfile", O_RDONLY | O_NONBLOCK, 0,
                     RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (fd < 0)
    return fk_error_set_errno (err, "open the Dockerfile `%s'", path ? path : "Dockerfile");
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    return fk_error_set (err, EINVAL, "the Dockerfile `%s' is not a file",
                         path ? path : "Dockerfile");
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (fk_read_all (fd, FK_DOCKERFILE_MAX, &text, &len, err) < 0)
    return fk_error_wrap (err, "the Dockerfile");
  if (fk_dockerfile_parse (text, len, &b->df, err) < 0)
    return fk_error_wrap (err, "%s", path ? path : "Dockerfile");
  return 0;
}

static int
check_build_args (const char *const *args, fk_error_t *err)
{
  size_t n = 0;
  for (; args && args[n]; n++)
    {
      const char *eq = strchr (args[n], '=');
      if (eq == NULL || eq == args[n])
        return fk_error_set (err, EINVAL, "--build-arg `%.64s': not KEY=VALUE", args[n]);
      if (strlen (args[n]) > BUILD_ARG_MAX)
        return fk_error_set (err, EFBIG, "--build-arg %.*s: more than %u bytes",
                             (int)(eq - args[n] > 64 ? 64 : eq - args[n]), args[n], BUILD_ARG_MAX);
    }
  if (n > BUILD_ARGS_MAX)
    return fk_error_set (err, EFBIG, "more than %u --build-arg", BUILD_ARGS_MAX);
  return 0;
}

int
fk_template_build (fk_runtime_t *rt, const char *context, const fk_template_build_opts_t *opts,
                   fk_template_build_stats_t *ret_stats, fk_error_t *err)
{
  if (opts == NULL)
    return fk_error_set (err, EINVAL, "a build needs options (the template id)");
  if (fk_options_check_version (opts->version, FK_TEMPLATE_BUILD_OPTIONS_VERSION,
                                "fk_template_build_opts_t", "FK_TEMPLATE_BUILD_OPTIONS_INIT", err)
      < 0)
    return -1;
  if (opts->id == NULL)
    return fk_error_set (err, EINVAL, "a build needs a template id (-t NAME)");
  if (fk_template_id_validate (opts->id, err) < 0 || check_build_args (opts->build_args, err) < 0)
    return -1;
  build_t b = { .rt = rt, .opts = opts, .ctxfd = -1, .token_fd = -1 };
  cleanup_free char *source = NULL;
  int rc = -1;
  b.ctxfd = open (context, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (b.ctxfd < 0)
    {
      fk_error_set_errno (err, "build context `%s'", context);
      goto out;
    }
  b.context = realpath (context, NULL);
  if (b.context == NULL)
    b.context = xstrdup (context);
  if (fk_store_open (fk_runtime_state_dir (rt), &b.store, err) < 0 || read_dockerfile (&b, err) < 0
      || fk_build_ignore_load (b.ctxfd, &b.ignore, err) < 0)
    goto out;
  {
    /* What killed builds left (their RUN sandboxes, temporary records) goes first. */
    fk_error_t swept = FK_ERROR_INIT;
    if (fk_build_sweep (rt, b.store, NULL, &swept) < 0)
      log_warning ("cleaning up after killed builds: %s", fk_error_message (&swept));
    fk_error_clear (&swept);
  }
  if (fk_build_token_take (b.store, b.token, &b.token_fd, err) < 0)
    goto out;
  b.scope = xcalloc (1, sizeof *b.scope);
  size_t total = b.df->n;
  for (size_t i = 0; i < b.df->n; i++)
    {
      const fk_df_instr_t *in = &b.df->instrs[i];
      say (&b, 1, "Step %zu/%zu : %s %s\n", i + 1, total, fk_dockerfile_kind_name (in->kind),
           in->text);
      if (in->kind != FK_DF_FROM && in->kind != FK_DF_ARG && b.config == NULL)
        {
          fk_error_set (err, EINVAL, "line %u: before FROM", in->line);
          goto out;
        }
      if (b.config)
        b.stats.steps++;
      int r = 0;
      switch (in->kind)
        {
        case FK_DF_FROM:
          r = step_from (&b, in, err);
          break;
        case FK_DF_RUN:
          r = step_run (&b, in, err);
          break;
        case FK_DF_COPY:
        case FK_DF_ADD:
          r = step_copy (&b, in, err);
          break;
        case FK_DF_WORKDIR:
          r = step_workdir (&b, in, err);
          break;
        case FK_DF_ENV:
          r = step_env (&b, in, err);
          break;
        case FK_DF_LABEL:
          r = step_label (&b, in, err);
          break;
        case FK_DF_ARG:
          r = step_arg (&b, in, err);
          break;
        default:
          r = step_config (&b, in, err);
          break;
        }
      if (r < 0)
        goto out;
      if (in->kind != FK_DF_RUN && in->kind != FK_DF_COPY && in->kind != FK_DF_ADD
          && in->kind != FK_DF_WORKDIR && in->kind != FK_DF_FROM && in->kind != FK_DF_ARG
          && b.config)
        {
          cleanup_free char *h = xasprintf ("%s %s", fk_dockerfile_kind_name (in->kind), in->text);
          history (&b, h, 1);
        }
    }
  source = xasprintf ("build:%s", b.context);
  if (write_image (&b, opts->id, source, err) < 0)
    goto out;
  rc = 0;
out:
  if (ret_stats)
    *ret_stats = b.stats;
  if (b.ctxfd >= 0)
    close (b.ctxfd);
  free (b.context);
  if (b.store)
    fk_build_token_release (b.store, b.token, b.token_fd);
  fk_store_close (b.store);
  fk_dockerfile_free (b.df);
  fk_strv_free (b.ignore);
  fk_strv_free (b.scope);
  json_decref (b.layers);
  json_decref (b.config);
  json_decref (b.platform);
  return rc;
}
