/* template/dockerfile.h: a Dockerfile parser for `fk template build'. A Dockerfile is untrusted
   input: its size, its instructions and every word are bounded, and each error names the line.
   Parsing splits lines (comments, continuations, the `# escape=' directive), checks the
   instructions firkin builds, and keeps the words raw; the build expands variables with
   fk_dockerfile_word once ARG and ENV values are known. */
#ifndef FK_TEMPLATE_DOCKERFILE_H
#define FK_TEMPLATE_DOCKERFILE_H

#include <stddef.h>

#include "base/error.h"

#define FK_DOCKERFILE_MAX (1u << 20)      /* bytes of a Dockerfile */
#define FK_DOCKERFILE_MAX_INSTR 4096      /* instructions */
#define FK_DOCKERFILE_WORD_MAX (1u << 20) /* bytes of one word after expansion */

typedef enum
{
  FK_DF_FROM,
  FK_DF_RUN,
  FK_DF_COPY,
  FK_DF_ADD,
  FK_DF_ENV,
  FK_DF_ARG,
  FK_DF_WORKDIR,
  FK_DF_USER,
  FK_DF_LABEL,
  FK_DF_ENTRYPOINT,
  FK_DF_CMD,
  FK_DF_EXPOSE,
} fk_df_kind_t;

typedef struct fk_df_instr
{
  fk_df_kind_t kind;
  unsigned line; /* where the instruction starts (1-based) */
  char *text;    /* the arguments as written, continuations joined (what the cache keys on) */
  /* RUN, CMD, ENTRYPOINT: exec_form with args the JSON array's strings, else args[0] the shell
     command. COPY, ADD: raw words, the sources then the destination. ENV, LABEL: raw key, value
     pairs (args[2i], args[2i+1]). ARG: raw name, then the default or NULL (n_args 2). FROM,
     WORKDIR, USER: one raw word (WORKDIR: the rest of the line). EXPOSE: raw words. */
  int exec_form;
  char **args;
  size_t n_args;
  char *chown, *chmod; /* COPY, ADD: --chown=, --chmod= (raw), or NULL */
} fk_df_instr_t;

typedef struct fk_dockerfile
{
  fk_df_instr_t *instrs;
  size_t n;
  char escape; /* `\' or the `# escape=' directive's */
} fk_dockerfile_t;

/* Parses len bytes of text. Unsupported instructions (HEALTHCHECK, ONBUILD, SHELL, STOPSIGNAL,
   VOLUME, MAINTAINER), multi-stage builds (`FROM ... AS', `COPY --from'), flags other than
   --chown and --chmod, a NUL byte, and anything malformed are EINVAL naming the line. Free
   with fk_dockerfile_free. */
int fk_dockerfile_parse (const char *text, size_t len, fk_dockerfile_t **ret, fk_error_t *err);
void fk_dockerfile_free (fk_dockerfile_t *df);

/* Processes one raw word as the shell would: quotes removed (single quotes keep `$'), escape
   sequences, and $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word} replaced from vars ("K=V",
   NULL-terminated, the last one of a name wins; may be NULL: every variable empty). The result
   (caller frees) is at most FK_DOCKERFILE_WORD_MAX bytes. */
int fk_dockerfile_word (const char *raw, char escape, const char *const *vars, char **ret,
                        fk_error_t *err);

/* The instruction's name ("RUN"). */
const char *fk_dockerfile_kind_name (fk_df_kind_t kind);

#endif
