/* sandbox/plan.h: how a sandbox is made, step by step, with no policy left in it: namespaces
   (new or joined), id maps, the root from a root provider, ordered mounts, masked and read-only
   paths, capabilities, rlimits, seccomp, the cgroup, the data plane's host and child steps, the
   process, hooks, and the points where host and child wait for each other. A front end (or the
   spec -> plan step, which holds firkin's policy) builds one; fk_plan_start executes it (the host
   side here, the child side in launch.c). Plans have a JSON form (fk_plan_to_json,
   fk_plan_from_json) so that tests and other front ends can give one directly. */
#ifndef FK_SANDBOX_PLAN_H
#define FK_SANDBOX_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "firkin/sandbox.h"
#include "sandbox/cgroup.h"

typedef enum
{
  FK_PLAN_NS_USER,
  FK_PLAN_NS_MOUNT,
  FK_PLAN_NS_PID,
  FK_PLAN_NS_NET,
  FK_PLAN_NS_IPC,
  FK_PLAN_NS_UTS,
  FK_PLAN_NS_CGROUP,
  FK_PLAN_NS_N,
} fk_plan_ns_kind_t;

/* A namespace of the sandbox: a new one (join NULL), or the one at join (a /proc/PID/ns/...
   path or a bind of one), or with inherit the creator's own (no namespace made: an OCI config
   that lists no such namespace). The mount namespace is always the sandbox's own; the user
   namespace is new or inherited (then the sandbox's root is the host's, the id maps are empty
   and the root is used as given, not idmapped); the pid namespace may not be joined unless the
   user namespace is inherited. */
typedef struct fk_plan_ns
{
  char *join;
  int inherit;
} fk_plan_ns_t;

typedef struct fk_plan_idmap
{
  uint32_t inside, outside, count;
} fk_plan_idmap_t;

#define FK_PLAN_MAX_IDMAPS 5

/* Where the root comes from. Each kind is a root provider (plan.c's table): it makes, on the
   host, the root's detached mount and the sandbox's disk (a size-bound tmpfs holding /tmp,
   /dev/shm and the agent's log), both owned by the sandbox's root. */
typedef enum
{
  FK_PLAN_ROOT_LAYERS, /* an overlay of read-only layer dirs under a writable dir on the disk */
  FK_PLAN_ROOT_DIR,    /* a directory (an OCI bundle's rootfs), idmapped, writable unless
                          readonly */
} fk_plan_root_kind_t;

typedef struct fk_plan_root
{
  fk_plan_root_kind_t kind;
  char **layers; /* LAYERS: absolute dirs, BOTTOM FIRST */
  char *path;    /* DIR */
  int readonly;  /* DIR */
} fk_plan_root_t;

/* One mount step, done in order inside the sandbox's mount namespace before pivot_root; dest
   is resolved inside the root (no step can reach outside it). */
typedef enum
{
  FK_PLAN_MOUNT_PROC,  /* the sandbox's own procfs */
  FK_PLAN_MOUNT_SYSFS, /* a read-only sysfs of the sandbox's network namespace */
  FK_PLAN_MOUNT_DEV,   /* the minimal /dev: a small tmpfs, device nodes, devpts, the disk's shm */
  FK_PLAN_MOUNT_DISK_TMP, /* the disk's tmp dir */
  FK_PLAN_MOUNT_TMPFS,    /* a tmpfs with options ("size=...", "mode=...") */
  FK_PLAN_MOUNT_BIND,     /* a bind of the host path source (read-only with readonly) */
  FK_PLAN_MOUNT_FS, /* a new filesystem of type fstype (devpts, mqueue, cgroup, cgroup2, tmpfs,
                       proc, sysfs) with options as its data */
} fk_plan_mount_kind_t;

typedef struct fk_plan_mount
{
  fk_plan_mount_kind_t kind;
  char *dest;     /* absolute inside the sandbox */
  char *source;   /* BIND */
  char **options; /* TMPFS, FS */
  int readonly;   /* BIND, TMPFS, FS */
  char *fstype;   /* FS */
  unsigned attrs; /* BIND, FS: MOUNT_ATTR_* added (NOEXEC, NOATIME...); nosuid and nodev are
                     always set but on devpts and on a device bind */
  int flags;      /* FK_PLAN_MOUNT_F_* */
} fk_plan_mount_t;

#define FK_PLAN_MOUNT_F_NONRECURSIVE 1 /* BIND: the source's own mount, not the ones below it */
#define FK_PLAN_MOUNT_F_DEVICE 2       /* BIND: a host device node, usable (no nodev) */

