/* firkin/runtime.h: a runtime is a handle on one state directory; every sandbox call takes one. */
#ifndef FIRKIN_RUNTIME_H
#define FIRKIN_RUNTIME_H

#include "base/error.h"

typedef struct fk_runtime fk_runtime_t;

/* Opens (creating when missing) the state directory state_dir, or $FIRKIN_STATE_DIR, or
   /var/lib/firkin when state_dir is NULL, and cleans sandboxes whose PID 1 died or whose
   timeout passed (lazy cleanup: any process that opens a runtime collects what is stale).
   Free with fk_runtime_close. */
int fk_runtime_open (const char *state_dir, fk_runtime_t **ret_rt, fk_error_t *err);

/* Opens the runtime without the stale-sandbox sweep (for callers that sweep themselves). */
int fk_runtime_open_nosweep (const char *state_dir, fk_runtime_t **ret_rt, fk_error_t *err);

/* Closes the handle; sandboxes keep running (they outlive the process that created them). */
void fk_runtime_close (fk_runtime_t *rt);

/* The absolute state directory; owned by rt. */
const char *fk_runtime_state_dir (const fk_runtime_t *rt);

#endif
