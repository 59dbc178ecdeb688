/* image/layer.h: applies one OCI layer (tar, tar+gzip, tar+zstd) onto an empty directory, in the
   overlay format, treating the layer as untrusted input. */
#ifndef FK_IMAGE_LAYER_H
#define FK_IMAGE_LAYER_H

#include <stdint.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"
#include "image/tarstream.h" /* fk_layer_compression_t */

/* Default cap on the bytes a layer may claim (sum of regular file sizes, sparse files counted
   at their full length): 32 GiB. */
#define FK_LAYER_DEFAULT_MAX_SIZE (UINT64_C (32) << 30)
/* Default cap on the entries of a layer (4 Mi; a Debian base image has about 7000). */
#define FK_LAYER_DEFAULT_MAX_ENTRIES (UINT64_C (4) << 20)
/* Deepest entry path accepted, in components: deeper trees cannot be removed with one fd per
   level under the usual 1024-fd limit, and no real image comes close. */
#define FK_LAYER_MAX_DEPTH 512

typedef struct fk_layer_opts
{
  /* Cap on the total size of regular files (their claimed sizes); 0 means
     FK_LAYER_DEFAULT_MAX_SIZE. Exceeding it fails the apply with EFBIG. */
  uint64_t max_size;
  /* Cap on the number of tar entries; 0 means FK_LAYER_DEFAULT_MAX_ENTRIES. Empty files cost
     a 512-byte header and compress to almost nothing: this bounds the inodes a layer makes. */
  uint64_t max_entries;
  /* When set, every created file is owned by the unpacking user instead of the image owner
     (uid/gid as in the tar need root on the host). */
  int ignore_owners;
  /* When set, opaque directories carry user.overlay.opaque=y instead of the trusted.overlay.
     xattr (which needs CAP_SYS_ADMIN): for overlay mounted with `userxattr' in a user
     namespace. Whiteouts (0/0 char devices) need no privilege either way. */
  int user_xattrs;
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
   `.'/`..', a claimed size beyond opts->max_size, more entries than opts->max_entries, a path
   longer than PATH_MAX or deeper than FK_LAYER_MAX_DEPTH, a truncated or corrupt stream, data after
   the tar end-of-archive marker, a compression other than gzip/zstd. Block and char device nodes
   and trusted.overlay.* xattrs are skipped with a warning (counted in ret_stats->skipped).
   Nothing outside rootfd is ever created, written or followed.

   Keeps no global state: layers may be applied in parallel threads, each into its own dir.
   opts may be NULL (defaults). ret_stats (may be NULL) is written only on success. On failure
   rootfd holds a partial tree the caller removes (fk_rm_rf_at handles its modes). */
int fk_layer_apply (int rootfd, int blobfd, const fk_layer_opts_t *opts,
                    fk_layer_stats_t *ret_stats, fk_error_t *err);

/* The same unpacking, fed one entry at a time by a caller that makes the tar itself (a
   snapshot's capture unpacks its layer in the pass that writes the blob): the tree is what
   fk_layer_apply makes of the same entries, in the same order. The tar's own checks (stream,
   compression, diff_id) are the caller's. Free with fk_layer_writer_free. */
typedef struct fk_layer_writer fk_layer_writer_t;
struct archive_entry;

/* A writer into the empty directory rootfd (which must outlive it); opts as for
   fk_layer_apply, may be NULL. */
fk_layer_writer_t *fk_layer_writer_new (int rootfd, const fk_layer_opts_t *opts);
/* Applies the entry e. For a regular file (not a hard link, not a whiteout) *ret_fd is its new,
   empty inode, open for writing: the caller writes exactly the entry's size in bytes to it,
   then calls fk_layer_writer_file_done and closes it; for every other entry *ret_fd is -1. */
int fk_layer_writer_entry (fk_layer_writer_t *w, struct archive_entry *e, int *ret_fd,
                           fk_error_t *err);
/* Owner, mode, xattrs and times of the regular file fd, once its data is in (EIO when its size
   is not the entry's). */
int fk_layer_writer_file_done (fk_layer_writer_t *w, int fd, struct archive_entry *e,
                               fk_error_t *err);
/* Directory modes and times, last; ret_stats (may be NULL) gets the counts (its diff_id,
   tar_size and compression stay empty). */
int fk_layer_writer_finish (fk_layer_writer_t *w, fk_layer_stats_t *ret_stats, fk_error_t *err);
void fk_layer_writer_free (fk_layer_writer_t *w);
FK_DEFINE_CLEANUP (fk_layer_writer_t *, fk_layer_writer_free)
#define cleanup_layer_writer FK_CLEANUP (fk_layer_writer_free)

#endif
