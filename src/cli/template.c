/* cli/template.c: fk template prepare|ls|inspect|rm|export|push. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cli/pullbars.h"
#include "cli/open.h"
#include "firkin/template.h"

/* The template verbs touch no sandbox: the runtime opens without the sweep. */
static int
open_runtime (const fk_cli_globals_t *g, fk_runtime_t **ret_rt, fk_error_t *err)
{
  return fk_cli_runtime_open (g, FK_CLI_RUNTIME_NO_SWEEP, NULL, ret_rt, err);
}

static void
template_usage (FILE *out)
{
  fprintf (
      out,
      "usage: fk template prepare REF [--id ID] [--platform OS/ARCH[/VARIANT]] [--quiet]\n"
      "       fk template ls\n"
      "       fk template inspect ID\n"
      "       fk template rm ID\n"
      "       fk template build [-f DOCKERFILE] -t NAME [--build-arg K=V]... [--start-cmd CMD]\n"
      "                         [--ready-cmd CMD] [--ready-timeout SEC] [--quiet] CONTEXT\n"
      "       fk template push ID REF\n"
      "       fk template export ID DEST   (DEST: oci:DIR[:TAG], oci-archive:FILE[:TAG],\n"
      "                                     docker-archive:FILE; TAG defaults to ID)\n"
      "  REF: [REGISTRY/]REPO[:TAG][@sha256:DIGEST], oci:DIR[:TAG], oci-archive:FILE[:TAG],\n"
      "       docker-archive:FILE\n");
}

static int
template_prepare (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "id", required_argument, NULL, 'i' },
    { "platform", required_argument, NULL, 'p' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  fk_template_prepare_opts_t po = FK_TEMPLATE_PREPARE_OPTIONS_INIT;
  int c;
  while ((c = getopt_long (argc, argv, "qh", opts, NULL)) != -1)
    switch (c)
      {
      case 'i':
        po.id = optarg;
        break;
      case 'p':
        po.platform = optarg;
        break;
      case 'q':
        po.progress = 0;
        break;
      case 'h':
        template_usage (stdout);
        return 0;
      default:
        template_usage (stderr);
        return 2;
      }
  if (optind + 1 != argc)
    {
      template_usage (stderr);
      return 2;
    }
  /* A bar per layer: asked for, or by default on a terminal. */
  fk_cli_pullbars_t bars = { 0 };
  if (po.progress > 0 || (po.progress < 0 && isatty (STDERR_FILENO)))
    {
      po.on_progress = fk_cli_pullbars_report;
      po.progress_data = &bars;
    }
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *id = NULL;
  fk_runtime_t *rt = NULL;
  int r = open_runtime (g, &rt, &err) < 0 ? -1
                                          : fk_template_prepare (rt, argv[optind], &po, &id, &err);
  fk_runtime_close (rt);
  fk_cli_pullbars_clear (&bars);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  printf ("%s\n", id);
  return 0;
}

static int
template_ls (const fk_cli_globals_t *g)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_strv char **ids = NULL;
  fk_runtime_t *rt = NULL;
  if (open_runtime (g, &rt, &err) < 0 || fk_template_list (rt, &ids, &err) < 0)
    {
      fk_runtime_close (rt);
      return fk_cli_fail (&err, 1);
    }
  printf ("%-24s %-19s %s\n", "ID", "MANIFEST", "SOURCE");
  for (char **id = ids; *id; id++)
    {
      fk_template_t *t = NULL;
      if (fk_template_load (rt, *id, &t, &err) < 0)
        {
          printf ("%-24s %-19s (%s)\n", *id, "-", fk_error_message (&err));
          fk_error_clear (&err);
          continue;
        }
      printf ("%-24s %-19.19s %s\n", t->id, t->manifest_digest, t->source);
      fk_template_free (t);
    }
  fk_runtime_close (rt);
  return 0;
}

static int
template_inspect (const fk_cli_globals_t *g, const char *id)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *json = NULL;
  fk_runtime_t *rt = NULL;
  int r = open_runtime (g, &rt, &err) < 0 ? -1 : fk_template_inspect (rt, id, &json, &err);
  fk_runtime_close (rt);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  printf ("%s\n", json);
  return 0;
}

static int
template_rm (const fk_cli_globals_t *g, const char *id)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_template_gc_stats_t st;
  fk_runtime_t *rt = NULL;
  int r = open_runtime (g, &rt, &err) < 0 ? -1 : fk_template_remove (rt, id, &st, &err);
  fk_runtime_close (rt);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  fprintf (stderr, "removed template %s; freed %u layers, %u blobs, %" PRIu64 " bytes\n", id,
           st.layers_removed, st.blobs_removed, st.bytes_freed);
  return 0;
}

static int
template_export (const fk_cli_globals_t *g, const char *id, const char *dest)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  int r = open_runtime (g, &rt, &err) < 0 ? -1 : fk_template_export (rt, id, dest, &err);
  fk_runtime_close (rt);
  return r < 0 ? fk_cli_fail (&err, 1) : 0;
}

