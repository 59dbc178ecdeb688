/* cli/bench_shell_pool_density.c: fk bench shell-pool-density: the reference's
   live_sandbox_shell_pool_density_writes_repeat_samples on Linux. One sandbox; per level a
   shell pool of that size, a warm-up dispatch per slot (excluded), then per repeat every slot
   dispatched `printf' at once and the slowest kept; the artifact in the reference's format.
   In the same run the peer: the same dispatches as `crun exec' into a running crun container
   of the same root; then both reports and firkin's p95 per level beside crun's. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/crun.h"
#include "bench/density.h"
#include "bench/rootfs.h"
#include "cli/bench.h"
#include "cli/open.h"
#include "firkin/client.h"
#include "firkin/sandbox.h"
#include "firkin/template.h"
#include "trace/artifact.h"
#include "trace/envparse.h"
#include "trace/stats.h"

#define ENV_ARTIFACT "FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_ARTIFACT"
#define ENV_REPEATS "FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_REPEATS"
#define ENV_LEVELS "FIRKIN_LIVE_SANDBOX_SHELL_POOL_DENSITY_LEVELS"
#define ENV_IMAGE "FIRKIN_LIVE_SANDBOX_SHELL_POOL_IMAGE"

#define USAGE                                                                                      \
  "usage: fk bench shell-pool-density [OPTIONS]\n"                                                 \
  "  --artifact FILE       (" ENV_ARTIFACT ";\n"                                                   \
  "                        default "                                                               \
  "$FIRKIN_STATE_DIR/bench/live-sandbox-shell-pool-density.json)\n"                                \
  "  --repeats N           (" ENV_REPEATS ", default 10)\n"                                        \
  "  --levels L1,L2,...    (" ENV_LEVELS ", default 1,2,4,8)\n"                                    \
  "  --wide                levels 1,2,4,8,16,32,64\n"                                              \
  "  --image REF           (" ENV_IMAGE ", default debian:bookworm-slim)\n"                        \
  "  --template ID         a prepared template (default: the image's, e.g. "                       \
  "debian-bookworm-slim,\n"                                                                        \
  "                        or `base' for debian:bookworm-slim, when prepared)\n"                   \
  "  --rootfs DIR          the sandbox's (and the peer's) root instead of a template; without\n"   \
  "                        either and no template for the image a busybox root is built\n"         \
  "  --peer-artifact FILE  the crun exec artifact (default: FILE with -crun-exec)\n"               \
  "  --no-peer             skip the crun exec peer\n"

static const size_t default_levels[] = { 1, 2, 4, 8 };
static const size_t wide_levels[] = { 1, 2, 4, 8, 16, 32, 64 };

static char *
peer_path (const char *artifact)
{
  size_t n = strlen (artifact);
  if (n > 5 && strcmp (artifact + n - 5, ".json") == 0)
    return xasprintf ("%.*s-crun-exec.json", (int)(n - 5), artifact);
  return xasprintf ("%s-crun-exec.json", artifact);
}

static void
print_comparison (const fk_trace_samples_t *fk, const fk_trace_samples_t *peer,
                  const size_t *levels, size_t n_levels)
{
  printf ("\nshell-pool printf completion, firkin vs crun exec (same root, same run)\n");
  printf ("%8s %14s %14s %14s %14s %12s\n", "level", "firkin p50 ms", "firkin p95 ms",
          "crun p50 ms", "crun p95 ms", "crun/firkin");
  for (size_t i = 0; i < n_levels; i++)
    {
      char m1[128], m2[128];
      snprintf (m1, sizeof m1, "debug.exec.sandbox_shell_pool_run_completion_c%zu_ms", levels[i]);
      snprintf (m2, sizeof m2, "%s%zu_ms", fk_crun_exec_density.level_metric_prefix, levels[i]);
      double a50, a95, b50 = NAN, b95 = NAN;
      fk_trace_metric_p50_p95 (fk, m1, &a50, &a95);
      if (peer != NULL)
        fk_trace_metric_p50_p95 (peer, m2, &b50, &b95);
      printf ("%8zu %14.4f %14.4f %14.4f %14.4f %11.1fx\n", levels[i], a50, a95, b50, b95,
              b95 / a95);
    }
}

/* The template to use: `id' when given (it must exist), else the image's derived id, else `base'
   for debian:bookworm-slim (as fk template prepare falls back to it); *ret NULL when none is
   prepared. */
