/* base/digest.c: see digest.h. */
#include "base/digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"

struct fk_sha256
{
  EVP_MD_CTX *md;
};

fk_sha256_t *
fk_sha256_new (void)
{
  fk_sha256_t *ctx = xmalloc (sizeof *ctx);
  ctx->md = EVP_MD_CTX_new ();
  if (ctx->md == NULL || EVP_DigestInit_ex (ctx->md, EVP_sha256 (), NULL) != 1)
    fk_oom (sizeof *ctx);
  return ctx;
}

void
fk_sha256_update (fk_sha256_t *ctx, const void *data, size_t len)
{
  if (len > 0)
    EVP_DigestUpdate (ctx->md, data, len);
}

void
fk_sha256_final (fk_sha256_t *ctx, char out[FK_DIGEST_STR_LEN])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex (ctx->md, md, &n);
  memcpy (out, "sha256:", 7);
  for (unsigned int i = 0; i < n && i < 32; i++)
    {
      out[7 + 2 * i] = hex[md[i] >> 4];
      out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
  out[7 + FK_SHA256_HEX_LEN] = '\0';
}

void
fk_sha256_free (fk_sha256_t *ctx)
{
  if (ctx == NULL)
    return;
  EVP_MD_CTX_free (ctx->md);
  free (ctx);
}

void
fk_sha256_buffer (const void *data, size_t len, char out[FK_DIGEST_STR_LEN])
{
  fk_sha256_t *ctx = fk_sha256_new ();
  fk_sha256_update (ctx, data, len);
  fk_sha256_final (ctx, out);
  fk_sha256_free (ctx);
}

int
fk_sha256_fd (int fd, char out[FK_DIGEST_STR_LEN], uint64_t *ret_size, fk_error_t *err)
{
  fk_sha256_t *ctx = fk_sha256_new ();
  char buf[65536];
  uint64_t total = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          fk_sha256_free (ctx);
          return fk_error_set_errno (err, "read for digest");
        }
      if (n == 0)
        break;
      fk_sha256_update (ctx, buf, (size_t)n);
      total += (uint64_t)n;
    }
  fk_sha256_final (ctx, out);
  fk_sha256_free (ctx);
  if (ret_size)
    *ret_size = total;
  return 0;
}

int
fk_digest_validate (const char *digest, fk_error_t *err)
{
  if (digest == NULL)
    return fk_error_set (err, EINVAL, "digest missing");
  if (strncmp (digest, "sha256:", 7) != 0)
    return fk_error_set (err, EINVAL, "digest `%.80s' is not sha256:<hex>", digest);
  const char *h = digest + 7;
  size_t n = strlen (h);
  if (n != FK_SHA256_HEX_LEN)
    return fk_error_set (err, EINVAL, "digest `%.80s' has %zu hex digits, want 64", digest, n);
  for (size_t i = 0; i < n; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
      return fk_error_set (err, EINVAL, "digest `%.80s' has a non-hex character at %zu", digest,
                           i + 7);
  return 0;
}

const char *
fk_digest_hex (const char *digest)
{
  return digest + 7;
}
