/* client/exec.h: commands through the agent: exec, streams, attach, signals, ps (the API is
   declared in firkin/client.h). */
#ifndef FK_CLIENT_EXEC_H
#define FK_CLIENT_EXEC_H

#include "firkin/client.h"

#endif
