/* sandbox/namespaces.h: the clone that makes a sandbox's namespaces, all at once. */
#ifndef FK_SANDBOX_NAMESPACES_H
#define FK_SANDBOX_NAMESPACES_H

#include <sys/types.h>

/* New user, mount, pid, ipc, uts and net namespaces (the cgroup namespace comes later, from
   the child, once it is in its cgroup). */
#define FK_SANDBOX_CLONE_NS_FLAGS                                                                  \
  (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET)

/* clone3 with flags (FK_SANDBOX_CLONE_NS_FLAGS less the namespaces joined, maybe CLONE_PARENT)
   and a pidfd (*ret_pidfd); with cgroup_fd >= 0 (a cgroup v2 directory) the child starts in
   that cgroup (CLONE_INTO_CGROUP). Returns like fork: the child's pid in the parent, 0 in the
   child, -1 with errno on failure. */
pid_t fk_namespaces_clone (unsigned long long flags, int cgroup_fd, int *ret_pidfd);

#endif
