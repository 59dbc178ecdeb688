/* net/egress.c: the egress plane on the host: nftables text and transactions, veth pairs,
   addresses and routes over netlink. */
#include "net/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <stdarg.h>
#include <net/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/rules.h"
#include "net/slots.h"

#define TABLE "inet firkin"

/* ---- nftables text ---- */

typedef struct
{
  char *s;
  size_t len, cap;
} buf_t;

__attribute__ ((format (printf, 2, 3))) static void
out (buf_t *b, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *piece = NULL;
  int n = vasprintf (&piece, fmt, ap);
  va_end (ap);
  if (n < 0)
    abort ();
  if (b->len + (size_t)n + 1 > b->cap)
    {
      b->cap = (b->len + (size_t)n + 1) * 2;
      b->s = xrealloc (b->s, b->cap);
    }
  memcpy (b->s + b->len, piece, (size_t)n + 1);
  b->len += (size_t)n;
  free (piece);
}

/* "add element" for the address rules of kind in list, nested blocks dropped (an interval set
   takes no overlap), or nothing when there are none. */
static void
out_elements (buf_t *b, const char *set, const fk_net_rule_t *list, size_t n,
              fk_net_rule_kind_t kind)
{
  cleanup_free fk_net_rule_t *v = NULL;
  size_t m = fk_net_rules_blocks (list, n, kind, &v);
  if (m == 0)
    return;
  out (b, "add element " TABLE " %s { ", set);
  for (size_t i = 0; i < m; i++)
    {
      char text[64];
      inet_ntop (kind == FK_NET_RULE_ADDR4 ? AF_INET : AF_INET6, v[i].addr, text, sizeof text);
      out (b, "%s%s/%u", i ? ", " : "", text, v[i].prefix);
    }
  out (b, " }\n");
}

/* The default-denied ranges and the sandboxes' own subnet (whatever range it is configured in,
   no sandbox reaches another unless its rules allow it). */
static void
out_default_deny (buf_t *b, const char *set, const char *const *texts, const char *subnet)
{
  size_t n = 0;
  while (texts[n])
    n++;
  cleanup_free const char **all = xcalloc (n + 2, sizeof *all);
  memcpy (all, texts, n * sizeof *all);
  all[n] = subnet;
  fk_net_rules_t r = { 0 };
  fk_error_t ignored = FK_ERROR_INIT;
  if (fk_net_rules_parse (NULL, all, &r, &ignored) == 0)
    {
      out_elements (b, set, r.deny, r.n_deny,
                    texts == fk_net_default_deny4 ? FK_NET_RULE_ADDR4 : FK_NET_RULE_ADDR6);
      fk_net_rules_clear (&r);
    }
  fk_error_clear (&ignored);
}

