/* sandbox/mount.c: overlay root and pivot_root. The disk limit is the size of the one tmpfs
   that holds everything a sandbox can write: the overlay's upper dir, /tmp and /dev/shm (its
   inodes bounded too). Writing past it gets ENOSPC inside, it costs nothing at create (tmpfs
   allocates as written), and its pages are charged to the memory cgroup of whoever writes them.
   The overlay is built on the host side (init user namespace) so it reads the layers' trusted.*
   xattrs (opaque dirs) and accepts the detached idmapped layers; the sandbox attaches it. */
#include "sandbox/mount.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

int
fk_mount_new (const char *fstype, const char *const *options, unsigned attrs, int *ret_fd,
              fk_error_t *err)
{
  cleanup_close int fs = fsopen (fstype, FSOPEN_CLOEXEC);
  if (fs < 0)
    return fk_error_set_errno (err, "fsopen `%s'", fstype);
  for (size_t i = 0; options && options[i]; i++)
    {
      char key[256]; /* no allocation: this runs in the sandbox's child (see launch.c) */
      if (snprintf (key, sizeof key, "%s", options[i]) >= (int)sizeof key)
        return fk_error_set (err, ENAMETOOLONG, "%s option `%s'", fstype, options[i]);
      char *value = strchr (key, '=');
      int r;
      if (value)
        {
          *value++ = '\0';
          r = fsconfig (fs, FSCONFIG_SET_STRING, key, value, 0);
        }
      else
        r = fsconfig (fs, FSCONFIG_SET_FLAG, key, NULL, 0);
      if (r < 0)
        return fk_error_set_errno (err, "%s option `%s'", fstype, options[i]);
    }
  if (fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return fk_error_set_errno (err, "create a `%s' filesystem", fstype);
  int mfd = fsmount (fs, FSMOUNT_CLOEXEC, attrs);
  if (mfd < 0)
    return fk_error_set_errno (err, "fsmount `%s'", fstype);
  *ret_fd = mfd;
  return 0;
}

int
fk_mount_attach_in_root (int rootfd, const char *path, int mfd, int create, int file,
                         fk_error_t *err)
{
  if (create)
    {
      if (file)
        {
          cleanup_free char *dir = NULL, *base = NULL;
          fk_path_split (path, &dir, &base);
          if (fk_mkdir_p_in_root (rootfd, dir, 0755, err) < 0)
            return -1;
          int fd = fk_open_in_root (rootfd, path, O_WRONLY | O_CREAT, 0644, err);
          if (fd < 0)
            return -1;
          close (fd);
        }
      else if (fk_mkdir_p_in_root (rootfd, path, 0755, err) < 0)
        return -1;
    }
  cleanup_close int target = fk_open_in_root (rootfd, path, O_PATH, 0, err);
  if (target < 0)
    return -1;
  if (move_mount (mfd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return fk_error_set_errno (err, "mount on `/%s'", path);
  return 0;
}

int
fk_mount_rebind_in_root (int rootfd, const char *path, unsigned attrs, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int target = fk_open_in_root (rootfd, path, O_PATH, 0, &local);
  if (target < 0)
    {
      int missing = local.code == ENOENT;
      if (missing)
        {
          fk_error_clear (&local);
          return 0;
        }
      fk_error_set (err, local.code, "%s", fk_error_message (&local));
      fk_error_clear (&local);
      return -1;
    }
  cleanup_close int clone
      = open_tree (target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (clone < 0)
    return fk_error_set_errno (err, "clone the mount at `/%s'", path);
  struct mount_attr attr = { .attr_set = attrs };
  if (mount_setattr (clone, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
    return fk_error_set_errno (err, "set attributes of `/%s'", path);
  if (move_mount (clone, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return fk_error_set_errno (err, "mount on `/%s'", path);
  return 0;
}

/* One inode per 4 KiB of disk: an empty file costs no data pages but about 1 KiB of kernel
   memory, so without a bound 100,000 empty files cost 100 MB that no `size' limit counts. */
#define BYTES_PER_INODE 4096u

int
fk_mount_build_disk (uint64_t disk_bytes, uid_t root_uid, gid_t root_gid, int *ret_fd,
                     fk_error_t *err)
{
  char size_opt[64], inodes_opt[64];
  snprintf (size_opt, sizeof size_opt, "size=%" PRIu64, disk_bytes);
  uint64_t inodes = disk_bytes / BYTES_PER_INODE;
  snprintf (inodes_opt, sizeof inodes_opt, "nr_inodes=%" PRIu64, inodes < 64 ? 64 : inodes);
  /* disk_bytes 0: no bound at all, neither bytes nor inodes. */
  const char *tmpfs_opts[] = { "mode=0755", disk_bytes ? size_opt : NULL, inodes_opt, NULL };
  cleanup_close int top = -1;
  if (fk_mount_new ("tmpfs", tmpfs_opts, MOUNT_ATTR_NODEV, &top, err) < 0)
    return fk_error_wrap (err, "writable layer");
  if (mkdirat (top, "upper", 0755) < 0 || mkdirat (top, "work", 0700) < 0)
    return fk_error_set_errno (err, "make the upper and work dirs");
  /* /tmp and /dev/shm are directories of the same tmpfs, so the disk limit bounds their sum
     with the root's changes; mkdir's mode is masked by the umask, hence the chmod. */
  static const char *const shared[] = { "tmp", "shm" };
  for (size_t i = 0; i < 2; i++)
    if (mkdirat (top, shared[i], 01777) < 0 || fchmodat (top, shared[i], 01777, 0) < 0
        || fchownat (top, shared[i], root_uid, root_gid, 0) < 0)
      return fk_error_set_errno (err, "make the scratch dir `%s'", shared[i]);
  /* The agent's log lives here too, outside the sandbox's root but on its disk. */
  cleanup_close int log = openat (top, "agent.log", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (log < 0 || fchown (log, root_uid, root_gid) < 0)
    return fk_error_set_errno (err, "make the agent's log");
  /* The root of the sandbox is the upper dir: owned by the sandbox's root. */
  if (fchownat (top, "upper", root_uid, root_gid, 0) < 0)
    return fk_error_set_errno (err, "chown the upper dir");
  *ret_fd = steal_fd (&top);
  return 0;
}

int
fk_mount_build_overlay (const int *layer_fds, size_t n_layers, int disk_fd, int *ret_fd,
                        fk_error_t *err)
{
  if (n_layers == 0)
    return fk_error_set (err, EINVAL, "a sandbox needs at least one layer");
  int top = disk_fd;
  cleanup_close int fs = fsopen ("overlay", FSOPEN_CLOEXEC);
  if (fs < 0)
    return fk_error_set_errno (err, "fsopen overlay");
  /* The layers are detached idmapped mounts: they have no path but /proc/self/fd. "lowerdir+"
     takes one at a time, top first. */
  for (size_t i = n_layers; i-- > 0;)
    {
      char lower[64];
      snprintf (lower, sizeof lower, "/proc/self/fd/%d", layer_fds[i]);
      if (fsconfig (fs, FSCONFIG_SET_STRING, "lowerdir+", lower, 0) < 0)
        return fk_error_set_errno (err, "overlay: add layer %zu", i);
    }
  char upper[64], work[64];
  snprintf (upper, sizeof upper, "/proc/self/fd/%d/upper", top);
  snprintf (work, sizeof work, "/proc/self/fd/%d/work", top);
  if (fsconfig (fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0
      || fsconfig (fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
    return fk_error_set_errno (err, "overlay: upper and work dirs");
  if (fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return fk_error_set_errno (err, "create the overlay");
  int root = fsmount (fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
  if (root < 0)
    return fk_error_set_errno (err, "fsmount the overlay");
  *ret_fd = root;
  return 0;
}

int
fk_mount_attach_scratch (int scratch_fd, int *ret_tmp_fd, int *ret_shm_fd, fk_error_t *err)
{
  /* A detached mount's subdirectory cannot be cloned; attached in this private namespace (on
     the staging point, under the root that fk_mount_attach_root stacks on it) it can. The
     attachment goes with the old root at pivot; the clones stay. */
  cleanup_close int target = open ("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (target < 0)
    return fk_error_set_errno (err, "open the staging point /tmp");
  if (move_mount (scratch_fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    return fk_error_set_errno (err, "attach the writable layer");
  cleanup_close int tmp = open_tree (AT_FDCWD, "/tmp/tmp", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tmp < 0)
    return fk_error_set_errno (err, "clone the scratch /tmp");
  cleanup_close int shm = open_tree (AT_FDCWD, "/tmp/shm", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (shm < 0)
    return fk_error_set_errno (err, "clone the scratch /dev/shm");
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
  if (mount_setattr (tmp, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return fk_error_set_errno (err, "set attributes of /tmp");
  attr.attr_set |= MOUNT_ATTR_NOEXEC;
  if (mount_setattr (shm, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return fk_error_set_errno (err, "set attributes of /dev/shm");
  *ret_tmp_fd = steal_fd (&tmp);
  *ret_shm_fd = steal_fd (&shm);
  return 0;
}

int
fk_mount_attach_root (int overlay_fd, fk_error_t *err)
{
  /* pivot_root wants the new root attached in this namespace. The staging point must be
     reachable by root of the user namespace, which the host's state dir is not (and an fd
     opened before clone names the parent's mount, not ours): /tmp is, and covering it here
     changes nothing on the host, this mount namespace being private. */
  cleanup_close int target = open ("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (target < 0)
    return fk_error_set_errno (err, "open the staging point /tmp");
  if (move_mount (overlay_fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    return fk_error_set_errno (err, "attach the root overlay");
  return 0;
}

int
fk_mount_pivot (int rootfd, fk_error_t *err)
{
  if (fchdir (rootfd) < 0)
    return fk_error_set_errno (err, "chdir to the new root");
  /* pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it, with
     no directory needed inside the image to park it in. */
  if (syscall (SYS_pivot_root, ".", ".") < 0)
    return fk_error_set_errno (err, "pivot_root");
  if (umount2 (".", MNT_DETACH) < 0)
    return fk_error_set_errno (err, "detach the old root");
  if (chdir ("/") < 0)
    return fk_error_set_errno (err, "chdir /");
  return 0;
}
