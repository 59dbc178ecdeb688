/* sandbox/network.h: the sandbox's network for data plane `none` (a network namespace with only
   loopback up) and the files that name it (/etc/hosts, /etc/resolv.conf). */
#ifndef FK_SANDBOX_NETWORK_H
#define FK_SANDBOX_NETWORK_H

#include "base/error.h"

/* Brings `lo` up in the calling process's network namespace. */
int fk_network_loopback_up (fk_error_t *err);

/* Writes etc/hosts (localhost and hostname) and etc/resolv.conf (no resolver: there is no
   network) below rootfd, replacing what the image has (symlinks included). */
int fk_network_write_etc (int rootfd, const char *hostname, fk_error_t *err);

#endif
