/* firkin/sandbox.h: sandboxes: namespaces around an overlay of a template, with fk-agent (or a
   one-shot init command) as PID 1, limits in a cgroup, and state under the state directory. */
#ifndef FIRKIN_SANDBOX_H
#define FIRKIN_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include <firkin/error.h>
#include <firkin/runtime.h>

typedef struct fk_sandbox fk_sandbox_t;

/* Resources. fk_sandbox_spec_init sets every one (the defaults below); 0 lifts a limit: no limit
   for vcpus, memory_bytes and pids, the tmpfs default (half the host's memory) for disk_bytes.
   Whatever their limits, all sandboxes together stay within the `firkin' parent cgroup's, which
   leave the host a share of its tasks, memory and CPU time (docs/sandbox.md). */
typedef struct fk_resources
{
  double vcpus;          /* CPU quota in CPUs (0.5 = half a CPU); default 2 */
  uint64_t memory_bytes; /* memory limit, default 2 GiB; it counts the writable layer and /tmp
                            (tmpfs), and swap is not allowed beyond it */
  uint64_t disk_bytes;   /* size of the writable layer: writing past it gets ENOSPC inside;
                            default 1 GiB */
  uint64_t pids;         /* most tasks (processes and threads) alive at once; default 1024 */
} fk_resources_t;

/* The sandbox's network (docs/network.md). NONE: a network namespace with only loopback up (the
   default). EGRESS: the sandbox's own IPv4 and IPv6 addresses behind the host's firkin bridge
   with NAT, a resolver of its own, and egress rules. */
typedef enum
{
  FK_DATA_PLANE_NONE = 0,
  FK_DATA_PLANE_EGRESS,
} fk_data_plane_kind_t;

/* Egress rules (EGRESS only), as E2B's allowOut and denyOut: addresses, CIDR blocks, and in
   allow_out domain names ("example.com", "*.example.com"); allow beats deny; "0.0.0.0/0" in
   deny_out denies everything; private, shared, link-local (the cloud metadata address) and
   loopback ranges are denied unless allowed. At most 4096 rules in all. */
/* The connection limit of an egress sandbox whose spec names none. */
#define FK_NETWORK_MAX_CONNECTIONS 4096u

typedef struct fk_data_plane_spec
{
  fk_data_plane_kind_t kind;
  const char *const *allow_out;  /* NULL-terminated, may be NULL */
  const char *const *deny_out;   /* NULL-terminated, may be NULL */
  uint64_t egress_bytes_per_sec; /* the sandbox's outgoing bandwidth; 0: no limit */
  uint64_t max_connections;      /* connections the sandbox may have open at once; 0: the
                                    default, FK_NETWORK_MAX_CONNECTIONS (there is no "unlimited":
                                    the host's connection tracking table is shared) */
} fk_data_plane_spec_t;

/* The seccomp profile: an allow list no looser than the default container profile (syscalls
   not on it fail with ENOSYS, known dangerous ones with EPERM; the i386 and x32 entry points
   get the same rules), made stricter with deny (extra syscall names refused with EPERM) or
   looser with allow (syscall names allowed whatever their arguments), or no filter at all with
   unconfined. Unknown names are an error. */
typedef struct fk_seccomp_spec
{
  int unconfined;
  const char *const *deny;  /* NULL-terminated, may be NULL */
  const char *const *allow; /* NULL-terminated, may be NULL */
} fk_seccomp_spec_t;

/* How an init command's stdin, stdout and stderr are connected. Nothing of the caller's (its
   terminal, its files, its session) ever reaches a sandbox: the command leads a session of its
   own, on the sandbox's /dev/null, on pipes, or on a terminal of the sandbox's own devpts, and
   the caller relays the host ends (fk_sandbox_take_stdio). */
typedef enum
{
  FK_INIT_STDIO_NULL = 0, /* the sandbox's /dev/null */
  FK_INIT_STDIO_PIPES,    /* three pipes */
  FK_INIT_STDIO_TTY,      /* a pseudo-terminal, the command's controlling terminal */
} fk_init_stdio_t;

