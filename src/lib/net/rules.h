/* net/rules.h: a sandbox's egress rules: the allow and deny lists its spec gives (E2B's
   `allowOut` and `denyOut`), parsed, checked and normalised, and the verdicts they give.

   A rule is an IPv4 or IPv6 address, a CIDR block, or (in allow only) a domain name:
   `example.com` matches that name exactly, `*.example.com` every name below it at any depth but
   not example.com itself. Semantics, as E2B has them:
   - allow beats deny: a destination an allow rule matches is reachable whatever deny says;
   - `0.0.0.0/0` in deny (E2B's ALL_TRAFFIC) denies everything, IPv6 included; `::/0` denies all
     of IPv6;
   - the default-denied ranges (private, shared, link-local with the cloud metadata address,
     loopback, multicast, reserved: fk_net_default_deny*) are unreachable unless allowed;
   - everything else is reachable.
   Names: the sandbox's resolver answers a name that an allow rule matches (and the addresses it
   resolves to become reachable for as long as the records live), and any other name only while
   some traffic is allowed at all (deny is not everything). */
#ifndef FK_NET_RULES_H
#define FK_NET_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The most rules a sandbox takes, allow and deny together, and the longest rule text. */
#define FK_NET_RULES_MAX 4096u
#define FK_NET_RULE_TEXT_MAX 256u

typedef enum
{
  FK_NET_RULE_ADDR4, /* an IPv4 address or CIDR block */
  FK_NET_RULE_ADDR6, /* an IPv6 address or CIDR block */
  FK_NET_RULE_NAME,  /* a domain name, maybe a wildcard */
} fk_net_rule_kind_t;

typedef struct fk_net_rule
{
  fk_net_rule_kind_t kind;
  uint8_t addr[16]; /* ADDR4 (first 4 bytes) and ADDR6: the network, host bits cleared */
  unsigned prefix;  /* ADDR4: 0-32, ADDR6: 0-128 */
  char *name;       /* NAME: lower case, no trailing dot, without the "*." of a wildcard */
  int wildcard;     /* NAME: "*.name" (names below name, not name itself) */
} fk_net_rule_t;

typedef struct fk_net_rules
{
  fk_net_rule_t *allow;
  size_t n_allow;
  fk_net_rule_t *deny;
  size_t n_deny;
  int deny_all4; /* deny has 0.0.0.0/0 */
  int deny_all6; /* deny has 0.0.0.0/0 or ::/0 */
} fk_net_rules_t;

/* Parses the two NULL-terminated lists (either may be NULL) into ret (cleared first; free with
   fk_net_rules_clear). EINVAL naming the list, the entry's index and its text for a malformed
   rule (a bad address or prefix, a name with a space or an empty label, a domain name in deny,
   a bare "*"), E2BIG for more than FK_NET_RULES_MAX rules; ret is untouched on error. Duplicate
   rules are kept (they change nothing). */
int fk_net_rules_parse (const char *const *allow, const char *const *deny, fk_net_rules_t *ret,
                        fk_error_t *err);

/* Checks the two lists as fk_net_rules_parse does, keeping nothing. */
int fk_net_rules_check (const char *const *allow, const char *const *deny, fk_error_t *err);

void fk_net_rules_clear (fk_net_rules_t *rules);

/* The rule as text in its normal form: "10.0.0.0/8", "1.2.3.4" (a /32 or /128 without its
   prefix), "2001:db8::/32", "example.com", "*.example.com". buf holds FK_NET_RULE_TEXT_MAX. */
const char *fk_net_rule_format (const fk_net_rule_t *rule, char *buf, size_t size);

/* 1 when an allow rule names name (a DNS name as queried: any case, maybe a trailing dot). */
int fk_net_rules_name_allowed (const fk_net_rules_t *rules, const char *name);

/* 1 when the sandbox's resolver answers name: an allow rule names it, or not everything is
   denied. */
int fk_net_rules_name_resolves (const fk_net_rules_t *rules, const char *name);

typedef enum
{
  FK_NET_VERDICT_ALLOW,        /* an allow rule matches, or nothing denies it */
  FK_NET_VERDICT_DENY,         /* a deny rule matches (and no allow rule) */
  FK_NET_VERDICT_DEFAULT_DENY, /* a default-denied range (and no allow rule) */
} fk_net_verdict_t;

/* What the rules say of a destination address (family AF_INET or AF_INET6; addr 4 or 16
   bytes), by address rules only: names are allowed through the addresses they resolve to. */
fk_net_verdict_t fk_net_rules_addr_verdict (const fk_net_rules_t *rules, int family,
                                            const void *addr);

/* The address rules of kind (ADDR4 or ADDR6) in list as an interval set takes them: sorted by
   address, a block within another dropped (CIDR blocks nest or are apart). Returns how many;
   *ret (caller frees; NULL when none) holds them, names not copied. */
size_t fk_net_rules_blocks (const fk_net_rule_t *list, size_t n, fk_net_rule_kind_t kind,
                            fk_net_rule_t **ret);

/* The default-denied ranges, NULL-terminated CIDR texts. */
extern const char *const fk_net_default_deny4[];
extern const char *const fk_net_default_deny6[];

#endif