static int
find_template (fk_runtime_t *rt, const char *id, const char *image, fk_template_t **ret,
               fk_error_t *err)
{
  *ret = NULL;
  if (id != NULL)
    return fk_template_load (rt, id, ret, err) < 0 ? fk_error_wrap (err, "--template") : 0;
  cleanup_free char *derived = xstrdup (image);
  for (char *q = derived; *q; q++)
    if (*q == ':' || *q == '/' || *q == '@')
      *q = '-';
  const char *ids[] = { derived, strcmp (image, "debian:bookworm-slim") == 0 ? "base" : NULL };
  for (size_t i = 0; i < 2 && ids[i] != NULL; i++)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_template_load (rt, ids[i], ret, &e2) == 0)
        return 0;
      fk_error_clear (&e2);
    }
  return 0;
}

/* The command line beyond the shared options. */
typedef struct spd_opts
{
  fk_bench_args_t a;
  const char *image, *rootfs, *template_id;
  char *peer_artifact;
  int no_peer;
} spd_opts_t;

static int
own_option (void *ctx, int opt, const char *arg)
{
  spd_opts_t *o = ctx;
  switch (opt)
    {
    case 'w':
      free (o->a.levels);
      o->a.n_levels = sizeof wide_levels / sizeof wide_levels[0];
      o->a.levels = xmemdup (wide_levels, sizeof wide_levels);
      break;
    case 'i':
      o->image = arg;
      break;
    case 'R':
      o->rootfs = arg;
      break;
    case 't':
      o->template_id = arg;
      break;
    case 'p':
      free (o->peer_artifact);
      o->peer_artifact = xstrdup (arg);
      break;
    case 'n':
      o->no_peer = 1;
      break;
    }
  return 0;
}

