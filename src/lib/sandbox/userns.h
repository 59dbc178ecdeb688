/* sandbox/userns.h: the user namespace: uid/gid 0 inside maps to an unprivileged host range, and
   the template's layer directories are idmapped into it, so image owners show unchanged inside. */
#ifndef FK_SANDBOX_USERNS_H
#define FK_SANDBOX_USERNS_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Sandbox ids 0..FK_USERNS_SIZE-1 map to host ids FK_USERNS_HOST_BASE.. (uids and gids). */
#define FK_USERNS_HOST_BASE 1000000000u
#define FK_USERNS_SIZE 65536u

/* Writes map ("inside outside count" lines) to file (uid_map or gid_map) of pid. */
int fk_userns_write_map (pid_t pid, const char *file, const char *map, fk_error_t *err);

/* A detached idmapped clone of the directory tree at path (read-only when readonly): files owned
   by host id N show as id N inside the user namespace userns_fd. Returns the mount fd. */
int fk_userns_idmapped_tree (int userns_fd, const char *path, int readonly, int *ret_fd,
                             fk_error_t *err);

#endif
