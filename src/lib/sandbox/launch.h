/* sandbox/launch.h: what the new sandbox's first process does between clone and exec: wait for
   the host side (id maps, cgroup, idmapped layers), build the root, drop privileges, and exec
   fk-agent (or the init command) as PID 1. Also the host side's half of the handshake. */
#ifndef FK_SANDBOX_LAUNCH_H
#define FK_SANDBOX_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "firkin/sandbox.h"

typedef struct fk_launch
{
  int sync_fd;   /* the child's end of the handshake socket: the root overlay arrives on it */
  int error_fd;  /* the write end of the error pipe (close-on-exec: EOF means exec'd) */
  int exec_fd;   /* O_PATH of fk-agent; -1 in init mode */
  int listen_fd; /* the agent's listening socket; -1 in init mode */
  int cgroup_join_fds[4]; /* v1 tasks files the child writes itself into; -1 when unused */
  /* Init mode: how the command's stdio is connected; with pipes, the child's ends (stdin's read
     end, stdout's and stderr's write ends). With a terminal, the child opens one in its own
     devpts and sends the master on sync_fd before it execs. */
  fk_init_stdio_t init_stdio;
  int stdio_fds[3];
  unsigned short tty_rows, tty_cols;
  const char *hostname;
  const char *workdir;
  const char *user;        /* may be NULL */
  char *const *env;        /* the sandbox's environment */
  const char *const *init; /* init argv, or NULL for the agent */
  const fk_seccomp_spec_t *seccomp;
} fk_launch_t;

/* Runs in the cloned child; never returns. Failures are written to error_fd as
   "<errno> <message>" and end the process. */
void fk_launch_child (const fk_launch_t *l) __attribute__ ((noreturn));

/* The mount fds the host sends on sync_fd, in this order. */
enum
{
  FK_LAUNCH_FD_ROOT,    /* the root overlay */
  FK_LAUNCH_FD_SCRATCH, /* the scratch tmpfs under it, with tmp and shm (the disk) */
  FK_LAUNCH_N_FDS,
};

/* Host side: sends the FK_LAUNCH_N_FDS mount fds and releases the child. */
#define FK_LAUNCH_MAX_LAYERS 250
int fk_launch_release (int sync_fd, const int fds[FK_LAUNCH_N_FDS], fk_error_t *err);

/* Receives n fds sent on a handshake socket (either side); EPIPE when the peer went away. */
int fk_launch_receive_fds (int sync_fd, int *ret_fds, size_t n, fk_error_t *err);

/* Host side: reads the error pipe to EOF; a message there becomes err (its errno included). */
int fk_launch_result (int error_fd, fk_error_t *err);

#endif
