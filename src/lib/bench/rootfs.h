/* bench/rootfs.h: the root filesystem the sandbox benchmarks give firkin and its peers when
   no other is named: a static busybox with the applets the benchmarks run. */
#ifndef FK_BENCH_ROOTFS_H
#define FK_BENCH_ROOTFS_H

#include "base/error.h"

/* Where Debian's busybox-static installs it. */
#define FK_BENCH_BUSYBOX "/bin/busybox"

/* Makes dir (it must not exist; its parent must) a root filesystem: bin/busybox copied from
   busybox (a static binary), bin/<applet> symlinks for sh, true, sleep, cat, echo, id,
   printf, ls, the usual top-level directories, and /etc/passwd and /etc/group for root.
   Every directory is 0755, so a user namespace's root can enter it. */
int fk_bench_busybox_rootfs (const char *dir, const char *busybox, fk_error_t *err);

#endif
