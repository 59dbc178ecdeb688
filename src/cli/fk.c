/* cli/fk.c: the fk front end: global options, then one verb. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/remote.h"
#include "cli/verbs.h"
#include "firkin/version.h"

static char **orig_argv;

/* Runs fk's companion NAME (beside it) with fk's own arguments. */
static int
companion (const char *name, const char *verb)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n < 0)
    {
      fprintf (stderr, "fk: cannot find its own binary: %s\n", strerror (errno));
      return 1;
    }
  self[n] = '\0';
  char *slash = strrchr (self, '/');
  if (slash == NULL || (size_t)(slash - self) + strlen (name) + 2 > sizeof self)
    return 1;
  strcpy (slash + 1, name);
  execv (self, orig_argv);
  fprintf (stderr, "fk: %s: run `%s': %s\n", verb, self, strerror (errno));
  return 1;
}

int
fk_cli_image_companion (const char *verb)
{
  return companion ("fk-image", verb);
}

#ifndef FK_IMAGE_VERBS
/* The image verbs live in fk-image, beside fk: they need the registry client and the archive
   reader, whose shared libraries (libcurl's tree: ~45 of them) would otherwise be loaded by
   every fk call, `fk exec' included. */
static int
image_companion (const fk_cli_globals_t *g, int argc, char **argv)
{
  return companion ("fk-image", argv[0]);
}
#define fk_verb_layer image_companion
#define fk_verb_template image_companion
#define fk_verb_image image_companion
#define fk_verb_snapshot image_companion
#define fk_verb_fork image_companion
#endif

static const fk_verb_t verbs[] = {
  { "bench", fk_verb_bench, "run a benchmark, or report an artifact (fk bench report FILE)", 0 },
  { "layer", fk_verb_layer,
    "unpack one image layer blob into a directory (fk layer apply BLOB DIR)", 0 },
  { "template", fk_verb_template, "prepare, list, inspect and remove templates (images made ready)",
    0 },
  { "image", fk_verb_image, "free image layers and blobs no template uses (fk image prune)", 0 },
  /* sandbox */
  { "create", fk_verb_create, "create a sandbox from a template (or --rootfs), print its id", 1 },
  { "exec", fk_verb_exec, "run a command in a sandbox (exits with its code)", 1 },
  { "cp", fk_verb_cp, "copy a file into or out of a sandbox (ID:/path on one side)", 1 },
  { "run", fk_verb_run, "create a sandbox, run a command in it, delete it", 0 },
  { "ls", fk_verb_ls, "list sandboxes", 1 },
  { "inspect", fk_verb_inspect, "show a sandbox's state as JSON", 1 },
  { "stop", fk_verb_stop, "stop sandboxes (SIGTERM, then SIGKILL after a grace)", 0 },
  { "pause", fk_verb_pause, "freeze every process of sandboxes (--to-disk: snapshot, stop)", 1 },
  { "resume", fk_verb_resume, "thaw paused sandboxes, or make one paused to disk again", 1 },
  { "snapshot", fk_verb_snapshot, "capture a sandbox's filesystem as a new template", 0 },
  { "fork", fk_verb_fork, "new sandboxes from a sandbox's filesystem now (--count N)", 0 },
  { "rm", fk_verb_rm, "delete sandboxes (-f: even running ones)", 1 },
  { "extend", fk_verb_extend, "move a sandbox's timeout to SECONDS from now", 1 },
  { "network", fk_verb_network, "replace a running sandbox's egress rules", 0 },
  { "port", fk_verb_port, "forward host connections to a TCP port inside a sandbox", 0 },
  /* shells */
  { "shell", fk_verb_shell, "run commands in persistent shells of a sandbox (--pool N)", 0 },
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk [--state-dir DIR] [--log-level LEVEL] [--remote URL [--remote-envd URL]]"
                " [--oci-root DIR] VERB [ARGS...]\n"
                "       fk --version | --help\n\nverbs (*: also with --remote):\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf (out, "  %-10s %s%s\n", verbs[i].name, verbs[i].remote ? "* " : "", verbs[i].summary);
  fprintf (out, "\n--remote URL (or $FIRKIN_REMOTE): the verbs marked * go through the fkd at URL\n"
                "(its E2B API) instead of the state dir, with the same output and exit codes;\n"
                "$FIRKIN_API_KEY is its API key; envd is URL's host on port 49983 unless\n"
                "--remote-envd URL (or $FIRKIN_REMOTE_ENVD) says otherwise (docs/fkd.md).\n"
                "exec, shell and cp also take the OCI id of a container fk-oci made, found below\n"
                "--oci-root DIR (or $FIRKIN_OCI_ROOT; default /run/fk-oci: docs/oci.md).\n");
}

