/* cli/shell.c: fk shell [OPTIONS] ID: runs commands in persistent shells of a sandbox. The
   commands come from -c (repeatable) or, without -c, from stdin one per line. With one shell
   (the default) each line runs as soon as it is read, so state carries from line to line; with
   --pool N the commands are dispatched to N shells at once and their outputs printed in input
   order. Stdout and stderr of each command go to fk's; fk exits with the last failing
   command's code (0 when all succeed). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "cli/connect.h"
#include "firkin/shell.h"

static void
usage (FILE *out)
{
  fprintf (out, "usage: fk shell [OPTIONS] ID\n"
                "  -c CMD         a command to run (repeatable); else commands are read from\n"
                "                 stdin, one per line\n"
                "  --pool N       run the commands on N shells at once (outputs in input order)\n"
                "  --env K=V      environment of the shells (repeatable)\n"
                "  --cwd DIR      working directory of the shells\n"
                "  --user SPEC    uid[:gid] or name[:group]\n"
                "  --program PATH the shell to run (default: bash when the root has it, else\n"
                "                 /bin/sh)\n"
                "  --timeout S    kill a command after S seconds (its shell is replaced)\n"
                "  --stdin FILE   give each command FILE's contents as stdin (else /dev/null)\n"
                "  --status       after each command, print `[exit N]' on stderr\n");
}

typedef struct job
{
  char *cmd;
  fk_shell_result_t r;
  int failed; /* the run itself failed (not the command) */
  char *error;
} job_t;

typedef struct batch
{
  fk_shell_pool_t *pool;
  job_t *jobs;
  size_t n;
  size_t next; /* the next job to take */
  uint64_t timeout_ms;
  const char *stdin_data; /* NULL: none */
  size_t stdin_len;
  pthread_mutex_t lock;
} batch_t;

static void *
worker (void *p)
{
  batch_t *b = p;
  for (;;)
    {
      pthread_mutex_lock (&b->lock);
      size_t i = b->next++;
      pthread_mutex_unlock (&b->lock);
      if (i >= b->n)
        return NULL;
      job_t *j = &b->jobs[i];
      fk_error_t err = FK_ERROR_INIT;
      fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                                .command = j->cmd,
                                .timeout_ms = b->timeout_ms,
                                .has_stdin = b->stdin_data != NULL,
                                .stdin_data = b->stdin_data,
                                .stdin_len = b->stdin_len };
      if (fk_shell_pool_run (b->pool, &o, &j->r, &err) < 0)
        {
          j->failed = 1;
          j->error = xstrdup (fk_error_message (&err));
          fk_error_clear (&err);
        }
    }
}

/* Prints a result; returns the exit code to remember (0, or the command's). */
static int
report (const fk_shell_result_t *r, int status, fk_error_t *err)
{
  if (fk_write_all (STDOUT_FILENO, r->out, r->out_len, err) < 0
      || fk_write_all (STDERR_FILENO, r->err, r->err_len, err) < 0)
    return -1;
  if (r->status.timed_out)
    fprintf (stderr, "fk: shell: the command timed out and was killed (the shell was replaced)\n");
  else if (r->respawned)
    fprintf (stderr, "fk: shell: the shell exited (code %d) and was replaced\n",
             r->status.exit_code);
  if (status)
    fprintf (stderr, "[exit %d]\n", r->status.exit_code);
  return r->status.exit_code;
}

static char *
read_line (FILE *in)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline (&line, &cap, in);
  if (n < 0)
    {
      free (line);
      return NULL;
    }
  if (n > 0 && line[n - 1] == '\n')
    line[n - 1] = '\0';
  return line;
}

