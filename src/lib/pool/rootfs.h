/* pool/rootfs.h: a minimal root filesystem from the host's static busybox, for benchmarks and
   tests until images come from the template store. */
#ifndef FK_POOL_ROOTFS_H
#define FK_POOL_ROOTFS_H

#include "base/error.h"

/* The static busybox copied into the root. */
#define FK_BUSYBOX_PATH "/bin/busybox"

/* Builds in dir (created; it must not exist, or be empty): /bin/busybox, a symlink per applet
   (from `busybox --list-full'), /etc/passwd and /etc/group (root, user 1000, nobody), /tmp
   (1777), and the empty mount points /proc /sys /dev. The caller removes dir. */
int fk_busybox_rootfs_build (const char *dir, fk_error_t *err);

#endif
