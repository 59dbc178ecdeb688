/* net/egress_batch.c: a sandbox's own nftables objects (egress.h) made, replaced and removed
   as one netlink batch built with libnftnl. The text path (fk_egress_nft_text, run through
   libnftables) fetches the whole table into a cache, every set's elements included, and parses
   text on each call: its cost grows with the number of sandboxes. This path sends only the
   sandbox's objects and reads one acknowledgement. The objects and rules are the text's, one
   for one (the unit test loads both into two network namespaces and compares the listings);
   the text stays the readable form of the rules and makes the shared table. */
#include "net/egress.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "net/rules.h"

#define TABLE_NAME "firkin"

/* The names of a sandbox's objects and its rate's burst, which the text path (egress.c) uses
   too: here, so that fk-resolver, which links this path alone, does not pull in libnftables. */
const char *const fk_egress_chain_names[]
    = { "out", "in", "vout", "vin", "okout", "okin", "deny", "dropin", NULL };
const char *const fk_egress_counters_names[] = { "out", "in", "denied", "limited", NULL };
const char *const fk_egress_set_names[]
    = { "allow4", "allow6", "deny4", "deny6", "dns4", "dns6", "gen", NULL };

uint64_t
fk_egress_burst (uint64_t bytes_per_sec)
{
  uint64_t burst = bytes_per_sec / 4;
  return burst < 256 * 1024 ? 256 * 1024 : burst;
}

/* nft's datatype numbers and key byte order, which a listing reads back. */
#define TYPE_IPADDR 7
#define TYPE_MARK 19
#define TYPE_IP6ADDR 8
#define BYTEORDER_HOST_ENDIAN 1
#define BYTEORDER_BIG_ENDIAN 2

/* The most address blocks (two elements each) one message carries: a message's element list
   is one attribute, at most 64 KiB, and a message must fit in a batch page's overrun room. */
#define ELEMS_PER_MSG 128
#define BATCH_PAGE (64 * 1024)

typedef struct
{
  struct nftnl_batch *b;
  uint32_t seq, first;
  uint32_t set_id;
  uint16_t family;       /* of every message: the table's (NFPROTO_INET unless set) */
  struct nlmsghdr *last; /* the last message: it asks for the acknowledgement */
  char (*what)[64];      /* what message seq - first does, for an error */
  size_t n_what, cap_what;
} batch_t;

static void
batch_init (batch_t *bt)
{
  memset (bt, 0, sizeof *bt);
  bt->b = nftnl_batch_alloc (BATCH_PAGE, BATCH_PAGE);
  if (bt->b == NULL)
    abort ();
  bt->seq = bt->first = 1;
  bt->family = NFPROTO_INET;
  nftnl_batch_begin (nftnl_batch_buffer (bt->b), bt->seq++);
  nftnl_batch_update (bt->b);
}

static void
batch_free (batch_t *bt)
{
  nftnl_batch_free (bt->b);
  free (bt->what);
}

__attribute__ ((format (printf, 4, 5))) static struct nlmsghdr *
batch_msg (batch_t *bt, uint16_t type, uint16_t flags, const char *fmt, ...)
{
  if (bt->n_what == bt->cap_what)
    {
      bt->cap_what = bt->cap_what ? bt->cap_what * 2 : 64;
      bt->what = xrealloc (bt->what, bt->cap_what * sizeof *bt->what);
    }
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (bt->what[bt->n_what++], sizeof *bt->what, fmt, ap);
  va_end (ap);
  bt->last = nftnl_nlmsg_build_hdr (nftnl_batch_buffer (bt->b), type, bt->family, flags, bt->seq++);
  return bt->last;
}

static void
batch_next (batch_t *bt)
{
  if (nftnl_batch_update (bt->b) < 0)
    abort ();
}

/* Sends the batch and reads its verdict: the kernel answers every message after it has
   handled them all, the failing ones first, so the first error or the last message's
   acknowledgement decides. */
