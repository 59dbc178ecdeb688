/* bench/density.c: see density.h. */
#include "bench/density.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "firkin/shell.h"

/* clang-format off */
static const char *const crun_level_tags[] = {
  "measurement_boundary", "crun_exec_run_completion",
  "shell_surface", "crun_exec",
  "output_boundary", "command_completion",
  "command", "printf",
  "warmup_dispatch", "excluded",
  NULL,
};
static const char *const crun_breakpoint_tags[] = {
  "source", "crun-exec-run-completion-p95-threshold",
  "measurement_boundary", "crun_exec_run_completion",
  "shell_surface", "crun_exec",
  "output_boundary", "command_completion",
  NULL,
};
/* clang-format on */

const fk_trace_density_spec_t fk_crun_exec_density = {
  .level_metric_prefix = "debug.exec.crun_exec_run_completion_c",
  .level_tags = crun_level_tags,
  .breakpoint_metric = "debug.density.max_active_before_crun_exec_run_completion_p95_doubles",
  .breakpoint_tags = crun_breakpoint_tags,
  .artifact_kind = "live_crun_exec_density",
};

/* ---- firkin: every slot's run begun at once from one thread, as the reference's join_all
   polls its futures on one task; a dispatch ends when its exit is read ---- */

/* One round on every slot of pool: begins a run on each, then finishes each; the slowest
   dispatch (begin to its result) in *ret_slowest. warm: the warm-up round. */
static int
round_all (fk_shell_pool_t *pool, size_t level, int warm, size_t repeat, uint64_t *ret_slowest,
           fk_error_t *err)
{
  fk_shell_pending_t **pend = xcalloc (level, sizeof *pend);
  char (*expected)[128] = xcalloc (level, sizeof *expected);
  uint64_t *t0 = xcalloc (level, sizeof *t0);
  int ret = 0;
  size_t begun = 0;
  for (; begun < level; begun++)
    {
      size_t i = begun;
      if (warm)
        snprintf (expected[i], sizeof expected[i], "shell-pool-warm-c%zu-%zu", level, i);
      else
        snprintf (expected[i], sizeof expected[i], "shell-pool-c%zu-r%zu-%zu", level, repeat, i);
      char cmd[160];
      snprintf (cmd, sizeof cmd, "printf %s", expected[i]);
      fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = cmd };
      t0[i] = fk_now_ns ();
      if (fk_shell_run_begin (fk_shell_pool_slot (pool, i), &o, &pend[i], err) < 0)
        {
          fk_error_wrap (err, "run shell c%zu/%s%zu/%zu", level, warm ? "warm" : "r", repeat, i);
          ret = -1;
          break;
        }
    }
  uint64_t slowest = 0;
  /* Every begun run is finished, even after a failure. */
  for (size_t i = 0; i < begun; i++)
    {
      fk_shell_result_t r;
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_shell_run_finish (pend[i], &r, &e2) < 0)
        {
          if (ret == 0)
            ret = fk_error_set (err, e2.code, "run shell c%zu/%s%zu/%zu: %s", level,
                                warm ? "warm" : "r", repeat, i, fk_error_message (&e2));
          fk_error_clear (&e2);
          continue;
        }
      uint64_t elapsed = fk_now_ns () - t0[i];
      if (elapsed > slowest)
        slowest = elapsed;
      size_t el = strlen (expected[i]);
      if (ret == 0
          && (r.out_len != el || memcmp (r.out, expected[i], el) != 0 || r.status.exit_code != 0))
        ret = fk_error_set (err, EIO,
                            "shell c%zu/r%zu/%zu: expected stdout `%s', got %zu bytes `%.64s' "
                            "(exit %d)",
                            level, repeat, i, expected[i], r.out_len, r.out, r.status.exit_code);
      fk_shell_result_free (&r);
    }
  free (pend);
  free (expected);
  free (t0);
  *ret_slowest = slowest;
  return ret;
}

