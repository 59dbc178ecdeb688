/* sandbox/create.h: sandbox creation (fk_sandbox_create in firkin/sandbox.h) and its helpers. */
#ifndef FK_SANDBOX_CREATE_H
#define FK_SANDBOX_CREATE_H

#include "base/error.h"

/* A new random sandbox id (12 lower-case hex digits). */
void fk_create_new_id (char out[13]);

#endif
