/* sandbox/launch.h: the child's half of a plan (sandbox/plan.h): what the new sandbox's first
   process does between clone and exec: wait for the host side (id maps, cgroup, the root from
   its provider), run the mount steps, drop privileges, and exec the plan's process as PID 1.
   Also the handshake both halves speak. */
#ifndef FK_SANDBOX_LAUNCH_H
#define FK_SANDBOX_LAUNCH_H

#include <stddef.h>
#include <linux/filter.h>
#include <stdint.h>

#include "base/error.h"
#include "sandbox/plan.h"

typedef struct fk_launch
{
  const fk_plan_t *plan;
  int sync_fd;            /* the child's end of the handshake socket: the root arrives on it */
  int error_fd;           /* the write end of the error pipe (close-on-exec: EOF means exec'd) */
  int exec_fd;            /* O_PATH of the program, or -1: argv[0] in the sandbox's PATH */
  int listen_fd;          /* passed as fd 3; -1 for none */
  int cgroup_join_fds[4]; /* v1 tasks files the child writes itself into; -1 when unused */
  int stdio_fds[3];       /* PIPES: the child's ends (stdin's read end, stdout's and stderr's write
                             ends). TTY: the child opens one in its own devpts and sends the master on
                             sync_fd before it goes on. */
  int start_fifo_fd;      /* O_PATH of the plan's start fifo, or -1 */
  const struct sock_filter *seccomp_prog; /* the plan's OCI profile, compiled by the host */
  size_t seccomp_len;
} fk_launch_t;

/* Runs in the cloned child; never returns. Failures are written to error_fd as
   "<errno> <message>" and end the process. */
void fk_launch_child (const fk_launch_t *l) __attribute__ ((noreturn));

/* The mount fds the host sends on sync_fd, in this order. */
enum
{
  FK_LAUNCH_FD_ROOT,    /* the root */
  FK_LAUNCH_FD_SCRATCH, /* the disk: a tmpfs with tmp, shm and the agent's log */
  FK_LAUNCH_N_FDS,
};

/* The fd an agent sandbox's PID 1 holds its overlay's upper dir on (O_PATH), for the host to
   take with pidfd_getfd when it captures the sandbox's changes (sandbox/upperfd.h). */
#define FK_LAUNCH_UPPER_FD 4

/* What the child sends on sync_fd, besides a terminal's master: ready to wait at the start
   fifo. */
#define FK_LAUNCH_READY 'r'

/* Host side: sends the n mount fds (FK_LAUNCH_N_FDS, then one detached tree per bind step, in
   the plan's order) and releases the child. */
#define FK_LAUNCH_MAX_LAYERS 250
#define FK_LAUNCH_MAX_BINDS 200
int fk_launch_release (int sync_fd, const int *fds, size_t n, fk_error_t *err);

/* Sends n fds (n may be 0) with one byte on a handshake socket. */
int fk_launch_send_fds (int sync_fd, char byte, const int *fds, size_t n, fk_error_t *err);

/* Receives n fds sent on a handshake socket (either side), and the byte that came with them
   when ret_byte is not NULL; EPIPE when the peer went away. */
int fk_launch_receive_fds (int sync_fd, int *ret_fds, size_t n, fk_error_t *err);
int fk_launch_receive (int sync_fd, char *ret_byte, int *ret_fds, size_t n, fk_error_t *err);

/* In the process to confine: the process's rlimits. */
int fk_launch_set_rlimits (const fk_plan_process_t *p, fk_error_t *err);

/* In the process to confine: p's supplementary groups, ids, capabilities and no_new_privs,
   then plan's seccomp filter (seccomp_prog, compiled by the host from plan->seccomp_oci, when
   set). */
int fk_launch_confine (const fk_plan_t *plan, const fk_plan_process_t *p,
                       const struct sock_filter *seccomp_prog, size_t seccomp_len, fk_error_t *err);

/* Host side: reads the error pipe to EOF; a message there becomes err (its errno included). */
int fk_launch_result (int error_fd, fk_error_t *err);

#endif
