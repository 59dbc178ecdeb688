/* sandbox/sandbox.c: attach, inspect, list, stop, kill, pause, resume, delete, extend, wait. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "sandbox/events.h"
#include "sandbox/idrange.h"
#include "sandbox/netstate.h"
#include "sandbox/spec.h"
#include "sandbox/timeout.h"

fk_sandbox_t *
fk_sandbox_new_handle (fk_runtime_t *rt, int dirfd, fk_sandbox_state_t *st)
{
  fk_sandbox_t *sb = xcalloc (1, sizeof *sb);
  sb->rt = rt;
  sb->dirfd = dirfd;
  sb->state = st;
  sb->cgroups.version = (fk_cgroup_version_t)st->cgroup_version;
  sb->cgroups.root = xstrdup (st->cgroup_root);
  for (int i = 0; i < 3; i++)
    sb->stdio_fds[i] = -1;
  return sb;
}

static int
valid_id (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') || id[i] == '-'))
      return 0;
  return 1;
}

int
fk_sandbox_id_check (const char *id, fk_error_t *err)
{
  if (!valid_id (id))
    return fk_error_set (err, EINVAL, "`%s' is not a sandbox id", id);
  return 0;
}

int
fk_sandbox_error_missing (fk_error_t *err, const char *id)
{
  return fk_error_set (err, ENOENT, "no sandbox `%s'", id);
}

int
fk_sandbox_open (fk_runtime_t *rt, const char *id, fk_sandbox_t **ret_sb, fk_error_t *err)
{
  if (fk_sandbox_id_check (id, err) < 0)
    return -1;
  cleanup_close int dirfd = openat (rt->sandboxes_fd, id, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      if (errno == ENOENT)
        return fk_sandbox_error_missing (err, id);
      return fk_error_set_errno (err, "open sandbox `%s'", id);
    }
  fk_sandbox_state_t *st;
  if (fk_state_load (dirfd, &st, err) < 0)
    {
      /* No state file: a delete has taken it (or a create has not written it yet). */
      if (err->code == ENOENT)
        {
          fk_error_clear (err);
          return fk_sandbox_error_missing (err, id);
        }
      return fk_error_wrap (err, "sandbox `%s'", id);
    }
  *ret_sb = fk_sandbox_new_handle (rt, steal_fd (&dirfd), st);
  return 0;
}

void
fk_sandbox_free (fk_sandbox_t *sb)
{
  if (sb == NULL)
    return;
  if (sb->dirfd >= 0)
    close (sb->dirfd);
  for (int i = 0; i < 3; i++)
    if (sb->stdio_fds[i] >= 0)
      close (sb->stdio_fds[i]);
  fk_state_free (sb->state);
  fk_cgroup_layout_free (&sb->cgroups);
  free (sb);
}

const char *
fk_sandbox_id (const fk_sandbox_t *sb)
{
  return sb->state->id;
}

const char *
fk_sandbox_socket_path (const fk_sandbox_t *sb)
{
  return sb->state->socket;
}

int
fk_sandbox_stopped_on_purpose (const fk_sandbox_t *sb)
{
  return sb->state->stopped;
}

void
fk_sandbox_info_free (fk_sandbox_info_t *info)
{
  if (info == NULL)
    return;
  free (info->id);
  free (info->template_id);
  free (info->socket_path);
  free (info->cgroup);
  fk_strv_free (info->metadata);
  free (info->disk_snapshot);
  free (info);
}

void
fk_sandbox_info_list_free (fk_sandbox_info_t **infos, size_t n)
{
  for (size_t i = 0; infos && i < n; i++)
    fk_sandbox_info_free (infos[i]);
  free (infos);
}

