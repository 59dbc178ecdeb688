/* sandbox/network.h: the sandbox's network: data plane `none' (a network namespace with only
   loopback up), `egress' (net/egress.h: its own addresses, rules and resolver), and the files
   that name it (/etc/hosts, /etc/resolv.conf). */
#ifndef FK_SANDBOX_NETWORK_H
#define FK_SANDBOX_NETWORK_H

#include <sys/types.h>

#include "base/error.h"
#include "net/egress.h"
#include "net/resolver.h"
#include "sandbox/plan.h"

/* The data plane's steps of a plan: on the host once the child's namespaces exist (pid is the
   child), before the child is released: what the sandbox's code may need from its first
   instruction (egress: the rules, interface and addresses, and the resolver's sockets, bound;
   *ret_prep the resolver to start, or NULL); on the host once the child is released, while it
   starts (egress: the resolver handed to the plan's resolver hub, which starts it at the first
   question, or without a hub its start, with *ret_helper its pid; what the sandbox asked it
   meanwhile waits in its sockets); in the child before pivot_root. `none': nothing on the host;
   loopback up in the child (unless the network namespace is joined: its owner set it up). */
int fk_data_plane_host_step (const fk_plan_t *plan, pid_t pid, fk_resolver_prep_t **ret_prep,
                             fk_error_t *err);
int fk_data_plane_host_late (const fk_plan_t *plan, fk_resolver_prep_t *prep, pid_t *ret_helper,
                             fk_error_t *err);
int fk_data_plane_child_step (const fk_plan_t *plan, fk_error_t *err);
/* The host's late step's end, once the child runs (egress: the hub's answer to the hand-off). */
int fk_data_plane_host_done (fk_resolver_prep_t *prep, fk_error_t *err);

/* Undoes the host step (egress: the resolver helper, when not 0, or the hub's hold of it, the
   sandbox's rules and interface; what is gone is fine). */
void fk_data_plane_undo (const fk_plan_t *plan, pid_t helper);

/* The resolvers an egress sandbox's resolver asks: env FIRKIN_NET_DNS (addresses separated by
   spaces or commas), else NULL (the host's /etc/resolv.conf when it starts). */
const char *fk_network_upstreams (void);

/* The egress of an EGRESS plan (pointers into plan). */
fk_egress_t fk_network_egress_of (const fk_plan_t *plan);

/* Where the egress sandbox's resolver answers (inside its namespace). */
#define FK_NETWORK_RESOLVER "127.0.0.53"

/* Brings `lo` up in the calling process's network namespace. */
int fk_network_loopback_up (fk_error_t *err);

/* Writes etc/hosts (localhost and hostname) and etc/resolv.conf (none: no resolver; egress:
   the sandbox's resolver) below rootfd, replacing what the image has (symlinks included). */
int fk_network_write_etc (int rootfd, const char *hostname, fk_data_plane_kind_t plane,
                          fk_error_t *err);

#endif
