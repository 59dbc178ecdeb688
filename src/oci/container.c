/* oci/container.c: the state of one container: <root>/<id>/ holding state.json (read and
   written by sandbox/ocistate.c), the copy of config.json it was made from and the start fifo;
   flock on the directory serialises verbs on one container. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "oci/oci.h"

int
oci_check_id (const char *id, fk_error_t *err)
{
  size_t n = strlen (id);
  if (n == 0 || n > 1024 || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return fk_error_set (err, EINVAL, "invalid container id `%s'", id);
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '_' || *p == '-' || *p == '.' || *p == '+'))
      return fk_error_set (err, EINVAL,
                           "invalid container id `%s': only letters, digits and _ + - . may be "
                           "used",
                           id);
  return 0;
}

static int
lock_dir (oci_container_t *c, fk_error_t *err)
{
  c->dirfd = open (c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (c->dirfd < 0)
    return fk_error_set_errno (err, "open `%s'", c->dir);
  if (flock (c->dirfd, LOCK_EX) < 0)
    return fk_error_set_errno (err, "lock `%s'", c->dir);
  return 0;
}

int
oci_container_new (const char *id, oci_container_t *ret, fk_error_t *err)
{
  if (oci_check_id (id, err) < 0)
    return -1;
  if (fk_mkdir_p (oci_g.root, 0700, err) < 0)
    return fk_error_wrap (err, "state root `%s'", oci_g.root);
  oci_container_t c = { .id = xstrdup (id), .dirfd = -1 };
  c.dir = xasprintf ("%s/%s", oci_g.root, id);
  if (mkdir (c.dir, 0700) < 0)
    {
      int e = errno;
      oci_container_close (&c);
      if (e == EEXIST)
        return fk_error_set (err, EEXIST, "container `%s' already exists", id);
      errno = e;
      return fk_error_set_errno (err, "make the state of `%s'", id);
    }
  if (lock_dir (&c, err) < 0)
    {
      rmdir (c.dir);
      oci_container_close (&c);
      return -1;
    }
  *ret = c;
  return 0;
}

int
oci_container_open (const char *id, int partial_ok, oci_container_t *ret, fk_error_t *err)
{
  if (oci_check_id (id, err) < 0)
    return -1;
  oci_container_t c = { .id = xstrdup (id), .dirfd = -1 };
  c.dir = xasprintf ("%s/%s", oci_g.root, id);
  if (lock_dir (&c, err) < 0)
    {
      int e = err->code;
      oci_container_close (&c);
      if (e == ENOENT)
        {
          fk_error_clear (err);
          return fk_error_set (err, ENOENT, "container `%s' does not exist", id);
        }
      return -1;
    }
  if (fk_oci_state_load (c.dirfd, &c.state, err) < 0)
    {
      if (!partial_ok)
        {
          oci_container_close (&c);
          return fk_error_wrap (err, "container `%s'", id);
        }
      fk_error_clear (err);
    }
  *ret = c;
  return 0;
}

int
oci_container_attach (const char *id, int partial_ok, oci_container_t *ret,
                      fk_cgroup_layout_t *ret_cg, fk_oci_status_t *ret_status, fk_error_t *err)
{
  oci_container_t c;
  if (oci_container_open (id, partial_ok, &c, err) < 0)
    return -1;
  fk_cgroup_layout_t cg = { 0 };
  if (fk_cgroup_detect (NULL, &cg, err) < 0)
    {
      oci_container_close (&c);
      return -1;
    }
  if (ret_status)
    *ret_status = fk_oci_state_status (&c.state, &cg);
  *ret = c;
  *ret_cg = cg;
  return 0;
}

void
oci_container_detach (oci_container_t *c, fk_cgroup_layout_t *cg)
{
  fk_cgroup_layout_free (cg);
  oci_container_close (c);
}

int
oci_container_save (const oci_container_t *c, fk_error_t *err)
{
  return fk_oci_state_save (c->dirfd, c->id, &c->state, err);
}

void
oci_container_remove (oci_container_t *c)
{
  fk_error_t ignored = FK_ERROR_INIT;
  if (fk_rm_rf_at (AT_FDCWD, c->dir, &ignored) < 0)
    fk_error_clear (&ignored);
}

void
oci_container_close (oci_container_t *c)
{
  /* Unlocked explicitly: a container's process, cloned while the lock was held, shares the
     open file description until it execs, and would hold the lock that long. */
  if (c->dirfd >= 0)
    {
      flock (c->dirfd, LOCK_UN);
      close (c->dirfd);
    }
  free (c->id);
  free (c->dir);
  fk_oci_state_clear (&c->state);
  memset (c, 0, sizeof *c);
  c->dirfd = -1;
}

int
oci_write_pid_file (const char *path, pid_t pid, fk_error_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d", (int)pid);
  return fk_write_file_atomic_at (AT_FDCWD, path, buf, (size_t)n, 0644, err);
}

void
oci_config_opts (const char *id, const char *bundle, const fk_cgroup_layout_t *cg,
                 fk_oci_opts_t *ret)
{
  /* v1 hierarchies: the directories (not links) of the cgroup root but the unified one. */
  static char *names[32];
  static size_t n;
  if (n == 0 && cg->version == FK_CGROUP_V1)
    {
      DIR *d = opendir (cg->root);
      struct dirent *de;
      while (d && (de = readdir (d)) != NULL && n < 31)
        if (de->d_type == DT_DIR && de->d_name[0] != '.' && strcmp (de->d_name, "unified") != 0)
          names[n++] = xstrdup (de->d_name);
      if (d)
        closedir (d);
    }
  *ret = (fk_oci_opts_t){
    .id = id,
    .bundle = bundle,
    .systemd_cgroup = oci_g.systemd_cgroup,
    .cgroup_v2 = cg->version == FK_CGROUP_V2,
    .cgroup_v1 = (const char *const *)names,
    .cgroup_root = cg->root,
    .host_checks = 1,
  };
}

int
oci_container_plan (const oci_container_t *c, fk_plan_t *ret_plan, fk_oci_info_t *ret_info,
                    fk_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (c->dirfd, "config.json", FK_OCI_CONFIG_MAX, &text, &len, err) < 0)
    return -1;
  fk_cgroup_layout_t cg = { 0 };
  if (fk_cgroup_detect (NULL, &cg, err) < 0)
    return -1;
  fk_oci_opts_t opts;
  oci_config_opts (c->id, c->state.bundle, &cg, &opts);
  opts.host_checks = 0;
  int r = fk_oci_config_to_plan (text, len, &opts, ret_plan, ret_info, err);
  fk_cgroup_layout_free (&cg);
  return r;
}
