/* bench/spawn.h: runs a peer's command (crun, bwrap, the fk CLI) as a timed child process:
   stdin /dev/null, stdout dropped or into a given fd, stderr kept for the error message,
   optionally inside a given mount namespace (the crun peer's, bench/crun.h). Several can run
   at once, each one's end seen when it happens (pidfds), so the calling process may have
   other children (a sandbox's watchdog) that are left alone. */
#ifndef FK_BENCH_SPAWN_H
#define FK_BENCH_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* A started child; fk_bench_procs_wait reaps it and frees what it holds. */
typedef struct fk_bench_proc
{
  char *name; /* argv[0], for messages */
  pid_t pid;
  int pidfd;         /* readable once the child has exited */
  int err_fd;        /* its stderr: a memory file */
  uint64_t start_ns; /* fk_now_ns before the fork */
  uint64_t end_ns;   /* fk_now_ns when its exit was seen (fk_bench_procs_wait) */
} fk_bench_proc_t;

/* Starts argv (argv[0] an absolute path, or looked up in PATH) with stdin /dev/null, stdout on
   out_fd (-1: /dev/null) and stderr into a memory file; mntns_fd >= 0: the child enters that
   mount namespace (setns) before its exec. On failure nothing is left running. */
int fk_bench_proc_start (char *const *argv, int mntns_fd, int out_fd, fk_bench_proc_t *ret_proc,
                         fk_error_t *err);

/* Waits until every one of the n children has exited, stamping each one's end_ns as its exit
   is seen, and reaps them all, also when one fails. The first (in procs order) that did not
   exit 0 is the error, quoting its stderr (the first 2 KiB). */
int fk_bench_procs_wait (fk_bench_proc_t *procs, size_t n, fk_error_t *err);

/* Starts argv (as fk_bench_proc_start, stdout dropped) and waits for it: 0 when it exited 0,
   with *ret_elapsed_ns (may be NULL) the time from before the fork to its exit. */
int fk_bench_spawn (char *const *argv, int mntns_fd, uint64_t *ret_elapsed_ns, fk_error_t *err);

/* The absolute path of an executable named name in PATH (caller frees), or NULL. A name with
   a slash is taken as a path: itself when executable, else NULL. */
char *fk_bench_which (const char *name);

#endif
