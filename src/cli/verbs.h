/* cli/verbs.h: the verbs of fk, one file each; a verb parses its arguments, calls the library,
   prints, and returns the process exit code. */
#ifndef FK_CLI_VERBS_H
#define FK_CLI_VERBS_H

#include "base/error.h"

struct fk_cli_remote_api; /* cli/remote.h */

typedef struct fk_cli_globals
{
  const char *state_dir;   /* --state-dir, else $FIRKIN_STATE_DIR, else /var/lib/firkin */
  const char *remote_url;  /* --remote, else $FIRKIN_REMOTE: go through that fkd; NULL: local */
  const char *remote_envd; /* --remote-envd, else $FIRKIN_REMOTE_ENVD; NULL: URL's host */
  const char *oci_root;    /* --oci-root: fk-oci's --root, for containers found by OCI id
                              (NULL: $FIRKIN_OCI_ROOT, else /run/fk-oci) */
  /* With remote_url: the remote client's calls (fk-remote only, so that fk itself links no
     libcurl; fk hands a remote command over to fk-remote). */
  const struct fk_cli_remote_api *remote;
} fk_cli_globals_t;

typedef struct fk_verb
{
  const char *name;
  int (*run) (const fk_cli_globals_t *g, int argc, char **argv); /* argv[0] is the verb */
  const char *summary;
  int remote; /* 1: works with --remote (through fkd's API) */
} fk_verb_t;

/* Prints "fk: <message>" for err on stderr and returns exit code 1 (or code when non-zero). */
int fk_cli_fail (fk_error_t *err, int code);

/* One entry per verb file. */
int fk_verb_bench (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_layer (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_template (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_image (const fk_cli_globals_t *g, int argc, char **argv);
/* sandbox */
int fk_verb_create (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_exec (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_cp (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_run (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_ls (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_inspect (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_stop (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_pause (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_resume (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_rm (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_extend (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_network (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_port (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_snapshot (const fk_cli_globals_t *g, int argc, char **argv);
int fk_verb_fork (const fk_cli_globals_t *g, int argc, char **argv);
/* Runs fk-image (beside fk) with fk's own arguments: verbs that need the archive library. */
int fk_cli_image_companion (const char *verb);
/* shells */
int fk_verb_shell (const fk_cli_globals_t *g, int argc, char **argv);

#endif
