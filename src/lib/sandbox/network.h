/* sandbox/network.h: the sandbox's network: data plane `none' (a network namespace with only
   loopback up), `egress' (net/egress.h: its own addresses, rules and resolver), and the files
   that name it (/etc/hosts, /etc/resolv.conf). */
#ifndef FK_SANDBOX_NETWORK_H
#define FK_SANDBOX_NETWORK_H

#include <sys/types.h>

#include "base/error.h"
#include "net/egress.h"
#include "sandbox/plan.h"

/* The data plane's two steps of a plan: on the host once the child's namespaces exist (pid is
   the child), and in the child before pivot_root. `none': nothing on the host; loopback up in
   the child (unless the network namespace is joined: its owner set it up). */
int fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_error_t *err);
int fk_data_plane_child_step (const fk_plan_t *plan, fk_error_t *err);

/* Undoes the host step (egress: the sandbox's rules and interface; what is gone is fine). */
void fk_data_plane_undo (const fk_plan_t *plan);

/* The egress of an EGRESS plan (pointers into plan). */
fk_egress_t fk_network_egress_of (const fk_plan_t *plan);

/* Writes the egress rules file the sandbox's resolver reads (replaced atomically, 0600): one
   rule a line, "allow RULE" or "deny RULE". */
int fk_network_write_rules (const char *path, const char *const *allow, const char *const *deny,
                            fk_error_t *err);

/* Where the egress sandbox's resolver answers (inside its namespace). */
#define FK_NETWORK_RESOLVER "127.0.0.53"

/* Brings `lo` up in the calling process's network namespace. */
int fk_network_loopback_up (fk_error_t *err);

/* Writes etc/hosts (localhost and hostname) and etc/resolv.conf (none: no resolver; egress:
   the sandbox's resolver) below rootfd, replacing what the image has (symlinks included). */
int fk_network_write_etc (int rootfd, const char *hostname, fk_data_plane_kind_t plane,
                          fk_error_t *err);

#endif
