/* sandbox/cgroup.h: one cgroup per sandbox under a `firkin` parent, on cgroup v1 (one hierarchy
   per controller: memory, cpu, pids, freezer) or v2 (one unified hierarchy); limits, moving a
   process in, freezing, killing, removal.

   The parent holds every sandbox together to limits that leave the host its share, whatever
   each sandbox's own limits add up to (fk_cgroup_parent_limits_for):
   - pids: 3/4 of the lower of kernel.pid_max and kernel.threads-max. A pid or a thread is a
     task; past either number nothing on the host can fork, so sandboxes that fork-bomb up to
     their own limits all at once still leave the host a quarter to log in and kill them.
   - memory: MemTotal minus a reserve of 10 %, at least 1 GiB (at most half of a small host):
     room for the kernel, the page cache of the host's own work, sshd, the daemons and firkin
     itself, so sandboxes filling their limits meet the OOM killer inside `firkin', not the
     host's.
   - CPU: no quota (a sandbox may use an idle machine whole) but half the default weight (v2
     cpu.weight 50 of 100, v1 cpu.shares 512 of 1024): under contention, all sandboxes together
     get a third of the CPU time against the host's own processes at the top level, which win.
   The parent is removed with the last sandbox and made again by the next create, which writes
   these limits each time it makes it (the one whose mkdir succeeds; a create racing the removal
   tries again). On v2 the limit controllers the root offers are enabled in the root and the
   parent, even for a sandbox with no limit of its own. */
#ifndef FK_SANDBOX_CGROUP_H
#define FK_SANDBOX_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

typedef enum
{
  FK_CGROUP_V1 = 1,
  FK_CGROUP_V2 = 2,
} fk_cgroup_version_t;

typedef struct fk_cgroup_layout
{
  fk_cgroup_version_t version;
  char *root; /* v2: the unified mount; v1: the directory holding one mount per controller */
} fk_cgroup_layout_t;

typedef struct fk_cgroup_limits
{
  uint64_t memory_bytes; /* 0: none */
  double cpus;           /* 0: none */
  uint64_t pids;         /* 0: none */
} fk_cgroup_limits_t;

/* The limits of the sandboxes' parent cgroup (see above); 0: not written. */
typedef struct fk_cgroup_parent_limits
{
  uint64_t pids;
  uint64_t memory_bytes;
  unsigned cpu_weight; /* v2 cpu.weight (default 100); v1 writes cpu.shares = weight * 1024 / 100 */
} fk_cgroup_parent_limits_t;

#define FK_CGROUP_PARENT_CPU_WEIGHT 50

/* The parent's limits for a host with these numbers (0: unknown, that limit is not set). */
void fk_cgroup_parent_limits_for (uint64_t pid_max, uint64_t threads_max, uint64_t mem_total,
                                  fk_cgroup_parent_limits_t *ret);

/* The parent's limits for this host (/proc/sys/kernel/pid_max, threads-max, /proc/meminfo). */
void fk_cgroup_parent_limits_host (fk_cgroup_parent_limits_t *ret);

/* Finds the layout below root (NULL: $FIRKIN_CGROUP_ROOT, else /sys/fs/cgroup): v2 when root is
   a cgroup2 mount, v1 when it holds controller mounts. $FIRKIN_CGROUP_VERSION (1 or 2) forces
   the version, for fake trees in tests. Free with fk_cgroup_layout_free. */
int fk_cgroup_detect (const char *root, fk_cgroup_layout_t *ret_layout, fk_error_t *err);
void fk_cgroup_layout_free (fk_cgroup_layout_t *layout);

/* Creates cgroup name (e.g. "firkin/<id>", parents made as needed) and sets its limits; when it
   makes name's parent, it writes the parent's limits there (fk_cgroup_parent_limits_host). A
   limit whose controller the hierarchy lacks is an error naming the controller; the parent's
   limits skip a controller the hierarchy lacks. */
int fk_cgroup_create (const fk_cgroup_layout_t *layout, const char *name,
                      const fk_cgroup_limits_t *limits, fk_error_t *err);

/* Moves pid into the cgroup (every hierarchy on v1). */
int fk_cgroup_add_pid (const fk_cgroup_layout_t *layout, const char *name, pid_t pid,
                       fk_error_t *err);

