/* net/resolver.h: the DNS resolver firkin runs for each egress sandbox (fk-resolver,
   docs/resolver.md), and how the host starts it.

   fk-resolver answers on 127.0.0.53:53 (UDP and TCP) inside the sandbox's network namespace and
   asks the host's resolvers from the namespace it was started in (the host's): a name no allow
   rule names gets NXDOMAIN unless some traffic is allowed at all (fk_net_rules_name_resolves);
   an answer to a name an allow rule names has each of its A and AAAA records (the name's own or
   its CNAME chain's) added to the sandbox's nftables sets, with a timeout of the record's TTL
   (bounded to FK_RESOLVER_TTL_MIN..FK_RESOLVER_TTL_MAX seconds; the TTLs the sandbox sees are cut
   to the bound), before the answer reaches the sandbox. It re-reads its rules file on SIGHUP,
   exits on SIGTERM and when the sandbox's PID 1 dies, and keeps only CAP_NET_ADMIN (for the set
   updates), no_new_privs and a seccomp filter. */
#ifndef FK_NET_RESOLVER_H
#define FK_NET_RESOLVER_H

#include <stddef.h> /* NULL, for FK_RESOLVER_OPTIONS_INIT */
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "net/rules.h"

/* The sandbox's /etc/resolv.conf. */
#define FK_RESOLVER_RESOLV_CONF "nameserver 127.0.0.53\noptions edns0 timeout:2 attempts:2\n"
#define FK_RESOLVER_ADDR "127.0.0.53"

/* The timeouts set entries get, in seconds. */
#define FK_RESOLVER_TTL_MIN 5u
#define FK_RESOLVER_TTL_MAX 3600u

typedef struct
{
  int version;         /* FK_RESOLVER_OPTIONS_VERSION */
  const char *program; /* fk-resolver; NULL: $FIRKIN_RESOLVER, else LIBEXECDIR/firkin/fk-resolver */
  int netns_fd;        /* the sandbox's network namespace (an open /proc/PID/ns/net): the
                          resolver's sockets are bound there; the resolver does not get it */
  pid_t pid1;          /* the sandbox's PID 1: the resolver exits when it does */
  const char *rules_path; /* the rules file (fk_resolver_rules_write), re-read on SIGHUP */
  const char *table;      /* the nftables table of the sets, "[FAMILY ]NAME": "inet firkin" (the
                             family defaults to inet); in the namespace the caller runs in */
  const char *set4;       /* its sets for IPv4 and IPv6 addresses (flags timeout) */
  const char *set6;
  const char *gen_set;   /* the set that holds the rules' generation (fk_egress_t), or NULL: each
                            change to set4/set6 is made only if it holds the rules file's */
  const char *upstreams; /* the resolvers to ask, addresses separated by spaces, commas or
                            newlines (each maybe ADDR#PORT), or resolv.conf text (its nameserver
                            lines); NULL: read from /etc/resolv.conf now */
  const char *log_path;  /* appended to (created 0600); NULL: no log */
  unsigned timeout_ms;   /* per question to an upstream (each is tried in turn); 0: 2000 */
} fk_resolver_opts_t;

#define FK_RESOLVER_OPTIONS_VERSION 1
#define FK_RESOLVER_OPTIONS_INIT                                                                   \
  {                                                                                                \
    .version = FK_RESOLVER_OPTIONS_VERSION, .netns_fd = -1, .table = "inet firkin"                 \
  }

/* Starts fk-resolver for one sandbox; *pid is its pid. Its sockets (UDP, and TCP listening, on
   FK_RESOLVER_ADDR port 53 in the sandbox's namespace, lo brought up there) are made here before
   it starts, so the call does not wait for the resolver: questions wait in the sockets until it
   reads them, with its privileges dropped. It runs detached (not the caller's child: nothing to
   reap) in a session of its own, and stops by itself when pid1 dies; SIGTERM stops it sooner,
   SIGHUP makes it re-read rules_path (either held until it is ready). EINVAL for bad options (a
   set or table name nftables would not take, no upstream), ESRCH when pid1 is gone, ENOENT when
   the program is missing, EADDRINUSE when the sandbox has a resolver already; what the resolver
   fails on once started goes to its log. */
