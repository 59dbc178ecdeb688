/* bench/crun.c: see crun.h. */
#include "bench/crun.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "bench/ocibundle.h"

/* The cgroup2 mount of a hybrid host, which crun refuses to run beside v1 controllers. */
#define UNIFIED_MOUNT "/sys/fs/cgroup/unified"

typedef struct container
{
  char *name;
  int up; /* its start succeeded: a failed delete is an error */
} container_t;

struct fk_bench_crun
{
  char *path;    /* crun */
  char *workdir; /* removed by close */
  char *state;   /* crun --root */
  char *root;    /* the containers' root, mounted in the namespace only */
  int mntns;
  container_t *containers;
  size_t n_containers;
};

char *
fk_bench_crun_find (void)
{
  const char *env = getenv ("FIRKIN_CRUN");
  return fk_bench_which (env && env[0] ? env : "crun");
}

/* crun enters the root as the root of a user namespace, which is nobody on the host: every
   directory on the way must let others search it, or crun fails with a bare EACCES. */
static int
searchable_by_others (const char *path, fk_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (;;)
    {
      struct stat st;
      if (stat (p, &st) < 0)
        return fk_error_set_errno (err, "stat `%s'", p);
      if (S_ISDIR (st.st_mode) && !(st.st_mode & S_IXOTH))
        return fk_error_set (err, EACCES,
                             "`%s' is not searchable by others (mode %04o): crun's user "
                             "namespace cannot reach `%s' (chmod o+x, or another TMPDIR)",
                             p, (unsigned)(st.st_mode & 07777), path);
      char *slash = strrchr (p, '/');
      if (slash == NULL || slash == p)
        return 0;
      *slash = '\0';
    }
}

/* overlayfs options for layers stacked read-only: lower dirs are listed top first. */
static char *
overlay_options (const char *const *layers, size_t n)
{
  size_t len = sizeof "lowerdir=";
  for (size_t i = 0; i < n; i++)
    len += strlen (layers[i]) + 1;
  char *opts = xmalloc (len);
  strcpy (opts, "lowerdir=");
  for (size_t i = n; i-- > 0;)
    {
      strcat (opts, layers[i]);
      if (i > 0)
        strcat (opts, ":");
    }
  return opts;
}

enum
{
  STEP_UNSHARE = 1,
  STEP_SLAVE,
  STEP_UNIFIED,
  STEP_ROOT,
};

typedef struct holder_status
{
  int step; /* 0: ready */
  int errnum;
} holder_status_t;

/* The child that makes the namespace: only system calls between its fork and its _exit. It
   stays until the parent has opened its namespace (the hold pipe closes). */
