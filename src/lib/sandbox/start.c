/* sandbox/start.c: the host's half of a plan: the cgroup, the clone, the id maps, hooks, the
   data plane's host step, the root from its provider, and the handshake with the child
   (launch.c). Everything made is undone when a step fails. */
#include "sandbox/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/launch.h"
#include "sandbox/mount.h"
#include "sandbox/namespaces.h"
#include "sandbox/network.h"
#include "sandbox/seccomp_oci.h"
#include "sandbox/userns.h"

static const char *const ns_kind_names[FK_PLAN_NS_N]
    = { "user", "mount", "pid", "network", "ipc", "uts", "cgroup" };

/* Root providers: each makes the root's detached mount and the disk, owned by the sandbox's
   root (host ids root_uid:root_gid), from the plan's root. */
typedef int (*root_provider_fn) (const fk_plan_t *plan, int userns_fd, uid_t root_uid,
                                 gid_t root_gid, int fds[FK_LAUNCH_N_FDS], fk_error_t *err);

static int
root_layers (const fk_plan_t *plan, int userns_fd, uid_t root_uid, gid_t root_gid,
             int fds[FK_LAUNCH_N_FDS], fk_error_t *err)
{
  size_t n = fk_strv_len (plan->root.layers);
  if (n > FK_LAUNCH_MAX_LAYERS)
    return fk_error_set (err, E2BIG, "%zu layers: at most %d are supported", n,
                         FK_LAUNCH_MAX_LAYERS);
  int *layer_fds = xcalloc (n + 1, sizeof (int));
  for (size_t i = 0; i < n; i++)
    layer_fds[i] = -1;
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    ret = fk_userns_idmapped_tree (userns_fd, plan->root.layers[i], 1, &layer_fds[i], err);
  if (ret == 0)
    ret = fk_mount_build_disk (plan->disk_bytes, root_uid, root_gid, &fds[FK_LAUNCH_FD_SCRATCH],
                               err);
  if (ret == 0)
    ret = fk_mount_build_overlay (layer_fds, n, fds[FK_LAUNCH_FD_SCRATCH], &fds[FK_LAUNCH_FD_ROOT],
                                  err);
  for (size_t i = 0; i < n; i++)
    if (layer_fds[i] >= 0)
      close (layer_fds[i]);
  free (layer_fds);
  return ret;
}

