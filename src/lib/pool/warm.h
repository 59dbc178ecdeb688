/* pool/warm.h: the warm pool of ready sandboxes (the API is firkin/pool.h). */
#ifndef FK_POOL_WARM_H
#define FK_POOL_WARM_H

#include "firkin/pool.h"

#endif
