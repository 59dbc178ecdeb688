/* image/layer.h: applies one OCI layer (tar, tar+gzip, tar+zstd) onto an empty directory, in the
   overlay format, treating the layer as untrusted input. */
#ifndef FK_IMAGE_LAYER_H
#define FK_IMAGE_LAYER_H

#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"

/* Default cap on the bytes a layer may claim (sum of regular file sizes, sparse files counted
   at their full length): 32 GiB. */
#define FK_LAYER_DEFAULT_MAX_SIZE (UINT64_C (32) << 30)

typedef enum
{
  FK_LAYER_COMPRESSION_NONE = 0,
  FK_LAYER_COMPRESSION_GZIP = 1,
  FK_LAYER_COMPRESSION_ZSTD = 2,
} fk_layer_compression_t;

typedef struct fk_layer_opts
{
  /* Cap on the total size of regular files (their claimed sizes); 0 means
     FK_LAYER_DEFAULT_MAX_SIZE. Exceeding it fails the apply with EFBIG. */
  uint64_t max_size;
  /* When set, every created file is owned by the unpacking user instead of the image owner
     (uid/gid as in the tar need root on the host). */
  int ignore_owners;
} fk_layer_opts_t;

typedef struct fk_layer_stats
{
  char diff_id[FK_DIGEST_STR_LEN]; /* "sha256:<hex>" of the uncompressed tar stream */
  uint64_t tar_size;               /* bytes of the uncompressed tar stream */
  uint64_t unpacked_size;          /* sum of regular file sizes */
  uint64_t entries;                /* tar entries read */
  uint64_t whiteouts;              /* `.wh.NAME' entries turned into 0/0 char devices */
  uint64_t opaque_dirs;            /* `.wh..wh..opq' entries turned into the opaque xattr */
  uint64_t skipped;                /* entries skipped with a warning (device nodes, ...) */
  fk_layer_compression_t compression;
} fk_layer_stats_t;

/* The name of a compression ("none", "gzip", "zstd"). */
const char *fk_layer_compression_name (fk_layer_compression_t c);

/* Unpacks the layer blob readable from blobfd (read from its current offset to EOF; tar,
   tar+gzip or tar+zstd, detected by magic) into the empty directory rootfd, keeping owners,
   modes (setuid/setgid included), mtimes, xattrs, hard links and symlinks (stored as they are,
   never followed). `.wh.NAME' becomes an overlay whiteout (char device 0/0) and `.wh..wh..opq'
   the xattr trusted.overlay.opaque=y on its directory, so the layer directories of an image
   stack as overlay lower dirs.

   Untrusted input: an entry path is resolved below rootfd one component at a time and never
   through a symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); a leading `/' is dropped
   (absolute paths are relative to the layer root, as every OCI tool reads them). The layer is
   rejected, with err naming the entry and the reason, for: a `..' component, an entry below a
   symlink of the same layer, a hard link to a missing or out-of-root target, a whiteout of
   `.'/`..', a claimed size beyond opts->max_size, a truncated or corrupt stream, data after the
   tar end-of-archive marker, a compression other than gzip/zstd. Block and char device nodes
   and trusted.overlay.* xattrs are skipped with a warning (counted in ret_stats->skipped).
   Nothing outside rootfd is ever created, written or followed.

   opts may be NULL (defaults). ret_stats (may be NULL) is written only on success. On failure
   rootfd holds a partial tree the caller removes (fk_rm_rf_at handles its modes). */
int fk_layer_apply (int rootfd, int blobfd, const fk_layer_opts_t *opts,
                    fk_layer_stats_t *ret_stats, fk_error_t *err);

#endif
