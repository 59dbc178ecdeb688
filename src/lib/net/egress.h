/* net/egress.h: the egress data plane on the host (docs/network.md). Each sandbox gets a veth
   pair: the host end `fkv<N>' (N its slot, net/slots.h) and `eth0' in the sandbox's network
   namespace, routed point to point: the host end holds the gateway addresses with a /32 and
   /128 route to the sandbox's own, and the sandbox has its addresses and default routes (IPv4
   and IPv6) through the gateway. There is no bridge: nothing the sandbox sends reaches another
   sandbox but through the host's forwarding, where the rules are. Made through netlink (libmnl)
   and nftables (libnftables), never by running ip or nft.

   nftables: table `inet firkin' (shared, made once: the forward, input and NAT hooks, the
   default-denied ranges, masquerade for the subnets) and for each sandbox its chains, sets and
   counters named sb_<N>_*, reached only from maps keyed by its interface name, so one
   sandbox's rules never touch another's. Its verdicts are the rules module's (net/rules.h):
   allow beats deny; deny rejects (TCP reset, else ICMP administratively prohibited). A flow the
   sandbox opens is judged when it opens and carries a conntrack mark of the rules' generation;
   replies pass while the mark is current, and a change of rules (one nftables transaction with
   a new generation) makes every packet of an older flow judged again, so nothing a new rule
   denies passes after the change. Nothing opens a flow into a sandbox from outside (another
   sandbox may, when its own rules allow the address); a sandbox reaches no address of the host
   itself. Addresses domain rules resolve to are in the sets sb_<N>_dns4 and sb_<N>_dns6 (the
   resolver fills them, with timeouts). */
#ifndef FK_NET_EGRESS_H
#define FK_NET_EGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Where the addresses come from: env FIRKIN_NET_SUBNET4 (default 10.88.0.0/16) and
   FIRKIN_NET_SUBNET6 (default fd7f:6b1e:6e00::/64). The gateway is the first address, slot N
   gets the (N+1)th. */
typedef struct fk_net_config
{
  uint8_t net4[4];
  unsigned prefix4; /* 8 to 30 */
  uint8_t net6[16];
  unsigned prefix6; /* 64 to 120 */
} fk_net_config_t;

/* The defaults overridden by the environment; EINVAL naming the variable for a bad subnet. */
int fk_net_config_load (fk_net_config_t *ret, fk_error_t *err);

/* How many slots the subnets have room for (at most FK_NET_SLOTS_MAX). */
unsigned fk_net_config_slots (const fk_net_config_t *cfg);

/* The addresses of slot (and of the gateway) as text: buffers of 46 bytes. */
void fk_net_slot_addrs (const fk_net_config_t *cfg, unsigned slot, char *addr4, char *addr6,
                        char *gw4, char *gw6);

/* The same as bytes: 4 and 16. */
void fk_net_slot_addr_bytes (const fk_net_config_t *cfg, unsigned slot, uint8_t addr4[4],
                             uint8_t addr6[16]);

/* A sandbox's egress: its slot, rules (checked: fk_net_rules_parse) and limits. */
typedef struct fk_egress
{
  unsigned slot;
  const char *const *allow_out; /* NULL-terminated, may be NULL */
  const char *const *deny_out;
  uint64_t bytes_per_sec;   /* 0: no limit */
  uint64_t max_connections; /* 0: FK_NET_MAX_CONNECTIONS */
  uint32_t gen; /* the rules' generation (fk_egress_new_generation); 0: setup and replace pick
                   one. Set sb_N_gen holds it: the resolver's set changes name the generation
                   their rules are of and fail as a whole when it is not the one in force. */
} fk_egress_t;

/* A new generation for a sandbox's rules: random, never 0. */
uint32_t fk_egress_new_generation (void);

/* The nftables commands that make (or replace: the same text) the sandbox's chains, sets and
   counters in the shared table; one transaction. gen is the rules' generation (not 0). The
   rules' readable form: the library makes them through fk_egress_nft_batch, and a test holds
   the two to the same table. Caller frees. */
