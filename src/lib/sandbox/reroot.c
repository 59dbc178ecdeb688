/* sandbox/reroot.c: see sandbox/reroot.h. */
#include "sandbox/reroot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/sanitizer.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/cgroup.h"
#include "sandbox/events.h"
#include "sandbox/launch.h"
#include "sandbox/mount.h"
#include "sandbox/network.h"
#include "sandbox/sandbox.h"
#include "sandbox/state.h"
#include "sandbox/timeout.h"
#include "sandbox/userns.h"

/* Where the new root is attached before the pivot: a directory the joiner makes in the old root
   (in the old upper dir, gone with it), beneath nothing the new root takes over. */
#define STAGING "/.fk-reroot"

/* The joiner's last word on its error pipe when everything is done; a failure writes "CODE
   MESSAGE" instead, and nothing at all means it died part way. */
#define JOINER_DONE "+"

typedef struct joiner_args
{
  int pidfd, scratch, root, error_fd, error_rd;
  const int *layers; /* the idmapped layer trees the overlay was made of, parked in the old root */
  size_t n_layers;
  const char *hostname, *cwd;
  fk_data_plane_kind_t plane;
} joiner_args_t;

/* The joiner's failures, told in fixed buffers on its stack: it shares the caller's memory
   (CLONE_VM), whose heap it must not leave anything in. */
