/* net/resolver_hub_main.h: fk-resolver's hub mode (`fk-resolver --hub', net/resolver.h). */
#ifndef FK_NET_RESOLVER_HUB_MAIN_H
#define FK_NET_RESOLVER_HUB_MAIN_H

/* Runs the hub until it leaves; the process's exit status. */
int fk_resolver_hub_main (int argc, char **argv);

#endif
