/* bench/rootfs.c: a busybox root filesystem. */
#include "bench/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

static int
copy_file (int from, int to, fk_error_t *err)
{
  for (;;)
    {
      char buf[65536];
      ssize_t n = read (from, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read busybox");
      if (n == 0)
        return 0;
      if (fk_write_all (to, buf, (size_t)n, err) < 0)
        return -1;
    }
}

int
fk_bench_busybox_rootfs (const char *dir, const char *busybox, fk_error_t *err)
{
  static const char *const dirs[]
      = { "bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "usr/bin", NULL };
  static const char *const applets[]
      = { "sh", "true", "sleep", "cat", "echo", "id", "printf", "ls", NULL };
  static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n";
  static const char group[] = "root:x:0:\n";

  cleanup_close int src = open (busybox, O_RDONLY | O_CLOEXEC);
  if (src < 0)
    return fk_error_set_errno (err, "open `%s' (install busybox-static, or give a rootfs)",
                               busybox);
  if (mkdir (dir, 0755) < 0)
    return fk_error_set_errno (err, "make rootfs `%s'", dir);
  /* The umask must not narrow what a user namespace's root needs to enter. */
  if (chmod (dir, 0755) < 0)
    return fk_error_set_errno (err, "chmod `%s'", dir);
  cleanup_close int root = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return fk_error_set_errno (err, "open rootfs `%s'", dir);
  for (size_t i = 0; dirs[i]; i++)
    if (mkdirat (root, dirs[i], 0755) < 0 || fchmodat (root, dirs[i], 0755, 0) < 0)
      return fk_error_set_errno (err, "make `%s/%s'", dir, dirs[i]);
  if (fchmodat (root, "tmp", 01777, 0) < 0)
    return fk_error_set_errno (err, "chmod `%s/tmp'", dir);
  cleanup_close int dst
      = openat (root, "bin/busybox", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (dst < 0)
    return fk_error_set_errno (err, "create `%s/bin/busybox'", dir);
  if (copy_file (src, dst, err) < 0 || fchmod (dst, 0755) < 0)
    return fk_error_wrap (err, "copy `%s' to `%s/bin/busybox'", busybox, dir);
  for (size_t i = 0; applets[i]; i++)
    {
      char path[64];
      strcpy (path, "bin/");
      strcat (path, applets[i]);
      if (symlinkat ("busybox", root, path) < 0)
        return fk_error_set_errno (err, "symlink `%s/%s'", dir, path);
    }
  if (fk_write_file_atomic_at (root, "etc/passwd", passwd, sizeof passwd - 1, 0644, err) < 0
      || fk_write_file_atomic_at (root, "etc/group", group, sizeof group - 1, 0644, err) < 0)
    return -1;
  return 0;
}