static void __attribute__ ((noreturn, format (printf, 2, 3)))
fail (int error_fd, const char *fmt, ...)
{
  int saved = errno;
  char what[512], ebuf[128], line[768];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  int n = snprintf (line, sizeof line, "%d %s: %s", saved, what,
                    strerror_r (saved, ebuf, sizeof ebuf));
  if (n > 0)
    (void)!write (error_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  _exit (127);
}

/* A library call's failure: its message (which it allocated) told, then freed, so that nothing
   is left in the caller's heap. */
static void __attribute__ ((noreturn)) die (int error_fd, fk_error_t *err)
{
  char line[4200];
  int n = snprintf (line, sizeof line, "%d %s", err->code, fk_error_message (err));
  if (n > 0)
    (void)!write (error_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  fk_error_clear (err);
  _exit (127);
}

/* A mount of the old root (its plan's /proc, /sys, /dev) moved to the same place in the new
   one, made there if the image lacks it; absent is fine (a plan without it): -1. Returns an fd
   of the moved mount's root. */
static int
move_over (int error_fd, int root, const char *name)
{
  char path[16];
  snprintf (path, sizeof path, "/%s", name);
  int m = open_tree (AT_FDCWD, path, OPEN_TREE_CLOEXEC);
  if (m < 0 && errno == ENOENT)
    return -1;
  if (m < 0)
    fail (error_fd, "open the mount `%s'", path);
  if (mkdirat (root, name, 0755) < 0 && errno != EEXIST)
    fail (error_fd, "mkdir `%s'", path);
  int target = fk_openat2 (root, name, O_PATH, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (target < 0)
    fail (error_fd, "open `%s'", path);
  if (move_mount (m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    fail (error_fd, "mount on `%s'", path);
  close (target);
  return m;
}

/* Its fd table is a copy of the caller's (no CLONE_FILES), every fd of fkd's in it: all but the
   ones it needs are closed first, so that none is reachable from the sandbox's namespaces while
   it works there. The caller's table is untouched. */
static void
keep_only_fds (const joiner_args_t *a)
{
  unsigned keep[4 + FK_LAUNCH_MAX_LAYERS]
      = { (unsigned)a->pidfd, (unsigned)a->scratch, (unsigned)a->root, (unsigned)a->error_fd };
  size_t n = 4;
  for (size_t i = 0; i < a->n_layers && n < sizeof keep / sizeof keep[0]; i++)
    keep[n++] = (unsigned)a->layers[i];
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--)
      {
        unsigned t = keep[j];
        keep[j] = keep[j - 1];
        keep[j - 1] = t;
      }
  unsigned lo = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (keep[i] > lo && syscall (SYS_close_range, lo, keep[i] - 1, 0) < 0)
        fail (a->error_fd, "close the caller's fds");
      if (keep[i] + 1 > lo)
        lo = keep[i] + 1;
    }
  if (syscall (SYS_close_range, lo, ~0U, 0) < 0)
    fail (a->error_fd, "close the caller's fds");
}

/* In the sandbox's user and mount namespaces, as its root: the new disk and root attached
   on the staging point, /proc, /sys and /dev moved over with the new disk's /dev/shm, /tmp,
   /etc/hosts and /etc/resolv.conf, the cwd, then the pivot. It allocates nothing: its failures
   are told from its stack (fail), and the library calls it makes allocate only to fail (die
   frees that). */
static void __attribute__ ((noreturn)) joiner (const joiner_args_t *a)
{
  fk_error_t err = FK_ERROR_INIT;
  int efd = a->error_fd;
  keep_only_fds (a);
  if (setns (a->pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0)
    fail (efd, "join the sandbox's namespaces");
  /* The host's root shows as the overflow id in there: take id 0 of the map, so what is made
     below belongs to the sandbox's root, as at create (launch.c). */
  if (syscall (SYS_setresgid, 0, 0, 0) < 0 || syscall (SYS_setgroups, 0, NULL) < 0
      || syscall (SYS_setresuid, 0, 0, 0) < 0)
    fail (efd, "take ids 0:0 in the sandbox");
  /* setns put us at the sandbox's root: the staging point is made and opened there by name
     (the sandbox is frozen meanwhile, kill_others); all else is reached from fds. */
  if (mkdir (STAGING, 0700) < 0)
    fail (efd, "make the staging point " STAGING);
  int staging = open (STAGING, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (staging < 0)
    fail (efd, "open the staging point " STAGING);
  /* What has to go is parked on the staging point, under what the new root is stacked on, to go
     with the old root at the pivot: one detach, one wait for the kernel's RCU grace period, where
     a umount of each (and the caller's close of each detached layer tree) waits for one apiece.
     The old /dev/shm first (the plan's mount there, reached in the plan's /dev; a symlink or a
     directory that is no mount fails the move), then the layer trees (the overlay holds its own
     clones of them). */
  int old_shm = open_tree (AT_FDCWD, "/dev/shm", OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (old_shm < 0
      || move_mount (old_shm, "", staging, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
             < 0)
    fail (efd, "detach the old /dev/shm");
  close (old_shm);
  for (size_t i = 0; i < a->n_layers; i++)
    if (move_mount (a->layers[i], "", staging, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
        < 0)
      fail (efd, "park layer %zu in the old root", i);
  /* The disk attached first: a subdirectory of an attached mount can be cloned (mount.c). */
  if (move_mount (a->scratch, "", staging, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    fail (efd, "attach the new disk");
  int shm
      = open_tree (a->scratch, "shm", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
  if (shm < 0 || mount_setattr (shm, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    fail (efd, "clone the new /dev/shm");
  if (move_mount (a->root, "", a->scratch, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    fail (efd, "attach the new root");
  close (staging);
  int root = a->root;
  /* The plan's /proc, /sys and /dev move over with what is mounted on them (masks, devpts,
     mqueue, the device nodes; not the old /dev/shm, parked above); the new disk's shm then goes
     on /dev/shm. */
  int m = move_over (efd, root, "proc");
  if (m >= 0)
    close (m);
  m = move_over (efd, root, "sys");
  if (m >= 0)
    close (m);
  int dev = move_over (efd, root, "dev");
  if (dev < 0)
    {
      errno = ENOENT;
      fail (efd, "move /dev");
    }
  /* From the moved /dev's own root: no path of the new root's is followed to get there. */
  int shm_at = openat (dev, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (shm_at < 0
      || move_mount (shm, "", shm_at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    fail (efd, "mount on `/dev/shm'");
  close (shm_at);
  close (shm);
  close (dev);
  /* Made 1777 past the umask through an fd of its own: a name is not followed twice. */
  if (mkdirat (root, "tmp", 01777) == 0)
    {
      int tmp = openat (root, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (tmp < 0 || fchmod (tmp, 01777) < 0)
        fail (efd, "make /tmp");
      close (tmp);
    }
  else if (errno != EEXIST)
    fail (efd, "make /tmp");
  if (fk_network_write_etc (root, a->hostname, a->plane, &err) < 0)
    die (efd, &err);
  if (strcmp (a->cwd, "/") != 0 && fk_mkdir_p_in_root (root, a->cwd + 1, 0755, &err) < 0)
    die (efd, &err);
  /* Every process whose root is the old one (the agent) is moved onto the new root; the old
     root goes with all that is mounted on it: the old disk, the staging point. */
  if (fk_mount_pivot (root, &err) < 0)
    die (efd, &err);
  /* Said, not inferred from the exit status alone: a joiner killed or reaped elsewhere part way
     must not pass for one that pivoted. */
  if (write (efd, JOINER_DONE, 1) != 1)
    _exit (126);
  _exit (0);
}

static __attribute__ ((unused)) int
joiner_main (void *data)
{
  const joiner_args_t *a = data;
  joiner (a);
}

/* What the joiner said on its error pipe: JOINER_DONE alone is success; its error, or nothing
   (it died before the end), is a failure. */
static int
joiner_result (int fd, fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_all (fd, 64 * 1024, &text, &len, err) < 0)
    return -1;
  if (len == 1 && text[0] == JOINER_DONE[0])
    return 0;
  if (len == 0)
    return fk_error_set (err, EPIPE, "the process moving it ended before it was done");
  char *msg;
  long code = strtol (text, &msg, 10);
  while (*msg == ' ')
    msg++;
  return fk_error_set (err, code > 0 ? (int)code : EIO, "%s", msg);
}

/* How long the processes kill_others killed have to be gone. */
#define KILL_WAIT_MS 2000

/* The processes of sb's cgroup but PID 1 (the agent): how many, each SIGKILLed when kill. */
static int
others (fk_sandbox_t *sb, int kill_them, size_t *ret_n, fk_error_t *err)
{
  pid_t *pids = NULL;
  size_t n = 0, count = 0;
  if (fk_cgroup_pids (&sb->cgroups, sb->state->cgroup, &pids, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (pids[i] != sb->state->pid)
      {
        count++;
        if (kill_them)
          kill (pids[i], SIGKILL);
      }
  free (pids);
  *ret_n = count;
  return 0;
}

/* Whether the agent is all there is in sb's cgroup and all there can be until it is asked for
   more: one task counted by the pids controller. That counter takes a task in before it exists
   (at the start of the fork that makes it) and lets it go only once it is reaped, and covers the
   cgroup's descendants, so a count of 1, the agent (single-threaded) being alive in the cgroup,
   rules out any other process, thread, zombie or fork under way at the moment it is read. From
   then on a process can only come of a fork by a process already there, the agent, and the agent
   forks only when a client asks it to (an exec, a shell): its listening socket is reachable from
   the host alone, and the client of a leased pooled sandbox is the caller's, which asks for
   nothing until the reroot is over. No process of the sandbox's own (no one but the agent)
   runs then to race the joiner's by-name mkdir and open of the staging point or to see the old
   root. A cgroup without a pids controller, or one whose count cannot be read, is not "alone". */
static int
agent_alone (fk_sandbox_t *sb)
{
  uint64_t n = 0;
  fk_error_t ignored = FK_ERROR_INIT;
  int r = fk_cgroup_task_count (&sb->cgroups, sb->state->cgroup, &n, &ignored);
  fk_error_clear (&ignored);
  return r == 0 && n == 1;
}

/* Every process of the cgroup but PID 1 killed (what the pool's readiness check may have left
   running in the old root), seen gone, and the cgroup left frozen with the agent alone in it:
   nothing of the sandbox runs until the caller thaws it, after the pivot (pivot_root moves
   frozen tasks too; the joiner is not in the cgroup). Killed frozen, none forks past the kill;
   thawed to die (a v1 freezer holds a SIGKILL while frozen), then polled until gone, a late
   one killed again; frozen again and seen alone. When the agent is alone to start with
   (agent_alone) there is nothing to kill nor anything that could start: no freeze, and
   *ret_frozen is 0 (the caller has nothing to thaw); else 1 on success. */
static int
kill_others (fk_sandbox_t *sb, int *ret_frozen, fk_error_t *err)
{
  const fk_sandbox_state_t *st = sb->state;
  size_t n = 0;
  *ret_frozen = 0;
  if (agent_alone (sb))
    return 0;
  *ret_frozen = 1;
  /* A freeze that timed out leaves the cgroup half frozen: thawed on the way out. */
  if (fk_cgroup_freeze (&sb->cgroups, st->cgroup, 1, err) < 0)
    goto thaw;
  if (others (sb, 1, &n, err) < 0)
    goto thaw;
  if (n == 0)
    return 0;
  if (fk_cgroup_freeze (&sb->cgroups, st->cgroup, 0, err) < 0)
    return -1;
  uint64_t deadline = fk_now_ms () + KILL_WAIT_MS;
  for (;;)
    {
      if (others (sb, 1, &n, err) < 0)
        return -1;
      if (n == 0)
        break;
      if (fk_now_ms () > deadline)
        return fk_error_set (err, ETIMEDOUT,
                             "%zu processes besides the agent still there %d ms "
                             "after they were killed",
                             n, KILL_WAIT_MS);
      struct timespec ts = { .tv_sec = 0, .tv_nsec = 2 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
  if (fk_cgroup_freeze (&sb->cgroups, st->cgroup, 1, err) < 0)
    goto thaw;
  if (others (sb, 0, &n, err) < 0)
    goto thaw;
  if (n == 0)
    return 0;
  fk_error_set (err, EAGAIN, "%zu processes besides the agent started after the kill", n);
thaw:;
  fk_error_t ignored = FK_ERROR_INIT;
  fk_cgroup_freeze (&sb->cgroups, st->cgroup, 0, &ignored);
  fk_error_clear (&ignored);
  return -1;
}

/* sb's cgroup thawed after kill_others: the pivot done or not, the agent runs again. */
static int
thaw (fk_sandbox_t *sb, fk_error_t *err)
{
  return fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, err);
}

/* The new root, host side, as root_layers (start.c) makes it; *ret_layers (caller closes and
   frees) the idmapped layer trees it is made of, one per spec->layers, for the joiner to park in
   the old root: closed detached here, each would wait for an RCU grace period of its own. */
static int
build (const fk_sandbox_spec_t *spec, int userns_fd, uint32_t id_base, int *ret_scratch,
       int *ret_root, int **ret_layers, fk_error_t *err)
{
  size_t n = fk_strv_len ((char *const *)spec->layers);
  if (n == 0 || n > FK_LAUNCH_MAX_LAYERS)
    return fk_error_set (err, E2BIG, "%zu layers: 1 to %d are supported", n, FK_LAUNCH_MAX_LAYERS);
  int *layer_fds = xcalloc (n, sizeof (int));
  for (size_t i = 0; i < n; i++)
    layer_fds[i] = -1;
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    ret = fk_userns_idmapped_tree (userns_fd, spec->layers[i], 1, &layer_fds[i], err);
  if (ret == 0)
    ret = fk_mount_build_disk (spec->resources.disk_bytes, id_base, id_base, ret_scratch, err);
  if (ret == 0)
    ret = fk_mount_build_overlay (layer_fds, n, *ret_scratch, ret_root, err);
  if (ret == 0)
    {
      *ret_layers = layer_fds;
      return 0;
    }
  for (size_t i = 0; i < n; i++)
    if (layer_fds[i] >= 0)
      close (layer_fds[i]);
  free (layer_fds);
  return ret;
}

/* What sb is made of from now on, its labels and its deadline (restarted now, as a lease's),
   saved under its lifecycle lock: one save for all a fork changes. */
static int
record (fk_sandbox_t *sb, const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  fk_sandbox_state_t *st = sb->state;
  free (st->template_id);
  st->template_id = spec->template_id ? xstrdup (spec->template_id) : NULL;
  fk_strv_free (st->layers);
  st->layers = xstrvdup (spec->layers);
  fk_sandbox_spec_free (st->spec);
  fk_sandbox_spec_dup (spec, &st->spec);
  fk_strv_free (st->metadata);
  st->metadata = spec->metadata ? xstrvdup (spec->metadata) : xcalloc (1, sizeof (char *));
  cleanup_close int dir = openat (sb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return fk_error_set_errno (err, "open sandbox `%s'", st->id);
  if (spec->timeout_sec && st->expires)
    {
      /* The deadline file first: the watchdog reads it (as fk_sandbox_extend does). */
      int64_t deadline = (int64_t)time (NULL) + (int64_t)spec->timeout_sec;
      cleanup_close int fd = openat (dir, "deadline", O_WRONLY | O_CLOEXEC);
      if (fd < 0 && errno != ENOENT)
        return fk_error_set_errno (err, "open the deadline of sandbox `%s'", st->id);
      if (fd >= 0 && fk_timeout_write (fd, deadline, err) < 0)
        return -1;
      st->expires = deadline;
    }
  if (fk_state_save (dir, st, err) < 0)
    return -1;
  fk_events_append (dir, "rerooted", "onto template %s",
                    spec->template_id ? spec->template_id : "(layers)");
  return 0;
}

/* The joiner run with the new root (scratch, root, layers: build's): sb's processes (the agent)
   on it. id names sb in errors; *ret_upper_fd and *ret_log_fd as fk_sandbox_reroot's. */
static int
run_joiner (const fk_sandbox_spec_t *spec, const char *id, int pidfd, int scratch, int root,
            const int *layers, size_t n_layers, int *ret_upper_fd, int *ret_log_fd, fk_error_t *err)
{
  cleanup_close int upper
      = openat (scratch, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  cleanup_close int log
      = openat (scratch, "agent.log", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
  if (upper < 0 || log < 0)
    return fk_error_set_errno (err, "sandbox `%s': open the new disk's upper dir and log", id);
  cleanup_free char *hostname
      = spec->hostname ? xstrdup (spec->hostname) : xasprintf ("fk-%.8s", id);
  int errp[2];
  if (pipe2 (errp, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  joiner_args_t a = { .pidfd = pidfd,
                      .scratch = scratch,
                      .root = root,
                      .layers = layers,
                      .n_layers = n_layers,
                      .error_fd = errp[1],
                      .error_rd = errp[0],
                      .hostname = hostname,
                      .cwd = spec->workdir ? spec->workdir : "/",
                      .plane = spec->data_plane.kind };
  if (a.cwd[0] != '/')
    {
      close (errp[0]);
      close (errp[1]);
      return fk_error_set (err, EINVAL, "sandbox `%s': workdir `%s' is not absolute", id, a.cwd);
    }
#ifdef FK_ASAN
  /* The address sanitizer's allocator cannot be shared with a process it does not know of: a
     copy, as fork gives, it can (fkd's sanitized builds set malloc_context_size=0 for that). */
  pid_t pid = fork ();
  if (pid == 0)
    joiner (&a);
#else
  /* The joiner shares our memory and we wait until it is gone (vfork-like): no copy of a big
     caller's page tables (fkd's) per fork, which cost more than all it does. It has its own fd
     table, and the only thread of ours it stands for is this one, stopped meanwhile. */
  /* Its stack is mapped apart with a guard page below it: an overflow faults, not writes over
     the caller's heap. */
  size_t page = (size_t)sysconf (_SC_PAGESIZE), stack_size = 256u << 10;
  char *map = mmap (NULL, page + stack_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED || mprotect (map, page, PROT_NONE) < 0)
    {
      int saved = errno;
      if (map != MAP_FAILED)
        munmap (map, page + stack_size);
      close (errp[0]);
      close (errp[1]);
      errno = saved;
      return fk_error_set_errno (err, "sandbox `%s': map a stack", id);
    }
  pid_t pid = clone (joiner_main, map + page + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  /* CLONE_VFORK: it has exited (or failed to start) by now; its stack is no longer used. */
  munmap (map, page + stack_size);
#endif
  close (errp[1]);
  if (pid < 0)
    {
      close (errp[0]);
      return fk_error_set_errno (err, "fork");
    }
  int status = 0;
  pid_t waited;
  do
    waited = waitpid (pid, &status, 0);
  while (waited < 0 && errno == EINTR);
  int wait_errno = errno;
  int r = joiner_result (errp[0], err);
  close (errp[0]);
  if (r < 0)
    return fk_error_wrap (err, "sandbox `%s': move onto the new root", id);
  if (waited != pid)
    {
      errno = wait_errno;
      return fk_error_set_errno (err, "sandbox `%s': wait for the process moving it", id);
    }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    return fk_error_set (err, ECHILD, "sandbox `%s': the process moving it ended with status %d",
                         id, status);
  *ret_upper_fd = steal_fd (&upper);
  *ret_log_fd = steal_fd (&log);
  return 0;
}

/* The new root built and the joiner run: sb's processes (the agent) on it. */
static int
move_onto (fk_sandbox_t *sb, const fk_sandbox_spec_t *spec, const char *id, int pidfd, int userns,
           int *ret_upper_fd, int *ret_log_fd, fk_error_t *err)
{
  const fk_sandbox_state_t *st = sb->state;
  uint32_t id_base = st->id_base ? st->id_base : FK_USERNS_HOST_BASE;
  cleanup_close int scratch = -1, root = -1;
  int *layers = NULL;
  size_t n_layers = fk_strv_len ((char *const *)spec->layers);
  if (build (spec, userns, id_base, &scratch, &root, &layers, err) < 0)
    return fk_error_wrap (err, "sandbox `%s': the new root", id);
  int r = run_joiner (spec, id, pidfd, scratch, root, layers, n_layers, ret_upper_fd, ret_log_fd,
                      err);
  /* Parked and detached with the old root by the joiner, they go now without a wait of their
     own; a joiner that failed before that leaves them detached, and they dissolve here. */
  for (size_t i = 0; i < n_layers; i++)
    close (layers[i]);
  free (layers);
  return r;
}

int
fk_sandbox_reroot (fk_sandbox_t *sb, const fk_sandbox_spec_t *spec, int *ret_upper_fd,
                   int *ret_log_fd, fk_error_t *err)
{
  cleanup_free char *id = xstrdup (sb->state->id);
  cleanup_close int lockfd = fk_sandbox_lock (sb, 1, err);
  if (lockfd < 0)
    return -1;
  const fk_sandbox_state_t *st = sb->state;
  if (st->disk_snapshot || st->socket == NULL)
    return fk_error_set (err, ENOTSUP, "sandbox `%s' is paused to disk or has no agent", id);
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0 || !fk_state_alive (st))
    return fk_error_set (err, ESRCH, "sandbox `%s' is not running", id);
  char nspath[64];
  snprintf (nspath, sizeof nspath, "/proc/%d/ns/user", (int)st->pid);
  cleanup_close int userns = open (nspath, O_RDONLY | O_CLOEXEC);
  /* The pidfd still names a live process after the open: the namespace is its, not a reused
     pid's. */
  if (userns < 0 || syscall (SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
    return fk_error_set (err, ESRCH, "sandbox `%s': open its user namespace", id);
  int frozen = 0;
  if (kill_others (sb, &frozen, err) < 0)
    return fk_error_wrap (err, "sandbox `%s'", id);
  cleanup_close int upper = -1, log = -1;
  int moved = move_onto (sb, spec, id, pidfd, userns, &upper, &log, err);
  fk_error_t local = FK_ERROR_INIT;
  if (frozen && thaw (sb, &local) < 0 && moved == 0)
    {
      fk_error_set (err, local.code, "sandbox `%s': %s", id, fk_error_message (&local));
      moved = -1;
    }
  fk_error_clear (&local);
  if (moved < 0)
    return -1;
  if (record (sb, spec, err) < 0)
    return fk_error_wrap (err, "sandbox `%s'", id);
  *ret_upper_fd = steal_fd (&upper);
  *ret_log_fd = steal_fd (&log);
  return 0;
}