int
fk_sandbox_inspect (fk_sandbox_t *sb, fk_sandbox_info_t **ret_info, fk_error_t *err)
{
  const fk_sandbox_state_t *st = sb->state;
  fk_sandbox_info_t *info = xcalloc (1, sizeof *info);
  info->id = xstrdup (st->id);
  info->template_id = st->template_id ? xstrdup (st->template_id) : NULL;
  info->pid = st->pid;
  info->start_time = st->start_time;
  info->socket_path = st->socket ? xstrdup (st->socket) : NULL;
  info->cgroup = xstrdup (st->cgroup);
  info->resources = st->resources;
  info->created = st->created;
  info->expires = st->expires;
  info->timeout_action = st->timeout_action;
  info->metadata
      = st->metadata ? xstrvdup ((const char *const *)st->metadata) : xcalloc (1, sizeof (char *));
  info->status = FK_SANDBOX_STOPPED;
  if (st->disk_snapshot)
    {
      info->status = FK_SANDBOX_PAUSED_TO_DISK;
      info->disk_snapshot = xstrdup (st->disk_snapshot);
    }
  else if (fk_state_alive (st))
    {
      fk_error_t local = FK_ERROR_INIT;
      int frozen = fk_cgroup_is_frozen (&sb->cgroups, st->cgroup, &local);
      fk_error_clear (&local);
      info->status = frozen == 1 ? FK_SANDBOX_PAUSED : FK_SANDBOX_RUNNING;
    }
  *ret_info = info;
  return 0;
}

static int
by_created (const void *a, const void *b)
{
  const fk_sandbox_info_t *x = *(fk_sandbox_info_t *const *)a;
  const fk_sandbox_info_t *y = *(fk_sandbox_info_t *const *)b;
  if (x->created != y->created)
    return x->created < y->created ? -1 : 1;
  return strcmp (x->id, y->id);
}

int
fk_sandbox_list (fk_runtime_t *rt, fk_sandbox_info_t ***ret_infos, size_t *ret_n, fk_error_t *err)
{
  int fd = openat (rt->sandboxes_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s/sandboxes'", rt->state_dir);
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return fk_error_set_errno (err, "read `%s/sandboxes'", rt->state_dir);
    }
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      fk_sandbox_t *sb;
      fk_error_t local = FK_ERROR_INIT;
      /* A sandbox being created (no state yet) or removed meanwhile is not listed. */
      if (fk_sandbox_open (rt, e->d_name, &sb, &local) < 0)
        {
          fk_error_clear (&local);
          continue;
        }
      fk_sandbox_info_t *info;
      if (fk_sandbox_inspect (sb, &info, &local) == 0)
        {
          xgrow ((void **)&infos, &cap, n + 1, sizeof *infos);
          infos[n++] = info;
        }
      fk_error_clear (&local);
      fk_sandbox_free (sb);
    }
  if (n)
    qsort (infos, n, sizeof *infos, by_created);
  *ret_infos = infos;
  *ret_n = n;
  return 0;
}

/* A pidfd for PID 1, or -1 (ESRCH) when it is gone: opened, then checked against the start
   time, so a reused pid is never signalled. */
static int
open_pid1 (const fk_sandbox_t *sb, fk_error_t *err)
{
  int fd = pidfd_open (sb->state->pid, 0);
  if (fd < 0)
    {
      if (errno == ESRCH)
        return fk_error_set (err, ESRCH, "sandbox `%s' is not running", sb->state->id);
      return fk_error_set_errno (err, "pidfd_open %d", (int)sb->state->pid);
    }
  if (!fk_state_alive (sb->state))
    {
      close (fd);
      return fk_error_set (err, ESRCH, "sandbox `%s' is not running", sb->state->id);
    }
  return fd;
}

static void
reap (fk_sandbox_t *sb)
{
  /* Only the creating process can collect PID 1; for anyone else this is ECHILD. */
  int status;
  while (waitpid (sb->state->pid, &status, WNOHANG) < 0 && errno == EINTR)
    ;
}

int
fk_sandbox_kill (fk_sandbox_t *sb, int sig, fk_error_t *err)
{
  cleanup_close int fd = open_pid1 (sb, err);
  if (fd < 0)
    return -1;
  if (pidfd_send_signal (fd, sig, NULL, 0) < 0)
    return fk_error_set_errno (err, "signal sandbox `%s'", sb->state->id);
  return 0;
}

