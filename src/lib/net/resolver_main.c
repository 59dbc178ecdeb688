/* fk-resolver: the DNS resolver of one egress sandbox (net/resolver.h, docs/resolver.md).

   Started by fk_resolver_spawn with fd 3 its UDP socket and fd 5 its listening TCP socket, both
   bound to 127.0.0.53:53 in the sandbox's network namespace by the caller (questions queue in
   the kernel until it reads them: nobody waits for it to start), and fd 4 a pidfd of the
   sandbox's PID 1. It runs in the namespace it was started in (the host's: the upstream
   resolvers and the nftables sets are there) and keeps CAP_NET_ADMIN alone under no_new_privs
   and a seccomp filter. One thread, one poll loop; every table is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <linux/netlink.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "net/dns.h"
#include "net/egress.h"
#include "net/resolver.h"
#include "net/resolver_hub_main.h"
#include "net/rules.h"

#define FD_UDP 3
#define FD_PIDFD 4
#define FD_TCP 5

#define UPSTREAMS_MAX 8u
#define PENDING_MAX 256u /* questions waiting for an upstream */
#define TCP_CLIENTS_MAX 16u
#define TCP_IDLE_MS 10000
#define ADDRS_MAX 4096u /* addresses whose set timeout we remember */
#define CHAIN_MAX 16u   /* CNAME hops followed */
#define RATE_PER_S 500  /* questions a second from the sandbox, with a burst of RATE_BURST */
#define RATE_BURST 1000
#define LOG_PER_10S 50 /* per-question log lines every 10 s */

typedef struct upstream
{
  struct sockaddr_storage sa;
  socklen_t len;
} upstream_t;

typedef struct tcp_client
{
  int fd;
  uint8_t *in; /* 2 + 65535 */
  size_t in_len;
  uint8_t *out;
  size_t out_len, out_off;
  int busy; /* a question of it is pending */
  int64_t deadline;
} tcp_client_t;

typedef struct pending
{
  int used;
  int client;                       /* a tcp_client index, or -1: UDP */
  struct sockaddr_storage udp_peer; /* UDP: where the answer goes */
  socklen_t udp_peer_len;
  fk_dns_msg_t q; /* the sandbox's question (header, question, EDNS) */
  int allowed;    /* an allow rule names it: its addresses go to the sets */
  uint16_t up_id;
  unsigned up_idx;
  int64_t deadline;
  uint8_t query[FK_DNS_HEADER + FK_DNS_WIRE_NAME_MAX + 4 + 11 + 2]; /* what goes upstream */
  size_t query_len;
  /* Over TCP to the upstream (for a TCP client). */
  int up_fd;
  int up_state; /* 0 connecting, 1 reading */
  uint8_t *up_buf;
  size_t up_len;
} pending_t;

typedef struct addr_entry
{
  int family;
  uint8_t addr[16];
  int64_t expiry_ms;
  char *name; /* the allowed name it came from */
} addr_entry_t;

static struct
{
  const char *rules_path;
  char family[64], table[64], set4[64], set6[64];
  char gen_set[64]; /* "": no generation guard */
  uint32_t gen;     /* the generation of the rules in force (their file's) */
  upstream_t up[UPSTREAMS_MAX];
  size_t n_up;
  unsigned timeout_ms;
  fk_net_rules_t rules;
  fk_net_rules_t sandbox_nets; /* the sandboxes' subnets, as deny rules */
  int udp_fd, tcp_fd, sig_fd;
  pending_t pending[PENDING_MAX];
  tcp_client_t clients[TCP_CLIENTS_MAX];
  addr_entry_t addrs[ADDRS_MAX];
  size_t n_addrs;
  double tokens;
  int64_t tokens_at;
  unsigned log_budget;
  unsigned log_dropped;
  int64_t log_at;
  uint64_t n_queries, n_denied, n_forwarded, n_dropped;
} R;

static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per-question log lines are rate limited: the sandbox decides how many questions there are. */
static int
log_budget (void)
{
  int64_t now = now_ms ();
  if (now - R.log_at >= 10000)
    {
      if (R.log_dropped)
        log_warning ("%u log lines dropped in the last 10 s", R.log_dropped);
      R.log_at = now;
      R.log_budget = LOG_PER_10S;
      R.log_dropped = 0;
    }
  if (R.log_budget == 0)
    {
      R.log_dropped++;
      return 0;
    }
  R.log_budget--;
  return 1;
}

static int
rate_ok (void)
{
  int64_t now = now_ms ();
  R.tokens += (double)(now - R.tokens_at) * RATE_PER_S / 1000.0;
  R.tokens_at = now;
  if (R.tokens > RATE_BURST)
    R.tokens = RATE_BURST;
  if (R.tokens < 1)
    return 0;
  R.tokens -= 1;
  return 1;
}

/* ---- startup ---- */

static void ready_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
ready_fail (const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  for (char *c = buf; *c; c++)
    if (*c == '\n')
      *c = ' ';
  log_error ("%s", buf);
  _exit (1); /* as main ends: no exit handlers (see there) */
}

/* fd: a socket of type, bound to FK_RESOLVER_ADDR port 53 (what fk_resolver_spawn made). */
static int
take_socket (int fd, int type)
{
  int got = 0;
  socklen_t gl = sizeof got;
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  struct in_addr want;
  inet_pton (AF_INET, FK_RESOLVER_ADDR, &want);
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &got, &gl) < 0 || got != type
      || getsockname (fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sin_family != AF_INET
      || sa.sin_port != htons (53) || sa.sin_addr.s_addr != want.s_addr)
    ready_fail ("fd %d is not its %s socket on %s:53", fd, type == SOCK_DGRAM ? "UDP" : "TCP",
                FK_RESOLVER_ADDR);
  int fl = fcntl (fd, F_GETFL);
  if (fl < 0 || fcntl (fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl (fd, F_SETFD, FD_CLOEXEC) < 0)
    ready_fail ("fd %d: %s", fd, strerror (errno));
  return fd;
}