/* What happens at a sandbox's deadline. DELETE: its watchdog stops it (SIGTERM to PID 1, SIGKILL
   after a grace) and the next sweep removes it. PAUSE: its watchdog freezes it instead
   (fk_sandbox_pause), and it stays paused until resumed. Either way a paused sandbox does not
   expire: its deadline counts only while it runs. */
typedef enum
{
  FK_TIMEOUT_DELETE = 0,
  FK_TIMEOUT_PAUSE,
} fk_timeout_action_t;

typedef struct fk_sandbox_spec
{
  const char *template_id;   /* a template of the store; NULL when layers is given */
  const char *const *layers; /* explicit lower directories, BOTTOM FIRST, NULL-terminated */
  fk_resources_t resources;
  const char *const *env; /* "K=V" added to (and overriding) the template's, may be NULL */
  const char *workdir;    /* default cwd of commands; NULL: the template's, else "/" */
  const char *user;       /* default user of commands; NULL: the template's, else root */
  const char *hostname;   /* NULL: "fk-" + the first 8 characters of the id */
  uint64_t timeout_sec;   /* 0: no timeout; else what timeout_action says at the deadline */
  fk_timeout_action_t timeout_action;
  const char *const *metadata; /* "K=V" labels kept in the state, may be NULL */
  fk_data_plane_spec_t data_plane;
  fk_seccomp_spec_t seccomp;
  /* When set, this argv (looked up in the sandbox's PATH) runs as PID 1 instead of fk-agent,
     with stdio as init_stdio says; wait for it with fk_sandbox_wait. For one-shot runs and the
     benchmarks that compare with `crun run`. */
  const char *const *init;
  fk_init_stdio_t init_stdio;
  unsigned short init_rows, init_cols; /* FK_INIT_STDIO_TTY: the terminal's size (0: default) */
} fk_sandbox_spec_t;

/* Defaults: data plane none; 2 CPUs, 2 GiB of memory, 1 GiB of disk, 1024 tasks (a field set to
   0 lifts its limit, see fk_resources_t); no timeout; default seccomp. */
void fk_sandbox_spec_init (fk_sandbox_spec_t *spec);

/* The spec's codec. One table of the spec's fields (src/lib/sandbox/speccodec.c) drives copying,
   comparing and JSON, so every front end, the warm pool and the state file agree on them: a
   field added to fk_sandbox_spec_t is added to that table too (test_spec_codec fails until it
   is). The JSON form (docs/sandbox.md) is an object of the fields by their C names, with
   objects for resources, data_plane and seccomp. */

/* The most bytes of JSON fk_sandbox_spec_from_json takes. */
#define FK_SANDBOX_SPEC_JSON_MAX (512u << 10)

/* A deep copy of src owning all its strings and lists; free it with fk_sandbox_spec_free. */
void fk_sandbox_spec_dup (const fk_sandbox_spec_t *src, fk_sandbox_spec_t **ret_spec);

/* Frees a spec from fk_sandbox_spec_dup or fk_sandbox_spec_from_json, never one the caller put
   together (its strings are not its own). NULL is a no-op. */
void fk_sandbox_spec_free (fk_sandbox_spec_t *spec);

/* 1 when a and b ask for the same sandbox field for field, else 0: strings by content (NULL is
   not ""), lists entry by entry where NULL and an empty list are the same, except init (NULL
   runs the agent; an empty command is an error), seccomp.unconfined by truth. */
int fk_sandbox_spec_equal (const fk_sandbox_spec_t *a, const fk_sandbox_spec_t *b);

/* The spec as indented JSON text with every field (NULL strings and lists as null); caller
   frees. EINVAL naming the field for what JSON cannot hold: a string that is not UTF-8, a
   number out of range, an enum value without a name. */
int fk_sandbox_spec_to_json (const fk_sandbox_spec_t *spec, char **ret_text, fk_error_t *err);