static void
out_base (buf_t *b, const fk_net_config_t *cfg)
{
  char net4[64], net6[64];
  inet_ntop (AF_INET, cfg->net4, net4, sizeof net4);
  inet_ntop (AF_INET6, cfg->net6, net6, sizeof net6);
  out (b, "add table " TABLE "\n"
          "add map " TABLE " out_if { type ifname : verdict; }\n"
          "add map " TABLE " in_if { type ifname : verdict; }\n"
          "add set " TABLE " default_deny4 { type ipv4_addr; flags interval; }\n"
          "add set " TABLE " default_deny6 { type ipv6_addr; flags interval; }\n"
          "add chain " TABLE " forward { type filter hook forward priority filter; "
          "policy accept; }\n"
          "add chain " TABLE " input { type filter hook input priority filter; policy accept; }\n"
          "add chain " TABLE " postrouting { type nat hook postrouting priority srcnat; "
          "policy accept; }\n"
          "add chain " TABLE " from_sandbox\n"
          "add chain " TABLE " to_sandbox\n"
          "add chain " TABLE " sandbox_to_host\n"
          "flush chain " TABLE " forward\n"
          "flush chain " TABLE " input\n"
          "flush chain " TABLE " postrouting\n"
          "flush chain " TABLE " from_sandbox\n"
          "flush chain " TABLE " to_sandbox\n"
          "flush chain " TABLE " sandbox_to_host\n"
          "flush set " TABLE " default_deny4\n"
          "flush set " TABLE " default_deny6\n");
  char sub4[80], sub6[80];
  snprintf (sub4, sizeof sub4, "%s/%u", net4, cfg->prefix4);
  snprintf (sub6, sizeof sub6, "%s/%u", net6, cfg->prefix6);
  out_default_deny (b, "default_deny4", fk_net_default_deny4, sub4);
  out_default_deny (b, "default_deny6", fk_net_default_deny6, sub6);
  /* A sandbox's chain is reached by goto: when it ends, the forward chain goes on with its
     next rule, not with the drop below the map (which catches an fkv interface with no
     chain: one being made or removed). */
  out (b,
       "add rule " TABLE " forward iifname \"fkv*\" jump from_sandbox\n"
       "add rule " TABLE " forward oifname \"fkv*\" jump to_sandbox\n"
       "add rule " TABLE " from_sandbox iifname vmap @out_if\n"
       "add rule " TABLE " from_sandbox drop\n"
       "add rule " TABLE " to_sandbox oifname vmap @in_if\n"
       "add rule " TABLE " to_sandbox drop\n"
       /* The host's own addresses are not the sandbox's to reach; neighbour discovery for the
          gateway is. */
       "add rule " TABLE " input iifname \"fkv*\" jump sandbox_to_host\n"
       "add rule " TABLE " sandbox_to_host ct state established,related accept\n"
       "add rule " TABLE " sandbox_to_host icmpv6 type { nd-neighbor-solicit, "
       "nd-neighbor-advert } accept\n"
       "add rule " TABLE " sandbox_to_host drop\n"
       "add rule " TABLE " postrouting ip saddr %s/%u oifname != \"fkv*\" masquerade\n"
       "add rule " TABLE " postrouting ip6 saddr %s/%u oifname != \"fkv*\" masquerade\n",
       net4, cfg->prefix4, net6, cfg->prefix6);
}

/* The verdict chain: judged by the remote address (field daddr for what the sandbox sends,
   saddr for replies to it); allowed goes to ok, denied to no. */
static void
out_verdict (buf_t *b, unsigned n, const fk_net_rules_t *r, const char *chain, const char *field,
             const char *ok, const char *no)
{
  out (b,
       "add rule " TABLE " sb_%u_%s ip %s @sb_%u_allow4 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip6 %s @sb_%u_allow6 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip %s @sb_%u_dns4 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip6 %s @sb_%u_dns6 goto sb_%u_%s\n",
       n, chain, field, n, n, ok, n, chain, field, n, n, ok, n, chain, field, n, n, ok, n, chain,
       field, n, n, ok);
  if (r->deny_all4)
    out (b, "add rule " TABLE " sb_%u_%s meta nfproto ipv4 goto sb_%u_%s\n", n, chain, n, no);
  if (r->deny_all6)
    out (b, "add rule " TABLE " sb_%u_%s meta nfproto ipv6 goto sb_%u_%s\n", n, chain, n, no);
  out (b,
       "add rule " TABLE " sb_%u_%s ip %s @sb_%u_deny4 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip6 %s @sb_%u_deny6 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip %s @default_deny4 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s ip6 %s @default_deny6 goto sb_%u_%s\n"
       "add rule " TABLE " sb_%u_%s goto sb_%u_%s\n",
       n, chain, field, n, n, no, n, chain, field, n, n, no, n, chain, field, n, no, n, chain,
       field, n, no, n, chain, n, ok);
}