typedef struct fk_plan_rlimit
{
  int resource; /* RLIMIT_* */
  uint64_t soft, hard;
} fk_plan_rlimit_t;

/* The rlimits a plan knows, by their names in the plan's JSON form and in config.json
   ("RLIMIT_NOFILE"): the name of a resource (NULL: not one of them), the resource of a name
   (-1: not one of them), and how many there are (a process sets each at most once). */
const char *fk_plan_rlimit_name (int resource);
int fk_plan_rlimit_resource (const char *name);
size_t fk_plan_rlimit_count (void);

/* Host commands run at a point of the start, in a process group of their own, with the
   sandbox's state as JSON on stdin ({"ociVersion", "id", "status", "pid"}); a hook that fails
   or outlives timeout_ms (its group is killed then) fails the start. */
typedef enum
{
  FK_PLAN_HOOK_CREATE_RUNTIME,   /* the child exists in its namespaces, before its root is built */
  FK_PLAN_HOOK_POSTSTART,        /* after the process started */
  FK_PLAN_HOOK_CREATE_CONTAINER, /* in the sandbox's namespaces, its root built, before
                                    pivot_root (the command is the host's) */
  FK_PLAN_HOOK_START_CONTAINER,  /* in the sandbox, before its process execs (the command is
                                    the sandbox's) */
  FK_PLAN_HOOK_POSTSTOP,         /* run by the front end after the sandbox is gone */
  FK_PLAN_HOOK_N,
} fk_plan_hook_point_t;

typedef struct fk_plan_hook
{
  fk_plan_hook_point_t point;
  char **argv; /* argv[0] is an absolute path */
  char **env;
  unsigned timeout_ms; /* 0: 30 s */
} fk_plan_hook_t;

/* The process that becomes PID 1. */
typedef struct fk_plan_process
{
  char **argv;       /* for an exec fd, argv[0] is only its name */
  char **env;        /* the whole environment */
  char *cwd;         /* absolute; made when missing */
  uint32_t uid, gid; /* inside the sandbox */
  fk_init_stdio_t stdio;
  unsigned short rows, cols;
  int log_to_disk; /* stdout and stderr to `agent.log' on the disk (stdin /dev/null) */
  int no_new_privs;
  uint64_t caps; /* bounding, permitted, effective and inheritable: bit N is CAP N */
  /* ambient_exact: a uid other than 0 keeps across exec only ambient (within caps), as an
     OCI config's process.capabilities.ambient says; else (a sandbox's own user) all of caps.
     Not in the plan's JSON form. */
  int ambient_exact;
  uint64_t ambient;
  fk_plan_rlimit_t *rlimits;
  size_t n_rlimits;
  uint32_t *groups; /* supplementary gids, inside the sandbox */
  size_t n_groups;
  int inherit_stdio; /* stdio: the creator's own 0, 1 and 2 (an OCI runtime's caller's) */
  int umask_set;     /* the process's umask is umask (else the creator's) */
  unsigned umask;
} fk_plan_process_t;

typedef struct fk_plan
{
  char *id;       /* names the sandbox in messages and hooks */
  char *bundle;   /* an OCI bundle's directory, for the hooks' state; NULL for none */
  char *hostname; /* for a new uts namespace; NULL keeps the one inherited */
  fk_plan_ns_t ns[FK_PLAN_NS_N];
  fk_plan_idmap_t uid_map[FK_PLAN_MAX_IDMAPS], gid_map[FK_PLAN_MAX_IDMAPS];
  size_t n_uid_map, n_gid_map;
  fk_plan_root_t root;
  uint64_t disk_bytes; /* the disk's size, 0: no bound */
  fk_plan_mount_t *mounts;
  size_t n_mounts;
  char **masked_paths;   /* covered: /dev/null over files, an empty read-only tmpfs over dirs */
  char **readonly_paths; /* re-mounted read-only */
  /* The cgroup, below each hierarchy's root (v1) or the unified root: made with limits. */
  char *cgroup;
  fk_cgroup_limits_t limits;
  fk_data_plane_kind_t data_plane; /* its host step and child step: plan.c's table */
  /* EGRESS (not in the JSON form: the spec -> plan step sets them): the sandbox's slot
     (net/slots.h), its rules and limits, and the rules file its resolver reads. */
  unsigned net_slot;
  char **net_allow, **net_deny;
  uint64_t net_bytes_per_sec, net_max_connections;
  uint32_t net_gen; /* its rules' first generation (fk_egress_t) */
  char *net_rules_path;
  char *net_resolver;     /* the fk-resolver program; NULL: no resolver */
  char *net_resolver_log; /* its log, or NULL */
  char *net_resolver_hub; /* the resolver hub's directory (net/resolver.h): the resolver is
                             handed to it, to start at the sandbox's first question; NULL:
                             started with the sandbox */
  int write_etc;          /* /etc/hosts and /etc/resolv.conf for the hostname */
  int seccomp_unconfined;
  char **seccomp_deny, **seccomp_allow;
  /* An OCI seccomp profile (its JSON: defaultAction, architectures, syscalls with args and
     errnoRet), loaded instead of firkin's filter when set (sandbox/seccomp_oci.h). */
  char *seccomp_oci;
  char **sysctl;   /* "key=value", written below /proc/sys before pivot_root */
  int propagation; /* the root's propagation after pivot_root: 0 (private), MS_SLAVE, MS_SHARED */
  fk_plan_process_t process;
  fk_plan_hook_t *hooks;
  size_t n_hooks;
  /* When set, the child stops before it execs, reading this fifo (made by the caller; the host
     opens it for the child) until fk_plan_release_start writes to it. */
  char *start_fifo;
  /* Not in the JSON form (fk_oci_plan_agent sets it): with a start fifo, the index in
     process.argv of the program the process will exec (fk-agent's workload after its own
     options; 0 without an exec fd), looked up in the process's PATH before the wait, so that
     a missing one fails the create as other runtimes do. */
  size_t workload_argi;
} fk_plan_t;

