/* cli/fk.c: the fk front end: global options, then one verb. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/verbs.h"

#ifndef FK_IMAGE_VERBS
/* The image verbs live in fk-image, beside fk: they need the registry client and the archive
   reader, whose shared libraries (libcurl's tree: ~45 of them) would otherwise be loaded by
   every fk call, `fk exec' included. */
static char **orig_argv;

static int
image_companion (const fk_cli_globals_t *g, int argc, char **argv)
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
  if (slash == NULL || (size_t)(slash - self) + sizeof "/fk-image" > sizeof self)
    return 1;
  strcpy (slash + 1, "fk-image");
  execv (self, orig_argv);
  fprintf (stderr, "fk: %s: run `%s': %s\n", argv[0], self, strerror (errno));
  return 1;
}
#define fk_verb_layer image_companion
#define fk_verb_template image_companion
#define fk_verb_image image_companion
#endif

static const fk_verb_t verbs[] = {
  { "bench", fk_verb_bench, "run a benchmark, or report an artifact (fk bench report FILE)" },
  { "layer", fk_verb_layer,
    "unpack one image layer blob into a directory (fk layer apply BLOB DIR)" },
  { "template", fk_verb_template,
    "prepare, list, inspect and remove templates (images made ready)" },
  { "image", fk_verb_image, "free image layers and blobs no template uses (fk image prune)" },
  /* sandbox */
  { "create", fk_verb_create, "create a sandbox from a template (or --rootfs), print its id" },
  { "exec", fk_verb_exec, "run a command in a sandbox (exits with its code)" },
  { "cp", fk_verb_cp, "copy a file into or out of a sandbox (ID:/path on one side)" },
  { "run", fk_verb_run, "create a sandbox, run a command in it, delete it" },
  { "ls", fk_verb_ls, "list sandboxes" },
  { "inspect", fk_verb_inspect, "show a sandbox's state as JSON" },
  { "stop", fk_verb_stop, "stop sandboxes (SIGTERM, then SIGKILL after a grace)" },
  { "pause", fk_verb_pause, "freeze every process of sandboxes" },
  { "resume", fk_verb_resume, "thaw paused sandboxes" },
  { "rm", fk_verb_rm, "delete sandboxes (-f: even running ones)" },
  { "extend", fk_verb_extend, "move a sandbox's timeout to SECONDS from now" },
  { "port", fk_verb_port, "forward host connections to a TCP port inside a sandbox" },
  /* shells */
  { "shell", fk_verb_shell, "run commands in persistent shells of a sandbox (--pool N)" },
};

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk [--state-dir DIR] [--log-level LEVEL] VERB [ARGS...]\n\nverbs:\n");
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf (out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
}

int
fk_cli_fail (fk_error_t *err, int code)
{
  fprintf (stderr, "fk: %s\n", fk_error_message (err));
  fk_error_clear (err);
  return code ? code : 1;
}

int
main (int argc, char **argv)
{
#ifndef FK_IMAGE_VERBS
  orig_argv = argv;
#endif
  fk_cli_globals_t g = { .state_dir = getenv ("FIRKIN_STATE_DIR") };
  if (g.state_dir == NULL || g.state_dir[0] == '\0')
    g.state_dir = "/var/lib/firkin";
  fk_log_set_program ("fk");

  static const struct option opts[] = {
    { "state-dir", required_argument, NULL, 's' },
    { "log-level", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
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
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strcmp (verbs[i].name, verb) == 0)
      {
        /* Each verb parses with getopt from its own argv[0]; optind = 0 resets glibc's getopt. */
        optind = 0;
        return verbs[i].run (&g, argc - first, argv + first);
      }
  fprintf (stderr, "fk: unknown verb `%s'\n", verb);
  usage (stderr);
  return 2;
}
