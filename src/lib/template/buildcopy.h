/* template/buildcopy.h: the layers a build writes itself: COPY and ADD of context files, and the
   directory of a WORKDIR. The context is untrusted: every path is resolved below it (a symlink
   leading out is refused), `..' leading out is refused, sizes and entries are bounded, and
   `.dockerignore' applies. */
#ifndef FK_TEMPLATE_BUILDCOPY_H
#define FK_TEMPLATE_BUILDCOPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "base/digest.h"
#include "base/error.h"
#include "image/store.h"

#define FK_BUILD_COPY_MAX_BYTES (16ull << 30) /* bytes one COPY may put in a layer */
#define FK_BUILD_COPY_MAX_ENTRIES (1u << 20)  /* entries of one COPY layer */
#define FK_BUILD_IGNORE_MAX (1u << 20)        /* bytes of .dockerignore */

typedef struct fk_build_copy
{
  int ctxfd;                /* the context directory */
  char *const *ignore;      /* .dockerignore patterns (`!' negates), may be NULL */
  const char *const *lower; /* the layers' fs directories, BOTTOM FIRST */
  size_t n_lower;
  char *const *sources; /* relative to the context; none: only the dest directory */
  size_t n_sources;
  const char *dest; /* absolute; a trailing `/' names a directory */
  int has_owner;    /* else 0:0 */
  uint32_t uid, gid;
  int has_mode; /* --chmod */
  mode_t mode;
  int is_add; /* ADD: archives are refused, not unpacked */
} fk_build_copy_t;

/* Writes the layer (an uncompressed tar, entries sorted, parents of the destination with the
   lower layers' modes and owners), stores its blob and unpacks it. ret_digest is its digest
   (= diff_id), ret_size its size. */
int fk_build_copy_layer (fk_store_t *store, const fk_build_copy_t *c,
                         char ret_digest[FK_DIGEST_STR_LEN], uint64_t *ret_size, fk_error_t *err);

/* 1 with *ret_st when path (absolute) exists in the stacked layers (a whiteout hides it), else 0.
   Paths through symlinks count as missing. */
int fk_build_lower_stat (const char *const *lower, size_t n, const char *path, struct stat *ret_st);

/* `user[:group]' (names from the top layer's etc/passwd and etc/group, or numbers) as ids. */
int fk_build_owner (const char *const *lower, size_t n, const char *spec, uint32_t *ret_uid,
                    uint32_t *ret_gid, fk_error_t *err);

/* The context's .dockerignore patterns (none when it has none), NULL-terminated. */
int fk_build_ignore_load (int ctxfd, char ***ret, fk_error_t *err);

/* 1 when the context-relative path is ignored by the patterns. */
int fk_build_ignored (char *const *ignore, const char *path);

#endif