int
fk_bench_shell_pool_density (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    FK_BENCH_OPTION_ARTIFACT,
    FK_BENCH_OPTION_REPEATS,
    FK_BENCH_OPTION_LEVELS,
    { "wide", no_argument, NULL, 'w' },
    { "image", required_argument, NULL, 'i' },
    { "rootfs", required_argument, NULL, 'R' },
    { "template", required_argument, NULL, 't' },
    { "peer-artifact", required_argument, NULL, 'p' },
    { "no-peer", no_argument, NULL, 'n' },
    FK_BENCH_OPTION_HELP,
    { NULL, 0, NULL, 0 },
  };
  fk_error_t err = FK_ERROR_INIT;
  const char *env_artifact = getenv (ENV_ARTIFACT);
  const char *env_image = getenv (ENV_IMAGE);
  /* The environment follows the reference's rules: anything invalid falls back to the default. */
  spd_opts_t o = {
    .a = { .cmd = "shell-pool-density",
           .usage = USAGE,
           .artifact = env_artifact && *env_artifact ? xstrdup (env_artifact) : NULL,
           .repeats = fk_trace_env_repeat_count (getenv (ENV_REPEATS), 10) },
    .image = env_image ? env_image : "debian:bookworm-slim",
  };
  fk_trace_env_levels (getenv (ENV_LEVELS), default_levels,
                       sizeof default_levels / sizeof default_levels[0], &o.a.levels,
                       &o.a.n_levels);
  int code = fk_bench_args_parse (&o.a, argc, argv, opts, own_option, &o);
  cleanup_free char *artifact = o.a.artifact, *peer_artifact = o.peer_artifact;
  cleanup_free size_t *levels = o.a.levels;
  size_t n_levels = o.a.n_levels, repeats = o.a.repeats;
  const char *image = o.image, *rootfs = o.rootfs, *template_id = o.template_id;
  int no_peer = o.no_peer;
  if (code >= 0)
    return code;
  for (size_t i = 0; i < n_levels; i++)
    if (levels[i] > 1024)
      {
        fprintf (stderr, "fk: bench shell-pool-density: level %zu: at most 1024 shells\n",
                 levels[i]);
        return 2;
      }
  if (artifact == NULL)
    artifact = xasprintf ("%s/bench/live-sandbox-shell-pool-density.json", g->state_dir);
  if (peer_artifact == NULL)
    peer_artifact = peer_path (artifact);

  int ret = 1;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  fk_client_t *client = NULL;
  cleanup_free char *built_root = NULL;
  fk_template_t *tmpl = NULL;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT, peer = FK_TRACE_SAMPLES_INIT;
  if (fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0)
    goto fail;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  const char *layers[] = { rootfs, NULL };
  const char *const *peer_layers = layers;
  if (rootfs == NULL)
    {
      if (find_template (rt, template_id, image, &tmpl, &err) < 0)
        goto fail;
      if (tmpl != NULL)
        {
          printf ("image %s: template `%s' (%s)\n", image, tmpl->id, tmpl->source);
          spec.template_id = tmpl->id;
          peer_layers = (const char *const *)tmpl->layers;
        }
      else
        {
          built_root
              = xasprintf ("%s/tmp/bench-rootfs-%d", fk_runtime_state_dir (rt), (int)getpid ());
          fprintf (stderr,
                   "fk: bench shell-pool-density: no template for image `%s' (fk template prepare "
                   "IMAGE); using a busybox root (%s)\n",
                   image, built_root);
          if (fk_bench_busybox_rootfs (built_root, FK_BENCH_BUSYBOX, &err) < 0)
            goto fail;
          layers[0] = built_root;
        }
    }
  if (spec.template_id == NULL)
    spec.layers = layers;
  if (fk_template_sandbox_create (rt, &spec, &sb, &err) < 0
      || fk_client_connect (fk_sandbox_socket_path (sb), &client, &err) < 0)
    goto fail;
  if (fk_shell_pool_density_collect (client, levels, n_levels, repeats, &samples, &err) < 0)
    goto fail;
  if (samples.len != n_levels * repeats)
    {
      fk_error_set (&err, EIO, "%zu samples, expected %zu", samples.len, n_levels * repeats);
      goto fail;
    }
  fk_client_close (client);
  client = NULL;
  if (fk_sandbox_delete (sb, 1, &err) < 0)
    goto fail;
  fk_sandbox_free (sb);
  sb = NULL;
  if (fk_trace_density_artifact_write (&fk_trace_shell_pool_density, artifact, &samples, &err) < 0)
    goto fail;
  if (!no_peer)
    {
      cleanup_free char *crun = fk_bench_crun_find ();
      if (crun == NULL)
        {
          fk_error_set (&err, ENOENT,
                        "crun not found ($FIRKIN_CRUN or PATH); --no-peer measures firkin alone");
          goto fail;
        }
      if (fk_crun_exec_density_collect (crun, peer_layers, levels, n_levels, repeats, &peer, &err)
              < 0
          || fk_trace_density_artifact_write (&fk_crun_exec_density, peer_artifact, &peer, &err)
                 < 0)
        goto fail;
    }
  ret = fk_bench_print_report (artifact);
  if (ret == 0 && !no_peer)
    {
      printf ("\n");
      fflush (stdout);
      ret = fk_bench_print_report (peer_artifact);
    }
  if (ret == 0)
    {
      print_comparison (&samples, no_peer ? NULL : &peer, levels, n_levels);
      printf ("\nartifact: %s\n", artifact);
      if (!no_peer)
        printf ("peer artifact: %s\n", peer_artifact);
    }
  goto out;
fail:
  ret = fk_cli_fail (&err, 1);
out:
  fk_client_close (client);
  if (sb != NULL)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_sandbox_delete (sb, 1, &e2) < 0)
        fk_cli_fail (&e2, 1);
      fk_sandbox_free (sb);
    }
  if (built_root != NULL)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_rm_rf_at (AT_FDCWD, built_root, &e2) < 0)
        fk_cli_fail (&e2, 1);
    }
  fk_runtime_close (rt);
  fk_template_free (tmpl);
  fk_trace_samples_clear (&samples);
  fk_trace_samples_clear (&peer);
  return ret;
}
