/* sandbox/runtime.c: runtime open/close and the lazy sweep of stale sandboxes. */
#include "firkin/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "firkin/sandbox.h"
#include "sandbox/cgroup.h"
#include "sandbox/idrange.h"
#include "sandbox/netstate.h"
#include "sandbox/runtime_impl.h"
#include "sandbox/sandbox.h"
#include "sandbox/state.h"

#ifndef FK_LIBEXECDIR
#error "FK_LIBEXECDIR: the directory fk-agent and fk-timeout are installed in (meson sets it)"
#endif

/* The options' fk-resolver, else $FIRKIN_RESOLVER, else the one beside an agent the caller
   named (a build tree, a private install), else the installed one. */
static char *
resolver_program (const fk_runtime_opts_t *opts, const char *agent_path)
{
  if (opts && opts->version >= 2 && opts->resolver_path && opts->resolver_path[0])
    return xstrdup (opts->resolver_path);
  const char *env = getenv ("FIRKIN_RESOLVER");
  if (env && env[0])
    return xstrdup (env);
  if (opts && opts->agent_path && opts->agent_path[0])
    {
      const char *slash = strrchr (agent_path, '/');
      if (slash)
        {
          char *beside = xasprintf ("%.*s/fk-resolver", (int)(slash - agent_path), agent_path);
          if (access (beside, X_OK) == 0)
            return beside;
          free (beside);
        }
    }
  return xstrdup (FK_LIBEXECDIR "/fk-resolver");
}