static int
wait_exit (int pidfd, int timeout_ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int r;
  do
    r = poll (&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

static int delete_locked (fk_sandbox_t *sb, int force, fk_error_t *err);

int
fk_sandbox_lock_dir (int dirfd, int wait, fk_error_t *err)
{
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open the sandbox directory");
  int r;
  while ((r = flock (fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0 && errno == EINTR)
    ;
  if (r < 0)
    {
      fk_error_set_errno (err, "lock the sandbox directory");
      close (fd);
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) < 0 || st.st_nlink == 0)
    {
      close (fd);
      return fk_error_set (err, ENOENT, "the sandbox was deleted");
    }
  return fd;
}

int
fk_sandbox_lock (fk_sandbox_t *sb, int reread, fk_error_t *err)
{
  const char *id = sb->state->id;
  int fd = fk_sandbox_lock_dir (sb->dirfd, 1, err);
  if (fd < 0)
    {
      if (err->code == ENOENT)
        {
          fk_error_clear (err);
          return fk_error_set (err, ENOENT, "sandbox `%s' was deleted", id);
        }
      return fk_error_wrap (err, "sandbox `%s'", id);
    }
  if (!reread)
    return fd;
  fk_sandbox_state_t *fresh = NULL;
  if (fk_state_load (sb->dirfd, &fresh, err) < 0)
    {
      close (fd);
      return fk_error_wrap (err, "sandbox `%s'", id);
    }
  /* All of it: a resume from disk gives the same id another PID 1, range and socket. */
  fk_state_free (sb->state);
  sb->state = fresh;
  return fd;
}

static int
save (fk_sandbox_t *sb, fk_error_t *err)
{
  cleanup_close int dir = openat (sb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return fk_error_set_errno (err, "open sandbox `%s'", sb->state->id);
  return fk_state_save (dir, sb->state, err);
}

int
fk_sandbox_stop (fk_sandbox_t *sb, unsigned grace_ms, fk_error_t *err)
{
  cleanup_close int held = fk_sandbox_lock (sb, 1, err);
  if (held < 0)
    return -1;
  if (sb->state->disk_snapshot)
    return fk_error_set (err, EBUSY,
                         "sandbox `%s' is paused to disk: nothing runs (resume it, or remove it)",
                         sb->state->id);
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int fd = open_pid1 (sb, &local);
  int running = fd >= 0;
  fk_error_clear (&local);
  if (running)
    {
      if (fk_cgroup_is_frozen (&sb->cgroups, sb->state->cgroup, &local) == 1
          && fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, err) < 0)
        return -1;
      fk_error_clear (&local);
      if (pidfd_send_signal (fd, SIGTERM, NULL, 0) < 0 && errno != ESRCH)
        return fk_error_set_errno (err, "signal sandbox `%s'", sb->state->id);
      /* The agent stops its processes within its own grace and exits; past ours, SIGKILL. */
      if (!wait_exit (fd, (int)grace_ms))
        pidfd_send_signal (fd, SIGKILL, NULL, 0);
    }
  /* Killing PID 1 ends its pid namespace; the cgroup tells when the last task is gone. */
  if (fk_cgroup_kill (&sb->cgroups, sb->state->cgroup, 10000, err) < 0)
    return fk_error_wrap (err, "stop sandbox `%s'", sb->state->id);
  reap (sb);
  sb->state->stopped = 1;
  return save (sb, err);
}

int
fk_sandbox_pause (fk_sandbox_t *sb, fk_error_t *err)
{
  cleanup_close int held = fk_sandbox_lock (sb, 0, err);
  if (held < 0)
    return -1;
  cleanup_close int fd = open_pid1 (sb, err);
  if (fd < 0)
    return -1;
  int frozen = fk_cgroup_is_frozen (&sb->cgroups, sb->state->cgroup, err);
  if (frozen < 0)
    return -1;
  if (frozen)
    return fk_error_set (err, EALREADY, "sandbox `%s' is paused already", sb->state->id);
  if (fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 1, err) < 0)
    return -1;
  fk_events_append (sb->dirfd, "paused", "by request");
  return 0;
}

int
fk_sandbox_resume (fk_sandbox_t *sb, fk_error_t *err)
{
  return fk_sandbox_extend_ex (sb, 0, FK_EXTEND_RESUME, NULL, err);
}

int
fk_sandbox_delete (fk_sandbox_t *sb, int force, fk_error_t *err)
{
  cleanup_close int held = fk_sandbox_lock (sb, 0, err);
  if (held < 0)
    return -1;
  return delete_locked (sb, force, err);
}

/* What the sweep removes: a sandbox whose PID 1 is gone without a stop, or whose deadline has
   passed. */
static int
sweepable (fk_sandbox_t *sb, time_t now, int *ret_expired)
{
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int fd = open_pid1 (sb, &local);
  fk_error_clear (&local);
  /* Past the deadline counts only for a sandbox that its watchdog would end: not one whose
     action is to pause (the watchdog pauses it), nor a paused one (it does not expire). */
  *ret_expired = sb->state->expires && now >= sb->state->expires && fd >= 0
                 && sb->state->timeout_action == FK_TIMEOUT_DELETE
                 && fk_cgroup_is_frozen (&sb->cgroups, sb->state->cgroup, &local) == 0;
  fk_error_clear (&local);
  return *ret_expired || (fd < 0 && !sb->state->stopped);
}

/* A capture (a snapshot) that was killed leaves its sandbox frozen with the `capturing' mark:
   when nobody holds the lifecycle lock, which a capture keeps throughout, nobody is capturing,
   and the freeze was the capture's (a user's pause makes no mark). */
static void
thaw_dead_capture (fk_sandbox_t *sb)
{
  if (faccessat (sb->dirfd, FK_SANDBOX_CAPTURING, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
    return;
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int held = fk_sandbox_lock_dir (sb->dirfd, 0, &local);
  if (held >= 0 && faccessat (sb->dirfd, FK_SANDBOX_CAPTURING, F_OK, AT_SYMLINK_NOFOLLOW) == 0
      && fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, &local) == 0)
    {
      log_info ("thawing sandbox `%s' (the snapshot that froze it was killed)", sb->state->id);
      unlinkat (sb->dirfd, FK_SANDBOX_CAPTURING, 0);
    }
  fk_error_clear (&local);
}

int
fk_sandbox_sweep_one (fk_sandbox_t *sb, time_t now, fk_error_t *err)
{
  int expired;
  thaw_dead_capture (sb);
  /* The common case, a live sandbox, takes no lock. */
  if (!sweepable (sb, now, &expired))
    return 0;
  cleanup_close int held = fk_sandbox_lock (sb, 1, err);
  if (held < 0)
    {
      if (err->code != ENOENT)
        return -1;
      fk_error_clear (err); /* another caller deleted it */
      return 0;
    }
  /* Decided again under the lock: a stop that made it look stale has marked it by now. */
  if (!sweepable (sb, now, &expired))
    return 0;
  log_info ("removing sandbox `%s' (%s)", sb->state->id,
            expired ? "its timeout passed" : "its PID 1 is gone");
  if (delete_locked (sb, 1, err) < 0)
    return -1;
  return 1;
}

static int
delete_locked (fk_sandbox_t *sb, int force, fk_error_t *err)
{
  const char *id = sb->state->id;
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int fd = open_pid1 (sb, &local);
  fk_error_clear (&local);
  if (fd >= 0)
    {
      if (!force)
        return fk_error_set (err, EBUSY, "sandbox `%s' is running: stop it first, or force", id);
      pidfd_send_signal (fd, SIGKILL, NULL, 0);
    }
  /* Whatever is left in the cgroup (nothing, once PID 1 is gone) dies before removal. */
  fk_error_t cg = FK_ERROR_INIT;
  if (fk_cgroup_kill (&sb->cgroups, sb->state->cgroup, 10000, &cg) < 0 && cg.code != ENOENT)
    {
      fk_error_set (err, cg.code, "%s", fk_error_message (&cg));
      fk_error_clear (&cg);
      return fk_error_wrap (err, "delete sandbox `%s'", id);
    }
  fk_error_clear (&cg);
  if (fd >= 0)
    wait_exit (fd, 5000);
  reap (sb);
  if (fk_cgroup_destroy (&sb->cgroups, sb->state->cgroup, err) < 0)
    return fk_error_wrap (err, "delete sandbox `%s'", id);
  if (fk_netstate_release (sb->rt, sb->state, err) < 0)
    return fk_error_wrap (err, "delete sandbox `%s'", id);
  /* The id range goes back once nothing of the sandbox runs; before the directory, so that a
     delete that dies in between leaves a slot the next sweep frees (its owner is gone). */
  if (sb->state->id_base && fk_idrange_free (sb->rt->state_fd, sb->state->id_base, id, err) < 0)
    return fk_error_wrap (err, "delete sandbox `%s'", id);
  if (fk_rm_rf_at (sb->rt->sandboxes_fd, id, err) < 0)
    return fk_error_wrap (err, "delete sandbox `%s'", id);
  return 0;
}

int
fk_sandbox_extend (fk_sandbox_t *sb, uint64_t seconds, fk_error_t *err)
{
  if (seconds == 0)
    return fk_error_set (err, EINVAL, "extend by 0 s: expected 1 s to a year");
  return fk_sandbox_extend_ex (sb, seconds, 0, NULL, err);
}

int
fk_sandbox_extend_ex (fk_sandbox_t *sb, uint64_t seconds, unsigned flags, int *ret_resumed,
                      fk_error_t *err)
{
  if (seconds > 366ULL * 24 * 3600)
    return fk_error_set (err, EINVAL, "extend by %llu s: expected 1 s to a year",
                         (unsigned long long)seconds);
  cleanup_close int held = fk_sandbox_lock (sb, seconds != 0, err);
  if (held < 0)
    return -1;
  if (sb->state->disk_snapshot)
    {
      /* Asleep on disk no time passes: the timeout it resumes with is what changes. */
      if (ret_resumed)
        *ret_resumed = 0;
      if (seconds == 0)
        return 0;
      sb->state->disk_remaining = (int64_t)seconds;
      return save (sb, err);
    }
  int resumed = 0;
  if (flags & FK_EXTEND_RESUME)
    {
      cleanup_close int fd = open_pid1 (sb, err);
      if (fd < 0)
        return -1;
      int frozen = fk_cgroup_is_frozen (&sb->cgroups, sb->state->cgroup, err);
      if (frozen < 0)
        return -1;
      resumed = frozen;
    }
  int64_t deadline = (int64_t)time (NULL) + (int64_t)seconds;
  if (seconds && !((flags & FK_EXTEND_NO_SHORTEN) && sb->state->expires >= deadline))
    {
      sb->state->expires = deadline;
      /* The deadline file first: the watchdog reads it. Before the thaw, so a watchdog that
         sees the sandbox running sees the new deadline too. */
      cleanup_close int fd = openat (sb->dirfd, "deadline", O_WRONLY | O_CLOEXEC);
      if (fd < 0 && errno != ENOENT)
        return fk_error_set_errno (err, "open the deadline of sandbox `%s'", sb->state->id);
      if (fd >= 0 && fk_timeout_write (fd, deadline, err) < 0)
        return -1;
      if (save (sb, err) < 0)
        return -1;
      fk_events_append (sb->dirfd, "timeout", "the sandbox expires at %lld (unix seconds)",
                        (long long)deadline);
    }
  if (resumed)
    {
      if (fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, err) < 0)
        return -1;
      fk_events_append (sb->dirfd, "resumed", "by request");
    }
  if (ret_resumed)
    *ret_resumed = resumed;
  return 0;
}

int
fk_sandbox_set_metadata (fk_sandbox_t *sb, const char *const *metadata, fk_error_t *err)
{
  fk_sandbox_spec_t check;
  fk_sandbox_spec_init (&check);
  check.metadata = metadata;
  if (fk_spec_check_values (&check, err) < 0)
    return -1;
  cleanup_close int held = fk_sandbox_lock (sb, 1, err);
  if (held < 0)
    return -1;
  char **old = sb->state->metadata;
  sb->state->metadata = metadata ? xstrvdup (metadata) : xcalloc (1, sizeof (char *));
  if (save (sb, err) < 0)
    {
      fk_strv_free (sb->state->metadata);
      sb->state->metadata = old;
      return -1;
    }
  fk_strv_free (old);
  return 0;
}

int
fk_sandbox_take_stdio (fk_sandbox_t *sb, int ret_fds[3], fk_error_t *err)
{
  if (sb->stdio_fds[0] < 0)
    return fk_error_set (err, ENOENT, "sandbox `%s' has no stdio to take", sb->state->id);
  for (int i = 0; i < 3; i++)
    {
      ret_fds[i] = sb->stdio_fds[i];
      sb->stdio_fds[i] = -1;
    }
  return 0;
}

int
fk_sandbox_wait (fk_sandbox_t *sb, int *ret_status, fk_error_t *err)
{
  int status;
  pid_t r;
  do
    r = waitpid (sb->state->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return fk_error_set_errno (err, "wait for sandbox `%s'", sb->state->id);
  *ret_status = status;
  return 0;
}

int
fk_sandbox_oom_kills (fk_sandbox_t *sb, uint64_t *ret_count, fk_error_t *err)
{
  return fk_cgroup_oom_kills (&sb->cgroups, sb->state->cgroup, ret_count, err);
}