/* Parses len bytes of untrusted JSON into a new spec (free with fk_sandbox_spec_free). At most
   FK_SANDBOX_SPEC_JSON_MAX bytes (else EFBIG); an object whose fields have exactly their types;
   unknown fields are errors; sizes and values are checked by fk_sandbox_create's rules. A
   missing field keeps fk_sandbox_spec_init's default, and null is the default of a string or a
   list. A template or a layer is not required here (a caller may add it); fk_sandbox_create
   requires one. EINVAL naming the field. */
int fk_sandbox_spec_from_json (const char *text, size_t len, fk_sandbox_spec_t **ret_spec,
                               fk_error_t *err);

typedef enum
{
  FK_SANDBOX_RUNNING,
  FK_SANDBOX_PAUSED,
  FK_SANDBOX_STOPPED,        /* PID 1 exited; delete to clean */
  FK_SANDBOX_PAUSED_TO_DISK, /* nothing runs: its filesystem sleeps in a snapshot (resume it) */
} fk_sandbox_status_t;

const char *fk_sandbox_status_name (fk_sandbox_status_t s);

typedef struct fk_sandbox_info
{
  char *id;
  char *template_id; /* NULL when created from explicit layers */
  fk_sandbox_status_t status;
  pid_t pid;                     /* PID 1 as the host sees it */
  unsigned long long start_time; /* PID 1's start time (clock ticks since boot, /proc/PID/stat) */
  char *socket_path;             /* NULL for an init sandbox */
  char *cgroup;                  /* cgroup path below each hierarchy's root */
  fk_resources_t resources;
  int64_t created; /* unix seconds */
  int64_t expires; /* unix seconds, 0 when there is no timeout */
  fk_timeout_action_t timeout_action;
  char **metadata;     /* "K=V", NULL-terminated */
  char *disk_snapshot; /* FK_SANDBOX_PAUSED_TO_DISK: the template it sleeps in; else NULL */
} fk_sandbox_info_t;

void fk_sandbox_info_free (fk_sandbox_info_t *info);

/* Creates and starts a sandbox; returns when PID 1 runs (an agent's socket takes connections
   at once: the backlog holds them until it accepts). Free the handle with fk_sandbox_free;
   the sandbox itself lives on until stopped, deleted, or expired. */
int fk_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                       fk_error_t *err);

/* Attaches to an existing sandbox by id (any process may). ENOENT for an unknown id. */
int fk_sandbox_open (fk_runtime_t *rt, const char *id, fk_sandbox_t **ret_sb, fk_error_t *err);

/* fk-oci's state root when none is given and $FIRKIN_OCI_ROOT is unset. */
#define FK_OCI_DEFAULT_ROOT "/run/fk-oci"
/* The annotation by which a config.json opts out of fk-agent as the container's init. */
#define FK_OCI_AGENT_ANNOTATION "run.firkin.agent"

/* The host socket of the agent of a container fk-oci made, by its OCI id, from the state below
   oci_root (NULL: $FIRKIN_OCI_ROOT, else FK_OCI_DEFAULT_ROOT). ENOENT: no such container;
   ENOTSUP: it runs without the agent; ESRCH: stopped; EAGAIN: not started, or paused. Caller
   frees. */
int fk_oci_agent_socket (const char *oci_root, const char *id, char **ret_path, fk_error_t *err);

/* Releases the handle only. */
void fk_sandbox_free (fk_sandbox_t *sb);

const char *fk_sandbox_id (const fk_sandbox_t *sb);
/* The agent's socket on the host; NULL for an init sandbox. Owned by sb. */
const char *fk_sandbox_socket_path (const fk_sandbox_t *sb);

/* The sandbox's state now; free with fk_sandbox_info_free. */
int fk_sandbox_inspect (fk_sandbox_t *sb, fk_sandbox_info_t **ret_info, fk_error_t *err);

