/* bench/rootfs.c: see rootfs.h. */
#include "bench/rootfs.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "user:x:1000:1000:user:/home/user:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n";

/* clang-format off */
static const struct
{
  const char *path;
  mode_t mode;
} dirs[] = {
  { "bin", 0755 }, { "sbin", 0755 }, { "usr", 0755 }, { "usr/bin", 0755 }, { "usr/sbin", 0755 },
  { "etc", 0755 }, { "root", 0700 }, { "run", 0755 }, { "tmp", 01777 }, { "var", 0755 },
  { "var/tmp", 01777 }, { "proc", 0755 }, { "sys", 0755 }, { "dev", 0755 }, { "home", 0755 },
  { "home/user", 0755 },
};
/* clang-format on */

/* A dynamically linked busybox has a program interpreter (PT_INTERP) the root does not hold. */
static int
check_static (int fd, const char *path, fk_error_t *err)
{
  Elf64_Ehdr eh;
  if (pread (fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh
      || memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64)
    return fk_error_set (err, ENOEXEC, "`%s' is not a 64-bit ELF program (install busybox-static)",
                         path);
  for (unsigned i = 0; i < eh.e_phnum; i++)
    {
      Elf64_Phdr ph;
      if (pread (fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize))
          != (ssize_t)sizeof ph)
        return fk_error_set (err, ENOEXEC, "`%s': truncated ELF program headers", path);
      if (ph.p_type == PT_INTERP)
        return fk_error_set (err, ENOEXEC, "`%s' is not static (install busybox-static)", path);
    }
  return 0;
}

static int
copy_file (int from, int to, fk_error_t *err)
{
  for (off_t off = 0;;)
    {
      char buf[65536];
      ssize_t n = pread (from, buf, sizeof buf, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read busybox");
      if (n == 0)
        return 0;
      if (fk_write_all (to, buf, (size_t)n, err) < 0)
        return -1;
      off += n;
    }
}

/* The output of `busybox --list-full': one path per line, "bin/sh", "usr/bin/env" ... */
static int
list_applets (const char *busybox, char **ret_list, fk_error_t *err)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return fk_error_set_errno (err, "pipe");
  pid_t pid = fork ();
  if (pid < 0)
    {
      close (p[0]);
      close (p[1]);
      return fk_error_set_errno (err, "fork");
    }
  if (pid == 0)
    {
      char *const argv[] = { (char *)"busybox", (char *)"--list-full", NULL };
      if (dup2 (p[1], 1) == 1)
        execv (busybox, argv);
      _exit (127);
    }
  close (p[1]);
  size_t len;
  int ret = fk_read_all (p[0], 1u << 20, ret_list, &len, err);
  close (p[0]);
  int st;
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "wait for `%s --list-full'", busybox);
  if (ret == 0 && (!WIFEXITED (st) || WEXITSTATUS (st) != 0 || len == 0))
    {
      free (*ret_list);
      *ret_list = NULL;
      return fk_error_set (err, EIO, "`%s --list-full' failed (status 0x%x)", busybox, st);
    }
  return ret;
}

int
fk_bench_busybox_rootfs (const char *dir, const char *busybox, fk_error_t *err)
{
  cleanup_close int src = open (busybox, O_RDONLY | O_CLOEXEC);
  if (src < 0)
    return fk_error_set_errno (err, "open `%s' (install busybox-static, or give a rootfs)",
                               busybox);
  if (check_static (src, busybox, err) < 0)
    return -1;
  cleanup_free char *parent = NULL, *base = NULL;
  fk_path_split (dir, &parent, &base);
  if (fk_mkdir_p (parent, 0755, err) < 0)
    return -1;
  if (mkdir (dir, 0755) < 0)
    return fk_error_set_errno (err, "make rootfs `%s'", dir);
  /* The umask must not narrow what a user namespace's root needs to enter. */
  if (chmod (dir, 0755) < 0)
    return fk_error_set_errno (err, "chmod `%s'", dir);
  cleanup_close int root = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return fk_error_set_errno (err, "open rootfs `%s'", dir);
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (mkdirat (root, dirs[i].path, 0700) < 0
        || fchmodat (root, dirs[i].path, dirs[i].mode, 0) < 0)
      return fk_error_set_errno (err, "make `%s/%s'", dir, dirs[i].path);
  if (fchownat (root, "home/user", 1000, 1000, 0) < 0)
    return fk_error_set_errno (err, "chown `%s/home/user'", dir);
  cleanup_close int dst
      = openat (root, "bin/busybox", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (dst < 0)
    return fk_error_set_errno (err, "create `%s/bin/busybox'", dir);
  if (copy_file (src, dst, err) < 0 || fchmod (dst, 0755) < 0)
    return fk_error_wrap (err, "copy `%s' to `%s/bin/busybox'", busybox, dir);
  if (fk_write_file_atomic_at (root, "etc/passwd", passwd, sizeof passwd - 1, 0644, err) < 0
      || fk_write_file_atomic_at (root, "etc/group", group, sizeof group - 1, 0644, err) < 0)
    return fk_error_wrap (err, "busybox root `%s'", dir);
  cleanup_free char *list = NULL;
  if (list_applets (busybox, &list, err) < 0)
    return -1;
  char *save = NULL;
  for (char *line = strtok_r (list, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      if (strcmp (line, "bin/busybox") == 0)
        continue;
      /* Applet paths are relative and lie in the directories made above. */
      if (line[0] == '/' || strstr (line, "..") != NULL)
        return fk_error_set (err, EINVAL, "`%s --list-full': unexpected path `%s'", busybox, line);
      if (symlinkat ("/bin/busybox", root, line) < 0 && errno != EEXIST)
        return fk_error_set_errno (err, "symlink `%s/%s'", dir, line);
    }
  return 0;
}
