/* bench/ocibundle.h: an OCI runtime bundle (config.json) for crun that isolates like a firkin
   sandbox: the same namespaces (user included, with the same id map), the same capability
   set, masked and read-only paths and seccomp deny list, the same limits, no network but
   loopback. The root is the given directory, read-only (crun has no overlay of its own), with
   a tmpfs /tmp. bench/crun.h says how the benchmarks use it. */
#ifndef FK_BENCH_OCIBUNDLE_H
#define FK_BENCH_OCIBUNDLE_H

#include <stdint.h>

#include "base/error.h"

typedef struct fk_bench_oci_opts
{
  const char *rootfs;      /* absolute path */
  const char *const *args; /* the process, NULL-terminated */
  const char *hostname;    /* may be NULL */
  uint32_t id_base;        /* user namespace: ids 0.. map to id_base..; id_count 0: none */
  uint32_t id_count;
  const char *const *caps;     /* "CAP_CHOWN", ...: bounding, effective, permitted; may be NULL */
  const char *const *masked;   /* absolute paths, may be NULL */
  const char *const *readonly; /* absolute paths, may be NULL */
  const char *const *seccomp_deny; /* refused with EPERM (clone3 with ENOSYS, and clone with a
                                      namespace flag with EPERM); NULL: no seccomp */
  uint64_t pids_limit;             /* linux.resources; 0: no limit */
  uint64_t memory_limit;           /* bytes */
  double cpus;                     /* a CFS quota of cpus periods of 100 ms */
} fk_bench_oci_opts_t;

/* Writes dir/config.json (dir must exist). */
int fk_bench_oci_bundle_write (const char *dir, const fk_bench_oci_opts_t *opts, fk_error_t *err);

/* The firkin sandbox defaults as bundle options: capabilities, masked and read-only paths,
   seccomp deny list, id map and limits (pids, memory, CPUs) of a sandbox created with
   fk_sandbox_spec_init. rootfs and args
   are the caller's. The strings are owned by ret_opts: free with fk_bench_oci_opts_free. */
void fk_bench_oci_opts_firkin_defaults (const char *rootfs, const char *const *args,
                                        fk_bench_oci_opts_t *ret_opts);
void fk_bench_oci_opts_free (fk_bench_oci_opts_t *opts);

#endif
