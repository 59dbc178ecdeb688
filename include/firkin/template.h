/* firkin/template.h: templates: an OCI image prepared into the store of a runtime's state
   directory (unpacked layers shared by diff-id, plus the image config), what sandboxes are made
   from. */
#ifndef FIRKIN_TEMPLATE_H
#define FIRKIN_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include <firkin/error.h>
#include <firkin/progress.h>
#include <firkin/runtime.h>
#include <firkin/sandbox.h>
#include <firkin/strv.h>

typedef struct fk_template
{
  char *id, *source, *manifest_digest;
  char **layers;              /* absolute paths of layers/.../fs, BOTTOM FIRST, NULL-terminated */
  char **env;                 /* "K=V", NULL-terminated */
  char **entrypoint, **cmd;   /* NULL-terminated, may be NULL */
  char *workdir;              /* may be NULL: "/" */
  char *user;                 /* image User string ("", "1000", "1000:1000", "name[:group]") */
  char *start_cmd;            /* started in the background at every create, may be NULL */
  char *ready_cmd;            /* polled after the start command until it exits 0, may be NULL */
  uint64_t ready_timeout_sec; /* how long ready_cmd may fail: 0: FK_TEMPLATE_READY_TIMEOUT */
} fk_template_t;

#define FK_TEMPLATE_READY_TIMEOUT 60

/* Loads the record templates/<id>.json of rt's state directory; every layer it names must be
   unpacked. Free *ret with fk_template_free. */
int fk_template_load (fk_runtime_t *rt, const char *id, fk_template_t **ret, fk_error_t *err);
void fk_template_free (fk_template_t *t);

/* What a sandbox spec naming a template needs before fk_sandbox_create takes it: the template's
   layers, and its env (before the spec's own), workdir and user (where the spec gives none).
   *ret_spec is spec with those filled in; its new strings belong to *ret_owner, which the
   caller frees after the create (fk_template_resolved_free). A spec with no template id comes
   back as it is, with a NULL owner. ENOENT for an unknown template. */
typedef struct fk_template_resolved fk_template_resolved_t;
int fk_template_resolve (fk_runtime_t *rt, const fk_sandbox_spec_t *spec,
                         fk_sandbox_spec_t *ret_spec, fk_template_resolved_t **ret_owner,
                         fk_error_t *err);
void fk_template_resolved_free (fk_template_resolved_t *owner);

/* fk_template_resolve, then fk_sandbox_create; then, for a template with a start command, that
   command (a shell line, the image's cwd and user, output discarded) is left running in the
   sandbox under the tag `start', and its ready command is run every 100 ms until it exits 0.
   When the start command exits non-zero first, or the ready command has not succeeded within
   the template's ready timeout, the sandbox is deleted and the create fails (ECANCELED,
   ETIMEDOUT). */
int fk_template_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec,
                                fk_sandbox_t **ret_sb, fk_error_t *err);

typedef struct fk_template_prepare_opts
{
  unsigned version;     /* FK_TEMPLATE_PREPARE_OPTIONS_VERSION */
  const char *id;       /* NULL: derived from the reference ("debian-bookworm-slim") */
  const char *platform; /* "os/arch[/variant]"; NULL: the host's */
  /* For front ends (the library never reads it): fk draws a bar per layer when -1 and stderr is
     a TTY, or 1; not when 0. */
  int progress;
  fk_pull_progress_fn on_progress; /* NULL: no progress reports */
  void *progress_data;             /* passed to on_progress */
} fk_template_prepare_opts_t;

#define FK_TEMPLATE_PREPARE_OPTIONS_VERSION 1
#define FK_TEMPLATE_PREPARE_OPTIONS_INIT                                                           \
  {                                                                                                \
    .version = FK_TEMPLATE_PREPARE_OPTIONS_VERSION, .progress = -1                                 \
  }

