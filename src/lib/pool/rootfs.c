/* pool/rootfs.c: see rootfs.h. */
#include "pool/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "user:x:1000:1000:user:/home/user:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n";

static int
copy_file (const char *from, int dirfd, const char *to, mode_t mode, fk_error_t *err)
{
  cleanup_close int in = open (from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return fk_error_set_errno (err, "open `%s'", from);
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (fk_read_all (in, 64u << 20, &data, &len, err) < 0)
    return fk_error_wrap (err, "read `%s'", from);
  return fk_write_file_atomic_at (dirfd, to, data, len, mode, err);
}

int
fk_busybox_rootfs_build (const char *dir, fk_error_t *err)
{
  if (access (FK_BUSYBOX_PATH, X_OK) < 0)
    return fk_error_set_errno (err, "`%s' (install busybox-static)", FK_BUSYBOX_PATH);
  if (fk_mkdir_p (dir, 0755, err) < 0)
    return -1;
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fk_error_set_errno (err, "open `%s'", dir);
  static const char *const dirs[]
      = { "bin",  "sbin", "usr", "usr/bin", "usr/sbin",  "etc", "root",   "tmp",
          "proc", "sys",  "dev", "home",    "home/user", "var", "var/tmp" };
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mkdirat (dfd, dirs[i], 0755) < 0 && errno != EEXIST)
      return fk_error_set_errno (err, "mkdir `%s/%s'", dir, dirs[i]);
  if (fchmodat (dfd, "tmp", 01777, 0) < 0 || fchmodat (dfd, "var/tmp", 01777, 0) < 0)
    return fk_error_set_errno (err, "chmod `%s/tmp'", dir);
  if (fchownat (dfd, "home/user", 1000, 1000, 0) < 0)
    return fk_error_set_errno (err, "chown `%s/home/user'", dir);
  if (copy_file (FK_BUSYBOX_PATH, dfd, "bin/busybox", 0755, err) < 0
      || fk_write_file_atomic_at (dfd, "etc/passwd", passwd, sizeof passwd - 1, 0644, err) < 0
      || fk_write_file_atomic_at (dfd, "etc/group", group, sizeof group - 1, 0644, err) < 0)
    return fk_error_wrap (err, "busybox root `%s'", dir);
  cleanup_file FILE *list = popen (FK_BUSYBOX_PATH " --list-full", "re");
  if (list == NULL)
    return fk_error_set_errno (err, "run `%s --list-full'", FK_BUSYBOX_PATH);
  char line[256];
  int n = 0;
  while (fgets (line, sizeof line, list) != NULL)
    {
      line[strcspn (line, "\n")] = '\0';
      if (line[0] == '\0' || strcmp (line, "bin/busybox") == 0)
        continue;
      if (symlinkat ("/bin/busybox", dfd, line) < 0 && errno != EEXIST)
        {
          fk_error_set_errno (err, "symlink `%s/%s'", dir, line);
          pclose (list);
          list = NULL;
          return -1;
        }
      n++;
    }
  int st = pclose (list);
  list = NULL;
  if (st != 0 || n == 0)
    return fk_error_set (err, EIO, "`%s --list-full' failed (status %d, %d applets)",
                         FK_BUSYBOX_PATH, st, n);
  return 0;
}