static int
collect_level (fk_client_t *c, size_t level, size_t repeats, const char *levels_tag,
               fk_trace_samples_t *samples, fk_error_t *err)
{
  fk_shell_pool_t *pool = NULL;
  if (fk_shell_pool_open (c, level, NULL, &pool, err) < 0)
    return fk_error_wrap (err, "open shell pool c%zu", level);
  uint64_t slowest;
  int ret = round_all (pool, level, 1, 0, &slowest, err);
  for (size_t r = 0; r < repeats && ret == 0; r++)
    {
      ret = round_all (pool, level, 0, r, &slowest, err);
      if (ret < 0)
        break;
      fk_trace_sample_t *s = fk_trace_shell_pool_density_sample (level, r, repeats, slowest);
      if (fk_trace_sample_set_tag (s, "concurrency_levels", levels_tag, err) < 0)
        {
          fk_trace_sample_free (s);
          ret = -1;
          break;
        }
      fk_trace_samples_push (samples, s);
    }
  fk_shell_pool_close (pool);
  return ret;
}

int
fk_shell_pool_density_collect (fk_client_t *c, const size_t *levels, size_t n_levels,
                               size_t repeats, fk_trace_samples_t *samples, fk_error_t *err)
{
  cleanup_free char *levels_tag = fk_trace_density_levels_tag (levels, n_levels);
  for (size_t i = 0; i < n_levels; i++)
    if (collect_level (c, levels[i], repeats, levels_tag, samples, err) < 0)
      return -1;
  return 0;
}

/* ---- the peer: crun exec, run in a child process with its own mount namespace ---- */

typedef struct record
{
  uint64_t level, repeat, ns; /* level 0: an error message of ns bytes follows */
} record_t;

static const char *
crun_path (void)
{
  const char *p = getenv ("FIRKIN_CRUN");
  return p && *p ? p : "crun";
}

/* Starts argv with stdin /dev/null, stdout out_fd (-1: /dev/null), stderr inherited. */
static pid_t
spawn (char *const argv[], int out_fd)
{
  pid_t pid = fork ();
  if (pid != 0)
    return pid;
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2 (null, 0) < 0 || dup2 (out_fd >= 0 ? out_fd : null, 1) < 0)
    _exit (127);
  execvp (argv[0], argv);
  _exit (127);
}

static int
run_wait (char *const argv[], fk_error_t *err)
{
  pid_t pid = spawn (argv, -1);
  if (pid < 0)
    return fk_error_set_errno (err, "fork");
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "waitpid");
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    return fk_error_set (err, EIO, "`%s %s' failed (status 0x%x)", argv[0], argv[1], st);
  return 0;
}

typedef struct peer
{
  char *state, *bundle, *id;
} peer_t;

static int
peer_bundle (const peer_t *p, const char *rootfs, fk_error_t *err)
{
  if (fk_mkdir_p (p->bundle, 0700, err) < 0)
    return -1;
  char *spec_argv[] = { (char *)crun_path (), (char *)"spec", (char *)"-b", p->bundle, NULL };
  if (run_wait (spec_argv, err) < 0)
    return fk_error_wrap (err, "write a default OCI config");
  cleanup_free char *cfg = xasprintf ("%s/config.json", p->bundle);
  cleanup_json json_t *j = NULL;
  if (fk_json_load_file_at (AT_FDCWD, cfg, 1u << 20, &j, err) < 0)
    return -1;
  json_t *proc = json_object_get (j, "process");
  if (!json_is_object (proc))
    return fk_error_set (err, EINVAL, "`%s': no process object", cfg);
  json_object_set_new (proc, "terminal", json_false ());
  json_object_set_new (proc, "args", json_pack ("[ss]", "sleep", "100000000"));
  json_object_set_new (j, "root", json_pack ("{sssb}", "path", rootfs, "readonly", 1));
  return fk_json_dump_file_atomic_at (AT_FDCWD, cfg, j, 1, err);
}