/* Prepares a template from an image reference (registry, `oci:DIR[:TAG]`,
   `oci-archive:FILE[:TAG]`, `docker-archive:FILE`): fetches or imports the image, unpacks each
   layer once, writes the record. Preparing an id again with the same image is a no-op; with
   another image it replaces the record. `debian:bookworm-slim` falls back to the local `base`
   template (a warning is logged, firkin/log.h) when no registry answers. opts NULL: the
   defaults. *ret_id (caller frees) is the id. */
int fk_template_prepare (fk_runtime_t *rt, const char *ref, const fk_template_prepare_opts_t *opts,
                         char **ret_id, fk_error_t *err);

/* The ids of all templates, sorted, NULL-terminated (free with fk_strv_free). */
int fk_template_list (fk_runtime_t *rt, char ***ret_ids, fk_error_t *err);

/* The template record as JSON text (caller frees). */
int fk_template_inspect (fk_runtime_t *rt, const char *id, char **ret_json, fk_error_t *err);

typedef struct fk_template_gc_stats
{
  unsigned blobs_removed, layers_removed;
  uint64_t bytes_freed;
} fk_template_gc_stats_t;

/* Removes the template record, then frees the layers and blobs no other template uses. */
int fk_template_remove (fk_runtime_t *rt, const char *id, fk_template_gc_stats_t *ret_stats,
                        fk_error_t *err);

/* Frees the layers and blobs no template uses, and leftovers of interrupted work (`fk image
   prune`). */
int fk_template_prune (fk_runtime_t *rt, fk_template_gc_stats_t *ret_stats, fk_error_t *err);

/* Writes the template's image (manifest, config, layer blobs as stored) to dest:
   `oci:DIR[:TAG]` (an OCI layout, created or added to; TAG defaults to the id),
   `oci-archive:FILE[:TAG]` (the same in a tar) or `docker-archive:FILE` (`docker save`'s). */
int fk_template_export (fk_runtime_t *rt, const char *id, const char *dest, fk_error_t *err);

typedef struct fk_template_push_opts
{
  unsigned version;    /* FK_TEMPLATE_PUSH_OPTIONS_VERSION */
  uint64_t chunk_size; /* blobs larger than this go up in chunks of it; 0: 16 MiB */
} fk_template_push_opts_t;

#define FK_TEMPLATE_PUSH_OPTIONS_VERSION 1
#define FK_TEMPLATE_PUSH_OPTIONS_INIT                                                              \
  {                                                                                                \
    .version = FK_TEMPLATE_PUSH_OPTIONS_VERSION                                                    \
  }

typedef struct fk_template_push_stats
{
  unsigned present, mounted, uploaded; /* blobs the registry had, mounted, received */
  uint64_t bytes_uploaded;
} fk_template_push_stats_t;

/* Pushes the template's image (manifest, config, layer blobs as stored: the digests stay) to
   the registry reference ref (`[REGISTRY/]REPO[:TAG]`), with the credentials, hosts and
   timeouts of a pull: blobs the registry has are skipped, blobs another template was pulled
   with from the same registry are mounted from that repository, the others uploaded; the
   manifest last. opts NULL: the defaults. *ret_digest (caller frees; may be NULL) is the
   manifest's digest, ret_stats (may be NULL) what was sent. */
int fk_template_push (fk_runtime_t *rt, const char *id, const char *ref,
                      const fk_template_push_opts_t *opts, char **ret_digest,
                      fk_template_push_stats_t *ret_stats, fk_error_t *err);

/* Snapshots (docs/snapshots.md). A snapshot is a template: the sandbox's template layers, one
   layer with what the sandbox changed (none when it changed nothing), and its env, cwd and
   user. It holds what the sandbox's code wrote: it is as untrusted as the sandbox. */
typedef struct fk_snapshot_opts
{
  unsigned version; /* FK_SNAPSHOT_OPTIONS_VERSION */
  const char *id;   /* the template's id; NULL: "snap-<sandbox id>-<8 hex>" */
} fk_snapshot_opts_t;

#define FK_SNAPSHOT_OPTIONS_VERSION 1
#define FK_SNAPSHOT_OPTIONS_INIT                                                                   \
  {                                                                                                \
    .version = FK_SNAPSHOT_OPTIONS_VERSION                                                         \
  }

