/* image/blobsink.h: a blob written as it is made, from a second thread: the bytes are hashed
   and written there, beside the producer's own work (a snapshot's capture reads the upper dir
   and unpacks the layer meanwhile), and written with O_DIRECT when asked and the filesystem
   takes it, so that a blob read again only by an export or a push costs no page cache copy. */
#ifndef FK_IMAGE_BLOBSINK_H
#define FK_IMAGE_BLOBSINK_H

#include <stddef.h>
#include <stdint.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"

typedef struct fk_blobsink fk_blobsink_t;

/* A sink appending to fd (a regular file, empty, at offset 0 for O_DIRECT; the caller keeps
   and closes it). direct: try O_DIRECT (buffered writes when the filesystem refuses it).
   The second thread starts with the blob's second MiB: a smaller blob is written in the
   caller's thread at the finish, as is every blob when pthread_create fails. Free with
   fk_blobsink_free. */
fk_blobsink_t *fk_blobsink_new (int fd, int direct);
/* Appends len bytes (copied: buf is the caller's again on return). Fails with the first write
   error the sink met. */
int fk_blobsink_write (fk_blobsink_t *s, const void *buf, size_t len, fk_error_t *err);
/* Writes what is left and waits for it: the sha256 of every byte and their count. */
int fk_blobsink_finish (fk_blobsink_t *s, char ret_digest[FK_DIGEST_STR_LEN], uint64_t *ret_size,
                        fk_error_t *err);
/* Stops the thread (what was not finished is dropped) and frees s; NULL is a no-op. */
void fk_blobsink_free (fk_blobsink_t *s);
FK_DEFINE_CLEANUP (fk_blobsink_t *, fk_blobsink_free)
#define cleanup_blobsink FK_CLEANUP (fk_blobsink_free)

#endif