int
fk_egress_nft_text (const fk_net_config_t *cfg, const fk_egress_t *eg, uint32_t gen,
                    char **ret_text, fk_error_t *err)
{
  fk_net_rules_t r = { 0 };
  if (fk_net_rules_parse (eg->allow_out, eg->deny_out, &r, err) < 0)
    return -1;
  unsigned n = eg->slot;
  char a4[64], a6[64];
  fk_net_slot_addrs (cfg, n, a4, a6, NULL, NULL);
  buf_t b = { 0 };
  for (size_t i = 0; fk_egress_counters_names[i]; i++)
    out (&b, "add counter " TABLE " sb_%u_%s\n", n, fk_egress_counters_names[i]);
  for (size_t i = 0; fk_egress_set_names[i]; i++)
    {
      const char *s = fk_egress_set_names[i];
      if (strcmp (s, "gen") == 0)
        out (&b, "add set " TABLE " sb_%u_gen { type mark; }\nflush set " TABLE " sb_%u_gen\n", n,
             n);
      else
        out (&b,
             "add set " TABLE " sb_%u_%s { type %s; flags %s; }\nflush set " TABLE " sb_%u_%s\n", n,
             s, s[strlen (s) - 1] == '4' ? "ipv4_addr" : "ipv6_addr",
             strncmp (s, "dns", 3) == 0 ? "timeout" : "interval", n, s);
    }
  out (&b, "add element " TABLE " sb_%u_gen { %u }\n", n, gen);
  for (size_t i = 0; fk_egress_chain_names[i]; i++)
    out (&b, "add chain " TABLE " sb_%u_%s\nflush chain " TABLE " sb_%u_%s\n", n,
         fk_egress_chain_names[i], n, fk_egress_chain_names[i]);
  char set[32];
  snprintf (set, sizeof set, "sb_%u_allow4", n);
  out_elements (&b, set, r.allow, r.n_allow, FK_NET_RULE_ADDR4);
  snprintf (set, sizeof set, "sb_%u_allow6", n);
  out_elements (&b, set, r.allow, r.n_allow, FK_NET_RULE_ADDR6);
  snprintf (set, sizeof set, "sb_%u_deny4", n);
  out_elements (&b, set, r.deny, r.n_deny, FK_NET_RULE_ADDR4);
  snprintf (set, sizeof set, "sb_%u_deny6", n);
  out_elements (&b, set, r.deny, r.n_deny, FK_NET_RULE_ADDR6);

  /* What the sandbox sends: its own addresses only; within its bandwidth; a flow it opens
     (or one of an older generation) judged by the destination. Packets conntrack does not
     track never pass: the verdicts are per flow. */
  out (&b,
       "add rule " TABLE " sb_%u_out ip saddr != %s counter name sb_%u_denied drop\n"
       "add rule " TABLE " sb_%u_out ip6 saddr != %s counter name sb_%u_denied drop\n"
       "add rule " TABLE " sb_%u_out ct state invalid,untracked counter name sb_%u_denied drop\n",
       n, a4, n, n, a6, n, n, n);
  if (eg->bytes_per_sec)
    {
      uint64_t burst = fk_egress_burst (eg->bytes_per_sec);
      out (&b,
           "add rule " TABLE " sb_%u_out limit rate over %llu bytes/second burst %llu bytes "
           "counter name sb_%u_limited drop\n",
           n, (unsigned long long)eg->bytes_per_sec, (unsigned long long)burst, n);
    }
  out (&b,
       "add rule " TABLE " sb_%u_out ct direction original ct mark != %u jump sb_%u_vout\n"
       "add rule " TABLE " sb_%u_out counter name sb_%u_out\n",
       n, gen, n, n, n);
  out_verdict (&b, n, &r, "vout", "daddr", "okout", "deny");
  out (&b,
       "add rule " TABLE " sb_%u_okout ct state new ct count over %llu counter name "
       "sb_%u_limited reject with icmpx type admin-prohibited\n",
       n, (unsigned long long)fk_egress_max_connections (eg->max_connections), n);
  out (&b,
       "add rule " TABLE " sb_%u_okout ct mark set %u\n"
       "add rule " TABLE " sb_%u_deny counter name sb_%u_denied meta l4proto tcp reject with tcp "
       "reset\n"
       "add rule " TABLE " sb_%u_deny reject with icmpx type admin-prohibited\n",
       n, gen, n, n, n);
  /* What reaches the sandbox: replies of flows it opened (judged again by the source when
     the generation changed), and flows another sandbox's rules let it open; nothing else. */
  out (&b,
       "add rule " TABLE " sb_%u_in ct state invalid,untracked counter name sb_%u_denied drop\n"
       "add rule " TABLE " sb_%u_in ct direction reply ct mark != %u jump sb_%u_vin\n"
       "add rule " TABLE " sb_%u_in ct direction original iifname != \"fkv*\" counter name "
       "sb_%u_denied drop\n"
       "add rule " TABLE " sb_%u_in counter name sb_%u_in\n",
       n, n, n, gen, n, n, n, n, n);
  out_verdict (&b, n, &r, "vin", "saddr", "okin", "dropin");
  out (&b,
       "add rule " TABLE " sb_%u_okin ct mark set %u\n"
       "add rule " TABLE " sb_%u_dropin counter name sb_%u_denied drop\n"
       "add element " TABLE " out_if { \"fkv%u\" : goto sb_%u_out }\n"
       "add element " TABLE " in_if { \"fkv%u\" : goto sb_%u_in }\n",
       n, gen, n, n, n, n, n, n);
  fk_net_rules_clear (&r);
  *ret_text = b.s;
  return 0;
}

