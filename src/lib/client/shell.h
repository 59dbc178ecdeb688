/* client/shell.h: shells and shell pools over the agent connection (firkin/shell.h). */
#ifndef FK_CLIENT_SHELL_H
#define FK_CLIENT_SHELL_H

#include "firkin/shell.h"

#endif
