/* client/files.h: file operations through the agent (declared in firkin/client.h). */
#ifndef FK_CLIENT_FILES_H
#define FK_CLIENT_FILES_H

#include "firkin/client.h"

#endif