static void
drop_privileges (void)
{
  /* Root's uid stays (the rules file is root's), but not root's powers: no capability but
     CAP_NET_ADMIN, none to regain through exec or setuid. */
  if (prctl (PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP
                                    | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED)
      < 0)
    ready_fail ("securebits: %s", strerror (errno));
  for (int c = 0; c <= CAP_LAST_CAP; c++)
    if (c != CAP_NET_ADMIN && prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      ready_fail ("drop capability %d from the bounding set: %s", c, strerror (errno));
  prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  cap_t caps = cap_init ();
  cap_value_t keep[] = { CAP_NET_ADMIN };
  if (caps == NULL || cap_set_flag (caps, CAP_PERMITTED, 1, keep, CAP_SET) < 0
      || cap_set_flag (caps, CAP_EFFECTIVE, 1, keep, CAP_SET) < 0 || cap_set_proc (caps) < 0)
    ready_fail ("drop capabilities: %s", strerror (errno));
  cap_free (caps);
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    ready_fail ("no_new_privs: %s", strerror (errno));
}

static void
seccomp_install (void)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ERRNO (EPERM));
  if (ctx == NULL)
    ready_fail ("seccomp");
  static const char *const allow[] = {
    /* the loop, the sockets, netlink */
    "read",
    "write",
    "writev",
    "readv",
    "close",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "recvfrom",
    "recvmsg",
    "sendto",
    "sendmsg",
    "accept4",
    "accept",
    "connect",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "bind",
    "fcntl",
    "lseek",
    "fstat",
    "newfstatat",
    "statx",
    /* memory, time, signals, exit */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "clock_gettime",
    "gettimeofday",
    "nanosleep",
    "clock_nanosleep",
    "getrandom",
    "rt_sigreturn",
    "rt_sigprocmask",
    "rt_sigaction",
    "sigaltstack",
    "exit",
    "exit_group",
    "getpid",
    "gettid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "futex",
    "sched_yield",
    "restart_syscall",
    "uname",
    "readlink",
    "prlimit64",
    "getrlimit",
    "sysinfo",
    "sched_getaffinity",
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++)
    {
      int nr = seccomp_syscall_resolve_name (allow[i]);
      if (nr != __NR_SCMP_ERROR)
        bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, nr, 0) < 0;
    }
  /* Sockets: IP (the upstreams) and netlink (nftables) only. */
  bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 1,
                           SCMP_A0 (SCMP_CMP_EQ, AF_INET, 0))
         < 0;
  bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 1,
                           SCMP_A0 (SCMP_CMP_EQ, AF_INET6, 0))
         < 0;
  bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (socket), 2,
                           SCMP_A0 (SCMP_CMP_EQ, AF_NETLINK, 0),
                           SCMP_A2 (SCMP_CMP_EQ, NETLINK_NETFILTER, 0))
         < 0;
  /* Files: read only (the rules file on SIGHUP); root's uid can write what root owns. */
  int wflags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_PATH;
  bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (openat), 1,
                           SCMP_A2 (SCMP_CMP_MASKED_EQ, (scmp_datum_t)wflags, 0))
         < 0;
  bad |= seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (open), 1,
                           SCMP_A1 (SCMP_CMP_MASKED_EQ, (scmp_datum_t)wflags, 0))
         < 0;
  if (bad || seccomp_load (ctx) < 0)
    ready_fail ("seccomp filter");
  seccomp_release (ctx);
}

/* ---- the sets ---- */

static addr_entry_t *
addr_find (int family, const uint8_t *addr)
{
  size_t n = family == AF_INET ? 4 : 16;
  for (size_t i = 0; i < R.n_addrs; i++)
    if (R.addrs[i].family == family && memcmp (R.addrs[i].addr, addr, n) == 0)
      return &R.addrs[i];
  return NULL;
}

static addr_entry_t *
addr_slot (void)
{
  if (R.n_addrs < ADDRS_MAX)
    {
      addr_entry_t *e = &R.addrs[R.n_addrs++];
      memset (e, 0, sizeof *e);
      return e;
    }
  /* Full: reuse an expired entry, else the one that expires first. */
  int64_t now = now_ms ();
  size_t best = 0;
  for (size_t i = 0; i < R.n_addrs; i++)
    {
      if (R.addrs[i].expiry_ms <= now)
        {
          best = i;
          break;
        }
      if (R.addrs[i].expiry_ms < R.addrs[best].expiry_ms)
        best = i;
    }
  free (R.addrs[best].name);
  R.addrs[best].name = NULL;
  return &R.addrs[best];
}

typedef struct found_addr
{
  int family;
  uint8_t addr[16];
  unsigned ttl;
} found_addr_t;

/* Makes the changes to the sets, one netlink batch (fk_nft_dns_elements): no cache of the
   table fetched, however many sandboxes it holds. With a generation set, the batch holds only
   while that set holds the generation of the rules this resolver answers by: the egress plane
   replaces the sandbox's rules (a new generation) before the resolver reads the new file, and
   an answer judged by the old rules in between fails with its batch (the client asks again), so
   it never enters the new rules' sets. */
static int
sets_change (const fk_nft_elem_t *list, size_t n, fk_error_t *err)
{
  return fk_nft_dns_elements (R.family, R.table, R.set4, R.set6, R.gen_set[0] ? R.gen_set : NULL,
                              R.gen, list, n, err);
}

