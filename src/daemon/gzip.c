/* daemon/gzip.c: see gzip.h. */
#include "daemon/gzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

#define CHUNK (64u * 1024u)

int
fkd_gunzip (const void *data, size_t len, size_t max, char **ret_out, size_t *ret_len,
            fk_error_t *err)
{
  z_stream z;
  memset (&z, 0, sizeof z);
  /* 16 + MAX_WBITS: a gzip header and trailer, nothing else. */
  if (inflateInit2 (&z, 16 + MAX_WBITS) != Z_OK)
    return fk_error_set (err, ENOMEM, "inflateInit2");
  cleanup_free char *out = NULL;
  size_t cap = 0, used = 0;
  const unsigned char *in = data;
  size_t left = len;
  int ret = 0, done = 0;
  while (!done)
    {
      if (z.avail_in == 0)
        {
          size_t n = left < UINT32_MAX ? left : UINT32_MAX;
          z.next_in = (unsigned char *)in;
          z.avail_in = (uInt)n;
          in += n;
          left -= n;
        }
      /* Room for one more chunk, never past max + 1 (one byte over tells it is too big). */
      if (cap - used < CHUNK && cap < max + 1)
        {
          size_t want = cap * 2 > used + CHUNK ? cap * 2 : used + CHUNK;
          cap = want < max + 1 ? want : max + 1;
          out = xrealloc (out, cap);
        }
      if (cap == used)
        {
          ret = fk_error_set (err, EFBIG, "the gzip body inflates to more than %zu bytes", max);
          break;
        }
      z.next_out = (unsigned char *)out + used;
      z.avail_out = (uInt)(cap - used < UINT32_MAX ? cap - used : UINT32_MAX);
      size_t before = z.avail_out;
      int r = inflate (&z, Z_NO_FLUSH);
      used += before - z.avail_out;
      if (used > max)
        {
          ret = fk_error_set (err, EFBIG, "the gzip body inflates to more than %zu bytes", max);
          break;
        }
      if (r == Z_STREAM_END)
        {
          /* Another member may follow (concatenated gzip files). */
          if (z.avail_in == 0 && left == 0)
            done = 1;
          else if (inflateReset (&z) != Z_OK)
            ret = fk_error_set (err, EINVAL, "the body is not gzip"), done = 1;
          continue;
        }
      if (r == Z_BUF_ERROR && z.avail_in == 0 && left == 0)
        {
          ret = fk_error_set (err, EINVAL, "the gzip body is cut short");
          break;
        }
      if (r != Z_OK && r != Z_BUF_ERROR)
        {
          ret = fk_error_set (err, EINVAL, "the body is not gzip: %s", z.msg ? z.msg : "bad data");
          break;
        }
    }
  inflateEnd (&z);
  if (ret < 0)
    return -1;
  if (out == NULL)
    out = xmalloc (1);
  *ret_out = steal_pointer (&out);
  *ret_len = used;
  return 0;
}

/* 1 when the first CHUNK bytes of in_fd (read at 0, then rewound) shrink by a tenth or more at
   the fastest level: data that does not (already compressed, random) is not worth the time. */
static int
worth_compressing (int in_fd, fk_error_t *err)
{
  cleanup_free unsigned char *in = xmalloc (CHUNK);
  cleanup_free unsigned char *out = xmalloc (CHUNK + 1024);
  ssize_t n;
  do
    n = pread (in_fd, in, CHUNK, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return fk_error_set_errno (err, "read the file to compress");
  if (n < 512)
    return 1;
  z_stream z;
  memset (&z, 0, sizeof z);
  if (deflateInit2 (&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fk_error_set (err, ENOMEM, "deflateInit2");
  z.next_in = in;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = CHUNK + 1024;
  deflate (&z, Z_FINISH);
  size_t got = (CHUNK + 1024) - z.avail_out;
  deflateEnd (&z);
  return got * 10 < (size_t)n * 9;
}

int
fkd_gzip_fd (int in_fd, int out_fd, int *ret_worth, fk_error_t *err)
{
  int worth = worth_compressing (in_fd, err);
  if (worth < 0)
    return -1;
  *ret_worth = worth;
  if (!worth)
    return 0;
  z_stream z;
  memset (&z, 0, sizeof z);
  /* The fastest level: the answer is made before it is sent, so its time is the client's. */
  if (deflateInit2 (&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fk_error_set (err, ENOMEM, "deflateInit2");
  cleanup_free unsigned char *in = xmalloc (CHUNK);
  cleanup_free unsigned char *out = xmalloc (CHUNK);
  int ret = 0, flush = Z_NO_FLUSH;
  while (ret == 0 && flush != Z_FINISH)
    {
      ssize_t n = read (in_fd, in, CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          ret = fk_error_set_errno (err, "read the file to compress");
          break;
        }
      flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
      z.next_in = in;
      z.avail_in = (uInt)n;
      do
        {
          z.next_out = out;
          z.avail_out = CHUNK;
          deflate (&z, flush);
          ret = fk_write_all (out_fd, out, CHUNK - z.avail_out, err);
        }
      while (ret == 0 && z.avail_out == 0);
    }
  deflateEnd (&z);
  return ret;
}

int
fkd_accepts_gzip (const char *ae)
{
  if (ae == NULL)
    return 0;
  double gzip = -1, star = -1, identity = -1;
  const char *p = ae;
  while (*p)
    {
      while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
      const char *end = p + strcspn (p, ",");
      size_t nlen = strcspn (p, ";, \t");
      if (nlen > (size_t)(end - p))
        nlen = (size_t)(end - p);
      double q = 1;
      const char *semi = memchr (p, ';', (size_t)(end - p));
      if (semi)
        {
          const char *qs = semi + 1;
          while (*qs == ' ')
            qs++;
          if ((qs[0] == 'q' || qs[0] == 'Q') && qs[1] == '=')
            q = strtod (qs + 2, NULL);
        }
      if (nlen == 4 && strncasecmp (p, "gzip", 4) == 0)
        gzip = q;
      else if (nlen == 1 && p[0] == '*')
        star = q;
      else if (nlen == 8 && strncasecmp (p, "identity", 8) == 0)
        identity = q;
      p = *end ? end + 1 : end;
    }
  if (gzip < 0)
    gzip = star;
  if (gzip <= 0)
    return 0;
  /* identity is acceptable unless refused; gzip is chosen when it is at least as welcome. */
  return identity < 0 || gzip >= identity;
}