int
fk_cli_fail (fk_error_t *err, int code)
{
  fprintf (stderr, "fk: %s\n", fk_error_message (err));
  fk_error_clear (err);
  return code ? code : 1;
}

#ifdef __SANITIZE_ADDRESS__
/* Under the address sanitizer only: fk fork creates its sandboxes from threads, and the
   sandbox's child is forked from the threaded process; the sanitizer's allocator (in the
   compilers Debian 12 ships) has no fork handler, and its store of allocation stacks takes a
   spin lock that another thread may hold at the fork (the child then spins forever). Without
   allocation stacks that lock is never taken (fkd does the same). */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "malloc_context_size=0";
}
#endif

int
main (int argc, char **argv)
{
  orig_argv = argv;
  fk_cli_globals_t g = { .state_dir = getenv ("FIRKIN_STATE_DIR"),
                         .remote_url = getenv ("FIRKIN_REMOTE"),
                         .remote_envd = getenv ("FIRKIN_REMOTE_ENVD") };
  if (g.state_dir == NULL || g.state_dir[0] == '\0')
    g.state_dir = "/var/lib/firkin";
  fk_log_set_program ("fk");

  static const struct option opts[] = {
    { "state-dir", required_argument, NULL, 's' },
    { "log-level", required_argument, NULL, 'l' },
    { "remote", required_argument, NULL, 'r' },
    { "remote-envd", required_argument, NULL, 'e' },
    { "oci-root", required_argument, NULL, 'o' }, /* fk-oci's --root, for exec, shell, cp */
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  /* "+": stop at the verb, whose own options follow it. */
  while ((c = getopt_long (argc, argv, "+h", opts, NULL)) != -1)
    {
      switch (c)
        {
        case 's':
          g.state_dir = optarg;
          break;
        case 'r':
          g.remote_url = optarg;
          break;
        case 'e':
          g.remote_envd = optarg;
          break;
        case 'o':
          g.oci_root = optarg;
          break;
        case 'l':
          {
            fk_log_level_t level;
            if (fk_log_level_parse (optarg, &level) < 0)
              {
                fprintf (stderr, "fk: unknown log level `%s' (error, warning, info, debug)\n",
                         optarg);
                return 2;
              }
            fk_log_set_level (level);
            break;
          }
        case 'h':
          usage (stdout);
          return 0;
        case 'V':
          printf ("fk %s\n", FIRKIN_VERSION);
          return 0;
        default:
          usage (stderr);
          return 2;
        }
    }
  if (optind >= argc)
    {
      usage (stderr);
      return 2;
    }
  int first = optind;
  const char *verb = argv[first];
  if (g.remote_url && g.remote_url[0] == '\0')
    g.remote_url = NULL;
  if (g.remote_envd && g.remote_envd[0] == '\0')
    g.remote_envd = NULL;
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strcmp (verbs[i].name, verb) == 0)
      {
        if (g.remote_url && !verbs[i].remote)
          {
            fprintf (stderr,
                     "fk: %s: not available with --remote (fkd's API has no such call); run it "
                     "on fkd's host without --remote\n",
                     verb);
            return 2;
          }
#ifdef FK_REMOTE_VERBS
        if (g.remote_url)
          g.remote = &fk_cli_remote_api;
#else
        /* The remote client needs libcurl, which fk does not load: fk-remote has it. */
        if (g.remote_url)
          return companion ("fk-remote", verb);
#endif
        /* `fk VERB --help' is `fk VERB -h', which every verb takes (the first argument only: a
           later one may be a value or a command's). */
        if (argc - first >= 2 && strcmp (argv[first + 1], "--help") == 0)
          argv[first + 1] = (char *)"-h";
        /* Each verb parses with getopt from its own argv[0]; optind = 0 resets glibc's getopt. */
        optind = 0;
        return verbs[i].run (&g, argc - first, argv + first);
      }
  fprintf (stderr, "fk: unknown verb `%s'\n", verb);
  usage (stderr);
  return 2;
}