/* Puts the addresses into the sets; -1 when nftables refuses. */
static int
sets_add (const char *name, const found_addr_t *found, size_t n)
{
  if (n == 0)
    return 0;
  cleanup_free fk_nft_elem_t *list = xcalloc (n, sizeof *list);
  size_t len = 0;
  int64_t now = now_ms ();
  for (size_t i = 0; i < n; i++)
    {
      int64_t expiry = now + (int64_t)found[i].ttl * 1000;
      addr_entry_t *e = addr_find (found[i].family, found[i].addr);
      /* Already there for longer (another name's record, or this one asked again): keep it,
         shortening would cut a client whose cache still holds the longer record. */
      if (e && e->expiry_ms >= expiry - 1000)
        continue;
      fk_nft_elem_t *l = &list[len++];
      l->family = found[i].family;
      memcpy (l->addr, found[i].addr, 16);
      l->timeout_s = found[i].ttl;
      l->op = FK_NFT_ELEM_REFRESH;
    }
  if (len == 0)
    return 0;
  fk_error_t err = FK_ERROR_INIT;
  if (sets_change (list, len, &err) < 0)
    {
      log_error ("nftables refused the set update for `%s' (the rules of generation %u may be "
                 "no longer in force): %s",
                 name, R.gen, fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  for (size_t i = 0; i < n; i++)
    {
      int64_t expiry = now + (int64_t)found[i].ttl * 1000;
      addr_entry_t *e = addr_find (found[i].family, found[i].addr);
      if (e && e->expiry_ms >= expiry - 1000)
        continue;
      if (e == NULL)
        {
          e = addr_slot ();
          e->family = found[i].family;
          memcpy (e->addr, found[i].addr, 16);
        }
      e->expiry_ms = expiry;
      free (e->name);
      e->name = xstrdup (name);
    }
  return 0;
}

static int may_learn (int family, const uint8_t *addr);

/* After a rule change: addresses whose name no allow rule names any more (or that a name may no
   longer open) leave the sets; the others are put back with the time they have left, for the
   egress plane may have rebuilt the sets with the rules (it reloads the resolver after). */
static void
sets_prune (void)
{
  int64_t now = now_ms ();
  cleanup_free fk_nft_elem_t *list = xcalloc (R.n_addrs + 1, sizeof *list);
  size_t len = 0, kept = 0;
  for (size_t i = 0; i < R.n_addrs; i++)
    {
      addr_entry_t *e = &R.addrs[i];
      if (e->expiry_ms <= now)
        {
          free (e->name);
          continue;
        }
      fk_nft_elem_t *l = &list[len++];
      l->family = e->family;
      memcpy (l->addr, e->addr, 16);
      if (!fk_net_rules_name_allowed (&R.rules, e->name) || !may_learn (e->family, e->addr))
        {
          l->op = FK_NFT_ELEM_DROP;
          free (e->name);
          continue;
        }
      l->op = FK_NFT_ELEM_KEEP;
      l->timeout_s = (uint32_t)((e->expiry_ms - now + 999) / 1000);
      R.addrs[kept++] = *e;
    }
  memset (&R.addrs[kept], 0, (R.n_addrs - kept) * sizeof R.addrs[0]);
  R.n_addrs = kept;
  fk_error_t err = FK_ERROR_INIT;
  if (len > 0 && sets_change (list, len, &err) < 0)
    {
      log_error ("nftables refused the sets' update after the rule change (generation %u): %s",
                 R.gen, fk_error_message (&err));
      fk_error_clear (&err);
    }
}

static void
rules_load (int initial)
{
  fk_net_rules_t rules;
  fk_error_t err = FK_ERROR_INIT;
  uint32_t gen = 0;
  if (fk_resolver_rules_read (R.rules_path, &rules, &gen, &err) == 0 && R.gen_set[0] && gen == 0)
    {
      fk_net_rules_clear (&rules);
      fk_error_set (&err, EINVAL, "`%s' names no generation", R.rules_path);
    }
  if (err.code)
    {
      if (initial)
        ready_fail ("%s", fk_error_message (&err));
      /* Keep the rules in force: a half-written file must not open anything. */
      log_error ("rules not changed: %s", fk_error_message (&err));
      fk_error_clear (&err);
      return;
    }
  fk_net_rules_clear (&R.rules);
  R.rules = rules;
  R.gen = gen;
  log_info ("rules: %zu allow, %zu deny, generation %u", R.rules.n_allow, R.rules.n_deny, gen);
  if (!initial)
    sets_prune ();
}

/* ---- answers ---- */

static void
udp_send (const struct sockaddr_storage *peer, socklen_t plen, const uint8_t *msg, size_t len)
{
  if (sendto (R.udp_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)peer, plen)
      < 0)
    R.n_dropped++;
}

static void pending_free (pending_t *p);

static void
client_close (unsigned i)
{
  /* Its question in flight goes with it: the slot may take a new connection. */
  for (unsigned k = 0; k < PENDING_MAX; k++)
    if (R.pending[k].used && R.pending[k].client == (int)i)
      pending_free (&R.pending[k]);
  tcp_client_t *c = &R.clients[i];
  if (c->fd >= 0)
    close (c->fd);
  free (c->in);
  free (c->out);
  memset (c, 0, sizeof *c);
  c->fd = -1;
}

static void
tcp_send (unsigned i, const uint8_t *msg, size_t len)
{
  tcp_client_t *c = &R.clients[i];
  c->busy = 0;
  if (c->fd < 0)
    return;
  free (c->out);
  c->out = xmalloc (len + 2);
  c->out[0] = (uint8_t)(len >> 8);
  c->out[1] = (uint8_t)len;
  memcpy (c->out + 2, msg, len);
  c->out_len = len + 2;
  c->out_off = 0;
  c->deadline = now_ms () + TCP_IDLE_MS;
}

/* Answers q (a query of client ci, or UDP to peer) with no records and rcode. */
static void
reply_rcode (const fk_dns_msg_t *q, int ci, const struct sockaddr_storage *peer, socklen_t plen,
             unsigned rcode, int tc)
{
  uint8_t buf[FK_DNS_HEADER + FK_DNS_WIRE_NAME_MAX + 4 + 11];
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_dns_build_reply (buf, sizeof buf, q, rcode, tc, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return;
    }
  if (ci >= 0)
    tcp_send ((unsigned)ci, buf, len);
  else
    udp_send (peer, plen, buf, len);
}

static void
pending_free (pending_t *p)
{
  if (p->up_fd > 0)
    close (p->up_fd);
  free (p->up_buf);
  memset (p, 0, sizeof *p);
}

static void
pending_fail (pending_t *p, unsigned rcode)
{
  reply_rcode (&p->q, p->client, &p->udp_peer, p->udp_peer_len, rcode, 0);
  pending_free (p);
}

static int
canon_equal (const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
  return alen == blen && memcmp (a, b, alen) == 0;
}

static void
lower_wire (const uint8_t *in, size_t len, uint8_t *out)
{
  for (size_t i = 0; i < len; i++)
    out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (uint8_t)(in[i] + 32) : in[i];
}

static unsigned
bound_ttl (uint32_t ttl)
{
  if (ttl > 0x7fffffffu) /* RFC 2181: a TTL with its top bit set is 0 */
    ttl = 0;
  if (ttl < FK_RESOLVER_TTL_MIN)
    return FK_RESOLVER_TTL_MIN;
  if (ttl > FK_RESOLVER_TTL_MAX)
    return FK_RESOLVER_TTL_MAX;
  return ttl;
}

static void
sandbox_nets_load (void)
{
  fk_net_config_t cfg;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_net_config_load (&cfg, &err) < 0)
    ready_fail ("%s", fk_error_message (&err));
  char a4[INET6_ADDRSTRLEN], a6[INET6_ADDRSTRLEN], sub4[80], sub6[80];
  inet_ntop (AF_INET, cfg.net4, a4, sizeof a4);
  inet_ntop (AF_INET6, cfg.net6, a6, sizeof a6);
  snprintf (sub4, sizeof sub4, "%s/%u", a4, cfg.prefix4);
  snprintf (sub6, sizeof sub6, "%s/%u", a6, cfg.prefix6);
  const char *const deny[] = { sub4, sub6, NULL };
  if (fk_net_rules_parse (NULL, deny, &R.sandbox_nets, &err) < 0)
    ready_fail ("the sandboxes' subnets: %s", fk_error_message (&err));
}