static int
template_push (const fk_cli_globals_t *g, const char *id, const char *ref)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  cleanup_free char *digest = NULL;
  fk_template_push_stats_t st = { 0 };
  int r = open_runtime (g, &rt, &err) < 0
              ? -1
              : fk_template_push (rt, id, ref, NULL, &digest, &st, &err);
  fk_runtime_close (rt);
  if (r < 0)
    return fk_cli_fail (&err, 1);
  fprintf (stderr,
           "pushed %s to %s: %u blobs uploaded (%" PRIu64 " bytes), %u mounted, %u already there\n",
           id, ref, st.uploaded, st.bytes_uploaded, st.mounted, st.present);
  printf ("%s\n", digest);
  return 0;
}

static void
build_log (void *data, int stream, const char *text, size_t len)
{
  if (*(int *)data && stream == 1)
    return;
  /* stdout is the id alone: the steps and the commands' output go to stderr. */
  fwrite (text, 1, len, stderr);
}

/* fk template build: the library builds; fk prints the steps and a RUN's output, then the
   id; it exits with a failed RUN's code. */
static int
template_build (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "file", required_argument, NULL, 'f' },
    { "tag", required_argument, NULL, 't' },
    { "build-arg", required_argument, NULL, 'a' },
    { "start-cmd", required_argument, NULL, 's' },
    { "ready-cmd", required_argument, NULL, 'r' },
    { "ready-timeout", required_argument, NULL, 'T' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  fk_template_build_opts_t bo = FK_TEMPLATE_BUILD_OPTIONS_INIT;
  cleanup_free const char **args = calloc ((size_t)argc + 1, sizeof *args);
  size_t nargs = 0;
  int quiet = 0, c;
  while ((c = getopt_long (argc, argv, "f:t:qh", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        bo.dockerfile = optarg;
        break;
      case 't':
        bo.id = optarg;
        break;
      case 'a':
        args[nargs++] = optarg;
        break;
      case 's':
        bo.start_cmd = optarg;
        break;
      case 'r':
        bo.ready_cmd = optarg;
        break;
      case 'T':
        {
          char *end = NULL;
          errno = 0;
          unsigned long long v = strtoull (optarg, &end, 10);
          if (errno || end == optarg || *end || v == 0 || v > 86400)
            {
              fprintf (stderr, "fk: template build: --ready-timeout `%s': not 1 to 86400 seconds\n",
                       optarg);
              return 2;
            }
          bo.ready_timeout_sec = v;
          break;
        }
      case 'q':
        quiet = 1;
        break;
      case 'h':
        template_usage (stdout);
        return 0;
      default:
        template_usage (stderr);
        return 2;
      }
  if (optind + 1 != argc || bo.id == NULL || args == NULL)
    {
      template_usage (stderr);
      return 2;
    }
  bo.build_args = args;
  bo.on_log = build_log;
  bo.log_data = &quiet;
  fk_error_t err = FK_ERROR_INIT;
  fk_template_build_stats_t st = { 0 };
  fk_runtime_t *rt = NULL;
  /* RUN makes sandboxes: the runtime needs the agent. */
  int r = fk_cli_runtime_open (g, FK_CLI_RUNTIME_PROGRAMS, NULL, &rt, &err) < 0
              ? -1
              : fk_template_build (rt, argv[optind], &bo, &st, &err);
  fk_runtime_close (rt);
  fprintf (stderr, "fk: build: %u steps, %u RUN steps cached, %u sandboxes\n", st.steps, st.cached,
           st.sandboxes);
  if (r < 0)
    return fk_cli_fail (&err, st.run_exit_code ? st.run_exit_code : 1);
  printf ("%s\n", bo.id);
  return 0;
}

int
fk_verb_template (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      template_usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  const char *sub = argv[1];
  /* `fk template ls|inspect|rm --help': the usage, which has theirs. */
  if (argc == 3 && strcmp (sub, "prepare") != 0 && strcmp (sub, "build") != 0
      && (strcmp (argv[2], "--help") == 0 || strcmp (argv[2], "-h") == 0))
    {
      template_usage (stdout);
      return 0;
    }
  if (strcmp (sub, "prepare") == 0)
    return template_prepare (g, argc - 1, argv + 1);
  if (strcmp (sub, "build") == 0)
    return template_build (g, argc - 1, argv + 1);
  if (strcmp (sub, "ls") == 0 && argc == 2)
    return template_ls (g);
  if (strcmp (sub, "inspect") == 0 && argc == 3)
    return template_inspect (g, argv[2]);
  if (strcmp (sub, "rm") == 0 && argc == 3)
    return template_rm (g, argv[2]);
  if (strcmp (sub, "export") == 0 && argc == 4)
    return template_export (g, argv[2], argv[3]);
  if (strcmp (sub, "push") == 0 && argc == 4)
    return template_push (g, argv[2], argv[3]);
  template_usage (stderr);
  return 2;
}