/* Every sandbox of the runtime, sorted by creation time; free with fk_sandbox_info_list_free. */
int fk_sandbox_list (fk_runtime_t *rt, fk_sandbox_info_t ***ret_infos, size_t *ret_n,
                     fk_error_t *err);
/* Frees the n entries of a list and the list; NULL is fine. */
void fk_sandbox_info_list_free (fk_sandbox_info_t **infos, size_t n);

/* SIGTERM to PID 1 (the agent stops its processes), then SIGKILL to everything left after
   grace_ms; returns when the sandbox has no process. A paused sandbox is resumed first. */
int fk_sandbox_stop (fk_sandbox_t *sb, unsigned grace_ms, fk_error_t *err);

/* Sends sig to PID 1 (SIGKILL ends the whole sandbox). */
int fk_sandbox_kill (fk_sandbox_t *sb, int sig, fk_error_t *err);

/* Freezes / thaws every process of the sandbox (cgroup freezer). A paused sandbox does not
   expire; one resumed past its deadline expires at its watchdog's next look (within 30 s)
   unless the deadline moves first: fk_sandbox_extend_ex with FK_EXTEND_RESUME does both at
   once. */
int fk_sandbox_pause (fk_sandbox_t *sb, fk_error_t *err);
int fk_sandbox_resume (fk_sandbox_t *sb, fk_error_t *err);

/* Removes the sandbox: kills what runs (only when force, or when it has stopped: EBUSY else),
   removes its cgroup and its directory. Nothing is left behind. The handle stays to be freed. */
int fk_sandbox_delete (fk_sandbox_t *sb, int force, fk_error_t *err);

/* Moves the deadline to now + seconds (a sandbox without a timeout gets one). */
int fk_sandbox_extend (fk_sandbox_t *sb, uint64_t seconds, fk_error_t *err);

/* Replaces the sandbox's metadata ("K=V" labels, checked as a spec's are) in its state. */
int fk_sandbox_set_metadata (fk_sandbox_t *sb, const char *const *metadata, fk_error_t *err);

/* fk_sandbox_extend's flags. */
#define FK_EXTEND_NO_SHORTEN (1u << 0) /* a later deadline stays as it is */
#define FK_EXTEND_RESUME (1u << 1)     /* and a paused sandbox is resumed */

/* fk_sandbox_extend with flags, under one hold of the lifecycle lock (the watchdog never acts
   between the resume and the new deadline); seconds 0 keeps the deadline. *ret_resumed (may be
   NULL) says whether FK_EXTEND_RESUME found it paused and resumed it. */
int fk_sandbox_extend_ex (fk_sandbox_t *sb, uint64_t seconds, unsigned flags, int *ret_resumed,
                          fk_error_t *err);

/* What a sandbox uses now, read from its own cgroup and its writable layer. */
typedef struct fk_sandbox_usage
{
  int64_t time_ms;     /* unix milliseconds when sampled */
  uint64_t mono_us;    /* CLOCK_MONOTONIC microseconds when sampled, for rates */
  uint64_t cpu_usec;   /* CPU time all its processes used since it started */
  double cpu_count;    /* the CPUs it may use: its vcpus limit, else the host's online CPUs */
  uint64_t mem_used;   /* memory charged to it, reclaimable page cache not counted (its tmpfs
                          writable layer is counted: it cannot be reclaimed) */
  uint64_t mem_cache;  /* reclaimable page cache charged to it */
  uint64_t mem_total;  /* its memory limit, else the host's memory */
  uint64_t disk_used;  /* bytes used on its writable layer (root changes, /tmp, /dev/shm) */
  uint64_t disk_total; /* that layer's size: its disk limit */
} fk_sandbox_usage_t;

/* Samples the sandbox's usage (a running or paused one; ESRCH when it has stopped). On cgroup
   v2 and on v1 with cpuacct mounted with cpu, the CPU time is the cgroup's; on v1 without it,
   the sum of its live processes' times and their reaped children's (/proc). */