/* A name never opens a default-denied range (private, link-local with the cloud metadata
   address, loopback...): an allowed name whose records point there (DNS rebinding) gets the
   address in its answer but not in the sets, unless an address rule allows it. */
static int
may_learn (int family, const uint8_t *addr)
{
  /* The sandboxes' own subnets (in whatever range they are configured, private or not): only
     an address rule lets a name lead there, as the firewall's default-denied sets have it. */
  int in_sandboxes
      = fk_net_rules_addr_verdict (&R.sandbox_nets, family, addr) == FK_NET_VERDICT_DENY;
  static const fk_net_rules_t none;
  if (!in_sandboxes
      && fk_net_rules_addr_verdict (&none, family, addr) != FK_NET_VERDICT_DEFAULT_DENY)
    return 1;
  /* Allowed by an address rule (not merely not denied). */
  fk_net_rules_t only_allow
      = { .allow = R.rules.allow, .n_allow = R.rules.n_allow, .deny_all4 = 1, .deny_all6 = 1 };
  return fk_net_rules_addr_verdict (&only_allow, family, addr) == FK_NET_VERDICT_ALLOW;
}

/* The upstream's answer to p: checked, its addresses into the sets, then to the sandbox. */
static void
handle_answer (pending_t *p, uint8_t *ans, size_t len)
{
  fk_dns_msg_t m;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_dns_parse (ans, len, &m, &err) < 0)
    {
      if (log_budget ())
        log_warning ("`%s': bad answer from upstream: %s", p->q.question.name,
                     fk_error_message (&err));
      fk_error_clear (&err);
      fk_dns_msg_clear (&m);
      pending_fail (p, FK_DNS_RCODE_SERVFAIL);
      return;
    }
  uint8_t qcanon[FK_DNS_WIRE_NAME_MAX], acanon[FK_DNS_WIRE_NAME_MAX];
  size_t qlen = p->q.question.wire_len;
  lower_wire (p->q.question.wire, qlen, qcanon);
  if (!(m.flags & FK_DNS_FLAG_QR) || !m.has_question || m.question.qtype != p->q.question.qtype
      || m.question.qclass != p->q.question.qclass)
    goto mismatch;
  lower_wire (m.question.wire, m.question.wire_len, acanon);
  if (!canon_equal (qcanon, qlen, acanon, m.question.wire_len))
    goto mismatch;

  /* The rules may have changed while the question was out: the answer goes by the new ones. */
  p->allowed = fk_net_rules_name_allowed (&R.rules, p->q.question.name);
  if (!p->allowed && !fk_net_rules_name_resolves (&R.rules, p->q.question.name))
    {
      fk_dns_msg_clear (&m);
      pending_fail (p, FK_DNS_RCODE_NXDOMAIN);
      return;
    }
  if (p->allowed)
    {
      /* The name's CNAME chain, then the A and AAAA records of the names on it. */
      uint8_t chain[CHAIN_MAX][FK_DNS_WIRE_NAME_MAX];
      size_t chain_len[CHAIN_MAX], n_chain = 1;
      memcpy (chain[0], qcanon, qlen);
      chain_len[0] = qlen;
      for (int grew = 1; grew && n_chain < CHAIN_MAX;)
        {
          grew = 0;
          for (size_t i = 0; i < m.n_rr && n_chain < CHAIN_MAX; i++)
            {
              fk_dns_rr_t *rr = &m.rr[i];
              if (rr->section != FK_DNS_SECTION_ANSWER || rr->type != FK_DNS_TYPE_CNAME)
                continue;
              uint8_t owner[FK_DNS_WIRE_NAME_MAX], target[FK_DNS_WIRE_NAME_MAX];
              size_t ol, tl;
              if (fk_dns_name_canon (ans, len, rr->name_off, owner, &ol, &err) < 0
                  || fk_dns_name_canon (ans, len, rr->rdata_off, target, &tl, &err) < 0)
                {
                  fk_error_clear (&err);
                  continue;
                }
              int on = 0, seen = 0;
              for (size_t k = 0; k < n_chain; k++)
                {
                  on |= canon_equal (chain[k], chain_len[k], owner, ol);
                  seen |= canon_equal (chain[k], chain_len[k], target, tl);
                }
              if (on && !seen)
                {
                  memcpy (chain[n_chain], target, tl);
                  chain_len[n_chain++] = tl;
                  grew = 1;
                }
            }
        }
      found_addr_t found[64];
      size_t n_found = 0;
      for (size_t i = 0; i < m.n_rr && n_found < 64; i++)
        {
          fk_dns_rr_t *rr = &m.rr[i];
          if (rr->section != FK_DNS_SECTION_ANSWER || rr->rclass != FK_DNS_CLASS_IN
              || (rr->type != FK_DNS_TYPE_A && rr->type != FK_DNS_TYPE_AAAA))
            continue;
          uint8_t owner[FK_DNS_WIRE_NAME_MAX];
          size_t ol;
          if (fk_dns_name_canon (ans, len, rr->name_off, owner, &ol, &err) < 0)
            {
              fk_error_clear (&err);
              continue;
            }
          int on = 0;
          for (size_t k = 0; k < n_chain; k++)
            on |= canon_equal (chain[k], chain_len[k], owner, ol);
          if (!on)
            continue;
          int family = rr->type == FK_DNS_TYPE_A ? AF_INET : AF_INET6;
          if (!may_learn (family, rr->addr))
            {
              if (log_budget ())
                log_warning ("`%s' resolves to a default-denied address: not allowed",
                             p->q.question.name);
              continue;
            }
          found_addr_t *f = &found[n_found++];
          memset (f, 0, sizeof *f);
          f->family = family;
          memcpy (f->addr, rr->addr, family == AF_INET ? 4 : 16);
          f->ttl = bound_ttl (rr->ttl);
        }
      if (sets_add (p->q.question.name, found, n_found) < 0)
        {
          fk_dns_msg_clear (&m);
          pending_fail (p, FK_DNS_RCODE_SERVFAIL);
          return;
        }
    }
  /* TTLs the sandbox sees are cut to what the sets hold (last: a name may point into a TTL). */
  for (size_t i = 0; i < m.n_rr; i++)
    if (m.rr[i].type != FK_DNS_TYPE_OPT && m.rr[i].ttl > FK_RESOLVER_TTL_MAX)
      fk_dns_set_ttl (ans, m.rr[i].ttl_off, FK_RESOLVER_TTL_MAX);
  fk_dns_msg_clear (&m);
  fk_dns_set_id (ans, p->q.id);
  if (p->client >= 0)
    tcp_send ((unsigned)p->client, ans, len);
  else
    {
      size_t limit = p->q.has_edns ? p->q.edns_size : FK_DNS_UDP_MIN;
      if (limit > 4096)
        limit = 4096;
      if (len > limit)
        reply_rcode (&p->q, -1, &p->udp_peer, p->udp_peer_len, FK_DNS_RCODE_NOERROR, 1);
      else
        udp_send (&p->udp_peer, p->udp_peer_len, ans, len);
    }
  pending_free (p);
  return;

