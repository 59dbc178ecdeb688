/* cli/pullbars.h: a bar per layer blob of a pull on stderr, drawn from the library's progress
   reports (fk_template_prepare_opts_t.on_progress). */
#ifndef FK_CLI_PULLBARS_H
#define FK_CLI_PULLBARS_H

#include <stddef.h>

#include "firkin/template.h"

typedef struct fk_cli_pullbar fk_cli_pullbar_t;

typedef struct fk_cli_pullbars
{
  fk_cli_pullbar_t *bars; /* in the order the blobs started, one line each */
  size_t n, cap;
} fk_cli_pullbars_t;

/* The on_progress callback; user_data is a fk_cli_pullbars_t (zeroed before the pull). A new
   blob gets a line under the others; a report redraws its blob's line. */
void fk_cli_pullbars_report (const fk_pull_progress_t *p, void *user_data);

/* Frees what the bars hold (the lines stay on the terminal). */
void fk_cli_pullbars_clear (fk_cli_pullbars_t *b);

#endif