/* ---- running nftables ---- */

static int
nft_run (const char *text, char **ret_output, fk_error_t *err)
{
  struct nft_ctx *ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  if (ctx == NULL)
    return fk_error_set (err, ENOMEM, "nftables: no context");
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  int rc = nft_run_cmd_from_buffer (ctx, text);
  int ret = 0;
  if (rc != 0)
    {
      const char *msg = nft_ctx_get_error_buffer (ctx);
      /* The first line names the failing command. */
      size_t len = msg ? strcspn (msg, "\n") : 0;
      ret = fk_error_set (err, errno && errno != EINTR ? errno : EINVAL, "nftables: %.*s",
                          (int)(len > 400 ? 400 : len), msg ? msg : "failed");
    }
  else if (ret_output)
    *ret_output = xstrdup (nft_ctx_get_output_buffer (ctx));
  nft_ctx_free (ctx);
  return ret;
}

char *
fk_egress_nft_base_text (const fk_net_config_t *cfg)
{
  buf_t b = { 0 };
  out_base (&b, cfg);
  return b.s;
}

uint32_t
fk_egress_new_generation (void)
{
  uint32_t g = 0;
  while (g == 0)
    if (getrandom (&g, sizeof g, 0) != (ssize_t)sizeof g)
      g = (uint32_t)time (NULL) ^ (uint32_t)getpid ();
  return g;
}

int
fk_egress_replace (const fk_net_config_t *cfg, const fk_egress_t *eg, fk_error_t *err)
{
  return fk_egress_nft_batch (cfg, eg, eg->gen ? eg->gen : fk_egress_new_generation (), err);
}

/* ---- netlink ---- */

typedef struct
{
  struct mnl_socket *nl;
  unsigned seq;
  int batching; /* nl_talk queues (nl_flush sends the queue in one message) */
  size_t len;   /* bytes queued in buf */
  unsigned n;   /* messages queued */
  char buf[8192];
} nl_t;

static int
nl_open (nl_t *nl, fk_error_t *err)
{
  nl->nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl->nl == NULL || mnl_socket_bind (nl->nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      if (nl->nl)
        mnl_socket_close (nl->nl);
      nl->nl = NULL;
      return fk_error_set_errno (err, "netlink socket");
    }
  nl->seq = (unsigned)time (NULL);
  return 0;
}

static void
nl_close (nl_t *nl)
{
  if (nl->nl)
    mnl_socket_close (nl->nl);
  nl->nl = NULL;
}

static struct nlmsghdr *
nl_msg (nl_t *nl, uint16_t type, uint16_t flags)
{
  struct nlmsghdr *h = mnl_nlmsg_put_header (nl->buf + nl->len);
  h->nlmsg_type = type;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  h->nlmsg_seq = ++nl->seq;
  return h;
}

/* Sends h and waits for its ack; -1 with errno set on a kernel error. While batching, queues
   it instead (nl_flush sends). */
static int
nl_talk (nl_t *nl, struct nlmsghdr *h)
{
  if (nl->batching)
    {
      nl->len += MNL_ALIGN (h->nlmsg_len);
      nl->n++;
      return 0;
    }
  if (mnl_socket_sendto (nl->nl, h, h->nlmsg_len) < 0)
    return -1;
  unsigned portid = mnl_socket_get_portid (nl->nl);
  char rbuf[8192];
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (nl->nl, rbuf, sizeof rbuf);
      if (n < 0)
        return -1;
      int r = mnl_cb_run (rbuf, (size_t)n, h->nlmsg_seq, portid, NULL, NULL);
      if (r <= MNL_CB_STOP)
        return r < 0 ? -1 : 0;
    }
}

static void
nl_batch (nl_t *nl)
{
  nl->batching = 1;
  nl->len = 0;
  nl->n = 0;
}

/* Sends the queued messages in one datagram (the kernel runs them in order) and reads an ack
   for each; -1 with errno the first error. */