int fk_egress_nft_text (const fk_net_config_t *cfg, const fk_egress_t *eg, uint32_t gen,
                        char **ret_text, fk_error_t *err);

/* The shared table (hooks, maps, default-denied sets, masquerade). Caller frees. */
char *fk_egress_nft_base_text (const fk_net_config_t *cfg);

/* The sandbox's own objects (fk_egress_nft_text without the base: the same objects and rules)
   made or replaced as one netlink batch built with libnftnl, with no cache fetched: one
   transaction, one round trip. ENOENT when the shared table is not there. */
int fk_egress_nft_batch (const fk_net_config_t *cfg, const fk_egress_t *eg, uint32_t gen,
                         fk_error_t *err);

/* Removes the slot's own objects in one batch; none there is success. */
int fk_egress_nft_remove (unsigned slot, fk_error_t *err);

/* A change to a resolver's timeout sets: REFRESH puts addr in with a timeout of timeout_s (an
   element there already gets the new one), KEEP adds it with timeout_s when it is not there,
   DROP takes it out. */
typedef enum
{
  FK_NFT_ELEM_REFRESH,
  FK_NFT_ELEM_KEEP,
  FK_NFT_ELEM_DROP,
} fk_nft_elem_op_t;
typedef struct fk_nft_elem
{
  int family; /* AF_INET (set4) or AF_INET6 (set6) */
  uint8_t addr[16];
  uint32_t timeout_s;
  int op; /* fk_nft_elem_op_t */
} fk_nft_elem_t;

/* The resolver's changes to its sets (table FAMILY NAME: family inet, ip or ip6) as one netlink
   batch, no cache fetched; with gen_set, only while that set holds gen (the generation of the
   rules the resolver answers by; see fk_egress_t): else the whole batch fails (ENOENT). */
int fk_nft_dns_elements (const char *family, const char *table, const char *set4, const char *set6,
                         const char *gen_set, uint32_t gen, const fk_nft_elem_t *list, size_t n,
                         fk_error_t *err);

/* The names of a sandbox's chains, sets and counters (sb_<N>_<name>), NULL-terminated. */
extern const char *const fk_egress_chain_names[];
extern const char *const fk_egress_set_names[];
extern const char *const fk_egress_counters_names[];

/* The connection limit when none is asked: one sandbox opening flows without end cannot fill
   the host's connection tracking table, which every sandbox shares (its default size is in the
   hundreds of thousands). */
#define FK_NET_MAX_CONNECTIONS 4096u
static inline uint64_t
fk_egress_max_connections (uint64_t asked)
{
  return asked ? asked : FK_NET_MAX_CONNECTIONS;
}

/* The burst the bandwidth limit allows (a quarter second's worth, at least 256 KiB). */
uint64_t fk_egress_burst (uint64_t bytes_per_sec);

/* Makes the sandbox's rules, then its veth pair with eth0 in the network namespace netns_fd,
   addresses, routes and loopback there. On failure what it made is undone. */
int fk_egress_setup (const fk_net_config_t *cfg, const fk_egress_t *eg, int netns_fd,
                     fk_error_t *err);

/* Replaces the sandbox's rules and limits in one transaction (a new generation). */
int fk_egress_replace (const fk_net_config_t *cfg, const fk_egress_t *eg, fk_error_t *err);

/* Removes the sandbox's rules and host interface (what is already gone is fine). */
int fk_egress_teardown (unsigned slot, fk_error_t *err);

typedef struct fk_egress_counters
{
  uint64_t out_packets, out_bytes; /* sent by the sandbox, allowed */
  uint64_t in_packets, in_bytes;   /* received */
  uint64_t denied_packets;         /* dropped or rejected by the rules (or spoofed) */
  uint64_t limited_packets;        /* over the bandwidth or connection limit */
} fk_egress_counters_t;

int fk_egress_counters (unsigned slot, fk_egress_counters_t *ret, fk_error_t *err);

#endif
