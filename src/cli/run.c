/* cli/run.c: fk run [OPTIONS] [TEMPLATE] -- CMD [ARGS]: create a sandbox, run CMD, delete it;
   exits with CMD's code (128+N for a signal). CMD runs as the sandbox's PID 1 with fk's stdio,
   as `crun run` does. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/spec_opts.h"
#include "cli/verbs.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"

static volatile sig_atomic_t child_pid;

static void
on_signal (int sig)
{
  /* fk going away must not leave the sandbox behind: end it, the wait then returns. */
  if (child_pid > 0)
    kill (child_pid, SIGKILL);
}

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk run [OPTIONS] [TEMPLATE] -- CMD [ARGS...]\n%s", fk_cli_spec_usage);
}

/* The exit code for a wait status; names an OOM kill. */
static int
exit_code (fk_sandbox_t *sb, int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  int sig = WTERMSIG (status);
  uint64_t ooms = 0;
  fk_error_t err = FK_ERROR_INIT;
  if (sig == SIGKILL && fk_sandbox_oom_kills (sb, &ooms, &err) == 0 && ooms > 0)
    fprintf (stderr, "fk: the command was killed by the OOM killer (memory limit reached)\n");
  fk_error_clear (&err);
  return 128 + sig;
}

int
fk_verb_run (const fk_cli_globals_t *g, int argc, char **argv)
{
  fk_cli_spec_t s;
  fk_cli_spec_init (&s);
  int pr = fk_cli_spec_parse (&s, argc, argv, usage);
  if (pr >= 0)
    return pr;
  /* getopt stops at "--" (and consumes it) or at the template. */
  const char *template_id = NULL;
  if (optind < argc && strcmp (argv[optind - 1], "--") != 0)
    {
      template_id = argv[optind++];
      if (optind < argc && strcmp (argv[optind], "--") == 0)
        optind++;
    }
  if (optind >= argc)
    {
      fprintf (stderr, "fk: run: no command (fk run [OPTIONS] [TEMPLATE] -- CMD)\n");
      fk_cli_spec_free (&s);
      return 2;
    }
  fk_cli_spec_finish (&s, template_id);
  s.spec.init = (const char *const *)(argv + optind);

  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  int rc;
  if (fk_runtime_open (g->state_dir, &rt, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      goto out;
    }
  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  if (fk_sandbox_create (rt, &s.spec, &sb, &err) < 0)
    {
      /* A command that does not exist: the shell's 127; one that cannot run: 126. */
      rc = fk_cli_fail (&err, err.code == ENOENT ? 127 : err.code == EACCES ? 126 : 1);
      goto out;
    }
  fk_sandbox_info_t *info = NULL;
  if (fk_sandbox_inspect (sb, &info, &err) == 0)
    child_pid = info->pid;
  fk_sandbox_info_free (info);
  int status = 0;
  if (fk_sandbox_wait (sb, &status, &err) < 0)
    rc = fk_cli_fail (&err, 1);
  else
    rc = exit_code (sb, status);
  child_pid = 0;
  if (fk_sandbox_delete (sb, 1, &err) < 0)
    rc = fk_cli_fail (&err, rc ? rc : 1);
out:
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
  fk_cli_spec_free (&s);
  return rc;
}