static int
root_dir (const fk_plan_t *plan, int userns_fd, uid_t root_uid, gid_t root_gid,
          int fds[FK_LAUNCH_N_FDS], fk_error_t *err)
{
  if (plan->ns[FK_PLAN_NS_USER].inherit)
    {
      /* No user namespace: the root as given, whatever it is (an engine's overlay mount, which
         cannot be idmapped), with what is mounted below it; nodev, as the sandbox may mknod. */
      cleanup_close int fd = open_tree (AT_FDCWD, plan->root.path,
                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
      if (fd < 0)
        return fk_error_set_errno (err, "root `%s'", plan->root.path);
      struct mount_attr attr
          = { .attr_set = MOUNT_ATTR_NODEV | (plan->root.readonly ? MOUNT_ATTR_RDONLY : 0) };
      if (mount_setattr (fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        return fk_error_set_errno (err, "root `%s': set its attributes", plan->root.path);
      fds[FK_LAUNCH_FD_ROOT] = steal_fd (&fd);
    }
  else if (fk_userns_idmapped_tree (userns_fd, plan->root.path, plan->root.readonly,
                                    &fds[FK_LAUNCH_FD_ROOT], err)
           < 0)
    return fk_error_wrap (err, "root `%s'", plan->root.path);
  (void)userns_fd;
  return fk_mount_build_disk (plan->disk_bytes, root_uid, root_gid, &fds[FK_LAUNCH_FD_SCRATCH],
                              err);
}

static const root_provider_fn root_providers[] = {
  [FK_PLAN_ROOT_LAYERS] = root_layers,
  [FK_PLAN_ROOT_DIR] = root_dir,
};

/* The host id of inside id 0, from a map. */
static uint32_t
host_root (const fk_plan_idmap_t *m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (m[i].inside == 0)
      return m[i].outside;
  return 0;
}

static int
write_maps (const fk_plan_t *plan, pid_t pid, fk_error_t *err)
{
  static const char *const files[2] = { "uid_map", "gid_map" };
  const fk_plan_idmap_t *maps[2] = { plan->uid_map, plan->gid_map };
  size_t counts[2] = { plan->n_uid_map, plan->n_gid_map };
  for (int k = 0; k < 2; k++)
    {
      char text[FK_PLAN_MAX_IDMAPS * 36 + 1];
      size_t off = 0;
      for (size_t i = 0; i < counts[k]; i++)
        off += (size_t)snprintf (text + off, sizeof text - off, "%u %u %u\n", maps[k][i].inside,
                                 maps[k][i].outside, maps[k][i].count);
      if (fk_userns_write_map (pid, files[k], text, err) < 0)
        return -1;
    }
  return 0;
}

/* One hook: argv with env, the state JSON on stdin, in a process group of its own that is
   killed past its timeout (with whatever the hook started in it). */
static int
run_hook (const fk_plan_t *plan, const fk_plan_hook_t *h, pid_t pid, fk_error_t *err)
{
  /* A socket, not a pipe: a hook that exits without reading must not SIGPIPE the caller. */
  int in[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
    return fk_error_set_errno (err, "hook stdin");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, in[0], 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init (&attr);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup (&attr, 0);
  char *const empty[] = { NULL };
  pid_t hp;
  int r = posix_spawn (&hp, h->argv[0], &fa, &attr, h->argv, h->env ? h->env : empty);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  close (in[0]);
  if (r != 0)
    {
      close (in[1]);
      errno = r;
      return fk_error_set_errno (err, "hook `%s'", h->argv[0]);
    }
  json_t *st = json_pack ("{s:s, s:s, s:s, s:i}", "ociVersion", "1.0.2", "id",
                          plan->id ? plan->id : "", "status",
                          h->point == FK_PLAN_HOOK_POSTSTART         ? "running"
                          : h->point == FK_PLAN_HOOK_POSTSTOP        ? "stopped"
                          : h->point == FK_PLAN_HOOK_START_CONTAINER ? "created"
                                                                     : "creating",
                          "pid", (json_int_t)pid);
  if (st && plan->bundle)
    json_object_set_new (st, "bundle", json_string (plan->bundle));
  cleanup_free char *state = st ? json_dumps (st, JSON_COMPACT) : NULL;
  json_decref (st);
  if (state != NULL) /* a hook may not read it: what it does not take is dropped */
    (void)!send (in[1], state, strlen (state), MSG_NOSIGNAL | MSG_DONTWAIT);
  close (in[1]);
  uint64_t deadline = fk_now_ms () + (h->timeout_ms ? h->timeout_ms : 30000);
  int status;
  for (;;)
    {
      pid_t w = waitpid (hp, &status, WNOHANG);
      if (w == hp)
        break;
      if (w < 0 && errno != EINTR)
        return fk_error_set_errno (err, "wait for hook `%s'", h->argv[0]);
      if (fk_now_ms () >= deadline)
        {
          kill (-hp, SIGKILL);
          waitpid (hp, NULL, 0);
          return fk_error_set (err, ETIMEDOUT, "hook `%s' ran past its timeout", h->argv[0]);
        }
      struct timespec ts = { 0, 2 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return fk_error_set (err, ECANCELED, "hook `%s' failed (status %d)", h->argv[0], status);
  return 0;
}

int
fk_plan_run_hooks (const fk_plan_t *plan, fk_plan_hook_point_t point, pid_t pid, fk_error_t *err)
{
  for (size_t i = 0; i < plan->n_hooks; i++)
    if (plan->hooks[i].point == point && run_hook (plan, &plan->hooks[i], pid, err) < 0)
      return -1;
  return 0;
}

static const int ns_clone_flag[FK_PLAN_NS_N] = {
  [FK_PLAN_NS_USER] = CLONE_NEWUSER,     [FK_PLAN_NS_MOUNT] = CLONE_NEWNS,
  [FK_PLAN_NS_PID] = CLONE_NEWPID,       [FK_PLAN_NS_NET] = CLONE_NEWNET,
  [FK_PLAN_NS_IPC] = CLONE_NEWIPC,       [FK_PLAN_NS_UTS] = CLONE_NEWUTS,
  [FK_PLAN_NS_CGROUP] = CLONE_NEWCGROUP,
};

/* The fds of the start: the host's ends and the child's. */
typedef struct start_ctx
{
  int sync[2], errp[2];
  int pipes[3][2]; /* [i][0] read end, [i][1] write end */
  int cgroup_fd;
  int join_fds[FK_CGROUP_V1_N];
  int ns_fds[FK_PLAN_NS_N];
  int mount_fds[FK_LAUNCH_N_FDS + FK_LAUNCH_MAX_BINDS];
  size_t n_mount_fds;
  int userns_fd;
  int tty_master;
  fk_resolver_prep_t *net_prep; /* the data plane's late step, once the child is released */
} start_ctx_t;

/* Bind sources are resolved and cloned here, in the creator's mount namespace (the child's
   copy of it has its staging point over /tmp), and sent as detached trees after the root's. */
static int
bind_trees (const fk_plan_t *plan, start_ctx_t *c, fk_error_t *err)
{
  for (size_t i = 0; i < plan->n_mounts; i++)
    {
      const fk_plan_mount_t *m = &plan->mounts[i];
      if (m->kind != FK_PLAN_MOUNT_BIND)
        continue;
      if (c->n_mount_fds >= FK_LAUNCH_N_FDS + FK_LAUNCH_MAX_BINDS)
        return fk_error_set (err, E2BIG, "more than %d bind mounts", FK_LAUNCH_MAX_BINDS);
      int rec = (m->flags & FK_PLAN_MOUNT_F_NONRECURSIVE) ? 0 : AT_RECURSIVE;
      int fd = open_tree (AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
      if (fd < 0)
        return fk_error_set_errno (err, "bind `%s'", m->source);
      c->mount_fds[c->n_mount_fds++] = fd;
      struct mount_attr attr
          = { .attr_set = MOUNT_ATTR_NOSUID | m->attrs
                          | ((m->flags & FK_PLAN_MOUNT_F_DEVICE) ? 0 : MOUNT_ATTR_NODEV)
                          | (m->readonly ? MOUNT_ATTR_RDONLY : 0) };
      if (mount_setattr (fd, "", AT_EMPTY_PATH | (unsigned)rec, &attr, sizeof attr) < 0)
        return fk_error_set_errno (err, "bind `%s': set its attributes", m->source);
    }
  return 0;
}

static void
ctx_close (start_ctx_t *c)
{
  int *all[] = { c->sync, c->errp, c->pipes[0], c->pipes[1], c->pipes[2] };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    for (int k = 0; k < 2; k++)
      all[i][k] = close_and_reset (all[i][k]);
  c->cgroup_fd = close_and_reset (c->cgroup_fd);
  for (size_t i = 0; i < FK_CGROUP_V1_N; i++)
    c->join_fds[i] = close_and_reset (c->join_fds[i]);
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    c->ns_fds[i] = close_and_reset (c->ns_fds[i]);
  for (size_t i = 0; i < c->n_mount_fds; i++)
    c->mount_fds[i] = close_and_reset (c->mount_fds[i]);
  c->userns_fd = close_and_reset (c->userns_fd);
  c->tty_master = close_and_reset (c->tty_master);
  fk_resolver_prep_free (c->net_prep);
  c->net_prep = NULL;
}

static void __attribute__ ((noreturn)) child (start_ctx_t *c, fk_launch_t *l)
{
  close (c->sync[0]);
  close (c->errp[0]);
  fk_launch_child (l);
}

/* 1 when this process runs more than one thread (field 20 of /proc/self/stat). */
static int
multi_threaded (void)
{
  char buf[1024];
  cleanup_close int fd = open ("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return 1; /* unknown: the safe way */
  buf[n] = '\0';
  const char *p = strrchr (buf, ')');
  for (int field = 2; p && field < 20; field++)
    p = strchr (p + 1, ' ');
  return p == NULL || strtol (p + 1, NULL, 10) != 1;
}

/* Joined namespaces must be entered before the user namespace is made (the host's root may
   enter them; the sandbox's root may not): a short-lived process enters them and clones the
   sandbox as our child (CLONE_PARENT), handing back its pidfd. The same process serves a
   creator that runs threads (a daemon): the sandbox's child is a raw clone, which inherits the
   locks other threads hold at that instant (the allocator's among them) without the threads
   that would release them; a fork first (which takes and resets those locks) gives it a
   single-threaded parent to copy. */
static pid_t
clone_joined (start_ctx_t *c, fk_launch_t *l, unsigned long long flags, int *ret_pidfd,
              fk_error_t *err)
{
  int back[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, back) < 0)
    return fk_error_set_errno (err, "socketpair");
  pid_t joiner = fork ();
  if (joiner < 0)
    {
      close (back[0]);
      close (back[1]);
      return fk_error_set_errno (err, "fork");
    }
  if (joiner == 0)
    {
      close (back[0]);
      fk_error_t e = FK_ERROR_INIT;
      for (size_t i = 0; i < FK_PLAN_NS_N; i++)
        if (c->ns_fds[i] >= 0 && setns (c->ns_fds[i], ns_clone_flag[i]) < 0)
          _exit (10 + (int)i);
      int pidfd = -1;
      pid_t pid = fk_namespaces_clone (flags | CLONE_PARENT, c->cgroup_fd, &pidfd);
      if (pid == 0)
        child (c, l);
      if (pid < 0 || fk_launch_send_fds (back[1], 'p', &pidfd, 1, &e) < 0)
        _exit (2);
      _exit (0);
    }
  close (back[1]);
  int pidfd = -1;
  int r = fk_launch_receive_fds (back[0], &pidfd, 1, err);
  close (back[0]);
  int status;
  while (waitpid (joiner, &status, 0) < 0 && errno == EINTR)
    ;
  if (r < 0)
    {
      if (WIFEXITED (status) && WEXITSTATUS (status) >= 10)
        {
          fk_error_clear (err);
          return fk_error_set (err, EPERM, "join the namespace given in the plan (kind %d)",
                               WEXITSTATUS (status) - 10);
        }
      return fk_error_wrap (err, "clone the sandbox in the joined namespaces");
    }
  /* The pid, from the pidfd. */
  char path[64];
  snprintf (path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
  cleanup_free char *info = NULL;
  size_t len;
  if (fk_read_file_at (AT_FDCWD, path, 4096, &info, &len, err) < 0)
    {
      close (pidfd);
      return -1;
    }
  const char *p = strstr (info, "\nPid:");
  pid_t pid = p ? (pid_t)strtol (p + 5, NULL, 10) : 0;
  if (pid <= 0)
    {
      close (pidfd);
      return fk_error_set (err, ESRCH, "the sandbox's first process is gone");
    }
  *ret_pidfd = pidfd;
  return pid;
}

void
fk_plan_undo (const fk_plan_t *plan, const fk_cgroup_layout_t *cgroups, fk_plan_started_t *s)
{
  fk_error_t ignored = FK_ERROR_INIT;
  if (s->pid > 0)
    {
      kill (s->pid, SIGKILL);
      while (waitpid (s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
      s->pid = 0;
    }
  s->pidfd = close_and_reset (s->pidfd);
  for (int i = 0; i < 3; i++)
    s->stdio_fds[i] = close_and_reset (s->stdio_fds[i]);
  fk_data_plane_undo (plan, s->net_helper);
  s->net_helper = 0;
  if (s->cgroup_made)
    {
      fk_cgroup_kill (cgroups, plan->cgroup, 5000, &ignored);
      fk_error_clear (&ignored);
      fk_cgroup_destroy (cgroups, plan->cgroup, &ignored);
      fk_error_clear (&ignored);
      s->cgroup_made = 0;
    }
}

/* After the release: a terminal's master (TTY), the ready byte (start fifo), then the result.
   If the child failed first, its error says why better than the closed socket does. */
static int
await_child (const fk_plan_t *plan, start_ctx_t *c, fk_error_t *err)
{
  if (plan->process.stdio == FK_INIT_STDIO_TTY
      && fk_launch_receive_fds (c->sync[0], &c->tty_master, 1, err) < 0)
    {
      fk_error_t why = FK_ERROR_INIT;
      if (fk_launch_result (c->errp[0], &why) < 0)
        {
          fk_error_clear (err);
          *err = why;
        }
      return -1;
    }
  if (plan->start_fifo)
    {
      char byte = 0;
      if (fk_launch_receive (c->sync[0], &byte, NULL, 0, err) == 0 && byte == FK_LAUNCH_READY)
        return 0;
      fk_error_t why = FK_ERROR_INIT;
      if (fk_launch_result (c->errp[0], &why) < 0)
        {
          fk_error_clear (err);
          *err = why;
        }
      return -1;
    }
  return fk_launch_result (c->errp[0], err);
}

int
fk_plan_start (const fk_plan_t *plan, const fk_plan_io_t *io, fk_plan_started_t *ret,
               fk_error_t *err)
{
  const fk_cgroup_layout_t *cgroups = io->cgroups;
  start_ctx_t c = { .sync = { -1, -1 },
                    .errp = { -1, -1 },
                    .pipes = { { -1, -1 }, { -1, -1 }, { -1, -1 } },
                    .cgroup_fd = -1,
                    .join_fds = { -1, -1, -1, -1 },
                    .userns_fd = -1,
                    .tty_master = -1 };
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    c.ns_fds[i] = -1;
  c.n_mount_fds = FK_LAUNCH_N_FDS;
  for (size_t i = 0; i < sizeof c.mount_fds / sizeof c.mount_fds[0]; i++)
    c.mount_fds[i] = -1;
  fk_plan_started_t s = { .pid = -1, .pidfd = -1, .stdio_fds = { -1, -1, -1 } };
  cleanup_close int fifo_fd = -1;
  cleanup_free struct sock_filter *seccomp_prog = NULL;
  size_t seccomp_len = 0;
  int ret_code = -1;

  unsigned long long flags = FK_SANDBOX_CLONE_NS_FLAGS;
  int joins = 0;
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    if (plan->ns[i].join)
      {
        c.ns_fds[i] = open (plan->ns[i].join, O_RDONLY | O_CLOEXEC);
        if (c.ns_fds[i] < 0)
          {
            fk_error_set_errno (err, "open namespace `%s'", plan->ns[i].join);
            goto out;
          }
        int type = ioctl (c.ns_fds[i], NS_GET_NSTYPE);
        if (type != ns_clone_flag[i])
          {
            fk_error_set (err, EINVAL, "namespace path `%s' is not a %s namespace",
                          plan->ns[i].join, ns_kind_names[i]);
            goto out;
          }
        flags &= ~(unsigned long long)ns_clone_flag[i];
        joins = 1;
      }
    else if (plan->ns[i].inherit)
      flags &= ~(unsigned long long)ns_clone_flag[i];
  if (plan->seccomp_oci
      && fk_seccomp_oci_compile (plan->seccomp_oci, &seccomp_prog, &seccomp_len, err) < 0)
    goto out;
  if (plan->start_fifo)
    {
      /* Opened here, by the host, for the child to read from: inside its user namespace the
         fifo's owner is unmapped, and the child could not open it itself. Read and write, so
         the open does not wait for a writer and the child's read waits for the release. */
      cleanup_close int path_fd = open (plan->start_fifo, O_PATH | O_CLOEXEC);
      struct stat st;
      if (path_fd < 0 || fstat (path_fd, &st) < 0 || !S_ISFIFO (st.st_mode))
        {
          fk_error_set (err, path_fd < 0 ? errno : ENOTSUP, "start fifo `%s' is not a fifo",
                        plan->start_fifo);
          goto out;
        }
      char path[64];
      snprintf (path, sizeof path, "/proc/self/fd/%d", path_fd);
      fifo_fd = open (path, O_RDWR | O_CLOEXEC);
      if (fifo_fd < 0)
        {
          fk_error_set_errno (err, "open the start fifo `%s'", plan->start_fifo);
          goto out;
        }
    }
  if (plan->process.stdio == FK_INIT_STDIO_PIPES)
    for (int i = 0; i < 3; i++)
      if (pipe2 (c.pipes[i], O_CLOEXEC) < 0)
        {
          fk_error_set_errno (err, "make the process's stdio pipes");
          goto out;
        }
  if (fk_cgroup_create (cgroups, plan->cgroup, &plan->limits, err) < 0)
    goto out;
  s.cgroup_made = 1;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c.sync) < 0
      || pipe2 (c.errp, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "socketpair");
      goto out;
    }
  if (cgroups->version == FK_CGROUP_V2)
    {
      c.cgroup_fd = fk_cgroup_open_dir (cgroups, plan->cgroup, err);
      if (c.cgroup_fd < 0)
        goto out;
    }
  else
    {
      fk_error_t local = FK_ERROR_INIT;
      if (fk_cgroup_open_join_fds (cgroups, plan->cgroup, c.join_fds, &local) < 0)
        fk_error_clear (&local); /* then the host moves it by pid */
    }

  fk_launch_t launch = {
    .plan = plan,
    .sync_fd = c.sync[1],
    .error_fd = c.errp[1],
    .exec_fd = io->exec_fd,
    .listen_fd = io->listen_fd,
    .stdio_fds = { c.pipes[0][0], c.pipes[1][1], c.pipes[2][1] },
    .start_fifo_fd = fifo_fd,
    .seccomp_prog = seccomp_prog,
    .seccomp_len = seccomp_len,
  };
  memcpy (launch.cgroup_join_fds, c.join_fds, sizeof c.join_fds);
  if (joins || multi_threaded ())
    s.pid = clone_joined (&c, &launch, flags, &s.pidfd, err);
  else
    {
      s.pid = fk_namespaces_clone (flags, c.cgroup_fd, &s.pidfd);
      if (s.pid == 0)
        child (&c, &launch);
      if (s.pid < 0)
        fk_error_set_errno (err, "clone the sandbox's namespaces");
    }
  if (s.pid < 0)
    goto out;
  /* The child's ends are the child's alone. */
  for (size_t i = 0; i < FK_CGROUP_V1_N; i++)
    c.join_fds[i] = close_and_reset (c.join_fds[i]);
  c.pipes[0][0] = close_and_reset (c.pipes[0][0]);
  c.pipes[1][1] = close_and_reset (c.pipes[1][1]);
  c.pipes[2][1] = close_and_reset (c.pipes[2][1]);
  c.sync[1] = close_and_reset (c.sync[1]);
  c.errp[1] = close_and_reset (c.errp[1]);

  if ((!plan->ns[FK_PLAN_NS_USER].inherit && write_maps (plan, s.pid, err) < 0)
      || (c.cgroup_fd < 0 && launch.cgroup_join_fds[0] < 0
          && fk_cgroup_add_pid (cgroups, plan->cgroup, s.pid, err) < 0)
      || fk_plan_run_hooks (plan, FK_PLAN_HOOK_CREATE_RUNTIME, s.pid, err) < 0
      || fk_data_plane_host_step (plan, s.pid, &c.net_prep, err) < 0)
    goto out;
  char nspath[64];
  snprintf (nspath, sizeof nspath, "/proc/%d/ns/user", (int)s.pid);
  c.userns_fd = open (nspath, O_RDONLY | O_CLOEXEC);
  if (c.userns_fd < 0)
    {
      fk_error_set_errno (err, "open `%s'", nspath);
      goto out;
    }
  if (root_providers[plan->root.kind](plan, c.userns_fd, host_root (plan->uid_map, plan->n_uid_map),
                                      host_root (plan->gid_map, plan->n_gid_map), c.mount_fds, err)
          < 0
      || bind_trees (plan, &c, err) < 0
      || fk_launch_release (c.sync[0], c.mount_fds, c.n_mount_fds, err) < 0
      || fk_data_plane_host_late (plan, c.net_prep, &s.net_helper, err) < 0)
    goto out;
  if (await_child (plan, &c, err) < 0)
    {
      fk_error_wrap (err, "start sandbox");
      goto out;
    }
  if (fk_data_plane_host_done (c.net_prep, err) < 0)
    goto out;
  if (!plan->start_fifo && fk_plan_run_hooks (plan, FK_PLAN_HOOK_POSTSTART, s.pid, err) < 0)
    goto out;
  if (plan->process.stdio == FK_INIT_STDIO_PIPES)
    {
      s.stdio_fds[0] = steal_fd (&c.pipes[0][1]);
      s.stdio_fds[1] = steal_fd (&c.pipes[1][0]);
      s.stdio_fds[2] = steal_fd (&c.pipes[2][0]);
    }
  else if (plan->process.stdio == FK_INIT_STDIO_TTY)
    s.stdio_fds[0] = steal_fd (&c.tty_master);
  *ret = s;
  ret_code = 0;
out:
  ctx_close (&c);
  if (ret_code < 0)
    fk_plan_undo (plan, cgroups, &s);
  return ret_code;
}

int
fk_plan_release_start (const char *start_fifo, fk_error_t *err)
{
  /* Non-blocking: with no reader (the child is gone, or already released and exec'd) the open
     fails at once instead of waiting for one. */
  cleanup_close int fd = open (start_fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0 && errno == ENXIO)
    return fk_error_set (err, ESRCH, "no sandbox is waiting at `%s'", start_fifo);
  if (fd < 0)
    return fk_error_set_errno (err, "open the start fifo `%s'", start_fifo);
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISFIFO (st.st_mode))
    return fk_error_set (err, ENOTSUP, "start fifo `%s' is not a fifo", start_fifo);
  if (write (fd, "0", 1) != 1)
    return fk_error_set_errno (err, "write the start fifo `%s'", start_fifo);
  /* The child's end closes on exec (or when it dies): then the fifo has no reader left. Wait
     for that, a bounded time, so the caller sees the process running when this returns. */
  struct pollfd p = { fd, 0, 0 };
  for (uint64_t end = fk_now_ms () + 10000; fk_now_ms () < end;)
    {
      int r = poll (&p, 1, 100);
      if (r > 0 && (p.revents & (POLLERR | POLLHUP)))
        break;
    }
  return 0;
}
