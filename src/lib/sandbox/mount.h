/* sandbox/mount.h: the sandbox's root: an overlay of read-only layers over a private upper dir
   on a size-limited tmpfs, then pivot_root. Mounts are built with the fd-based mount API and
   attached through fds resolved inside the root, so no path of the image can lead outside. */
#ifndef FK_SANDBOX_MOUNT_H
#define FK_SANDBOX_MOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* A new detached mount of fstype with string options ("key=value", or a bare flag key),
   NULL-terminated, and mount attributes (MOUNT_ATTR_*). Returns the mount fd. */
int fk_mount_new (const char *fstype, const char *const *options, unsigned attrs, int *ret_fd,
                  fk_error_t *err);

/* Attaches mount fd mfd on path below rootfd (resolved inside the root). When create is set the
   mount point is made: a directory, or an empty file when file is set. */
int fk_mount_attach_in_root (int rootfd, const char *path, int mfd, int create, int file,
                             fk_error_t *err);

/* Re-mounts path below rootfd onto itself with attrs added (MOUNT_ATTR_RDONLY...). A missing
   path is success: what an image lacks needs no protecting. */
int fk_mount_rebind_in_root (int rootfd, const char *path, unsigned attrs, fk_error_t *err);

/* Host side: the sandbox's disk, a detached tmpfs disk_bytes large (0: no bound) with one
   inode per 4 KiB of it, holding the upper and work dirs of an overlay root, the dirs `tmp' and
   `shm' (mode 1777) and the file `agent.log' (0600), owned by root_uid:root_gid (the sandbox's
   root). For fk_mount_attach_scratch in the sandbox, and for files the host keeps there. */
int fk_mount_build_disk (uint64_t disk_bytes, uid_t root_uid, gid_t root_gid, int *ret_fd,
                         fk_error_t *err);

/* Host side: a detached overlay of layer_fds (idmapped detached mounts, BOTTOM FIRST) over the
   upper dir of the disk disk_fd (fk_mount_build_disk). Returns the overlay's mount fd. */
int fk_mount_build_overlay (const int *layer_fds, size_t n_layers, int disk_fd, int *ret_fd,
                            fk_error_t *err);

/* Sandbox side, before fk_mount_attach_root: attaches the scratch tmpfs on the staging point and
   returns detached clones of its `tmp' (nosuid, nodev) and `shm' (also noexec) dirs, to mount
   on /tmp and /dev/shm. */
int fk_mount_attach_scratch (int scratch_fd, int *ret_tmp_fd, int *ret_shm_fd, fk_error_t *err);

/* Sandbox side: attaches the overlay (from fk_mount_build_overlay) in the calling, private mount
   namespace, on /tmp as a staging point; overlay_fd then serves as the root fd. */
int fk_mount_attach_root (int overlay_fd, fk_error_t *err);

/* Makes rootfd the root (pivot_root) and detaches the old one; cwd becomes "/". */
int fk_mount_pivot (int rootfd, fk_error_t *err);

#endif
