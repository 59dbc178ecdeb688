/* bench/rootfs.h: the busybox root filesystem the benchmarks and the tests build when no image
   is named. scripts/busybox-rootfs.sh builds the same tree from the shell (for the integration
   tests and the image scripts); a change to one is a change to both. */
#ifndef FK_BENCH_ROOTFS_H
#define FK_BENCH_ROOTFS_H

#include "base/error.h"

/* Where Debian's busybox-static installs it. */
#define FK_BENCH_BUSYBOX "/bin/busybox"

/* Makes dir a root filesystem; dir must not exist, missing parents are made (0755):
   - bin/busybox copied from busybox, which must be a static binary (a dynamic one is refused:
     it would not start inside the root), and a symlink to /bin/busybox per applet that
     `busybox --list-full' names;
   - bin sbin usr/bin usr/sbin etc run var proc sys dev home/user at 0755 whatever the umask
     (crun enters the root as a user namespace's root, which is nobody on the host), tmp and
     var/tmp 1777, root 0700, home/user owned by 1000:1000;
   - etc/passwd and etc/group: root, user (1000), nobody (65534).
   The caller removes dir, also after a failure. */
int fk_bench_busybox_rootfs (const char *dir, const char *busybox, fk_error_t *err);

#endif
