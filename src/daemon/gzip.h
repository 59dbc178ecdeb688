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

/* Compresses in_fd (read from where it is) into out_fd as gzip at the fastest level, when a
   probe of its first 64 KiB shrinks by a tenth or more: else *ret_worth is 0 and nothing is
   written (an answer may always be sent as it is: compressing random or already compressed
   bytes only costs time). */
int fkd_gzip_fd (int in_fd, int out_fd, int *ret_worth, fk_error_t *err);

/* Whether an Accept-Encoding header asks for gzip: gzip (or `*') with a quality above 0, and
   identity not preferred to it. NULL: no. */
int fkd_accepts_gzip (const char *accept_encoding);

#endif