/* v2 only: an fd on the cgroup's directory, for clone3's CLONE_INTO_CGROUP (the child starts
   in the cgroup: no migration afterwards, which on v1 costs an RCU grace period). -1 with
   ENOTSUP on v1. */
int fk_cgroup_open_dir (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err);

/* v1: opens the `tasks' file of the cgroup in every hierarchy, for a child to join by itself
   (fk_cgroup_join_self): fds[] gets FK_CGROUP_V1_N fds. Writing "0" there moves the writing
   thread without taking the kernel's global threadgroup lock, whose RCU grace period makes
   moving another process by pid cost milliseconds. The fds carry the opener's (host root's)
   credentials, so the child may write them whatever its own. */
#define FK_CGROUP_V1_N 4
int fk_cgroup_open_join_fds (const fk_cgroup_layout_t *layout, const char *name,
                             int fds[FK_CGROUP_V1_N], fk_error_t *err);

/* Moves the calling, single-threaded process into the cgroup of fds (from
   fk_cgroup_open_join_fds). */
int fk_cgroup_join_self (const int fds[FK_CGROUP_V1_N], fk_error_t *err);

/* The pids in the cgroup (caller frees). */
int fk_cgroup_pids (const fk_cgroup_layout_t *layout, const char *name, pid_t **ret_pids,
                    size_t *ret_n, fk_error_t *err);

/* How many tasks (threads) the cgroup's pids controller counts in it and below it: a task is
   counted from the start of the fork that makes it (before it exists) until it is reaped. -1 with
   ENOENT when the cgroup has no pids controller (v2 without a pids limit). */
int fk_cgroup_task_count (const fk_cgroup_layout_t *layout, const char *name, uint64_t *ret_n,
                          fk_error_t *err);

/* Freezes (frozen = 1) or thaws the cgroup and waits until the kernel reports it done. */
int fk_cgroup_freeze (const fk_cgroup_layout_t *layout, const char *name, int frozen,
                      fk_error_t *err);

/* 1 when frozen, 0 when not. */
int fk_cgroup_is_frozen (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err);

/* SIGKILLs every process in the cgroup (cgroup.kill on v2) and waits until it is empty,
   timeout_ms at most (ETIMEDOUT). A frozen cgroup is thawed so the kills land. */
int fk_cgroup_kill (const fk_cgroup_layout_t *layout, const char *name, unsigned timeout_ms,
                    fk_error_t *err);

/* Removes the cgroup (from every hierarchy on v1); a missing one is success. */
int fk_cgroup_destroy (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err);

/* The freezer file of the cgroup (v2 cgroup.freeze, v1 freezer.state), opened read-write, for
   the deadline watchdog (sandbox/timeout.h). */
int fk_cgroup_open_freeze (const fk_cgroup_layout_t *layout, const char *name, fk_error_t *err);

/* What the cgroup's processes use, from its own control files. */
typedef struct fk_cgroup_usage
{
  int has_cpu;          /* 0: no CPU time in this layout (v1 without cpuacct beside cpu) */
  uint64_t cpu_usec;    /* v2 cpu.stat usage_usec; v1 cpuacct.usage (ns) / 1000 */
  int has_mem;          /* 0: no memory numbers (v2 without the memory controller) */
  uint64_t mem_current; /* v2 memory.current; v1 memory.usage_in_bytes */
  uint64_t mem_cache;   /* reclaimable page cache: file pages but shmem (tmpfs), from memory.stat
                           (v2 file - shmem; v1 total_cache - total_shmem) */
  uint64_t mem_limit;   /* v2 memory.max; v1 memory.limit_in_bytes; 0: none */
} fk_cgroup_usage_t;

/* Reads the cgroup's usage. v1 reads cpuacct.usage in the cpu hierarchy (present when cpu and
   cpuacct are mounted together, the usual layout); without it has_cpu is 0. A missing memory
   controller is has_mem 0, not an error. */
int fk_cgroup_usage (const fk_cgroup_layout_t *layout, const char *name,
                     fk_cgroup_usage_t *ret_usage, fk_error_t *err);

/* The number of OOM kills in the cgroup. */
int fk_cgroup_oom_kills (const fk_cgroup_layout_t *layout, const char *name, uint64_t *ret_count,
                         fk_error_t *err);

#endif
