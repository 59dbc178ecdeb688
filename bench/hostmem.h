/* bench/hostmem.h: what an idle sandbox costs the host in memory: the proportional (PSS) and
   resident (RSS) size of every process in its cgroup, what its memory cgroup is charged (all
   of it, and the kernel part: slab, stacks, page tables ...), and the host's used memory
   (MemTotal - MemAvailable) to compare before and after. */
#ifndef FK_BENCH_HOSTMEM_H
#define FK_BENCH_HOSTMEM_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "firkin/sandbox.h"

typedef struct fk_bench_proc_mem
{
  uint64_t pss_bytes;
  uint64_t rss_bytes;
} fk_bench_proc_mem_t;

/* Parses /proc/PID/smaps_rollup text ("Rss: N kB", "Pss: N kB"). */
int fk_bench_smaps_rollup_parse (const char *text, fk_bench_proc_mem_t *ret_mem, fk_error_t *err);

/* PSS and RSS of one process. */
int fk_bench_proc_mem (pid_t pid, fk_bench_proc_mem_t *ret_mem, fk_error_t *err);

/* The value of "key: N kB" in /proc/meminfo-shaped text, in bytes. ENOENT when missing. */
int fk_bench_meminfo_value (const char *text, const char *key, uint64_t *ret_bytes,
                            fk_error_t *err);

/* MemTotal - MemAvailable of the host now. */
int fk_bench_host_used_bytes (uint64_t *ret_bytes, fk_error_t *err);

typedef struct fk_bench_sandbox_mem
{
  size_t n_procs;        /* processes in the sandbox's cgroup */
  uint64_t pss_bytes;    /* their PSS summed */
  uint64_t rss_bytes;    /* their RSS summed */
  uint64_t cgroup_bytes; /* the memory cgroup's charge (v1 usage_in_bytes, v2 memory.current) */
  uint64_t kernel_bytes; /* its kernel part (v1 kmem.usage_in_bytes, v2 memory.stat kernel) */
} fk_bench_sandbox_mem_t;

/* The memory of a running sandbox, as above. */
int fk_bench_sandbox_mem (fk_sandbox_t *sb, fk_bench_sandbox_mem_t *ret_mem, fk_error_t *err);

#endif
