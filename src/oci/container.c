/* oci/container.c: the state of one container: <root>/<id>/ holding state.json, the copy of
   config.json it was made from and the start fifo; flock on the directory serialises verbs on
   one container. */
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
#include "base/json.h"
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

static char *
dup_str (json_t *o, const char *key)
{
  const char *s = json_string_value (json_object_get (o, key));
  return s ? xstrdup (s) : NULL;
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
  cleanup_json json_t *o = NULL;
  if (fk_json_load_file_at (c.dirfd, "state.json", 1 << 20, &o, err) < 0 || !json_is_object (o))
    {
      if (!partial_ok)
        {
          oci_container_close (&c);
          return err->code ? fk_error_wrap (err, "container `%s'", id)
                           : fk_error_set (err, EINVAL, "container `%s': broken state", id);
        }
      fk_error_clear (err);
      *ret = c;
      return 0;
    }
  c.pid = (pid_t)json_integer_value (json_object_get (o, "pid"));
  c.pid_start = (unsigned long long)json_integer_value (json_object_get (o, "pid_start"));
  c.bundle = dup_str (o, "bundle");
  c.rootfs = dup_str (o, "rootfs");
  c.created = dup_str (o, "created");
  c.cgroup = dup_str (o, "cgroup");
  c.oci_version = dup_str (o, "ociVersion");
  c.agent_socket = dup_str (o, "agent_socket");
  c.started = json_is_true (json_object_get (o, "started"));
  c.annotations = json_incref (json_object_get (o, "annotations"));
  *ret = c;
  return 0;
}

int
oci_container_attach (const char *id, int partial_ok, oci_container_t *ret,
                      fk_cgroup_layout_t *ret_cg, oci_status_t *ret_status, fk_error_t *err)
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
    *ret_status = oci_container_status (&c, &cg);
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
  cleanup_json json_t *o = json_pack (
      "{s:s,s:i,s:I,s:s?,s:s?,s:s?,s:s?,s:s?,s:b,s:O?,s:s?}", "id", c->id, "pid", (int)c->pid,
      "pid_start", (json_int_t)c->pid_start, "bundle", c->bundle, "rootfs", c->rootfs, "created",
      c->created, "cgroup", c->cgroup, "ociVersion", c->oci_version, "started", c->started,
      "annotations", c->annotations, "agent_socket", c->agent_socket);
  if (o == NULL)
    return fk_error_set (err, ENOMEM, "state of `%s'", c->id);
  return fk_json_dump_file_atomic_at (c->dirfd, "state.json", o, 0, err);
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
  free (c->bundle);
  free (c->rootfs);
  free (c->created);
  free (c->cgroup);
  free (c->oci_version);
  free (c->agent_socket);
  json_decref (c->annotations);
  memset (c, 0, sizeof *c);
  c->dirfd = -1;
}

/* Field 22 of /proc/PID/stat (start time), 0 when the pid is gone or a zombie. */
unsigned long long
oci_pid_start (pid_t pid)
{
  if (pid <= 0)
    return 0;
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  const char *p = strrchr (buf, ')');
  if (p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X')
    return 0;
  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  return p ? strtoull (p + 1, NULL, 10) : 0;
}

int
oci_write_pid_file (const char *path, pid_t pid, fk_error_t *err)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d", (int)pid);
  return fk_write_file_atomic_at (AT_FDCWD, path, buf, (size_t)n, 0644, err);
}

oci_status_t
oci_container_status (const oci_container_t *c, const fk_cgroup_layout_t *cg)
{
  if (c->pid <= 0 || oci_pid_start (c->pid) != c->pid_start)
    return OCI_STOPPED;
  fk_error_t e = FK_ERROR_INIT;
  if (c->cgroup && fk_cgroup_is_frozen (cg, c->cgroup, &e) == 1)
    return OCI_PAUSED;
  fk_error_clear (&e);
  return c->started ? OCI_RUNNING : OCI_CREATED;
}

const char *
oci_status_name (oci_status_t s)
{
  static const char *const names[] = { "created", "running", "paused", "stopped" };
  return names[s];
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
  oci_config_opts (c->id, c->bundle, &cg, &opts);
  opts.host_checks = 0;
  int r = fk_oci_config_to_plan (text, len, &opts, ret_plan, ret_info, err);
  fk_cgroup_layout_free (&cg);
  return r;
}