static int
nl_flush (nl_t *nl)
{
  size_t len = nl->len;
  unsigned want = nl->n, got = 0;
  int first = 0;
  nl->batching = 0;
  nl->len = 0;
  nl->n = 0;
  if (want == 0)
    return 0;
  if (mnl_socket_sendto (nl->nl, nl->buf, len) < 0)
    return -1;
  char rbuf[8192];
  while (got < want)
    {
      ssize_t n = mnl_socket_recvfrom (nl->nl, rbuf, sizeof rbuf);
      if (n < 0)
        return -1;
      int left = (int)n;
      for (const struct nlmsghdr *h = (const struct nlmsghdr *)rbuf; mnl_nlmsg_ok (h, left);
           h = mnl_nlmsg_next (h, &left))
        {
          if (h->nlmsg_type != NLMSG_ERROR)
            continue;
          const struct nlmsgerr *e = mnl_nlmsg_get_payload (h);
          got++;
          if (e->error < 0 && first == 0)
            first = -e->error;
        }
    }
  if (first)
    {
      errno = first;
      return -1;
    }
  return 0;
}

/* Up; with no_ll, without an IPv6 link-local address (the pair's ends talk with their own
   addresses: no duplicate address detection that holds the first packets back). */
static int
link_up (nl_t *nl, int ifindex, int no_ll)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_NEWLINK, 0);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (h, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (no_ll)
    {
      struct nlattr *af = mnl_attr_nest_start (h, IFLA_AF_SPEC);
      struct nlattr *in6 = mnl_attr_nest_start (h, AF_INET6);
      mnl_attr_put_u8 (h, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
      mnl_attr_nest_end (h, in6);
      mnl_attr_nest_end (h, af);
    }
  return nl_talk (nl, h);
}

static int
link_del (nl_t *nl, const char *name)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_DELLINK, 0);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (h, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (h, IFLA_IFNAME, name);
  return nl_talk (nl, h);
}

/* A veth pair: name here, peer (eth0) made directly in the namespace netns_fd. */
static int
veth_add (nl_t *nl, const char *name, const char *peer, int netns_fd)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (h, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (h, IFLA_IFNAME, name);
  struct nlattr *info = mnl_attr_nest_start (h, IFLA_LINKINFO);
  mnl_attr_put_strz (h, IFLA_INFO_KIND, "veth");
  struct nlattr *data = mnl_attr_nest_start (h, IFLA_INFO_DATA);
  struct nlattr *p = mnl_attr_nest_start (h, VETH_INFO_PEER);
  struct ifinfomsg *pi = mnl_nlmsg_get_payload_tail (h);
  h->nlmsg_len += MNL_ALIGN (sizeof *pi);
  memset (pi, 0, sizeof *pi);
  pi->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz (h, IFLA_IFNAME, peer);
  mnl_attr_put_u32 (h, IFLA_NET_NS_FD, (uint32_t)netns_fd);
  mnl_attr_nest_end (h, p);
  mnl_attr_nest_end (h, data);
  mnl_attr_nest_end (h, info);
  return nl_talk (nl, h);
}

/* local with a host route to peer (a point-to-point address: /32, /128). */
static int
addr_add (nl_t *nl, int family, int ifindex, const uint8_t *local, const uint8_t *peer)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header (h, sizeof *ifa);
  size_t len = family == AF_INET ? 4 : 16;
  ifa->ifa_family = (uint8_t)family;
  ifa->ifa_prefixlen = (uint8_t)(len * 8);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = (unsigned)ifindex;
  mnl_attr_put (h, IFA_LOCAL, len, local);
  mnl_attr_put (h, IFA_ADDRESS, len, peer);
  if (family == AF_INET6)
    {
      ifa->ifa_flags = IFA_F_NODAD;
      mnl_attr_put_u32 (h, IFA_FLAGS, IFA_F_NODAD);
    }
  return nl_talk (nl, h);
}

static int
default_route (nl_t *nl, int family, int ifindex, const uint8_t *gw)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  struct rtmsg *rt = mnl_nlmsg_put_extra_header (h, sizeof *rt);
  rt->rtm_family = (uint8_t)family;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  rt->rtm_flags = RTNH_F_ONLINK; /* the gateway is the other end of the pair */
  mnl_attr_put (h, RTA_GATEWAY, family == AF_INET ? 4 : 16, gw);
  mnl_attr_put_u32 (h, RTA_OIF, (uint32_t)ifindex);
  return nl_talk (nl, h);
}