mismatch:
  fk_dns_msg_clear (&m);
  if (p->client >= 0)
    pending_fail (p, FK_DNS_RCODE_SERVFAIL);
  /* UDP: not the answer to this question (a stray or a spoof); keep waiting. */
}

/* ---- upstream ---- */

/* Each question goes out on a socket of its own, connected to the upstream: a random source
   port beside the random id, and the kernel drops whatever does not come from the upstream
   (another sandbox spoofing answers would have to guess both, and forge the source). */
static int
upstream_send (pending_t *p)
{
  const upstream_t *u = &R.up[p->up_idx];
  p->deadline = now_ms () + R.timeout_ms;
  if (p->up_fd > 0)
    close (p->up_fd);
  free (p->up_buf);
  p->up_buf = NULL;
  p->up_len = 0;
  p->up_state = 0;
  int udp = p->client < 0;
  p->up_fd = socket (u->sa.ss_family,
                     (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (p->up_fd < 0)
    {
      p->up_fd = 0;
      return -1;
    }
  if (connect (p->up_fd, (const struct sockaddr *)&u->sa, u->len) < 0 && errno != EINPROGRESS)
    return -1;
  if (udp)
    {
      if (send (p->up_fd, p->query, p->query_len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        return -1;
      p->up_state = 1;
    }
  return 0;
}

/* The next upstream, or SERVFAIL when every one was tried. */
static void
upstream_next (pending_t *p)
{
  for (;;)
    {
      if (++p->up_idx >= R.n_up)
        {
          if (log_budget ())
            log_warning ("`%s': no upstream answered", p->q.question.name);
          pending_fail (p, FK_DNS_RCODE_SERVFAIL);
          return;
        }
      if (upstream_send (p) == 0)
        return;
    }
}

static void
upstream_udp_event (pending_t *p)
{
  static uint8_t buf[FK_DNS_MSG_MAX];
  for (int k = 0; k < 8 && p->used; k++)
    {
      ssize_t n = recv (p->up_fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n < 0)
        {
          /* ICMP said no one listens there: the next upstream now, not at the deadline. */
          upstream_next (p);
          return;
        }
      if ((size_t)n < FK_DNS_HEADER || ((buf[0] << 8) | buf[1]) != p->up_id)
        continue;
      handle_answer (p, buf, (size_t)n);
    }
}

static void
upstream_tcp_event (pending_t *p, short revents)
{
  if (p->up_state == 0)
    {
      int e = 0;
      socklen_t el = sizeof e;
      if (getsockopt (p->up_fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0)
        {
          upstream_next (p);
          return;
        }
      uint8_t msg[sizeof p->query + 2];
      msg[0] = (uint8_t)(p->query_len >> 8);
      msg[1] = (uint8_t)p->query_len;
      memcpy (msg + 2, p->query, p->query_len);
      if (send (p->up_fd, msg, p->query_len + 2, MSG_NOSIGNAL) != (ssize_t)(p->query_len + 2))
        {
          upstream_next (p);
          return;
        }
      p->up_state = 1;
      p->up_buf = xmalloc (2 + FK_DNS_MSG_MAX);
      return;
    }
  ssize_t n = recv (p->up_fd, p->up_buf + p->up_len, 2 + FK_DNS_MSG_MAX - p->up_len, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      upstream_next (p);
      return;
    }
  p->up_len += (size_t)n;
  if (p->up_len >= 2)
    {
      size_t want = ((size_t)p->up_buf[0] << 8) | p->up_buf[1];
      if (p->up_len >= 2 + want)
        handle_answer (p, p->up_buf + 2, want);
    }
}

/* ---- queries ---- */

static pending_t *
pending_new (void)
{
  for (unsigned i = 0; i < PENDING_MAX; i++)
    if (!R.pending[i].used)
      return &R.pending[i];
  return NULL;
}

static uint16_t
fresh_id (void)
{
  for (;;)
    {
      uint16_t id;
      if (getrandom (&id, sizeof id, 0) != sizeof id)
        id = (uint16_t)(now_ms () * 2654435761u);
      int used = 0;
      for (unsigned i = 0; i < PENDING_MAX && !used; i++)
        used = R.pending[i].used && R.pending[i].up_id == id;
      if (!used)
        return id;
    }
}

/* A query from the sandbox: over TCP from client ci, else UDP from peer. */
static void
handle_query (const uint8_t *msg, size_t len, int ci, const struct sockaddr_storage *peer,
              socklen_t plen)
{
  R.n_queries++;
  if (!rate_ok ())
    {
      R.n_dropped++;
      if (ci >= 0)
        client_close ((unsigned)ci);
      return;
    }
  fk_dns_msg_t q;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_dns_parse_query (msg, len, &q, &err) < 0)
    {
      fk_error_clear (&err);
      if (len < FK_DNS_HEADER || (q.flags & FK_DNS_FLAG_QR))
        {
          /* Nothing to answer to, or an answer sent to us: silence. */
          if (ci >= 0)
            client_close ((unsigned)ci);
          return;
        }
      q.has_question = 0;
      q.has_edns = 0;
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_FORMERR, 0);
      return;
    }
  if (FK_DNS_OPCODE (q.flags) != 0)
    {
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_NOTIMP, 0);
      return;
    }
  if (!q.has_question)
    {
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_FORMERR, 0);
      return;
    }
  if (q.question.qclass != FK_DNS_CLASS_IN)
    {
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_REFUSED, 0);
      return;
    }
  const char *name = q.question.name;
  if (!fk_net_rules_name_resolves (&R.rules, name))
    {
      R.n_denied++;
      if (log_budget ())
        log_info ("denied `%s'", name[0] ? name : ".");
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_NXDOMAIN, 0);
      return;
    }
  pending_t *p = pending_new ();
  if (p == NULL)
    {
      R.n_dropped++;
      reply_rcode (&q, ci, peer, plen, FK_DNS_RCODE_SERVFAIL, 0);
      return;
    }
  memset (p, 0, sizeof *p);
  p->used = 1;
  p->client = ci;
  if (ci < 0)
    {
      p->udp_peer = *peer;
      p->udp_peer_len = plen;
    }
  p->q = q;
  p->allowed = fk_net_rules_name_allowed (&R.rules, name);
  p->up_id = fresh_id ();
  /* The question goes upstream rebuilt, not as sent: only the name, the type, RD/CD and the
     EDNS size and DO bit pass, no option the sandbox chose. */
  if (fk_dns_build_query (p->query, sizeof p->query, p->up_id, q.flags, &q.question,
                          q.has_edns ? 1232 : 0, q.edns_do, &p->query_len, &err)
      < 0)
    {
      fk_error_clear (&err);
      pending_fail (p, FK_DNS_RCODE_SERVFAIL);
      return;
    }
  R.n_forwarded++;
  if (ci >= 0)
    R.clients[ci].busy = 1;
  p->up_idx = 0;
  if (upstream_send (p) < 0)
    upstream_next (p);
}