int
fk_verb_shell (const fk_cli_globals_t *g, int argc, char **argv)
{
  static const struct option opts[] = {
    { "pool", required_argument, NULL, 'p' },    { "env", required_argument, NULL, 'e' },
    { "cwd", required_argument, NULL, 'w' },     { "user", required_argument, NULL, 'u' },
    { "program", required_argument, NULL, 'P' }, { "timeout", required_argument, NULL, 'T' },
    { "status", no_argument, NULL, 's' },        { "stdin", required_argument, NULL, 'I' },
    { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
  };
  char **env = NULL, **cmds = NULL;
  size_t n_env = 0, n_cmds = 0, pool_n = 1;
  fk_shell_opts_t so = { .version = FK_SHELL_OPTIONS_VERSION };
  uint64_t timeout_ms = 0;
  const char *stdin_file = NULL;
  char *stdin_data = NULL;
  size_t stdin_len = 0;
  int status = 0, c, rc = 2;
  while ((c = getopt_long (argc, argv, "c:h", opts, NULL)) != -1)
    switch (c)
      {
      case 'c':
        cmds = xrealloc (cmds, (n_cmds + 1) * sizeof *cmds);
        cmds[n_cmds++] = optarg;
        break;
      case 'p':
        {
          char *end;
          unsigned long v = strtoul (optarg, &end, 10);
          if (*optarg == '\0' || *end || v == 0 || v > 1024)
            {
              fprintf (stderr, "fk: shell: --pool `%s': expected 1 to 1024 shells\n", optarg);
              goto out;
            }
          pool_n = v;
          break;
        }
      case 'e':
        if (strchr (optarg, '=') == NULL || optarg[0] == '=')
          {
            fprintf (stderr, "fk: shell: --env `%s': expected K=V\n", optarg);
            goto out;
          }
        env = xrealloc (env, (n_env + 2) * sizeof *env);
        env[n_env++] = optarg;
        env[n_env] = NULL;
        break;
      case 'w':
        so.cwd = optarg;
        break;
      case 'u':
        so.user = optarg;
        break;
      case 'P':
        so.program = optarg;
        break;
      case 'T':
        {
          char *end;
          double s = strtod (optarg, &end);
          if (*optarg == '\0' || *end || !(s > 0))
            {
              fprintf (stderr, "fk: shell: --timeout `%s': expected seconds\n", optarg);
              goto out;
            }
          timeout_ms = (uint64_t)(s * 1000);
          break;
        }
      case 's':
        status = 1;
        break;
      case 'I':
        stdin_file = optarg;
        break;
      case 'h':
        usage (stdout);
        rc = 0;
        goto out;
      default:
        usage (stderr);
        goto out;
      }
  if (argc - optind != 1)
    {
      usage (stderr);
      goto out;
    }
  so.env = env;
  const char *id = argv[optind];

  fk_error_t err = FK_ERROR_INIT;
  if (stdin_file != NULL
      && fk_read_file_at (AT_FDCWD, stdin_file, 1u << 20, &stdin_data, &stdin_len, &err) < 0)
    {
      rc = fk_cli_fail (&err, 2);
      goto out;
    }
  fk_runtime_t *rt;
  fk_sandbox_t *sb;
  fk_client_t *client;
  fk_shell_pool_t *pool = NULL;
  rc = 0;
  if (fk_cli_connect (g, id, &rt, &sb, &client, &err) < 0
      || fk_shell_pool_open (client, pool_n, &so, &pool, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      goto disconnect;
    }
  if (pool_n == 1)
    {
      /* One shell: each command runs as soon as it is there. */
      for (size_t i = 0;; i++)
        {
          char *line = NULL;
          const char *cmd;
          if (n_cmds > 0)
            {
              if (i >= n_cmds)
                break;
              cmd = cmds[i];
            }
          else if ((cmd = line = read_line (stdin)) == NULL)
            break;
          fk_shell_result_t r;
          fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                                    .command = cmd,
                                    .timeout_ms = timeout_ms,
                                    .has_stdin = stdin_data != NULL,
                                    .stdin_data = stdin_data,
                                    .stdin_len = stdin_len };
          int ok = fk_shell_run (fk_shell_pool_slot (pool, 0), &o, &r, &err);
          free (line);
          if (ok < 0)
            {
              rc = fk_cli_fail (&err, 1);
              break;
            }
          int code = report (&r, status, &err);
          fk_shell_result_free (&r);
          if (code < 0)
            {
              rc = fk_cli_fail (&err, 1);
              break;
            }
          if (code != 0)
            rc = code;
        }
    }
  else
    {
      batch_t b = {
        .pool = pool, .timeout_ms = timeout_ms, .stdin_data = stdin_data, .stdin_len = stdin_len
      };
      pthread_mutex_init (&b.lock, NULL);
      size_t cap = 0;
      for (size_t i = 0;; i++)
        {
          char *cmd = n_cmds > 0 ? (i < n_cmds ? xstrdup (cmds[i]) : NULL) : read_line (stdin);
          if (cmd == NULL)
            break;
          xgrow ((void **)&b.jobs, &cap, b.n + 1, sizeof *b.jobs);
          memset (&b.jobs[b.n], 0, sizeof *b.jobs);
          b.jobs[b.n++].cmd = cmd;
        }
      size_t nt = pool_n < b.n ? pool_n : b.n;
      pthread_t *t = xcalloc (nt ? nt : 1, sizeof *t);
      for (size_t i = 0; i < nt; i++)
        pthread_create (&t[i], NULL, worker, &b);
      for (size_t i = 0; i < nt; i++)
        pthread_join (t[i], NULL);
      free (t);
      for (size_t i = 0; i < b.n; i++)
        {
          job_t *j = &b.jobs[i];
          if (j->failed)
            {
              fprintf (stderr, "fk: shell: command %zu: %s\n", i + 1, j->error);
              rc = 1;
            }
          else
            {
              int code = report (&j->r, status, &err);
              if (code < 0)
                rc = fk_cli_fail (&err, 1);
              else if (code != 0)
                rc = code;
            }
          fk_shell_result_free (&j->r);
          free (j->cmd);
          free (j->error);
        }
      free (b.jobs);
      pthread_mutex_destroy (&b.lock);
    }
disconnect:
  fk_shell_pool_close (pool);
  fk_cli_disconnect (rt, sb, client);
out:
  free (env);
  free (cmds);
  free (stdin_data);
  return rc;
}