int fk_sandbox_usage (fk_sandbox_t *sb, fk_sandbox_usage_t *ret_usage, fk_error_t *err);

/* The CPU use between two samples of one sandbox, in percent of its cpu_count (0 to 100). */
double fk_sandbox_usage_cpu_pct (const fk_sandbox_usage_t *before, const fk_sandbox_usage_t *after);

/* One event of a sandbox's lifecycle, as the library records it in the sandbox's state
   directory: created, paused, resumed, timeout (the deadline moved), expired (the watchdog
   acted). The record is bounded (FK_SANDBOX_EVENTS_MAX bytes; the oldest go first) and goes
   with the sandbox. */
typedef struct fk_sandbox_event
{
  int64_t time_ms; /* unix milliseconds */
  char *name;
  char *detail; /* a line of text, may be empty */
} fk_sandbox_event_t;

#define FK_SANDBOX_EVENTS_MAX (64u << 10)

/* The sandbox's events, oldest first; free with fk_sandbox_events_free. */
int fk_sandbox_events (fk_sandbox_t *sb, fk_sandbox_event_t **ret_events, size_t *ret_n,
                       fk_error_t *err);
void fk_sandbox_events_free (fk_sandbox_event_t *events, size_t n);

/* The host ends of an init sandbox's stdio, once, to the caller, who closes them: with
   FK_INIT_STDIO_PIPES ret_fds gets the command's stdin (write end), stdout and stderr (read
   ends); with FK_INIT_STDIO_TTY the terminal's master in ret_fds[0] and -1 in the others. ENOENT
   when there are none (another mode, or already taken). */
int fk_sandbox_take_stdio (fk_sandbox_t *sb, int ret_fds[3], fk_error_t *err);

/* Waits for PID 1 of a sandbox this process created and returns its wait status. */
int fk_sandbox_wait (fk_sandbox_t *sb, int *ret_status, fk_error_t *err);

/* A sandbox's network as it is now (docs/network.md). */
typedef struct fk_sandbox_network
{
  fk_data_plane_kind_t kind;
  char *interface;               /* EGRESS: the host end of its veth pair, "fkv<N>"; else NULL */
  char *addr4, *addr6;           /* EGRESS: its addresses (on eth0 inside); else NULL */
  char *gateway4, *gateway6;     /* EGRESS: its default routes' gateways; else NULL */
  char *resolver;                /* EGRESS: the resolver its /etc/resolv.conf names; else NULL */
  char **allow_out, **deny_out;  /* its rules now, NULL-terminated (maybe empty) */
  uint64_t egress_bytes_per_sec; /* its bandwidth limit (0: none) */
  uint64_t max_connections;      /* its connection limit, in effect */
  /* Counters since it started (or since its rules last changed, for limited): packets and
     bytes it sent and received, packets the rules denied (spoofed ones included), packets over
     its bandwidth or connection limit. */
  uint64_t out_packets, out_bytes, in_packets, in_bytes, denied_packets, limited_packets;
} fk_sandbox_network_t;

/* The sandbox's network; free with fk_sandbox_network_free. */
int fk_sandbox_network (fk_sandbox_t *sb, fk_sandbox_network_t **ret_net, fk_error_t *err);
void fk_sandbox_network_free (fk_sandbox_network_t *net);

/* Replaces the egress rules of a running egress sandbox (as fk_data_plane_spec_t's allow_out
   and deny_out; either may be NULL) in one nftables transaction: no packet of a flow the new
   rules deny passes after it returns, nor one the old rules denied before. Bad rules are
   EINVAL before anything changes; EINVAL for a sandbox of data plane none; ESRCH when it does
   not run. */
int fk_sandbox_set_network (fk_sandbox_t *sb, const char *const *allow_out,
                            const char *const *deny_out, fk_error_t *err);

/* How many processes of the sandbox the OOM killer has killed so far. */
int fk_sandbox_oom_kills (fk_sandbox_t *sb, uint64_t *ret_count, fk_error_t *err);

#endif