/* n concurrent `crun exec ID printf EXPECTED'; the slowest spawn-to-reap time. */
static int
peer_dispatch (const peer_t *p, size_t level, size_t repeat, int warm, uint64_t *ret_slowest,
               fk_error_t *err)
{
  pid_t *pids = xcalloc (level, sizeof *pids);
  int *fds = xcalloc (level, sizeof *fds);
  uint64_t *t0 = xcalloc (level, sizeof *t0), *t1 = xcalloc (level, sizeof *t1);
  char **expected = xcalloc (level, sizeof *expected);
  int ret = 0;
  size_t started = 0;
  for (size_t i = 0; i < level; i++)
    {
      expected[i] = warm ? xasprintf ("shell-pool-warm-c%zu-%zu", level, i)
                         : xasprintf ("shell-pool-c%zu-r%zu-%zu", level, repeat, i);
      fds[i] = -1;
    }
  for (size_t i = 0; i < level; i++)
    {
      int pp[2];
      if (pipe2 (pp, O_CLOEXEC) < 0)
        {
          ret = fk_error_set_errno (err, "pipe");
          break;
        }
      char *argv[] = { (char *)crun_path (), (char *)"--root", p->state, (char *)"exec", p->id,
                       (char *)"printf",     expected[i],      NULL };
      t0[i] = fk_now_ns ();
      pids[i] = spawn (argv, pp[1]);
      close (pp[1]);
      fds[i] = pp[0];
      if (pids[i] < 0)
        {
          ret = fk_error_set_errno (err, "fork");
          break;
        }
      started++;
    }
  /* Reap in completion order so each end time is exact. */
  int failed_status = 0;
  for (size_t done = 0; done < started;)
    {
      int st;
      pid_t pid = waitpid (-1, &st, 0);
      if (pid < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      uint64_t t = fk_now_ns ();
      for (size_t i = 0; i < started; i++)
        if (pids[i] == pid)
          {
            t1[i] = t;
            done++;
            if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
              failed_status = st ? st : 1;
          }
    }
  uint64_t slowest = 0;
  for (size_t i = 0; i < started && ret == 0; i++)
    {
      cleanup_free char *out = NULL;
      size_t len = 0;
      if (fk_read_all (fds[i], 1u << 20, &out, &len, err) < 0)
        ret = -1;
      else if (failed_status)
        ret = fk_error_set (err, EIO, "crun exec c%zu/r%zu/%zu failed (status 0x%x)", level, repeat,
                            i, failed_status);
      else if (len != strlen (expected[i]) || memcmp (out, expected[i], len) != 0)
        ret = fk_error_set (err, EIO, "crun exec c%zu/r%zu/%zu: expected `%s', got `%.*s'", level,
                            repeat, i, expected[i], (int)(len > 64 ? 64 : len), out);
      if (t1[i] - t0[i] > slowest)
        slowest = t1[i] - t0[i];
    }
  for (size_t i = 0; i < level; i++)
    {
      close_and_reset (fds[i]);
      free (expected[i]);
    }
  free (pids);
  free (fds);
  free (t0);
  free (t1);
  free (expected);
  *ret_slowest = slowest;
  return ret;
}

static void
write_record (int fd, uint64_t level, uint64_t repeat, uint64_t ns)
{
  record_t r = { level, repeat, ns };
  fk_error_t err = FK_ERROR_INIT;
  if (fk_write_all (fd, &r, sizeof r, &err) < 0)
    fk_error_clear (&err);
}

static void
write_error (int fd, fk_error_t *err)
{
  const char *m = fk_error_message (err);
  write_record (fd, 0, 0, strlen (m));
  fk_error_t e2 = FK_ERROR_INIT;
  if (fk_write_all (fd, m, strlen (m), &e2) < 0)
    fk_error_clear (&e2);
  fk_error_clear (err);
}

/* The container's root: the one layer, or the layers stacked read-only at workdir/root. */
static char *
peer_root (const char *const *layers, const char *workdir, fk_error_t *err)
{
  size_t n = 0;
  while (layers[n])
    n++;
  if (n == 1)
    return xstrdup (layers[0]);
  char *root = xasprintf ("%s/root", workdir);
  /* overlayfs lists lower dirs top first. */
  size_t len = 32;
  for (size_t i = 0; i < n; i++)
    len += strlen (layers[i]) + 1;
  cleanup_free char *opts = xmalloc (len);
  strcpy (opts, "lowerdir=");
  for (size_t i = n; i-- > 0;)
    {
      strcat (opts, layers[i]);
      if (i > 0)
        strcat (opts, ":");
    }
  if (fk_mkdir_p (root, 0755, err) < 0)
    {
      free (root);
      return NULL;
    }
  if (mount ("overlay", root, "overlay", MS_RDONLY, opts) < 0)
    {
      fk_error_set_errno (err, "mount the template's layers for crun at `%s'", root);
      free (root);
      return NULL;
    }
  return root;
}

/* The child: mount namespace, container up, dispatches, container gone. */
static int
peer_main (int out, const char *const *layers, const char *workdir, const size_t *levels,
           size_t n_levels, size_t repeats)
{
  fk_error_t err = FK_ERROR_INIT;
  if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    {
      fk_error_set_errno (&err, "a private mount namespace for crun");
      write_error (out, &err);
      return 1;
    }
  /* crun sees cgroup2 mounted beside v1 controllers and refuses: hide it here only. */
  if (umount2 ("/sys/fs/cgroup/unified", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    {
      fk_error_set_errno (&err, "unmount /sys/fs/cgroup/unified in crun's namespace");
      write_error (out, &err);
      return 1;
    }
  peer_t p = {
    .state = xasprintf ("%s/state", workdir),
    .bundle = xasprintf ("%s/bundle", workdir),
    .id = xasprintf ("fk-peer-%d", (int)getpid ()),
  };
  int rc = 1, running = 0;
  cleanup_free char *rootfs = peer_root (layers, workdir, &err);
  if (rootfs == NULL || peer_bundle (&p, rootfs, &err) < 0)
    goto out;
  char *run_argv[] = { (char *)crun_path (), (char *)"--root", p.state, (char *)"run", (char *)"-d",
                       (char *)"--bundle",   p.bundle,         p.id,    NULL };
  running = 1; /* a failed run may still leave state to delete */
  if (run_wait (run_argv, &err) < 0)
    {
      fk_error_wrap (&err, "start the crun container");
      goto out;
    }
  for (size_t li = 0; li < n_levels; li++)
    {
      uint64_t slowest;
      if (peer_dispatch (&p, levels[li], 0, 1, &slowest, &err) < 0)
        goto out;
      for (size_t r = 0; r < repeats; r++)
        {
          if (peer_dispatch (&p, levels[li], r, 0, &slowest, &err) < 0)
            goto out;
          write_record (out, levels[li], r, slowest);
        }
    }
  rc = 0;
out:
  if (rc != 0)
    write_error (out, &err);
  if (running)
    {
      char *del_argv[] = {
        (char *)crun_path (), (char *)"--root", p.state, (char *)"delete", (char *)"-f", p.id, NULL
      };
      fk_error_t e2 = FK_ERROR_INIT;
      if (run_wait (del_argv, &e2) < 0 && rc == 0)
        {
          write_error (out, &e2);
          rc = 1;
        }
      fk_error_clear (&e2);
    }
  free (p.state);
  free (p.bundle);
  free (p.id);
  return rc;
}

int
fk_crun_exec_density_collect (const char *const *layers, const char *workdir, const size_t *levels,
                              size_t n_levels, size_t repeats, fk_trace_samples_t *samples,
                              fk_error_t *err)
{
  if (layers == NULL || layers[0] == NULL)
    return fk_error_set (err, EINVAL, "crun peer: no root layers");
  if (fk_mkdir_p (workdir, 0700, err) < 0)
    return -1;
  int pp[2];
  if (pipe2 (pp, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (pp[0]);
      close (pp[1]);
      return fk_error_set_errno (err, "fork");
    }
  if (pid == 0)
    {
      close (pp[0]);
      _exit (peer_main (pp[1], layers, workdir, levels, n_levels, repeats));
    }
  close (pp[1]);
  cleanup_free char *buf = NULL;
  size_t len = 0;
  int ret = fk_read_all (pp[0], 64u << 20, &buf, &len, err);
  close (pp[0]);
  int st;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  fk_error_t rmerr = FK_ERROR_INIT;
  if (fk_rm_rf_at (AT_FDCWD, workdir, &rmerr) < 0)
    {
      if (ret == 0)
        ret = fk_error_set (err, rmerr.code, "%s", fk_error_message (&rmerr));
      fk_error_clear (&rmerr);
    }
  if (ret < 0)
    return -1;
  cleanup_free char *levels_tag = fk_trace_density_levels_tag (levels, n_levels);
  for (size_t off = 0; off + sizeof (record_t) <= len;)
    {
      record_t r;
      memcpy (&r, buf + off, sizeof r);
      off += sizeof r;
      if (r.level == 0)
        {
          size_t ml = r.ns <= len - off ? (size_t)r.ns : len - off;
          return fk_error_set (err, EIO, "crun peer: %.*s", (int)ml, buf + off);
        }
      fk_trace_sample_t *s
          = fk_trace_density_sample (&fk_crun_exec_density, r.level, r.repeat, repeats, r.ns);
      if (fk_trace_sample_set_tag (s, "concurrency_levels", levels_tag, err) < 0)
        {
          fk_trace_sample_free (s);
          return -1;
        }
      fk_trace_samples_push (samples, s);
    }
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    return fk_error_set (err, EIO, "crun peer: the runner ended with status 0x%x", st);
  return 0;
}