int fk_resolver_spawn (const fk_resolver_opts_t *opts, pid_t *pid, fk_error_t *err);

/* fk_resolver_spawn in two steps. Prepare checks the options, reads the rules and binds the
   sockets in the sandbox's namespace; start forks and execs the resolver (about as long as two
   forks of the caller). What the sandbox sends to the resolver's address between the two waits
   in its sockets, so a caller may let the sandbox start first and start the resolver while it
   does. A prep not started is freed with its sockets closed. */
typedef struct fk_resolver_prep fk_resolver_prep_t;
int fk_resolver_prepare (const fk_resolver_opts_t *opts, fk_resolver_prep_t **ret, fk_error_t *err);
int fk_resolver_start (fk_resolver_prep_t *prep, pid_t *pid, fk_error_t *err);
void fk_resolver_prep_free (fk_resolver_prep_t *prep);

/* The resolver hub (docs/resolver.md): one process per state directory holds each egress
   sandbox's resolver sockets and its pid 1's pidfd, and starts the sandbox's fk-resolver (as
   fk_resolver_start would) only when the sandbox first sends to them. A create then starts no
   process for DNS, and a sandbox that never asks a name never has a resolver. The hub reads
   nothing the sandbox sends: it waits for its sockets to be readable, for its pid 1 to exit
   (then it drops them) and for requests on a socket in hub_dir that only its own user may
   use. It is started by the first hand-off that finds none, and leaves once it has held
   nothing for FK_RESOLVER_HUB_LINGER_MS ($FIRKIN_RESOLVER_HUB_LINGER_MS when set, read by the
   hand-off that starts it). The resolver it starts is its child, reaped by it; it outlives the
   hub. */
#define FK_RESOLVER_HUB_SOCKET "resolver-hub.sock"
#define FK_RESOLVER_HUB_LOCK "resolver-hub.lock"
#define FK_RESOLVER_HUB_LOG "resolver-hub.log"
#define FK_RESOLVER_HUB_PID "resolver-hub.pid" /* the running hub's pid, while it runs */
#define FK_RESOLVER_HUB_LINGER_MS 3000u

/* Gives the prepared resolver to the hub in hub_dir (made 0700 when missing; the hub started
   when none answers there); prep keeps its own copies of the sockets (free it as usual). The
   key of the sandbox at the hub is its rules path. The hub's answer is read by
   fk_resolver_hand_off_wait, so that the caller does other work while the hub is scheduled:
   0 once the hub holds it, EEXIST when it holds that key already. Freeing prep first leaves
   the answer unread (what the hub took, it drops when the sandbox's pid 1 exits). */
int fk_resolver_hand_off (fk_resolver_prep_t *prep, const char *hub_dir, fk_error_t *err);
int fk_resolver_hand_off_wait (fk_resolver_prep_t *prep, fk_error_t *err);

/* What fk_resolver_reload and _stop do, through the hub, for the sandbox whose rules file is
   rules_path: a resolver the hub started gets SIGHUP or SIGTERM; one not started yet has
   nothing to reload (it reads the file when it starts) and, on stop, its sockets are closed.
   ESRCH when no hub runs in hub_dir or it holds no such sandbox; no hub is started. */
int fk_resolver_hub_reload (const char *hub_dir, const char *rules_path, fk_error_t *err);
int fk_resolver_hub_stop (const char *hub_dir, const char *rules_path, fk_error_t *err);