static void __attribute__ ((noreturn))
holder (int status_fd, int hold_fd, const char *layer, const char *root, const char *overlay)
{
  holder_status_t st = { 0, 0 };
  if (unshare (CLONE_NEWNS) < 0)
    st.step = STEP_UNSHARE;
  else if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    st.step = STEP_SLAVE;
  /* EINVAL: not a mount point here (a pure v1 or v2 host), nothing to detach. */
  else if (umount2 (UNIFIED_MOUNT, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    st.step = STEP_UNIFIED;
  else if ((overlay ? mount ("overlay", root, "overlay", MS_RDONLY, overlay)
                    : mount (layer, root, NULL, MS_BIND, NULL))
           < 0)
    st.step = STEP_ROOT;
  st.errnum = st.step ? errno : 0;
  if (write (status_fd, &st, sizeof st) != (ssize_t)sizeof st)
    _exit (1);
  char b;
  while (read (hold_fd, &b, 1) < 0 && errno == EINTR)
    ;
  _exit (0);
}

static int
make_namespace (fk_bench_crun_t *c, const char *const *layers, size_t n, fk_error_t *err)
{
  cleanup_free char *overlay = n > 1 ? overlay_options (layers, n) : NULL;
  int sp[2], hp[2];
  if (pipe2 (sp, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  if (pipe2 (hp, O_CLOEXEC) < 0)
    {
      close (sp[0]);
      close (sp[1]);
      return fk_error_set_errno (err, "pipe");
    }
  pid_t pid = fork ();
  if (pid == 0)
    {
      close (sp[0]);
      close (hp[1]);
      holder (sp[1], hp[0], layers[0], c->root, overlay);
    }
  int fork_errno = errno;
  close (sp[1]);
  close (hp[0]);
  int ret = 0;
  if (pid < 0)
    {
      errno = fork_errno;
      ret = fk_error_set_errno (err, "fork");
    }
  holder_status_t st = { -1, 0 };
  if (ret == 0 && read (sp[0], &st, sizeof st) != (ssize_t)sizeof st)
    ret = fk_error_set (err, EIO, "the crun peer's namespace holder ended early");
  else if (ret == 0 && st.step != 0)
    {
      static const char *const what[] = {
        [STEP_UNSHARE] = "make a mount namespace for crun",
        [STEP_SLAVE] = "make crun's mount namespace a slave of the host's",
        [STEP_UNIFIED] = "detach " UNIFIED_MOUNT " in crun's mount namespace",
        [STEP_ROOT] = "mount crun's root",
      };
      errno = st.errnum;
      ret = fk_error_set_errno (err, "%s (at `%s')", what[st.step], c->root);
    }
  else if (ret == 0)
    {
      char ns[64];
      snprintf (ns, sizeof ns, "/proc/%d/ns/mnt", (int)pid);
      c->mntns = open (ns, O_RDONLY | O_CLOEXEC);
      if (c->mntns < 0)
        ret = fk_error_set_errno (err, "open `%s'", ns);
    }
  close (sp[0]);
  close (hp[1]);
  while (pid > 0 && waitpid (pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return ret;
}

int
fk_bench_crun_open (const char *crun_path, const char *const *layers, const char *parent,
                    fk_bench_crun_t **ret_crun, fk_error_t *err)
{
  size_t n = 0;
  while (layers && layers[n])
    n++;
  if (n == 0)
    return fk_error_set (err, EINVAL, "crun peer: no root layers");
  for (size_t i = 0; i < n; i++)
    if (layers[i][0] != '/')
      return fk_error_set (err, EINVAL, "crun peer: layer `%s' is not an absolute path", layers[i]);
  if (parent == NULL)
    {
      parent = getenv ("TMPDIR");
      if (parent == NULL || parent[0] == '\0')
        parent = "/tmp";
    }
  char real[PATH_MAX];
  if (realpath (parent, real) == NULL)
    return fk_error_set_errno (err, "crun peer: work directory parent `%s'", parent);
  if (searchable_by_others (real, err) < 0)
    return -1;
  fk_bench_crun_t *c = xcalloc (1, sizeof *c);
  c->mntns = -1;
  c->path = xstrdup (crun_path);
  c->workdir = xasprintf ("%s/fk-crun.XXXXXX", real);
  if (mkdtemp (c->workdir) == NULL)
    {
      fk_error_set_errno (err, "crun peer: make a work directory `%s'", c->workdir);
      free (c->workdir);
      c->workdir = NULL;
      goto fail;
    }
  c->state = xasprintf ("%s/state", c->workdir);
  c->root = xasprintf ("%s/root", c->workdir);
  if (chmod (c->workdir, 0755) < 0)
    {
      fk_error_set_errno (err, "chmod `%s'", c->workdir);
      goto fail;
    }
  if (mkdir (c->root, 0755) < 0 || chmod (c->root, 0755) < 0)
    {
      fk_error_set_errno (err, "mkdir `%s'", c->root);
      goto fail;
    }
  if (make_namespace (c, layers, n, err) < 0)
    goto fail;
  *ret_crun = c;
  return 0;
fail:;
  fk_error_t e2 = FK_ERROR_INIT;
  fk_bench_crun_close (c, &e2);
  fk_error_clear (&e2);
  return -1;
}

int
fk_bench_crun_mntns (const fk_bench_crun_t *c)
{
  return c->mntns;
}

int
fk_bench_crun_bundle (fk_bench_crun_t *c, const char *name, const char *const *args, char **ret_dir,
                      fk_error_t *err)
{
  cleanup_free char *dir = xasprintf ("%s/%s", c->workdir, name);
  if (mkdir (dir, 0755) < 0)
    return fk_error_set_errno (err, "make bundle `%s'", dir);
  fk_bench_oci_opts_t oo;
  fk_bench_oci_opts_firkin_defaults (c->root, args, &oo);
  int r = fk_bench_oci_bundle_write (dir, &oo, err);
  fk_bench_oci_opts_free (&oo);
  if (r < 0)
    return -1;
  *ret_dir = steal_pointer (&dir);
  return 0;
}

/* crun --root STATE args...: the array is the caller's to free, the strings are not. */
static char **
crun_argv (const fk_bench_crun_t *c, const char *const *args)
{
  size_t n = 0;
  while (args[n])
    n++;
  char **argv = xcalloc (n + 4, sizeof *argv);
  argv[0] = c->path;
  argv[1] = (char *)"--root";
  argv[2] = c->state;
  for (size_t i = 0; i < n; i++)
    argv[3 + i] = (char *)args[i];
  return argv;
}

int
fk_bench_crun_run (fk_bench_crun_t *c, const char *const *args, uint64_t *ret_elapsed_ns,
                   fk_error_t *err)
{
  cleanup_free char **argv = crun_argv (c, args);
  return fk_bench_spawn (argv, c->mntns, ret_elapsed_ns, err);
}

int
fk_bench_crun_start (fk_bench_crun_t *c, const char *const *args, int out_fd,
                     fk_bench_proc_t *ret_proc, fk_error_t *err)
{
  cleanup_free char **argv = crun_argv (c, args);
  return fk_bench_proc_start (argv, c->mntns, out_fd, ret_proc, err);
}

int
fk_bench_crun_container_start (fk_bench_crun_t *c, const char *name, const char *bundle,
                               fk_error_t *err)
{
  /* Listed before the start: a failed start may still leave state to delete. */
  c->containers = xrealloc (c->containers, (c->n_containers + 1) * sizeof *c->containers);
  container_t *k = &c->containers[c->n_containers++];
  *k = (container_t){ .name = xstrdup (name), .up = 0 };
  const char *args[] = { "run", "--detach", "--bundle", bundle, name, NULL };
  if (fk_bench_crun_run (c, args, NULL, err) < 0)
    return fk_error_wrap (err, "start the crun container `%s'", name);
  k->up = 1;
  return 0;
}

int
fk_bench_crun_close (fk_bench_crun_t *c, fk_error_t *err)
{
  if (c == NULL)
    return 0;
  int ret = 0;
  for (size_t i = 0; i < c->n_containers; i++)
    {
      const char *args[] = { "delete", "--force", c->containers[i].name, NULL };
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_bench_crun_run (c, args, NULL, &e2) < 0 && c->containers[i].up && ret == 0)
        ret = fk_error_set (err, e2.code, "delete the crun container `%s': %s",
                            c->containers[i].name, fk_error_message (&e2));
      fk_error_clear (&e2);
      free (c->containers[i].name);
    }
  free (c->containers);
  /* The root was mounted in the namespace only: once it is gone, WORKDIR/root is an empty
     directory on the host. */
  c->mntns = close_and_reset (c->mntns);
  if (c->workdir != NULL)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_rm_rf_at (AT_FDCWD, c->workdir, &e2) < 0 && ret == 0)
        ret = fk_error_set (err, e2.code, "%s", fk_error_message (&e2));
      fk_error_clear (&e2);
    }
  free (c->path);
  free (c->workdir);
  free (c->state);
  free (c->root);
  free (c);
  return ret;
}
