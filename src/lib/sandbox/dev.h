/* sandbox/dev.h: the sandbox's minimal /dev. */
#ifndef FK_SANDBOX_DEV_H
#define FK_SANDBOX_DEV_H

#include "base/error.h"

/* Mounts a small tmpfs (64 KiB, 64 inodes) on dir (relative) below rootfd with null, zero, full,
   random, urandom and tty (bind mounts of the host's nodes: a user namespace cannot mknod), a
   private devpts with ptmx, shm_fd (the disk's shm dir, fk_mount_attach_scratch) on shm, and the
   fd, stdin, stdout and stderr links. */
int fk_dev_setup (int rootfd, const char *dir, int shm_fd, fk_error_t *err);

#endif
