/* cli/each.h: runs one library call on every sandbox id a verb was given. */
#ifndef FK_CLI_EACH_H
#define FK_CLI_EACH_H

#include "cli/verbs.h"
#include "firkin/sandbox.h"

typedef int (*fk_cli_each_fn) (fk_sandbox_t *sb, void *ctx, fk_error_t *err);

enum
{
  FK_CLI_EACH_MISSING_OK = 1 << 0, /* a sandbox that is not there (or was deleted meanwhile) is
                                      no failure: rm -f */
};

/* Opens the runtime, then for each id: open, fn, report "fk: ID: message" on failure. Returns
   0 when every id succeeded, else 1. */
int fk_cli_each (const fk_cli_globals_t *g, char **ids, int n, unsigned flags, fk_cli_each_fn fn,
                 void *ctx);

#endif
