/* client/shell.h: persistent shells and shell pools (declared in firkin/client.h). */
#ifndef FK_CLIENT_SHELL_H
#define FK_CLIENT_SHELL_H

#include "firkin/client.h"

#endif
