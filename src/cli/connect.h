/* cli/connect.h: opens a sandbox by id and connects to its agent (exec and cp). */
#ifndef FK_CLI_CONNECT_H
#define FK_CLI_CONNECT_H

#include "cli/verbs.h"
#include "firkin/client.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"

/* Fills the three handles (all freed by fk_cli_disconnect, even after a failure). */
int fk_cli_connect (const fk_cli_globals_t *g, const char *id, fk_runtime_t **ret_rt,
                    fk_sandbox_t **ret_sb, fk_client_t **ret_client, fk_error_t *err);
void fk_cli_disconnect (fk_runtime_t *rt, fk_sandbox_t *sb, fk_client_t *client);

#endif
