/* image/tarstream.h: a layer blob read as a tar archive: gzip or zstd detected by magic and
   decompressed in-process, the uncompressed stream hashed as the tar reader consumes it (the
   layer's diff_id, in the same pass). */
#ifndef FK_IMAGE_TARSTREAM_H
#define FK_IMAGE_TARSTREAM_H

#include <archive.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"

typedef enum
{
  FK_LAYER_COMPRESSION_NONE = 0,
  FK_LAYER_COMPRESSION_GZIP = 1,
  FK_LAYER_COMPRESSION_ZSTD = 2,
} fk_layer_compression_t;

/* "none", "gzip" or "zstd". */
const char *fk_layer_compression_name (fk_layer_compression_t c);

typedef struct fk_tarstream fk_tarstream_t;

/* Opens the blob readable from blobfd (from its current offset; the fd stays the caller's and
   must outlive ts). Only gzip and zstd are decompressed, both inside libarchive, never by an
   external program; xz, bzip2 and lz4 blobs are named in the error of the first read. Free
   with fk_tarstream_free. */
int fk_tarstream_open (int blobfd, fk_tarstream_t **ret, fk_error_t *err);

/* The tar reader (tar formats only) to call archive_read_next_header / _data_block on; owned by
   ts. */
struct archive *fk_tarstream_archive (fk_tarstream_t *ts);

fk_layer_compression_t fk_tarstream_compression (const fk_tarstream_t *ts);

/* libarchive's error string for a, never NULL. */
const char *fk_tarstream_message (struct archive *a);

/* Once the tar reader has returned ARCHIVE_EOF: checks that only zero padding follows the tar
   end-of-archive marker and nothing follows the compressed stream, hashes what is left, and
   gives the diff_id ("sha256:<hex>") and the size of the uncompressed stream. */
int fk_tarstream_finish (fk_tarstream_t *ts, char ret_diff_id[FK_DIGEST_STR_LEN],
                         uint64_t *ret_size, fk_error_t *err);

void fk_tarstream_free (fk_tarstream_t *ts);

#endif