/* The most sandboxes one fork makes. */
#define FK_FORK_MAX 100

/* Captures the sandbox's filesystem changes as a new template (frozen for the capture only; it
   goes on running). An existing snapshot of that id is replaced; EEXIST when the id is a
   template that is not a snapshot, EBUSY when a sandbox runs on (or sleeps in) the snapshot it
   would replace; *ret_id (caller frees) is the template id. */
int fk_sandbox_snapshot (fk_sandbox_t *sb, const fk_snapshot_opts_t *opts, char **ret_id,
                         fk_error_t *err);

/* count (1 to FK_FORK_MAX) new sandboxes from sb's filesystem now, sharing one snapshot layer;
   same limits, metadata and remaining timeout. *ret_ids: their ids (free with fk_strv_free). */
int fk_sandbox_fork (fk_sandbox_t *sb, unsigned count, char ***ret_ids, fk_error_t *err);

/* Snapshots the sandbox into the template "disk-<id>" (replaced at each pause), then stops it:
   no process, no memory; its state (on disk) says paused-to-disk. *ret_snapshot may be NULL. */
int fk_sandbox_pause_to_disk (fk_sandbox_t *sb, char **ret_snapshot, fk_error_t *err);

/* Resumes a sandbox: one paused to disk is made again from its snapshot, with the same id,
   metadata, limits and remaining timeout; a frozen one is thawed (fk_sandbox_resume). */
int fk_template_sandbox_resume (fk_sandbox_t *sb, fk_error_t *err);

/* Builds (docs/snapshots.md, "Builds"). */
typedef struct fk_template_build_stats
{
  unsigned steps;     /* instructions after FROM */
  unsigned cached;    /* RUN steps taken from the step cache */
  unsigned sandboxes; /* sandboxes made (one per RUN not in the cache) */
  int run_exit_code;  /* a failed RUN's exit code (128 + signal), else 0 */
} fk_template_build_stats_t;

/* What a build reports as it goes: a line per step ("Step 3/9 : RUN ..."), and a RUN's
   output (stream 1 or 2) when it ends. */
typedef void (*fk_template_build_log_fn) (void *data, int stream, const char *text, size_t len);

typedef struct fk_template_build_opts
{
  unsigned version;                /* FK_TEMPLATE_BUILD_OPTIONS_VERSION */
  const char *dockerfile;          /* path of the Dockerfile; NULL: CONTEXT/Dockerfile */
  const char *id;                  /* the template's id (required) */
  const char *const *build_args;   /* "K=V" for ARG, NULL-terminated, may be NULL */
  const char *start_cmd;           /* kept in the record (startCmd), may be NULL */
  const char *ready_cmd;           /* kept in the record (readyCmd), may be NULL */
  uint64_t run_timeout_sec;        /* each RUN's limit; 0: 3600 */
  fk_template_build_log_fn on_log; /* NULL: nothing reported */
  void *log_data;
  /* version 2: */
  uint64_t ready_timeout_sec; /* kept in the record (readyTimeout); 0: the default, 60 s */
} fk_template_build_opts_t;

#define FK_TEMPLATE_BUILD_OPTIONS_VERSION 2
#define FK_TEMPLATE_BUILD_OPTIONS_INIT                                                             \
  {                                                                                                \
    .version = FK_TEMPLATE_BUILD_OPTIONS_VERSION                                                   \
  }

/* Builds the template opts->id from a Dockerfile and the context directory: FROM a template id
   or any reference fk_template_prepare takes, each RUN in a sandbox whose changes become one
   layer, COPY and ADD as layers written from the context, the rest into the image config. RUN
   steps come from the step cache when their parent layers and inputs are unchanged. The
   record is written only when every step succeeded. ret_stats may be NULL; it is filled also
   on failure (a failed RUN's exit code). */
int fk_template_build (fk_runtime_t *rt, const char *context, const fk_template_build_opts_t *opts,
                       fk_template_build_stats_t *ret_stats, fk_error_t *err);

#endif