/* The hub's requests, one message each on its SOCK_SEQPACKET socket: the operation's byte, then
   NUL-terminated strings: the key (an absolute path), and for TAKE the resolver's argv (its
   program, an absolute path, first), with FK_RESOLVER_HUB_FDS descriptors (the resolver's
   log, its UDP socket, the pidfd of the sandbox's pid 1, its TCP socket). The answer is an
   int32_t: 0, or an errno. */
enum
{
  FK_RESOLVER_HUB_TAKE = 'S',
  FK_RESOLVER_HUB_RELOAD = 'R',
  FK_RESOLVER_HUB_STOP = 'T',
};
#define FK_RESOLVER_HUB_MSG_MAX 65536u
#define FK_RESOLVER_HUB_ARGV_MAX 24u
#define FK_RESOLVER_HUB_FDS 4u

typedef struct
{
  int op;
  const char *key;
  const char *argv[FK_RESOLVER_HUB_ARGV_MAX + 1]; /* NULL-terminated */
  size_t argc;
} fk_resolver_hub_msg_t;

/* Parses a request (buf, len bytes) in place: msg's strings point into buf. EINVAL with the
   reason for anything else: an unknown operation, a string not terminated, empty or with a
   control character, a key or program not an absolute path, too many or too few strings. */
int fk_resolver_hub_msg_parse (char *buf, size_t len, fk_resolver_hub_msg_t *msg, fk_error_t *err);

/* A request of op with strs (NULL-terminated; the key first) in a new buffer of *ret_len
   bytes, or NULL with E2BIG past FK_RESOLVER_HUB_MSG_MAX. No check of the strings: the hub's
   parse makes them. */
char *fk_resolver_hub_msg_build (int op, const char *const *strs, size_t *ret_len, fk_error_t *err);

/* Makes the resolver pid re-read its rules file (SIGHUP), or stop (SIGTERM), when pid is still
   an fk-resolver; ESRCH when it is not. The reload is applied within milliseconds, not before
   the call returns: names then answer by the new rules, and addresses learnt for names no allow
   rule names any more leave the sets. */
int fk_resolver_reload (pid_t pid, fk_error_t *err);
int fk_resolver_stop (pid_t pid, fk_error_t *err);

/* Writes the rules file fk-resolver reads (checked as fk_net_rules_parse does; replaced
   atomically, mode 0600): "generation GEN" when gen is not 0, then one rule a line, "allow RULE"
   or "deny RULE". Either list may be NULL. */
int fk_resolver_rules_write (const char *path, uint32_t gen, const char *const *allow,
                             const char *const *deny, fk_error_t *err);

/* Reads a rules file into ret (free with fk_net_rules_clear) and its generation into *ret_gen
   (0 when it names none; ret_gen may be NULL). Lines are "allow RULE", "deny RULE",
   "generation GEN" (once, 1 to 4294967295), blank or "# comment"; EINVAL naming the line
   otherwise. At most 1 MiB. */
int fk_resolver_rules_read (const char *path, fk_net_rules_t *ret, uint32_t *ret_gen,
                            fk_error_t *err);

/* The nameserver addresses of a resolv.conf (path NULL: /etc/resolv.conf), space-separated, in
 *ret (caller frees). ENOENT when it names none. */
int fk_resolver_upstreams_read (const char *path, char **ret, fk_error_t *err);

/* Parses upstreams text (as fk_resolver_opts_t.upstreams) into at most max addresses; the
   count, or -1 with EINVAL for an entry that is not an IP address (with an optional #PORT). */
struct sockaddr_storage;
int fk_resolver_upstreams_parse (const char *text, struct sockaddr_storage *ret, size_t max,
                                 fk_error_t *err);

/* Parses "[FAMILY ]NAME" (family inet, ip or ip6; default inet) and checks set4 and set6 are
   names nftables takes (letters, digits, '_', '.', '-', at most 63). EINVAL otherwise. family
   and name hold 64 bytes. */
int fk_resolver_table_parse (const char *table, const char *set4, const char *set6, char *family,
                             char *name, fk_error_t *err);

#endif
