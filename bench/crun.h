/* bench/crun.h: crun, the peer firkin is measured beside, set up one way for every benchmark
   that runs it (`fk bench sandbox', `fk bench shell-pool-density'), so their crun figures can
   be compared:

   - which crun: $FIRKIN_CRUN (a path, or a name looked up in PATH), else `crun' in PATH.
   - mount namespace: crun refuses a hybrid cgroup layout (v1 controllers with the cgroup2 mount
     at /sys/fs/cgroup/unified). fk_bench_crun_open makes one mount namespace, a slave of the
     host's (the host's later mounts reach it, nothing done in it reaches the host), with that
     mount detached, and every command of the peer enters it (setns) between its fork and its
     exec: a few microseconds, the same for every command. A pure v1 or v2 host has nothing to
     detach.
   - root: WORKDIR/root in that namespace: the one layer bind-mounted there, or the layers
     stacked read-only with overlayfs (crun has no overlay of its own); read-only to the
     container, the same directory for every container of the peer.
   - config.json (bench/ocibundle.h, fk_bench_oci_opts_firkin_defaults): what
     fk_sandbox_spec_init gives a sandbox: namespaces user (ids 0..65535 on
     FK_USERNS_HOST_BASE..), pid, network (loopback only), ipc, uts, mount and cgroup; firkin's
     capability set, masked and read-only paths, noNewPrivileges and seccomp deny list; its
     limits (pids 1024, memory 2 GiB, 2 CPUs); /proc, /dev, /dev/pts, /dev/shm, /sys read-only
     and a tmpfs /tmp; crun's own cgroup placement. Not like firkin, in crun's favour: the root
     is read-only and shared (firkin mounts a writable overlay per sandbox with a tmpfs upper
     dir), no idmapped layers (files owned by the host's root show as nobody inside; the
     commands timed only read and run them), no swap figure, no disk limit.
   - files: crun's state in WORKDIR/state (`crun --root'), bundles in WORKDIR/<name>. WORKDIR is
     made by fk_bench_crun_open under a parent directory, mode 0755: crun enters the root as the
     user namespace's root, nobody on the host, so every directory above the root must be
     searchable by others (open names the one that is not). */
#ifndef FK_BENCH_CRUN_H
#define FK_BENCH_CRUN_H

#include <stdint.h>

#include "base/error.h"
#include "bench/spawn.h"

typedef struct fk_bench_crun fk_bench_crun_t;

/* crun's absolute path ($FIRKIN_CRUN, else PATH; caller frees), or NULL when it is not there. */
char *fk_bench_crun_find (void);

/* Makes WORKDIR (a new directory under parent; NULL: $TMPDIR, else /tmp), the mount namespace
   and the root of layers (absolute paths, BOTTOM FIRST, NULL-terminated). crun_path is used
   as is (fk_bench_crun_find); nothing runs it before the first command. Free with
   fk_bench_crun_close. */
int fk_bench_crun_open (const char *crun_path, const char *const *layers, const char *parent,
                        fk_bench_crun_t **ret_crun, fk_error_t *err);

/* The peer's mount namespace (an fd owned by c): to time another program in it, such as the
   host's `true', and so tell crun's own time from entering the namespace. */
int fk_bench_crun_mntns (const fk_bench_crun_t *c);

/* Writes the bundle WORKDIR/name (config.json as above, running args, NULL-terminated) and
   gives its path in ret_dir (caller frees). */
int fk_bench_crun_bundle (fk_bench_crun_t *c, const char *name, const char *const *args,
                          char **ret_dir, fk_error_t *err);

/* Runs `crun --root WORKDIR/state ARGS...' (args NULL-terminated) in the namespace and waits
   for it (fk_bench_spawn): *ret_elapsed_ns (may be NULL) from before its fork to its exit. */
int fk_bench_crun_run (fk_bench_crun_t *c, const char *const *args, uint64_t *ret_elapsed_ns,
                       fk_error_t *err);

/* The same, started without waiting, its stdout on out_fd (-1: dropped): several run at once,
   and fk_bench_procs_wait reaps them. */
int fk_bench_crun_start (fk_bench_crun_t *c, const char *const *args, int out_fd,
                         fk_bench_proc_t *ret_proc, fk_error_t *err);

/* `crun run --detach --bundle BUNDLE NAME': a container that stays up; fk_bench_crun_close
   deletes it. */
int fk_bench_crun_container_start (fk_bench_crun_t *c, const char *name, const char *bundle,
                                   fk_error_t *err);

/* Deletes (`crun delete --force') every container fk_bench_crun_container_start started, also
   one whose start failed, drops the namespace and removes WORKDIR; then frees c (NULL: nothing).
   Returns -1 when something could not be removed (the first such error in err). */
int fk_bench_crun_close (fk_bench_crun_t *c, fk_error_t *err);

#endif
