/* base/digest.h: sha256 digests (OpenSSL libcrypto), in the OCI form "sha256:<64 hex>". */
#ifndef FK_BASE_DIGEST_H
#define FK_BASE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define FK_SHA256_HEX_LEN 64
/* "sha256:" + 64 hex + NUL */
#define FK_DIGEST_STR_LEN (7 + FK_SHA256_HEX_LEN + 1)

typedef struct fk_sha256 fk_sha256_t;

/* A new streaming context; free with fk_sha256_free. Aborts on out-of-memory. */
fk_sha256_t *fk_sha256_new (void);
void fk_sha256_update (fk_sha256_t *ctx, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (FK_DIGEST_STR_LEN bytes); the context may not be updated after.
 */
void fk_sha256_final (fk_sha256_t *ctx, char out[FK_DIGEST_STR_LEN]);
void fk_sha256_free (fk_sha256_t *ctx);

/* One-shot digest of a buffer. */
void fk_sha256_buffer (const void *data, size_t len, char out[FK_DIGEST_STR_LEN]);
/* Digest of everything readable from fd from its current offset; also returns the byte count. */
int fk_sha256_fd (int fd, char out[FK_DIGEST_STR_LEN], uint64_t *ret_size, fk_error_t *err);

/* Checks "sha256:<64 lower-case hex>"; returns 0 or fills err saying what is wrong. */
int fk_digest_validate (const char *digest, fk_error_t *err);
/* The hex part of a valid digest (a pointer into digest). */
const char *fk_digest_hex (const char *digest);

#endif
