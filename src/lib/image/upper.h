/* image/upper.h: captures an overlay upper dir (a sandbox's changes) as an uncompressed OCI
   layer tar: whiteouts as `.wh.NAME', opaque directories as `.wh..wh..opq', owners mapped back
   through the sandbox's id range, modes, mtimes, xattrs that matter, hard links. The upper dir
   is written by a sandbox's code: it is read with fd-relative calls that never follow a link
   and never cross a mount, and what is read is bounded. */
#ifndef FK_IMAGE_UPPER_H
#define FK_IMAGE_UPPER_H

#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"
#include "image/layer.h"

typedef struct fk_upper_opts
{
  /* Owners: host ids in [id_base, id_base + id_size) become id - id_base, others 65534 (what
     the sandbox sees for an unmapped id). id_size 0 keeps the host ids. */
  uint32_t id_base, id_size;
  /* Cap on the sum of regular file sizes (sparse files at their full length); 0: the layer
     default (32 GiB). Over it: EFBIG, before anything past the cap is read. */
  uint64_t max_bytes;
  /* Cap on the entries; 0: the layer default. */
  uint64_t max_entries;
  /* Paths relative to the upper root left out (what the runtime itself writes at every
     create: etc/hosts, etc/resolv.conf). NULL-terminated, may be NULL. */
  const char *const *exclude;
  /* The lower layers, BOTTOM FIRST (may be NULL): a directory the upper dir has only because
     it was copied up (overlay's origin xattr), with nothing below it captured and the same
     mode and owner as the topmost lower directory at its path, is left out, so that a sandbox
     that changed nothing gives an empty layer. */
  const int *lower_fds;
  size_t n_lower;
  /* When set, every entry also goes, as it is written, into this writer's tree (which then
     holds what the tar unpacks to: the layer unpacked in the same pass, its data read once).
     The caller finishes and frees it. */
  fk_layer_writer_t *tree;
  /* Write the tar with O_DIRECT when outfd's filesystem takes it (outfd empty, at offset 0):
     no page cache copy of a blob read again only by an export or a push. The tar is always
     hashed and written from a second thread, beside the reading and unpacking. */
  int direct;
} fk_upper_opts_t;

typedef struct fk_upper_stats
{
  char diff_id[FK_DIGEST_STR_LEN]; /* sha256 of the tar (uncompressed: also its blob digest) */
  uint64_t tar_size;
  uint64_t entries;     /* tar entries written (0: nothing changed) */
  uint64_t bytes;       /* sum of regular file sizes */
  uint64_t whiteouts;   /* `.wh.NAME' entries */
  uint64_t opaque_dirs; /* `.wh..wh..opq' entries */
  uint64_t hardlinks;   /* hard link entries */
  uint64_t skipped;     /* sockets and device nodes left out */
} fk_upper_stats_t;

/* Writes the upper dir upperfd (any fd on the directory, O_PATH is enough) as a tar to outfd,
   entries sorted by name (the same tree gives the same bytes). ret_stats (may be NULL) is
   written on success. Errors name the entry: EFBIG over a cap, ENOTSUP for overlay features a
   layer cannot hold (a redirect or a metacopy file), EIO for a file that changed meanwhile. */
int fk_upper_to_layer (int upperfd, const fk_upper_opts_t *opts, int outfd,
                       fk_upper_stats_t *ret_stats, fk_error_t *err);

/* The security.capability value v (len bytes) as it should be in a layer: a v3 (namespaced)
   value whose root id is in the range becomes v2 when that id maps to 0, else v3 with the id
   mapped; other v3 values are dropped (0 returned). Returns the new length (written to out,
   at least 24 bytes), or 0 to drop it. */
size_t fk_upper_map_fscaps (const void *v, size_t len, uint32_t id_base, uint32_t id_size,
                            unsigned char out[24]);

#endif
