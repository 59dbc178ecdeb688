/* sandbox/procfs.c: masked and read-only paths as in the default OCI profile of Docker and crun. */
#include "sandbox/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "sandbox/mount.h"

/* Beyond that profile: the host's boot line (/proc/cmdline) and the kernel's crash-dump notes
   (/sys/kernel/vmcoreinfo: the physical address of its notes) say nothing a sandbox needs. */
static const char *const masked[] = {
  "proc/acpi",
  "proc/asound",
  "proc/cmdline",
  "proc/interrupts",
  "proc/kcore",
  "proc/keys",
  "proc/latency_stats",
  "proc/sched_debug",
  "proc/scsi",
  "proc/timer_list",
  "proc/timer_stats",
  "sys/firmware",
  "sys/devices/virtual/powercap",
  "sys/kernel/security",
  "sys/kernel/debug",
  "sys/kernel/vmcoreinfo",
  NULL,
};

static const char *const readonly[] = {
  "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger", NULL,
};

const char *const *
fk_procfs_masked_paths (void)
{
  return masked;
}

const char *const *
fk_procfs_readonly_paths (void)
{
  return readonly;
}

/* path is relative to rootfd. */
static int
mask (int rootfd, const char *path, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int target = fk_open_in_root (rootfd, path, O_PATH, 0, &local);
  if (target < 0)
    {
      int missing = local.code == ENOENT;
      fk_error_clear (&local);
      return missing ? 0 : fk_error_set (err, EIO, "mask `/%s': cannot open it", path);
    }
  struct stat st;
  if (fstat (target, &st) < 0)
    return fk_error_set_errno (err, "stat `/%s'", path);
  cleanup_close int cover = -1;
  if (S_ISDIR (st.st_mode))
    {
      static const char *const opts[] = { "size=4096", "mode=0555", NULL };
      if (fk_mount_new ("tmpfs", opts,
                        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
                            | MOUNT_ATTR_NOEXEC,
                        &cover, err)
          < 0)
        return fk_error_wrap (err, "mask `/%s'", path);
    }
  else
    {
      /* The sandbox's own /dev/null, already a bind of the host's. */
      cover = fk_open_in_root (rootfd, "dev/null", O_PATH, 0, err);
      if (cover < 0)
        return -1;
      int clone = open_tree (cover, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
      if (clone < 0)
        return fk_error_set_errno (err, "clone /dev/null");
      close (cover);
      cover = clone;
    }
  if (move_mount (cover, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return fk_error_set_errno (err, "mask `/%s'", path);
  return 0;
}

int
fk_procfs_mount (int rootfd, const char *dest, fk_error_t *err)
{
  cleanup_close int proc = -1;
  if (fk_mount_new ("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, &proc,
                    err)
      < 0)
    return fk_error_wrap (err, "%s", dest);
  return fk_mount_attach_in_root (rootfd, dest, proc, 1, 0, err);
}

int
fk_sysfs_mount (int rootfd, const char *dest, fk_error_t *err)
{
  unsigned attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  cleanup_close int sys = -1;
  /* A fresh sysfs shows the sandbox's own network namespace; the kernel allows it because the
     user namespace owns that network namespace. */
  if (fk_mount_new ("sysfs", NULL, attrs, &sys, err) < 0)
    return fk_error_wrap (err, "%s", dest);
  return fk_mount_attach_in_root (rootfd, dest, sys, 1, 0, err);
}

int
fk_procfs_mask (int rootfd, const char *path, fk_error_t *err)
{
  return mask (rootfd, path, err);
}
