/* cli/spec_opts.h: the sandbox options shared by `fk create` and `fk run`. */
#ifndef FK_CLI_SPEC_OPTS_H
#define FK_CLI_SPEC_OPTS_H

#include <getopt.h>
#include <stdio.h>

#include "firkin/sandbox.h"

/* Growable string lists the spec points into; free with fk_cli_spec_free. */
typedef struct fk_cli_spec
{
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_t *file; /* --spec FILE's, which spec and the lists may point into */
  char **env, **layers, **metadata, **deny, **allow, **allow_out, **deny_out;
  size_t n_env, n_layers, n_metadata, n_deny, n_allow, n_allow_out, n_deny_out;
  const char *agent_path; /* --agent: the runtime's fk-agent (cli/open.h) */
} fk_cli_spec_t;

/* Long options of the spec (end with a zero entry; ids from 1000 up). */
extern const struct option fk_cli_spec_options[];
#define FK_CLI_SPEC_OPTIONS_N 22

void fk_cli_spec_init (fk_cli_spec_t *s);
void fk_cli_spec_free (fk_cli_spec_t *s);

/* Handles option c (from fk_cli_spec_options) with optarg; 1 when handled, 0 when not a spec
   option, -1 (message printed) on a bad value. */
int fk_cli_spec_option (fk_cli_spec_t *s, int c, const char *arg);

/* Parses argv's options (the spec's and --help, stopping at the first operand or "--") into s.
   --spec FILE is read first wherever it is, and the other options override it (lists: add to
   it).
   Returns -1 to go on (optind at the operands), else the exit code: 0 after --help (usage on
   stdout), 2 on a bad option (usage on stderr, or a message) with s freed. */
int fk_cli_spec_parse (fk_cli_spec_t *s, int argc, char **argv, void (*usage) (FILE *out));

/* Sets the template (or the layers when --rootfs was given) and finishes the lists. */
void fk_cli_spec_finish (fk_cli_spec_t *s, const char *template_id);

/* The usage lines of the spec options. */
extern const char fk_cli_spec_usage[];

#endif