static int
batch_send (batch_t *bt, fk_error_t *err)
{
  uint32_t last = bt->seq - 1;
  if (bt->last)
    bt->last->nlmsg_flags |= NLM_F_ACK;
  nftnl_batch_end (nftnl_batch_buffer (bt->b), bt->seq++);
  batch_next (bt);
  struct mnl_socket *nl = mnl_socket_open2 (NETLINK_NETFILTER, SOCK_CLOEXEC);
  if (nl == NULL || mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int e = errno;
      if (nl)
        mnl_socket_close (nl);
      return fk_error_set (err, e, "nftables: open a netlink socket: %s", strerror (e));
    }
  /* The kernel answers at once; a wait this long is a fault, not a busy table. */
  struct timeval tv = { .tv_sec = 10 };
  setsockopt (mnl_socket_get_fd (nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int n_iov = nftnl_batch_iovec_len (bt->b);
  cleanup_free struct iovec *iov = xcalloc ((size_t)n_iov, sizeof *iov);
  nftnl_batch_iovec (bt->b, iov, (uint32_t)n_iov);
  /* The batch goes in one datagram: the socket's send buffer must hold it all. */
  size_t total = 0;
  for (int i = 0; i < n_iov; i++)
    total += iov[i].iov_len;
  int size = (int)(total < 256 * 1024 ? 256 * 1024 : total * 2);
  if (setsockopt (mnl_socket_get_fd (nl), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
    setsockopt (mnl_socket_get_fd (nl), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
  struct msghdr msg = {
    .msg_name = &snl, .msg_namelen = sizeof snl, .msg_iov = iov, .msg_iovlen = (size_t)n_iov
  };
  int ret = 0;
  if (sendmsg (mnl_socket_get_fd (nl), &msg, 0) < 0)
    {
      int e = errno;
      ret = fk_error_set (err, e, "nftables: send the batch: %s", strerror (e));
      goto out;
    }
  char buf[32768];
  for (;;)
    {
      ssize_t got = mnl_socket_recvfrom (nl, buf, sizeof buf);
      int len = (int)got;
      if (got < 0)
        {
          int e = errno;
          ret = fk_error_set (err, e, "nftables: read the answer: %s", strerror (e));
          goto out;
        }
      for (const struct nlmsghdr *h = (const struct nlmsghdr *)buf; mnl_nlmsg_ok (h, len);
           h = mnl_nlmsg_next (h, &len))
        {
          if (h->nlmsg_type != NLMSG_ERROR)
            continue;
          const struct nlmsgerr *e = mnl_nlmsg_get_payload (h);
          if (e->error != 0)
            {
              uint32_t i = h->nlmsg_seq - bt->first - 1;
              ret = fk_error_set (err, -e->error, "nftables: %s: %s",
                                  i < bt->n_what ? bt->what[i] : "the batch", strerror (-e->error));
              goto out;
            }
          if (h->nlmsg_seq == last)
            goto out;
        }
    }
out:
  mnl_socket_close (nl);
  return ret;
}

/* ---- objects ---- */

static void
put_counter (batch_t *bt, uint16_t type, unsigned n, const char *name)
{
  char full[32];
  snprintf (full, sizeof full, "sb_%u_%s", n, name);
  struct nftnl_obj *o = nftnl_obj_alloc ();
  nftnl_obj_set_str (o, NFTNL_OBJ_TABLE, TABLE_NAME);
  nftnl_obj_set_str (o, NFTNL_OBJ_NAME, full);
  nftnl_obj_set_u32 (o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
  if (type == NFT_MSG_NEWOBJ)
    {
      nftnl_obj_set_u64 (o, NFTNL_OBJ_CTR_PKTS, 0);
      nftnl_obj_set_u64 (o, NFTNL_OBJ_CTR_BYTES, 0);
    }
  struct nlmsghdr *h = batch_msg (bt, type, type == NFT_MSG_NEWOBJ ? NLM_F_CREATE : 0,
                                  "%s counter %s", type == NFT_MSG_NEWOBJ ? "add" : "delete", full);
  nftnl_obj_nlmsg_build_payload (h, o);
  nftnl_obj_free (o);
  batch_next (bt);
}

static struct nftnl_set *
set_in (uint16_t family, const char *table, const char *name)
{
  struct nftnl_set *s = nftnl_set_alloc ();
  nftnl_set_set_str (s, NFTNL_SET_TABLE, table);
  nftnl_set_set_str (s, NFTNL_SET_NAME, name);
  nftnl_set_set_u32 (s, NFTNL_SET_FAMILY, family);
  return s;
}

static struct nftnl_set *
set_named (const char *name)
{
  return set_in (NFPROTO_INET, TABLE_NAME, name);
}

/* One of the sandbox's sets (fk_egress_set_names): addresses (intervals, or with timeouts for
   the resolver's), or the generation's mark. */
static void
add_set (batch_t *bt, const char *name, const char *kind)
{
  struct nftnl_set *s = set_named (name);
  int mark = strcmp (kind, "gen") == 0, v6 = kind[strlen (kind) - 1] == '6';
  if (!mark)
    nftnl_set_set_u32 (s, NFTNL_SET_FLAGS,
                       strncmp (kind, "dns", 3) == 0 ? NFT_SET_TIMEOUT : NFT_SET_INTERVAL);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_TYPE, mark ? TYPE_MARK : v6 ? TYPE_IP6ADDR : TYPE_IPADDR);
  nftnl_set_set_u32 (s, NFTNL_SET_KEY_LEN, v6 ? 16 : 4);
  nftnl_set_set_u32 (s, NFTNL_SET_ID, ++bt->set_id);
  struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc (64);
  nftnl_udata_put_u32 (ud, NFTNL_UDATA_SET_KEYBYTEORDER,
                       mark ? BYTEORDER_HOST_ENDIAN : BYTEORDER_BIG_ENDIAN);
  nftnl_set_set_data (s, NFTNL_SET_USERDATA, nftnl_udata_buf_data (ud), nftnl_udata_buf_len (ud));
  nftnl_udata_buf_free (ud);
  struct nlmsghdr *h = batch_msg (bt, NFT_MSG_NEWSET, NLM_F_CREATE, "add set %s", name);
  nftnl_set_nlmsg_build_payload (h, s);
  nftnl_set_free (s);
  batch_next (bt);
}

/* Sends what set s holds (elements, or none: a flush) as a DELSETELEM or NEWSETELEM. */
static void
set_elems_msg (batch_t *bt, struct nftnl_set *s, uint16_t type, const char *what)
{
  struct nlmsghdr *h = batch_msg (bt, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0, "%s %s",
                                  what, nftnl_set_get_str (s, NFTNL_SET_NAME));
  nftnl_set_elems_nlmsg_build_payload (h, s);
  batch_next (bt);
}

static void
flush_set (batch_t *bt, const char *name)
{
  struct nftnl_set *s = set_named (name);
  set_elems_msg (bt, s, NFT_MSG_DELSETELEM, "flush set");
  nftnl_set_free (s);
}

static void
del_set (batch_t *bt, const char *name)
{
  struct nftnl_set *s = set_named (name);
  struct nlmsghdr *h = batch_msg (bt, NFT_MSG_DELSET, 0, "delete set %s", name);
  nftnl_set_nlmsg_build_payload (h, s);
  nftnl_set_free (s);
  batch_next (bt);
}

static void
put_elem (struct nftnl_set *s, const uint8_t *key, size_t len, int end, int open)
{
  struct nftnl_set_elem *e = nftnl_set_elem_alloc ();
  nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, key, (uint32_t)len);
  if (end)
    nftnl_set_elem_set_u32 (e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  if (open)
    {
      /* What a listing reads to print a block that runs to the last address. */
      struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc (16);
      nftnl_udata_put_u32 (ud, NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
      nftnl_set_elem_set (e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data (ud),
                          nftnl_udata_buf_len (ud));
      nftnl_udata_buf_free (ud);
    }
  nftnl_set_elem_add (s, e);
}

/* end = the address after the block (start + 2^(bits - prefix)); 0 when the block runs to
   the last address. */
static int
block_end (const uint8_t *start, unsigned prefix, size_t len, uint8_t *end)
{
  memcpy (end, start, len);
  if (prefix == 0)
    return 0;
  unsigned add = 1u << (7 - (prefix - 1) % 8);
  for (size_t k = (prefix - 1) / 8 + 1; k-- > 0 && add;)
    {
      unsigned sum = end[k] + add;
      end[k] = (uint8_t)sum;
      add = sum >> 8;
    }
  return add == 0;
}

/* The address rules of kind as intervals: each block's first address, and the address after
   its last one flagged as an end (none for a block that runs to the last address); an end at
   the very start when the first block does not start at zero, as nftables itself lays out an
   interval set. */
static void
add_blocks (batch_t *bt, const char *name, const fk_net_rule_t *list, size_t n,
            fk_net_rule_kind_t kind)
{
  cleanup_free fk_net_rule_t *v = NULL;
  size_t m = fk_net_rules_blocks (list, n, kind, &v);
  size_t len = kind == FK_NET_RULE_ADDR6 ? 16 : 4;
  static const uint8_t zero[16];
  struct nftnl_set *s = NULL;
  size_t in_msg = 0;
  for (size_t i = 0; i < m; i++)
    {
      if (s == NULL)
        s = set_named (name);
      if (i == 0 && memcmp (v[0].addr, zero, len) != 0)
        put_elem (s, zero, len, 1, 0);
      uint8_t end[16];
      int open = !block_end (v[i].addr, v[i].prefix, len, end);
      put_elem (s, v[i].addr, len, 0, open);
      if (!open)
        put_elem (s, end, len, 1, 0);
      if (++in_msg >= ELEMS_PER_MSG || i + 1 == m)
        {
          set_elems_msg (bt, s, NFT_MSG_NEWSETELEM, "add elements to");
          nftnl_set_free (s);
          s = NULL;
          in_msg = 0;
        }
    }
}

/* The element of map (out_if, in_if) for the sandbox's interface: to its chain, or deleted. */
static void
map_elem (batch_t *bt, const char *map, unsigned n, const char *chain, int add)
{
  char ifname[IFNAMSIZ] = { 0 };
  snprintf (ifname, sizeof ifname, "fkv%u", n);
  struct nftnl_set *s = set_named (map);
  struct nftnl_set_elem *e = nftnl_set_elem_alloc ();
  nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, ifname, IFNAMSIZ);
  if (add)
    {
      nftnl_set_elem_set_u32 (e, NFTNL_SET_ELEM_VERDICT, NFT_GOTO);
      nftnl_set_elem_set_str (e, NFTNL_SET_ELEM_CHAIN, chain);
    }
  nftnl_set_elem_add (s, e);
  set_elems_msg (bt, s, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                 add ? "add element to" : "delete element from");
  nftnl_set_free (s);
}

static void
put_chain (batch_t *bt, uint16_t type, unsigned n, const char *name)
{
  char full[32];
  snprintf (full, sizeof full, "sb_%u_%s", n, name);
  uint16_t flags = type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0;
  const char *what = type == NFT_MSG_NEWCHAIN   ? "add chain"
                     : type == NFT_MSG_DELCHAIN ? "delete chain"
                                                : "flush chain";
  struct nlmsghdr *h = batch_msg (bt, type, flags, "%s %s", what, full);
  if (type == NFT_MSG_DELRULE)
    {
      /* A rule message with a chain and no handle: all the chain's rules. */
      struct nftnl_rule *r = nftnl_rule_alloc ();
      nftnl_rule_set_str (r, NFTNL_RULE_TABLE, TABLE_NAME);
      nftnl_rule_set_str (r, NFTNL_RULE_CHAIN, full);
      nftnl_rule_set_u32 (r, NFTNL_RULE_FAMILY, NFPROTO_INET);
      nftnl_rule_nlmsg_build_payload (h, r);
      nftnl_rule_free (r);
    }
  else
    {
      struct nftnl_chain *c = nftnl_chain_alloc ();
      nftnl_chain_set_str (c, NFTNL_CHAIN_TABLE, TABLE_NAME);
      nftnl_chain_set_str (c, NFTNL_CHAIN_NAME, full);
      nftnl_chain_set_u32 (c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
      nftnl_chain_nlmsg_build_payload (h, c);
      nftnl_chain_free (c);
    }
  batch_next (bt);
}

/* ---- rules ---- */

typedef struct
{
  struct nftnl_rule *r;
  unsigned n;
} rule_t;

static rule_t
rule (unsigned n, const char *chain)
{
  char full[32];
  snprintf (full, sizeof full, "sb_%u_%s", n, chain);
  rule_t r = { nftnl_rule_alloc (), n };
  nftnl_rule_set_str (r.r, NFTNL_RULE_TABLE, TABLE_NAME);
  nftnl_rule_set_str (r.r, NFTNL_RULE_CHAIN, full);
  nftnl_rule_set_u32 (r.r, NFTNL_RULE_FAMILY, NFPROTO_INET);
  return r;
}

static void
rule_add (batch_t *bt, rule_t r)
{
  struct nlmsghdr *h = batch_msg (bt, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
                                  "add a rule to %s", nftnl_rule_get_str (r.r, NFTNL_RULE_CHAIN));
  nftnl_rule_nlmsg_build_payload (h, r.r);
  nftnl_rule_free (r.r);
  batch_next (bt);
}

static struct nftnl_expr *
x_new (rule_t r, const char *kind)
{
  struct nftnl_expr *e = nftnl_expr_alloc (kind);
  if (e == NULL)
    abort ();
  nftnl_rule_add_expr (r.r, e);
  return e;
}

static void
x_meta (rule_t r, uint32_t key)
{
  struct nftnl_expr *e = x_new (r, "meta");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_KEY, key);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void
x_cmp (rule_t r, uint32_t op, const void *data, uint32_t len)
{
  struct nftnl_expr *e = x_new (r, "cmp");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set (e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void
x_nfproto (rule_t r, int v6)
{
  uint8_t proto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
  x_meta (r, NFT_META_NFPROTO);
  x_cmp (r, NFT_CMP_EQ, &proto, 1);
}

/* ip saddr/daddr, ip6 saddr/daddr into register 1 (the family checked first). */
static void
x_addr (rule_t r, int v6, int dst)
{
  x_nfproto (r, v6);
  struct nftnl_expr *e = x_new (r, "payload");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_OFFSET, v6 ? (dst ? 24 : 8) : (dst ? 16 : 12));
  nftnl_expr_set_u32 (e, NFTNL_EXPR_PAYLOAD_LEN, v6 ? 16 : 4);
}

static void
x_lookup (rule_t r, const char *set)
{
  struct nftnl_expr *e = x_new (r, "lookup");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
  nftnl_expr_set_str (e, NFTNL_EXPR_LOOKUP_SET, set);
}

static void
x_verdict (rule_t r, int verdict, const char *chain)
{
  struct nftnl_expr *e = x_new (r, "immediate");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
  if (chain)
    {
      char full[32];
      snprintf (full, sizeof full, "sb_%u_%s", r.n, chain);
      nftnl_expr_set_str (e, NFTNL_EXPR_IMM_CHAIN, full);
    }
}

static void
x_counter (rule_t r, const char *name)
{
  char full[32];
  snprintf (full, sizeof full, "sb_%u_%s", r.n, name);
  struct nftnl_expr *e = x_new (r, "objref");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
  nftnl_expr_set_str (e, NFTNL_EXPR_OBJREF_IMM_NAME, full);
}

static void
x_ct (rule_t r, uint32_t key)
{
  struct nftnl_expr *e = x_new (r, "ct");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_KEY, key);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
}

/* ct state in mask (a bit test: the state is one bit of many). */
static void
x_ct_state (rule_t r, uint32_t mask)
{
  static const uint32_t zero = 0;
  x_ct (r, NFT_CT_STATE);
  struct nftnl_expr *e = x_new (r, "bitwise");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_BITWISE_LEN, sizeof mask);
  nftnl_expr_set (e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof mask);
  nftnl_expr_set (e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof zero);
  x_cmp (r, NFT_CMP_NEQ, &zero, sizeof zero);
}

static void
x_ct_direction (rule_t r, uint8_t dir)
{
  x_ct (r, NFT_CT_DIRECTION);
  x_cmp (r, NFT_CMP_EQ, &dir, 1);
}

static void
x_reject (rule_t r, uint32_t type, uint8_t code)
{
  struct nftnl_expr *e = x_new (r, "reject");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_REJECT_TYPE, type);
  nftnl_expr_set_u8 (e, NFTNL_EXPR_REJECT_CODE, code);
}

static void
x_set_mark (rule_t r, uint32_t gen)
{
  struct nftnl_expr *e = x_new (r, "immediate");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
  nftnl_expr_set (e, NFTNL_EXPR_IMM_DATA, &gen, sizeof gen);
  e = x_new (r, "ct");
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
  nftnl_expr_set_u32 (e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
}

/* A spoofed source: ip saddr != the sandbox's address, counted as denied, dropped. */
static void
r_spoof (batch_t *bt, unsigned n, int v6, const uint8_t *addr)
{
  rule_t r = rule (n, "out");
  x_addr (r, v6, 0);
  x_cmp (r, NFT_CMP_NEQ, addr, v6 ? 16 : 4);
  x_counter (r, "denied");
  x_verdict (r, NF_DROP, NULL);
  rule_add (bt, r);
}

/* ct state invalid,untracked: counted as denied, dropped. */
static void
r_untracked (batch_t *bt, unsigned n, const char *chain)
{
  rule_t r = rule (n, chain);
  x_ct_state (r, NF_CT_STATE_INVALID_BIT | NF_CT_STATE_UNTRACKED_BIT);
  x_counter (r, "denied");
  x_verdict (r, NF_DROP, NULL);
  rule_add (bt, r);
}

/* ct direction dir ct mark != gen jump chain */
static void
r_judge (batch_t *bt, unsigned n, const char *chain, uint8_t dir, uint32_t gen, const char *to)
{
  rule_t r = rule (n, chain);
  x_ct_direction (r, dir);
  x_ct (r, NFT_CT_MARK);
  x_cmp (r, NFT_CMP_NEQ, &gen, sizeof gen);
  x_verdict (r, NFT_JUMP, to);
  rule_add (bt, r);
}

static void
r_count (batch_t *bt, unsigned n, const char *chain, const char *counter)
{
  rule_t r = rule (n, chain);
  x_counter (r, counter);
  rule_add (bt, r);
}

static void
r_mark (batch_t *bt, unsigned n, const char *chain, uint32_t gen)
{
  rule_t r = rule (n, chain);
  x_set_mark (r, gen);
  rule_add (bt, r);
}

/* [ip|ip6] field @set goto to; set "default_deny4/6" is the shared one. */
static void
r_lookup (batch_t *bt, unsigned n, const char *chain, int v6, int dst, const char *set,
          const char *to)
{
  char name[32];
  if (strncmp (set, "default_", 8) == 0)
    snprintf (name, sizeof name, "%s%c", set, v6 ? '6' : '4');
  else
    snprintf (name, sizeof name, "sb_%u_%s%c", n, set, v6 ? '6' : '4');
  rule_t r = rule (n, chain);
  x_addr (r, v6, dst);
  x_lookup (r, name);
  x_verdict (r, NFT_GOTO, to);
  rule_add (bt, r);
}

static void
r_verdict (batch_t *bt, unsigned n, const char *chain, const fk_net_rules_t *rules, int dst,
           const char *ok, const char *no)
{
  for (int dns = 0; dns < 2; dns++)
    for (int v6 = 0; v6 < 2; v6++)
      r_lookup (bt, n, chain, v6, dst, dns ? "dns" : "allow", ok);
  for (int v6 = 0; v6 < 2; v6++)
    if (v6 ? rules->deny_all6 : rules->deny_all4)
      {
        rule_t r = rule (n, chain);
        x_nfproto (r, v6);
        x_verdict (r, NFT_GOTO, no);
        rule_add (bt, r);
      }
  for (int dflt = 0; dflt < 2; dflt++)
    for (int v6 = 0; v6 < 2; v6++)
      r_lookup (bt, n, chain, v6, dst, dflt ? "default_deny" : "deny", no);
  rule_t r = rule (n, chain);
  x_verdict (r, NFT_GOTO, ok);
  rule_add (bt, r);
}

static void
sandbox_rules (batch_t *bt, const fk_net_config_t *cfg, const fk_egress_t *eg,
               const fk_net_rules_t *rules, uint32_t gen)
{
  unsigned n = eg->slot;
  uint8_t a4[4], a6[16];
  fk_net_slot_addr_bytes (cfg, n, a4, a6);
  r_spoof (bt, n, 0, a4);
  r_spoof (bt, n, 1, a6);
  r_untracked (bt, n, "out");
  if (eg->bytes_per_sec)
    {
      uint64_t burst = fk_egress_burst (eg->bytes_per_sec);
      rule_t r = rule (n, "out");
      struct nftnl_expr *e = x_new (r, "limit");
      nftnl_expr_set_u64 (e, NFTNL_EXPR_LIMIT_RATE, eg->bytes_per_sec);
      nftnl_expr_set_u64 (e, NFTNL_EXPR_LIMIT_UNIT, 1);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_BURST, (uint32_t)burst);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKT_BYTES);
      nftnl_expr_set_u32 (e, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
      x_counter (r, "limited");
      x_verdict (r, NF_DROP, NULL);
      rule_add (bt, r);
    }
  r_judge (bt, n, "out", IP_CT_DIR_ORIGINAL, gen, "vout");
  r_count (bt, n, "out", "out");
  r_verdict (bt, n, "vout", rules, 1, "okout", "deny");
  {
    rule_t r = rule (n, "okout");
    x_ct_state (r, NF_CT_STATE_BIT (IP_CT_NEW));
    struct nftnl_expr *e = x_new (r, "connlimit");
    nftnl_expr_set_u32 (e, NFTNL_EXPR_CONNLIMIT_COUNT,
                        (uint32_t)fk_egress_max_connections (eg->max_connections));
    nftnl_expr_set_u32 (e, NFTNL_EXPR_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
    x_counter (r, "limited");
    x_reject (r, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    rule_add (bt, r);
  }
  r_mark (bt, n, "okout", gen);
  rule_t r = rule (n, "deny");
  x_counter (r, "denied");
  uint8_t tcp = IPPROTO_TCP;
  x_meta (r, NFT_META_L4PROTO);
  x_cmp (r, NFT_CMP_EQ, &tcp, 1);
  x_reject (r, NFT_REJECT_TCP_RST, 0);
  rule_add (bt, r);
  r = rule (n, "deny");
  x_reject (r, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
  rule_add (bt, r);

  r_untracked (bt, n, "in");
  r_judge (bt, n, "in", IP_CT_DIR_REPLY, gen, "vin");
  r = rule (n, "in");
  x_ct_direction (r, IP_CT_DIR_ORIGINAL);
  x_meta (r, NFT_META_IIFNAME);
  x_cmp (r, NFT_CMP_NEQ, "fkv", 3); /* iifname != "fkv*": a prefix */
  x_counter (r, "denied");
  x_verdict (r, NF_DROP, NULL);
  rule_add (bt, r);
  r_count (bt, n, "in", "in");
  r_verdict (bt, n, "vin", rules, 0, "okin", "dropin");
  r_mark (bt, n, "okin", gen);
  r = rule (n, "dropin");
  x_counter (r, "denied");
  x_verdict (r, NF_DROP, NULL);
  rule_add (bt, r);
}

int
fk_egress_nft_batch (const fk_net_config_t *cfg, const fk_egress_t *eg, uint32_t gen,
                     fk_error_t *err)
{
  fk_net_rules_t rules = { 0 };
  if (fk_net_rules_parse (eg->allow_out, eg->deny_out, &rules, err) < 0)
    return -1;
  unsigned n = eg->slot;
  batch_t bt;
  batch_init (&bt);
  for (size_t i = 0; fk_egress_counters_names[i]; i++)
    put_counter (&bt, NFT_MSG_NEWOBJ, n, fk_egress_counters_names[i]);
  char name[32];
  for (size_t i = 0; fk_egress_set_names[i]; i++)
    {
      const char *s = fk_egress_set_names[i];
      snprintf (name, sizeof name, "sb_%u_%s", n, s);
      add_set (&bt, name, s);
      flush_set (&bt, name);
    }
  /* The generation in force, which the resolver's set changes name (see fk_egress_t). */
  snprintf (name, sizeof name, "sb_%u_gen", n);
  struct nftnl_set *g = set_named (name);
  put_elem (g, (const uint8_t *)&gen, sizeof gen, 0, 0);
  set_elems_msg (&bt, g, NFT_MSG_NEWSETELEM, "add element to");
  nftnl_set_free (g);
  for (size_t i = 0; fk_egress_chain_names[i]; i++)
    {
      put_chain (&bt, NFT_MSG_NEWCHAIN, n, fk_egress_chain_names[i]);
      put_chain (&bt, NFT_MSG_DELRULE, n, fk_egress_chain_names[i]);
    }
  static const struct
  {
    const char *set;
    int allow;
    fk_net_rule_kind_t kind;
  } blocks[] = { { "allow4", 1, FK_NET_RULE_ADDR4 },
                 { "allow6", 1, FK_NET_RULE_ADDR6 },
                 { "deny4", 0, FK_NET_RULE_ADDR4 },
                 { "deny6", 0, FK_NET_RULE_ADDR6 } };
  for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
    {
      snprintf (name, sizeof name, "sb_%u_%s", n, blocks[i].set);
      add_blocks (&bt, name, blocks[i].allow ? rules.allow : rules.deny,
                  blocks[i].allow ? rules.n_allow : rules.n_deny, blocks[i].kind);
    }
  sandbox_rules (&bt, cfg, eg, &rules, gen);
  snprintf (name, sizeof name, "sb_%u_out", n);
  map_elem (&bt, "out_if", n, name, 1);
  snprintf (name, sizeof name, "sb_%u_in", n);
  map_elem (&bt, "in_if", n, name, 1);
  fk_net_rules_clear (&rules);
  int ret = batch_send (&bt, err);
  batch_free (&bt);
  return ret;
}

static void
pass_error (fk_error_t *err, fk_error_t *from)
{
  fk_error_set (err, from->code, "%s", fk_error_message (from));
  fk_error_clear (from);
}

/* Step k of removing slot n's objects, in the order their references ask (map elements, then
   rules, chains, sets, counters); 0 past the last step. */
static int
remove_step (batch_t *bt, unsigned n, size_t k)
{
  size_t chains = 0, sets = 0, counters = 0;
  while (fk_egress_chain_names[chains])
    chains++;
  while (fk_egress_set_names[sets])
    sets++;
  while (fk_egress_counters_names[counters])
    counters++;
  if (k < 2)
    {
      map_elem (bt, k == 0 ? "out_if" : "in_if", n, NULL, 0);
      return 1;
    }
  k -= 2;
  if (k < 2 * chains)
    {
      put_chain (bt, k < chains ? NFT_MSG_DELRULE : NFT_MSG_DELCHAIN, n,
                 fk_egress_chain_names[k % chains]);
      return 1;
    }
  k -= 2 * chains;
  if (k < sets)
    {
      char name[32];
      snprintf (name, sizeof name, "sb_%u_%s", n, fk_egress_set_names[k]);
      del_set (bt, name);
      return 1;
    }
  k -= sets;
  if (k < counters)
    {
      put_counter (bt, NFT_MSG_DELOBJ, n, fk_egress_counters_names[k]);
      return 1;
    }
  return 0;
}

int
fk_egress_nft_remove (unsigned n, fk_error_t *err)
{
  batch_t bt;
  batch_init (&bt);
  for (size_t k = 0; remove_step (&bt, n, k); k++)
    ;
  fk_error_t whole = FK_ERROR_INIT;
  int ret = batch_send (&bt, &whole);
  batch_free (&bt);
  if (ret == 0 || whole.code != ENOENT)
    {
      if (ret < 0)
        pass_error (err, &whole);
      return ret;
    }
  fk_error_clear (&whole);
  /* Made and replaced in one transaction each, the objects are all there or none; should a
     hand have removed some, the rest go one by one. */
  for (size_t k = 0;; k++)
    {
      batch_init (&bt);
      if (!remove_step (&bt, n, k))
        {
          batch_free (&bt);
          return 0;
        }
      fk_error_t one = FK_ERROR_INIT;
      ret = batch_send (&bt, &one);
      batch_free (&bt);
      if (ret < 0 && one.code != ENOENT)
        {
          pass_error (err, &one);
          return -1;
        }
      fk_error_clear (&one);
    }
}

/* ---- the resolver's sets ---- */

/* Sends the elements of list of one family and one kind of operation on set as messages of at
   most ELEMS_PER_MSG elements each. */
static void
put_dns_elements (batch_t *bt, const char *table, const char *set, const fk_nft_elem_t *list,
                  size_t n, int family, uint16_t type, int with_timeout, int (*pick) (int op))
{
  struct nftnl_set *s = NULL;
  size_t in_msg = 0;
  for (size_t i = 0; i <= n; i++)
    {
      int take = i < n && list[i].family == family && pick (list[i].op);
      if (take)
        {
          if (s == NULL)
            s = set_in (bt->family, table, set);
          struct nftnl_set_elem *e = nftnl_set_elem_alloc ();
          nftnl_set_elem_set (e, NFTNL_SET_ELEM_KEY, list[i].addr, family == AF_INET ? 4 : 16);
          if (with_timeout)
            nftnl_set_elem_set_u64 (
                e, NFTNL_SET_ELEM_TIMEOUT,
                (uint64_t)(list[i].op == FK_NFT_ELEM_DROP ? 1 : list[i].timeout_s) * 1000);
          nftnl_set_elem_add (s, e);
          in_msg++;
        }
      if (s != NULL && (in_msg == ELEMS_PER_MSG || i == n))
        {
          set_elems_msg (bt, s, type,
                         type == NFT_MSG_NEWSETELEM ? "add elements to" : "delete elements from");
          nftnl_set_free (s);
          s = NULL;
          in_msg = 0;
        }
    }
}

static int
op_added (int op)
{
  (void)op;
  return 1;
}

static int
op_deleted (int op)
{
  return op != FK_NFT_ELEM_KEEP;
}

static int
op_readded (int op)
{
  return op == FK_NFT_ELEM_REFRESH;
}

int
fk_nft_dns_elements (const char *family, const char *table, const char *set4, const char *set6,
                     const char *gen_set, uint32_t gen, const fk_nft_elem_t *list, size_t n,
                     fk_error_t *err)
{
  uint16_t fam = strcmp (family, "ip") == 0    ? NFPROTO_IPV4
                 : strcmp (family, "ip6") == 0 ? NFPROTO_IPV6
                                               : NFPROTO_INET;
  batch_t bt;
  batch_init (&bt);
  bt.family = fam;
  if (gen_set != NULL)
    {
      /* The guard: the delete fails, and the whole batch with it, unless gen is in force. */
      struct nftnl_set *g = set_in (fam, table, gen_set);
      put_elem (g, (const uint8_t *)&gen, sizeof gen, 0, 0);
      set_elems_msg (&bt, g, NFT_MSG_DELSETELEM, "delete the generation from");
      set_elems_msg (&bt, g, NFT_MSG_NEWSETELEM, "add the generation to");
      nftnl_set_free (g);
    }
  /* Added (so that the delete cannot fail on one timed out meanwhile), deleted, added again
     with the new timeout: an element there already gets it, and is never out of the set. */
  static const struct
  {
    uint16_t type;
    int timeout;
    int (*pick) (int op);
  } steps[] = { { NFT_MSG_NEWSETELEM, 1, op_added },
                { NFT_MSG_DELSETELEM, 0, op_deleted },
                { NFT_MSG_NEWSETELEM, 1, op_readded } };
  for (size_t k = 0; k < sizeof steps / sizeof *steps; k++)
    {
      put_dns_elements (&bt, table, set4, list, n, AF_INET, steps[k].type, steps[k].timeout,
                        steps[k].pick);
      put_dns_elements (&bt, table, set6, list, n, AF_INET6, steps[k].type, steps[k].timeout,
                        steps[k].pick);
    }
  int ret = batch_send (&bt, err);
  batch_free (&bt);
  return ret;
}
