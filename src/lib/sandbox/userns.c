/* sandbox/userns.c: idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) instead of shifting owners
   at unpack: one unpacked copy of a layer serves every sandbox whatever its mapping, creating a
   sandbox costs no chown walk, and the layers stay byte-identical to the image. */
#include "sandbox/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

int
fk_userns_write_map (pid_t pid, const char *file, const char *map, fk_error_t *err)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/%s", (int)pid, file);
  cleanup_close int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  /* The kernel takes a map in a single write. */
  if (write (fd, map, strlen (map)) != (ssize_t)strlen (map))
    return fk_error_set_errno (err, "write `%s'", path);
  return 0;
}

int
fk_userns_idmapped_tree (int userns_fd, const char *path, int readonly, int *ret_fd,
                         fk_error_t *err)
{
  cleanup_close int fd = open_tree (AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "clone the tree of layer `%s'", path);
  struct mount_attr attr = {
    .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0),
    .userns_fd = (uint64_t)userns_fd,
  };
  if (mount_setattr (fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return fk_error_set_errno (err, "idmap layer `%s'", path);
  *ret_fd = steal_fd (&fd);
  return 0;
}
