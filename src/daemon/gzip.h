/* daemon/gzip.h: gzip for /files (Content-Encoding on uploads, Accept-Encoding on downloads),
   on zlib. Uploads are untrusted (tests/fuzz/fuzz_gunzip.c): decompression stops at a size
   limit, so a gzip bomb costs at most that much memory. */
#ifndef FKD_GZIP_H
#define FKD_GZIP_H

#include <stddef.h>

#include "firkin/error.h"

/* Decompresses gzip data (one or more members, as `gzip -c a b' writes) into a new buffer of at
   most max bytes (caller frees). EFBIG when it would be larger (nothing more is inflated), EINVAL
   for data that is not gzip or is cut short. */
int fkd_gunzip (const void *data, size_t len, size_t max, char **ret_out, size_t *ret_len,
                fk_error_t *err);

/* Compresses everything readable from in_fd (from its offset) into out_fd as one gzip member. */
int fkd_gzip_fd (int in_fd, int out_fd, fk_error_t *err);

/* Whether an Accept-Encoding header asks for gzip: gzip (or `*') with a quality above 0, and
   identity not preferred to it. NULL: no. */
int fkd_accepts_gzip (const char *accept_encoding);

#endif