int
fk_runtime_open (const fk_runtime_opts_t *opts, fk_runtime_t **ret_rt, fk_error_t *err)
{
  if (opts
      && fk_options_check_version (opts->version, FK_RUNTIME_OPTIONS_VERSION, "fk_runtime_opts_t",
                                   "FK_RUNTIME_OPTIONS_INIT", err)
             < 0)
    return -1;
  const char *state_dir = opts ? opts->state_dir : NULL;
  if (state_dir == NULL || state_dir[0] == '\0')
    state_dir = getenv ("FIRKIN_STATE_DIR");
  if (state_dir == NULL || state_dir[0] == '\0')
    state_dir = "/var/lib/firkin";
  if (fk_mkdir_p (state_dir, 0711, err) < 0)
    return fk_error_wrap (err, "state dir");
  char abs[PATH_MAX];
  if (realpath (state_dir, abs) == NULL)
    return fk_error_set_errno (err, "state dir `%s'", state_dir);
  cleanup_free char *sb = xasprintf ("%s/sandboxes", abs);
  if (fk_mkdir_p (sb, 0700, err) < 0)
    return -1;
  fk_runtime_t *rt = xcalloc (1, sizeof *rt);
  rt->state_dir = xstrdup (abs);
  rt->agent_path
      = xstrdup (opts && opts->agent_path && opts->agent_path[0] ? opts->agent_path
                                                                 : FK_LIBEXECDIR "/fk-agent");
  rt->timeout_explicit = opts && opts->timeout_path && opts->timeout_path[0];
  rt->timeout_path
      = xstrdup (rt->timeout_explicit ? opts->timeout_path : FK_LIBEXECDIR "/fk-timeout");
  rt->resolver_path = resolver_program (opts, rt->agent_path);
  rt->state_fd = open (abs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  rt->sandboxes_fd = open (sb, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rt->state_fd < 0 || rt->sandboxes_fd < 0)
    {
      fk_error_set_errno (err, "open state dir `%s'", abs);
      fk_runtime_close (rt);
      return -1;
    }
  if (fk_cgroup_detect (NULL, &rt->cgroups, err) < 0)
    {
      fk_runtime_close (rt);
      return -1;
    }
  if (!(opts && opts->skip_sweep))
    {
      fk_error_t sweep_err = FK_ERROR_INIT;
      if (fk_runtime_sweep (rt, &sweep_err) < 0)
        {
          /* A failed sweep must not block the caller's own work. */
          log_warning ("cleaning stale sandboxes: %s", fk_error_message (&sweep_err));
          fk_error_clear (&sweep_err);
        }
    }
  *ret_rt = rt;
  return 0;
}

void
fk_runtime_close (fk_runtime_t *rt)
{
  if (rt == NULL)
    return;
  if (rt->state_fd >= 0)
    close (rt->state_fd);
  if (rt->sandboxes_fd >= 0)
    close (rt->sandboxes_fd);
  fk_cgroup_layout_free (&rt->cgroups);
  free (rt->state_dir);
  free (rt->agent_path);
  free (rt->timeout_path);
  free (rt->resolver_path);
  free (rt);
}

const char *
fk_runtime_state_dir (const fk_runtime_t *rt)
{
  return rt->state_dir;
}

const char *
fk_runtime_agent_path (const fk_runtime_t *rt)
{
  return rt->agent_path;
}

const char *
fk_runtime_timeout_path (const fk_runtime_t *rt)
{
  return rt->timeout_path;
}

const char *
fk_runtime_resolver_path (const fk_runtime_t *rt)
{
  return rt->resolver_path;
}

char *
fk_runtime_timeout_program (const fk_runtime_t *rt)
{
  /* An installed watchdog is optional; one the caller named must be there (spawning it fails
     with its path in the error). */
  if (rt->timeout_explicit || access (rt->timeout_path, X_OK) == 0)
    return xstrdup (rt->timeout_path);
  return NULL;
}

int
fk_runtime_sweep (fk_runtime_t *rt, fk_error_t *err)
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
  int removed = 0;
  struct dirent *e;
  time_t now = time (NULL);
  cleanup_free char *boot = fk_state_boot_id ();
  while ((e = readdir (d)))
    {
      if (e->d_name[0] == '.')
        continue;
      /* The common case, a live sandbox, costs a readlinkat, a kill(0) and a look for the mark
         of a capture that may have been killed (fk_sandbox_sweep_one thaws it). */
      cleanup_free char *mark = xasprintf ("%s/" FK_SANDBOX_CAPTURING, e->d_name);
      if (faccessat (rt->sandboxes_fd, mark, F_OK, AT_SYMLINK_NOFOLLOW) < 0
          && fk_state_quick_alive (rt->sandboxes_fd, e->d_name, boot, now))
        continue;
      fk_sandbox_t *sb = NULL;
      fk_error_t local = FK_ERROR_INIT;
      if (fk_sandbox_open (rt, e->d_name, &sb, &local) < 0)
        {
          /* No readable state: a create in progress (it holds the lock), a delete half done,
             or a create that crashed. Only an unlocked, old one is removed. */
          struct stat st;
          cleanup_close int dfd = openat (rt->sandboxes_fd, e->d_name, O_PATH | O_CLOEXEC);
          fk_error_t ignored = FK_ERROR_INIT;
          cleanup_close int held = dfd >= 0 ? fk_sandbox_lock_dir (dfd, 0, &ignored) : -1;
          fk_error_clear (&ignored);
          if (held >= 0 && fstat (held, &st) == 0 && now - st.st_mtime > 60)
            {
              /* A create killed after making the cgroup left it too (its child died with the
                 creator, or is killed here): an empty stray cgroup under the parent would
                 stay forever. */
              cleanup_free char *cg = xasprintf ("firkin/%s", e->d_name);
              int r = fk_cgroup_kill (&rt->cgroups, cg, 5000, &ignored);
              if (r < 0 && ignored.code == ENOENT)
                {
                  fk_error_clear (&ignored);
                  r = 0;
                }
              if (r == 0)
                r = fk_cgroup_destroy (&rt->cgroups, cg, &ignored);
              if (r < 0)
                log_warning ("removing the cgroup of a crashed create `%s': %s", e->d_name,
                             fk_error_message (&ignored));
              fk_error_clear (&ignored);
              if (fk_rm_rf_at (rt->sandboxes_fd, e->d_name, &ignored) == 0)
                removed++;
              fk_error_clear (&ignored);
            }
          fk_error_clear (&local);
          continue;
        }
      int r = fk_sandbox_sweep_one (sb, now, &local);
      if (r > 0)
        removed++;
      else if (r < 0)
        log_warning ("removing sandbox `%s': %s", e->d_name, fk_error_message (&local));
      fk_error_clear (&local);
      fk_sandbox_free (sb);
    }
  size_t kept = 0;
  rewinddir (d);
  while ((e = readdir (d)))
    kept += e->d_name[0] != '.';
  /* A slot of the id table outlives its sandbox only when a create or a delete died half way:
     the table is read through only when it holds more slots than there are sandboxes. */
  if (fk_idrange_count (rt->state_fd) > kept)
    {
      fk_error_t local = FK_ERROR_INIT;
      if (fk_idrange_sweep (rt->state_fd, rt->sandboxes_fd, &local) < 0)
        log_warning ("freeing the id ranges of removed sandboxes: %s", fk_error_message (&local));
      fk_error_clear (&local);
    }
  /* Likewise the network slots: a slot a dead create or delete left keeps its rules. */
  {
    fk_error_t local = FK_ERROR_INIT;
    if (fk_netstate_sweep (rt, &local) < 0)
      log_warning ("freeing the network slots of removed sandboxes: %s", fk_error_message (&local));
    fk_error_clear (&local);
  }
  return removed;
}
