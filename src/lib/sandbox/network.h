/* sandbox/network.h: the sandbox's network for data plane `none` (a network namespace with only
   loopback up) and the files that name it (/etc/hosts, /etc/resolv.conf). */
#ifndef FK_SANDBOX_NETWORK_H
#define FK_SANDBOX_NETWORK_H

#include <sys/types.h>

#include "base/error.h"
#include "sandbox/plan.h"

/* The data plane's two steps of a plan: on the host once the child's namespaces exist (pid is
   the child), and in the child before pivot_root. `none': nothing on the host; loopback up in
   the child (unless the network namespace is joined: its owner set it up). */
int fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_error_t *err);
int fk_data_plane_child_step (const fk_plan_t *plan, fk_error_t *err);

/* Brings `lo` up in the calling process's network namespace. */
int fk_network_loopback_up (fk_error_t *err);

/* Writes etc/hosts (localhost and hostname) and etc/resolv.conf (no resolver: there is no
   network) below rootfd, replacing what the image has (symlinks included). */
int fk_network_write_etc (int rootfd, const char *hostname, fk_error_t *err);

#endif
