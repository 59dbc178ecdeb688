/* client/exec.h: commands through the agent: exec, streams, attach, signals, ps (the API is
   declared in firkin/client.h). */
#ifndef FK_CLIENT_EXEC_H
#define FK_CLIENT_EXEC_H

#include "firkin/client.h"

/* Hands the agent what it holds of its sandbox's new root once the host moved it there
   (sandbox/reroot.h): the upper dir and the log (both stay the caller's), its cwd there, and env
   ("K=V", may be NULL) to set in its own environment as fk_client_set_env does. */
int fk_client_reroot (fk_client_t *c, int upper_fd, int log_fd, const char *cwd,
                      const char *const *env, fk_error_t *err);

#endif
