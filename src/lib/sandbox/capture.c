/* sandbox/capture.c: see sandbox/capture.h. */
#include "sandbox/netstate.h"
#include "sandbox/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "sandbox/cgroup.h"
#include "sandbox/idrange.h"
#include "sandbox/launch.h"
#include "sandbox/sandbox.h"
#include "sandbox/userns.h"

/* "capturing" in the sandbox's directory while a capture has it frozen: a capture killed
   half way leaves it, and the next one (under the same lock) knows the freeze was not a
   user's pause and thaws it at its end. */
#define CAPTURING FK_SANDBOX_CAPTURING

static void
release (fk_sandbox_capture_t *cap)
{
  cap->upperfd = close_and_reset (cap->upperfd);
  cap->pidfd = close_and_reset (cap->pidfd);
  cap->lockfd = close_and_reset (cap->lockfd);
}

int
fk_sandbox_capture_begin (fk_sandbox_t *sb, fk_sandbox_capture_t *cap, fk_error_t *err)
{
  *cap = (fk_sandbox_capture_t)FK_SANDBOX_CAPTURE_INIT;
  /* The state read again under the lock: another caller may have paused it to disk meanwhile. */
  cap->lockfd = fk_sandbox_lock (sb, 1, err);
  if (cap->lockfd < 0)
    return -1;
  cleanup_free char *id = xstrdup (sb->state->id);
  if (sb->state->disk_snapshot)
    {
      fk_error_set (err, ESRCH, "sandbox `%s' is paused to disk: resume it first", id);
      goto fail;
    }
  if (sb->state->socket == NULL)
    {
      fk_error_set (err, ENOTSUP,
                    "sandbox `%s' runs a command as PID 1: only agent sandboxes "
                    "can be captured",
                    id);
      goto fail;
    }
  cap->pidfd = (int)syscall (SYS_pidfd_open, sb->state->pid, 0);
  if (cap->pidfd < 0 || !fk_state_alive (sb->state))
    {
      fk_error_set (err, ESRCH, "sandbox `%s' is not running", id);
      goto fail;
    }
  fk_error_t local = FK_ERROR_INIT;
  int frozen = fk_cgroup_is_frozen (&sb->cgroups, sb->state->cgroup, &local);
  fk_error_clear (&local);
  int leftover = faccessat (sb->dirfd, CAPTURING, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
  if (frozen != 1 || leftover)
    {
      cleanup_close int mark
          = openat (sb->dirfd, CAPTURING, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (mark < 0)
        {
          fk_error_set_errno (err, "sandbox `%s': mark the capture", id);
          goto fail;
        }
      cap->froze = 1;
      if (frozen != 1 && fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 1, err) < 0)
        goto thaw;
    }
  cap->upperfd = (int)syscall (SYS_pidfd_getfd, cap->pidfd, FK_LAUNCH_UPPER_FD, 0);
  if (cap->upperfd < 0)
    {
      fk_error_set_errno (err, "sandbox `%s': take its upper dir from PID 1", id);
      goto thaw;
    }
  /* PID 1 is the sandbox's: check that what it holds there is a directory on a tmpfs (the
     sandbox's disk) before reading it with the host's credentials. */
  struct stat st;
  struct statfs sfs;
  if (fstat (cap->upperfd, &st) < 0 || fstatfs (cap->upperfd, &sfs) < 0 || !S_ISDIR (st.st_mode)
      || sfs.f_type != TMPFS_MAGIC)
    {
      fk_error_set (err, ENOTSUP, "sandbox `%s' holds no upper dir (made by an older firkin?)", id);
      goto thaw;
    }
  cap->id_base = sb->state->id_base ? sb->state->id_base : FK_USERNS_HOST_BASE;
  cap->id_size = FK_USERNS_SIZE;
  return 0;
thaw:
  if (cap->froze)
    {
      fk_error_t ignored = FK_ERROR_INIT;
      fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, &ignored);
      fk_error_clear (&ignored);
      unlinkat (sb->dirfd, CAPTURING, 0);
      cap->froze = 0;
    }
fail:
  release (cap);
  return -1;
}

int
fk_sandbox_capture_end (fk_sandbox_t *sb, fk_sandbox_capture_t *cap, fk_error_t *err)
{
  int rc = 0;
  cap->upperfd = close_and_reset (cap->upperfd);
  if (cap->froze)
    {
      if (fk_cgroup_freeze (&sb->cgroups, sb->state->cgroup, 0, err) < 0)
        rc = -1;
      else
        unlinkat (sb->dirfd, CAPTURING, 0);
    }
  cap->froze = 0;
  release (cap);
  return rc;
}

int
fk_sandbox_capture_end_to_disk (fk_sandbox_t *sb, fk_sandbox_capture_t *cap, const char *snapshot,
                                fk_error_t *err)
{
  fk_sandbox_state_t *st = sb->state;
  const char *id = st->id;
  int rc = -1;
  cap->upperfd = close_and_reset (cap->upperfd);
  /* Frozen processes die of SIGKILL as they are; fk_cgroup_kill thaws and kills until none
     is left. */
  if (fk_cgroup_kill (&sb->cgroups, st->cgroup, 10000, err) < 0)
    goto out;
  int status;
  while (waitpid (st->pid, &status, WNOHANG) < 0 && errno == EINTR)
    ;
  if (fk_cgroup_destroy (&sb->cgroups, st->cgroup, err) < 0)
    goto out;
  if (fk_netstate_release (sb->rt, st, err) < 0)
    goto out;
  if (st->id_base && fk_idrange_free (sb->rt->state_fd, st->id_base, id, err) < 0)
    goto out;
  st->id_base = 0;
  time_t now = time (NULL);
  st->disk_remaining = 0;
  if (st->expires)
    st->disk_remaining = st->expires > (int64_t)now ? st->expires - (int64_t)now : 1;
  /* Nothing runs and no deadline applies while it sleeps: the state alone says what it is. */
  st->expires = 0;
  st->stopped = 1;
  free (st->disk_snapshot);
  st->disk_snapshot = xstrdup (snapshot);
  unlinkat (sb->dirfd, "agent.sock", 0);
  unlinkat (sb->dirfd, "deadline", 0);
  unlinkat (sb->dirfd, CAPTURING, 0);
  {
    cleanup_close int dir = openat (sb->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
      {
        fk_error_set_errno (err, "open sandbox `%s'", id);
        goto out;
      }
    if (fk_state_save (dir, st, err) < 0)
      goto out;
  }
  rc = 0;
out:
  cap->froze = 0;
  release (cap);
  if (rc < 0)
    fk_error_wrap (err, "pause sandbox `%s' to disk", id);
  return rc;
}

const fk_sandbox_spec_t *
fk_sandbox_kept_spec (const fk_sandbox_t *sb)
{
  return sb->state->spec;
}

const char *
fk_sandbox_disk_snapshot (const fk_sandbox_t *sb, uint64_t *ret_remaining)
{
  if (ret_remaining)
    *ret_remaining = (uint64_t)sb->state->disk_remaining;
  return sb->state->disk_snapshot;
}