static void
udp_read (void)
{
  static uint8_t buf[FK_DNS_MSG_MAX];
  for (int k = 0; k < 64; k++)
    {
      struct sockaddr_storage peer;
      socklen_t pl = sizeof peer;
      ssize_t n = recvfrom (R.udp_fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&peer, &pl);
      if (n < 0)
        return;
      handle_query (buf, (size_t)n, -1, &peer, pl);
    }
}

static void
tcp_accept (void)
{
  for (int k = 0; k < 16; k++)
    {
      int fd = accept4 (R.tcp_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        return;
      unsigned i;
      for (i = 0; i < TCP_CLIENTS_MAX && R.clients[i].fd >= 0; i++)
        ;
      if (i == TCP_CLIENTS_MAX)
        {
          R.n_dropped++;
          close (fd);
          continue;
        }
      R.clients[i].fd = fd;
      R.clients[i].deadline = now_ms () + TCP_IDLE_MS;
    }
}

/* Takes the next whole question out of the client's buffer, if one is there (questions may
   come pipelined, RFC 7766; they are answered one at a time). */
static void
tcp_client_next (unsigned i)
{
  tcp_client_t *c = &R.clients[i];
  if (c->fd < 0 || c->busy || c->out || c->in_len < 2)
    return;
  size_t want = ((size_t)c->in[0] << 8) | c->in[1];
  if (c->in_len < 2 + want)
    return;
  static uint8_t q[FK_DNS_MSG_MAX];
  memcpy (q, c->in + 2, want);
  c->in_len -= 2 + want;
  memmove (c->in, c->in + 2 + want, c->in_len);
  handle_query (q, want, (int)i, NULL, 0);
}

static void
tcp_client_event (unsigned i, short revents)
{
  tcp_client_t *c = &R.clients[i];
  if (c->out)
    {
      ssize_t n
          = send (c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          client_close (i);
          return;
        }
      if (n > 0)
        c->out_off += (size_t)n;
      if (c->out_off == c->out_len)
        {
          free (c->out);
          c->out = NULL;
          tcp_client_next (i);
        }
      return;
    }
  if (c->busy)
    return;
  if (c->in == NULL)
    c->in = xmalloc (2 + FK_DNS_MSG_MAX);
  ssize_t n = recv (c->fd, c->in + c->in_len, 2 + FK_DNS_MSG_MAX - c->in_len, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      client_close (i);
      return;
    }
  c->in_len += (size_t)n;
  c->deadline = now_ms () + TCP_IDLE_MS;
  tcp_client_next (i);
}

/* ---- the loop ---- */

static void
parse_args (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "rules", required_argument, NULL, 'r' },      { "table", required_argument, NULL, 't' },
    { "set4", required_argument, NULL, '4' },       { "set6", required_argument, NULL, '6' },
    { "gen-set", required_argument, NULL, 'g' },    { "upstreams", required_argument, NULL, 'u' },
    { "timeout-ms", required_argument, NULL, 'T' }, { NULL, 0, NULL, 0 },
  };
  const char *table = NULL, *set4 = NULL, *set6 = NULL, *ups = NULL;
  R.timeout_ms = 2000;
  int c;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        R.rules_path = optarg;
        break;
      case 't':
        table = optarg;
        break;
      case '4':
        set4 = optarg;
        break;
      case '6':
        set6 = optarg;
        break;
      case 'u':
        ups = optarg;
        break;
      case 'g':
        if (strlen (optarg) >= sizeof R.gen_set)
          ready_fail ("--gen-set: name too long");
        snprintf (R.gen_set, sizeof R.gen_set, "%s", optarg);
        break;
      case 'T':
        R.timeout_ms = (unsigned)strtoul (optarg, NULL, 10);
        if (R.timeout_ms < 100 || R.timeout_ms > 60000)
          R.timeout_ms = 2000;
        break;
      default:
        ready_fail ("usage: fk-resolver (started by fk_resolver_spawn)");
      }
  fk_error_t err = FK_ERROR_INIT;
  if (R.rules_path == NULL
      || fk_resolver_table_parse (table, set4, set6, R.family, R.table, &err) < 0)
    ready_fail ("%s", R.rules_path ? fk_error_message (&err) : "no --rules");
  snprintf (R.set4, sizeof R.set4, "%s", set4);
  snprintf (R.set6, sizeof R.set6, "%s", set6);
  struct sockaddr_storage ss[UPSTREAMS_MAX];
  int n = fk_resolver_upstreams_parse (ups, ss, UPSTREAMS_MAX, &err);
  if (n < 0)
    ready_fail ("%s", fk_error_message (&err));
  for (int i = 0; i < n; i++)
    {
      R.up[i].sa = ss[i];
      R.up[i].len
          = ss[i].ss_family == AF_INET ? sizeof (struct sockaddr_in) : sizeof (struct sockaddr_in6);
    }
  R.n_up = (size_t)n;
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer's exit check traces the process from a forked helper, which the seccomp filter
   (no fork, no ptrace) and the cleared dumpable flag forbid, and then fails the exit: sanitizer
   builds check this program's memory errors, its leaks only through the unit tests of the code
   it shares with the library. */
