/* cli/each.h: runs one library call on every sandbox id a verb was given. */
#ifndef FK_CLI_EACH_H
#define FK_CLI_EACH_H

#include "cli/verbs.h"
#include "firkin/sandbox.h"

#include "firkin/remote.h"

typedef int (*fk_cli_each_fn) (fk_sandbox_t *sb, void *ctx, fk_error_t *err);
/* The same through fkd (--remote): g's remote client, the id. */
typedef int (*fk_cli_each_remote_fn) (const fk_cli_globals_t *g, fk_remote_t *r, const char *id,
                                      void *ctx, fk_error_t *err);

enum
{
  FK_CLI_EACH_MISSING_OK = 1 << 0, /* a sandbox that is not there (or was deleted meanwhile) is
                                      no failure: rm -f */
  FK_CLI_EACH_PROGRAMS = 1 << 1,   /* the runtime finds fk-agent: fn may create sandboxes */
};

/* Opens the runtime, then for each id: open, fn, report "fk: ID: message" on failure. Returns
   0 when every id succeeded, else 1. With --remote: opens g's remote client and calls rfn. */
int fk_cli_each (const fk_cli_globals_t *g, char **ids, int n, unsigned flags, fk_cli_each_fn fn,
                 fk_cli_each_remote_fn rfn, void *ctx);

#endif