/* A route to the sandbox's IPv6 address on its interface: the peer address's own route is not
   made when the address comes before the carrier (the pair's other end is not up yet). */
static int
host_route6 (nl_t *nl, int ifindex, const uint8_t *dst)
{
  struct nlmsghdr *h = nl_msg (nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  struct rtmsg *rt = mnl_nlmsg_put_extra_header (h, sizeof *rt);
  rt->rtm_family = AF_INET6;
  rt->rtm_dst_len = 128;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_LINK;
  rt->rtm_type = RTN_UNICAST;
  mnl_attr_put (h, RTA_DST, 16, dst);
  mnl_attr_put_u32 (h, RTA_OIF, (uint32_t)ifindex);
  return nl_talk (nl, h);
}

static int
write_sysctl (const char *path, const char *value)
{
  char cur[8] = { 0 };
  cleanup_close int fd = open (path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (read (fd, cur, sizeof cur - 1) > 0 && strncmp (cur, value, strlen (value)) == 0)
    return 0;
  return pwrite (fd, value, strlen (value), 0) < 0 ? -1 : 0;
}

/* A netlink socket in the namespace netns_fd, and eth0's index there: the calling thread
   enters it for the socket's creation only (a socket keeps the namespace it was made in). */
static int
open_in_netns (int netns_fd, nl_t *nl, int *ret_eth0, fk_error_t *err)
{
  cleanup_close int self = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return fk_error_set_errno (err, "open this thread's network namespace");
  if (setns (netns_fd, CLONE_NEWNET) < 0)
    return fk_error_set_errno (err, "enter the sandbox's network namespace");
  int r = nl_open (nl, err);
  int idx = r == 0 ? (int)if_nametoindex ("eth0") : 0;
  int e = errno;
  if (setns (self, CLONE_NEWNET) < 0)
    abort (); /* cannot go on in the wrong namespace */
  if (r < 0)
    return -1;
  if (idx == 0)
    {
      nl_close (nl);
      return fk_error_set (err, e, "no eth0 in the sandbox's network namespace");
    }
  *ret_eth0 = idx;
  return 0;
}

int
fk_egress_setup (const fk_net_config_t *cfg, const fk_egress_t *eg, int netns_fd, fk_error_t *err)
{
  unsigned n = eg->slot;
  char ifname[IFNAMSIZ];
  snprintf (ifname, sizeof ifname, "fkv%u", n);
  uint8_t sb4[4], gw4[4], sb6[16], gw6[16];
  fk_net_slot_addr_bytes (cfg, n, sb4, sb6);
  fk_net_slot_addr_bytes (cfg, 0, gw4, gw6); /* the gateway: the address before slot 0's */

  /* The rules first: the interface passes nothing before its chains exist. */
  write_sysctl ("/proc/sys/net/ipv4/ip_forward", "1");
  write_sysctl ("/proc/sys/net/ipv6/conf/all/forwarding", "1");
  /* The shared table is made (or remade) only when the sandbox's own objects cannot be made
     without it: its base chains' rules are the same every time, and rewriting them with each
     sandbox costs the commit more than the sandbox's own. */
  uint32_t gen = eg->gen ? eg->gen : fk_egress_new_generation ();
  fk_error_t first = FK_ERROR_INIT;
  if (fk_egress_nft_batch (cfg, eg, gen, &first) < 0)
    {
      int absent = first.code == ENOENT;
      if (!absent)
        {
          fk_error_set (err, first.code, "%s", fk_error_message (&first));
          fk_error_clear (&first);
          return -1;
        }
      fk_error_clear (&first);
      cleanup_free char *base = fk_egress_nft_base_text (cfg);
      if (nft_run (base, NULL, err) < 0 || fk_egress_nft_batch (cfg, eg, gen, err) < 0)
        return -1;
    }

  nl_t host = { 0 }, inside = { 0 };
  int ret = -1, made = 0;
  if (nl_open (&host, err) < 0)
    goto out;
  if (veth_add (&host, ifname, "eth0", netns_fd) < 0)
    {
      /* An interface a crashed sandbox left in this slot goes first. */
      if (errno != EEXIST || link_del (&host, ifname) < 0
          || veth_add (&host, ifname, "eth0", netns_fd) < 0)
        {
          fk_error_set_errno (err, "make the veth pair `%s'", ifname);
          goto out;
        }
    }
  made = 1;
  int hidx = (int)if_nametoindex (ifname);
  if (hidx == 0)
    {
      fk_error_set_errno (err, "find `%s'", ifname);
      goto out;
    }
  /* Each side's messages go in one datagram: one round trip. */
  nl_batch (&host);
  addr_add (&host, AF_INET, hidx, gw4, sb4);
  addr_add (&host, AF_INET6, hidx, gw6, sb6);
  link_up (&host, hidx, 1);
  if (nl_flush (&host) < 0)
    {
      fk_error_set_errno (err, "set up `%s'", ifname);
      goto out;
    }
  int eth0 = 0;
  if (open_in_netns (netns_fd, &inside, &eth0, err) < 0)
    goto out;
  nl_batch (&inside);
  link_up (&inside, 1, 0);
  link_up (&inside, eth0, 1);
  addr_add (&inside, AF_INET, eth0, sb4, gw4);
  addr_add (&inside, AF_INET6, eth0, sb6, gw6);
  default_route (&inside, AF_INET, eth0, gw4);
  default_route (&inside, AF_INET6, eth0, gw6);
  if (nl_flush (&inside) < 0)
    {
      fk_error_set_errno (err, "set up eth0 in the sandbox");
      goto out;
    }
  if (host_route6 (&host, hidx, sb6) < 0)
    {
      fk_error_set_errno (err, "route to the sandbox on `%s'", ifname);
      goto out;
    }
  ret = 0;
out:
  if (ret < 0)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      if (made && host.nl)
        link_del (&host, ifname);
      fk_egress_nft_remove (n, &ignored);
      fk_error_clear (&ignored);
    }
  nl_close (&host);
  nl_close (&inside);
  return ret;
}

int
fk_egress_teardown (unsigned slot, fk_error_t *err)
{
  char ifname[IFNAMSIZ];
  snprintf (ifname, sizeof ifname, "fkv%u", slot);
  /* The interface goes with the sandbox's namespace; one left (a namespace someone holds
     open) is removed here. */
  nl_t host = { 0 };
  if (nl_open (&host, err) < 0)
    return -1;
  if (link_del (&host, ifname) < 0 && errno != ENODEV)
    {
      fk_error_set_errno (err, "remove `%s'", ifname);
      nl_close (&host);
      return -1;
    }
  nl_close (&host);
  return fk_egress_nft_remove (slot, err);
}

static void
read_counter (const char *text, const char *name, uint64_t *packets, uint64_t *bytes)
{
  const char *p = strstr (text, name);
  if (p == NULL)
    return;
  p = strstr (p, "packets ");
  if (p == NULL)
    return;
  unsigned long long pk = 0, by = 0;
  if (sscanf (p, "packets %llu bytes %llu", &pk, &by) == 2)
    {
      *packets = pk;
      if (bytes)
        *bytes = by;
    }
}

int
fk_egress_counters (unsigned slot, fk_egress_counters_t *ret, fk_error_t *err)
{
  buf_t b = { 0 };
  for (size_t i = 0; fk_egress_counters_names[i]; i++)
    out (&b, "list counter " TABLE " sb_%u_%s\n", slot, fk_egress_counters_names[i]);
  cleanup_free char *text = NULL;
  int r = nft_run (b.s, &text, err);
  free (b.s);
  if (r < 0)
    return -1;
  fk_egress_counters_t c = { 0 };
  char name[48];
  snprintf (name, sizeof name, "counter sb_%u_out ", slot);
  read_counter (text, name, &c.out_packets, &c.out_bytes);
  snprintf (name, sizeof name, "counter sb_%u_in ", slot);
  read_counter (text, name, &c.in_packets, &c.in_bytes);
  snprintf (name, sizeof name, "counter sb_%u_denied ", slot);
  read_counter (text, name, &c.denied_packets, NULL);
  snprintf (name, sizeof name, "counter sb_%u_limited ", slot);
  read_counter (text, name, &c.limited_packets, NULL);
  *ret = c;
  return 0;
}
