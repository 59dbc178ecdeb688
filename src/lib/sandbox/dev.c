/* sandbox/dev.c: minimal /dev; /dev/shm is a directory of the sandbox's disk (mount.h). */
#include "sandbox/dev.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "sandbox/mount.h"

static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

static const struct
{
  const char *name, *target;
} links[] = { { "ptmx", "pts/ptmx" },
              { "fd", "/proc/self/fd" },
              { "stdin", "/proc/self/fd/0" },
              { "stdout", "/proc/self/fd/1" },
              { "stderr", "/proc/self/fd/2" } };

int
fk_dev_setup (int rootfd, const char *dir, int shm_fd, fk_error_t *err)
{
  /* Writable, as programs expect, but bounded in bytes and inodes: it is not on the disk. */
  static const char *const dev_opts[] = { "mode=0755", "size=65536", "nr_inodes=64", NULL };
  cleanup_close int devfs = -1;
  if (fk_mount_new ("tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &devfs, err) < 0)
    return fk_error_wrap (err, "/dev");
  for (size_t i = 0; nodes[i]; i++)
    {
      cleanup_close int f = openat (devfs, nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (f < 0)
        return fk_error_set_errno (err, "create /dev/%s", nodes[i]);
    }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat (links[i].target, devfs, links[i].name) < 0)
      return fk_error_set_errno (err, "link /dev/%s", links[i].name);
  if (mkdirat (devfs, "pts", 0755) < 0 || mkdirat (devfs, "shm", 01777) < 0
      || mkdirat (devfs, "mqueue", 0755) < 0)
    return fk_error_set_errno (err, "make /dev/pts and /dev/shm");
  if (fk_mount_attach_in_root (rootfd, dir, devfs, 1, 0, err) < 0)
    return -1;

  for (size_t i = 0; nodes[i]; i++)
    {
      char host[64], path[PATH_MAX];
      snprintf (host, sizeof host, "/dev/%s", nodes[i]);
      if (snprintf (path, sizeof path, "%s/%s", dir, nodes[i]) >= (int)sizeof path)
        return fk_error_set (err, ENAMETOOLONG, "/dev path under `%s'", dir);
      cleanup_close int node = open_tree (AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
      if (node < 0)
        return fk_error_set_errno (err, "clone `%s'", host);
      if (fk_mount_attach_in_root (rootfd, path, node, 0, 0, err) < 0)
        return -1;
    }

  /* A private devpts instance: the sandbox sees only its own terminals. gid 5 is `tty'. */
  static const char *const pts_opts[]
      = { "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
  cleanup_close int pts = -1;
  if (fk_mount_new ("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &pts, err) < 0)
    return fk_error_wrap (err, "/dev/pts");
  char pts_path[PATH_MAX];
  if (snprintf (pts_path, sizeof pts_path, "%s/pts", dir) >= (int)sizeof pts_path)
    return fk_error_set (err, ENAMETOOLONG, "/dev/pts under `%s'", dir);
  if (fk_mount_attach_in_root (rootfd, pts_path, pts, 0, 0, err) < 0)
    return -1;

  char shm_path[PATH_MAX];
  if (snprintf (shm_path, sizeof shm_path, "%s/shm", dir) >= (int)sizeof shm_path)
    return fk_error_set (err, ENAMETOOLONG, "/dev/shm under `%s'", dir);
  if (fk_mount_attach_in_root (rootfd, shm_path, shm_fd, 0, 0, err) < 0)
    return -1;

  cleanup_close int mq = -1;
  if (fk_mount_new ("mqueue", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, &mq,
                    err)
      < 0)
    return fk_error_wrap (err, "/dev/mqueue");
  char mq_path[PATH_MAX];
  if (snprintf (mq_path, sizeof mq_path, "%s/mqueue", dir) >= (int)sizeof mq_path)
    return fk_error_set (err, ENAMETOOLONG, "/dev/mqueue under `%s'", dir);
  return fk_mount_attach_in_root (rootfd, mq_path, mq, 0, 0, err);
}