/* An empty plan: every namespace new, no mounts, no limits, the default capabilities,
   no_new_privs, the default seccomp filter. */
void fk_plan_init (fk_plan_t *plan);
void fk_plan_clear (fk_plan_t *plan);

/* Appends; the strings are copied. */
void fk_plan_add_mount (fk_plan_t *plan, fk_plan_mount_kind_t kind, const char *dest,
                        const char *source, const char *const *options, int readonly);

/* The steps every firkin sandbox has, between its root and its process: /proc, /sys, /dev,
   /tmp on the disk, the default masked and read-only paths. */
void fk_plan_add_default_mounts (fk_plan_t *plan);

/* The default capability set (a container's usual one: no SYS_ADMIN, SYS_PTRACE, NET_ADMIN...). */
uint64_t fk_plan_default_caps (void);

/* Checks what a plan from outside may say (paths absolute, ids mapped, names known). */
int fk_plan_validate (const fk_plan_t *plan, fk_error_t *err);

/* JSON form of every field but the fds (see docs/contracts.md). */
int fk_plan_to_json (const fk_plan_t *plan, char **ret_text, fk_error_t *err);
int fk_plan_from_json (const char *text, size_t len, fk_plan_t *ret_plan, fk_error_t *err);

/* What the caller hands to the start besides the plan: fds, and the cgroup layout. */
typedef struct fk_plan_io
{
  const fk_cgroup_layout_t *cgroups;
  int exec_fd;   /* O_PATH of the program to execveat (argv[0] is then its name), or -1 to
                    look argv[0] up in the sandbox's PATH */
  int listen_fd; /* passed as fd 3 when >= 0 */
} fk_plan_io_t;

/* A started sandbox: its PID 1 and the host ends of its stdio. */
typedef struct fk_plan_started
{
  pid_t pid;
  int pidfd;
  int stdio_fds[3]; /* PIPES: stdin's write end, stdout's and stderr's read ends; TTY: [0] is
                       the master; else -1 */
  int cgroup_made;
  pid_t net_helper; /* the data plane's helper (egress: the resolver), or 0 */
} fk_plan_started_t;

/* Executes plan: makes its cgroup, clones the namespaces, writes the id maps, runs the data
   plane's host step, builds the root with its provider, releases the child and waits until it
   has exec'd (or, with start_fifo, until it waits there). On failure everything made is undone
   and ret is left alone. */
int fk_plan_start (const fk_plan_t *plan, const fk_plan_io_t *io, fk_plan_started_t *ret,
                   fk_error_t *err);

/* Undoes a start: kills what runs and removes the cgroup. */
void fk_plan_undo (const fk_plan_t *plan, const fk_cgroup_layout_t *cgroups,
                   fk_plan_started_t *started);

/* Runs the plan's hooks of point (pid: the sandbox's PID 1), in order; the first failure stops. */
int fk_plan_run_hooks (const fk_plan_t *plan, fk_plan_hook_point_t point, pid_t pid,
                       fk_error_t *err);

/* Lets a child waiting at start_fifo exec; returns once it has (or after 10 s). ESRCH when no
   child waits there. */
int fk_plan_release_start (const char *start_fifo, fk_error_t *err);

#endif