const char *__lsan_default_options (void);
const char *
__lsan_default_options (void)
{
  return "detect_leaks=0";
}
#endif

/* Log lines with the time: the log outlives a session of reading it. userdata: the program's
   name (the resolver's or the hub's). */
static void
log_line (void *userdata, fk_log_level_t level, const char *message)
{
  char when[32];
  struct timespec ts;
  struct tm tm;
  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  dprintf (STDERR_FILENO, "%s %s: %s: %s\n", when, (const char *)userdata,
           fk_log_level_name (level), message);
}

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "--hub") == 0)
    {
      fk_log_set_handler (log_line, (void *)"fk-resolver-hub");
      return fk_resolver_hub_main (argc, argv);
    }
  fk_log_set_program ("fk-resolver");
  /* Its log is its own: what it decides is worth keeping unless told otherwise. */
  if (fk_log_get_level () < FK_LOG_INFO && getenv ("FIRKIN_LOG") == NULL)
    fk_log_set_level (FK_LOG_INFO);
  fk_log_set_handler (log_line, (void *)"fk-resolver");
  for (unsigned i = 0; i < TCP_CLIENTS_MAX; i++)
    R.clients[i].fd = -1;
  if (fcntl (FD_UDP, F_GETFD) < 0 || fcntl (FD_PIDFD, F_GETFD) < 0 || fcntl (FD_TCP, F_GETFD) < 0)
    {
      fprintf (stderr, "fk-resolver: started without its fds (fk_resolver_spawn starts it)\n");
      return 2;
    }
  fcntl (FD_PIDFD, F_SETFD, FD_CLOEXEC);
  parse_args (argc, argv);
  sandbox_nets_load ();
  if (chdir ("/") < 0)
    ready_fail ("chdir /: %s", strerror (errno));
  rules_load (1);
  R.udp_fd = take_socket (FD_UDP, SOCK_DGRAM);
  R.tcp_fd = take_socket (FD_TCP, SOCK_STREAM);
  sigset_t sigs;
  sigemptyset (&sigs);
  sigaddset (&sigs, SIGHUP);
  sigaddset (&sigs, SIGTERM);
  sigaddset (&sigs, SIGINT);
  sigprocmask (SIG_BLOCK, &sigs, NULL);
  signal (SIGPIPE, SIG_IGN);
  R.sig_fd = signalfd (-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  if (R.sig_fd < 0)
    ready_fail ("signalfd: %s", strerror (errno));
  drop_privileges ();
  seccomp_install ();
  R.tokens = RATE_BURST;
  R.tokens_at = R.log_at = now_ms ();
  R.log_budget = LOG_PER_10S;
  log_info ("listening on %s:53 for the sandbox, %zu upstreams", FK_RESOLVER_ADDR, R.n_up);

  int status = 0;
  for (;;)
    {
      struct pollfd pfd[6 + TCP_CLIENTS_MAX + PENDING_MAX];
      int owner[6 + TCP_CLIENTS_MAX + PENDING_MAX]; /* <0: fixed, 0..: client, 1000+: pending */
      nfds_t n = 0;
      pfd[n] = (struct pollfd){ .fd = FD_PIDFD, .events = POLLIN };
      owner[n++] = -1;
      pfd[n] = (struct pollfd){ .fd = R.sig_fd, .events = POLLIN };
      owner[n++] = -2;
      pfd[n] = (struct pollfd){ .fd = R.udp_fd, .events = POLLIN };
      owner[n++] = -3;
      pfd[n] = (struct pollfd){ .fd = R.tcp_fd, .events = POLLIN };
      owner[n++] = -4;
      int64_t now = now_ms (), next = now + 1000;
      for (unsigned i = 0; i < TCP_CLIENTS_MAX; i++)
        {
          tcp_client_t *c = &R.clients[i];
          if (c->fd < 0)
            continue;
          if (!c->busy && c->deadline <= now)
            {
              client_close (i);
              continue;
            }
          if (c->deadline < next)
            next = c->deadline;
          if (c->busy && !c->out)
            continue;
          pfd[n] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
          owner[n++] = (int)i;
        }
      for (unsigned i = 0; i < PENDING_MAX; i++)
        {
          pending_t *p = &R.pending[i];
          if (!p->used)
            continue;
          if (p->deadline <= now)
            {
              upstream_next (p);
              if (!p->used)
                continue;
            }
          if (p->deadline < next)
            next = p->deadline;
          if (p->up_fd > 0)
            {
              pfd[n] = (struct pollfd){ .fd = p->up_fd,
                                        .events = p->up_state == 0 ? POLLOUT : POLLIN };
              owner[n++] = 1000 + (int)i;
            }
        }
      int r = poll (pfd, n, (int)(next - now > 0 ? next - now : 0));
      if (r < 0 && errno != EINTR)
        {
          log_error_errno (errno, "poll");
          status = 1;
          break;
        }
      if (r <= 0)
        continue;
      if (pfd[0].revents)
        {
          log_info ("the sandbox's pid 1 exited; %llu questions, %llu denied, %llu forwarded, "
                    "%llu dropped",
                    (unsigned long long)R.n_queries, (unsigned long long)R.n_denied,
                    (unsigned long long)R.n_forwarded, (unsigned long long)R.n_dropped);
          break;
        }
      if (pfd[1].revents)
        {
          struct signalfd_siginfo si;
          int stop = 0;
          while (read (R.sig_fd, &si, sizeof si) == sizeof si)
            {
              if (si.ssi_signo == SIGHUP)
                rules_load (0);
              else
                stop = 1;
            }
          if (stop)
            {
              log_info ("stopped by a signal");
              break;
            }
        }
      if (pfd[2].revents)
        udp_read ();
      if (pfd[3].revents)
        tcp_accept ();
      for (nfds_t k = 4; k < n; k++)
        {
          if (!pfd[k].revents)
            continue;
          if (owner[k] >= 1000)
            {
              pending_t *p = &R.pending[owner[k] - 1000];
              if (p->used && p->up_fd == pfd[k].fd)
                {
                  if (p->client < 0)
                    upstream_udp_event (p);
                  else
                    upstream_tcp_event (p, pfd[k].revents);
                }
            }
          else if (R.clients[owner[k]].fd == pfd[k].fd)
            tcp_client_event ((unsigned)owner[k], pfd[k].revents);
        }
    }
  /* Nothing outlives us but what the sets hold, which times out by itself. */
  for (unsigned i = 0; i < PENDING_MAX; i++)
    if (R.pending[i].used)
      pending_free (&R.pending[i]);
  for (unsigned i = 0; i < TCP_CLIENTS_MAX; i++)
    if (R.clients[i].fd >= 0)
      client_close (i);
  for (size_t i = 0; i < R.n_addrs; i++)
    free (R.addrs[i].name);
  fk_net_rules_clear (&R.rules);
  fk_net_rules_clear (&R.sandbox_nets);
  /* _exit, not a return: the exit handlers a sanitizer build registers (its leak check, which
     an ASAN_OPTIONS of the caller can turn on whatever the defaults above say) trace the
     process from a fork the seccomp filter forbids, fail, and then spin in their abort. */
  _exit (status);
}
