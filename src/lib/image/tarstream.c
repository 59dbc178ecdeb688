/* image/tarstream.c: see tarstream.h.

   Two libarchive readers in a chain: `raw' decompresses the blob (gzip and zstd filters only,
   raw format), `tar' parses the uncompressed stream it is fed by a callback that also hashes
   it, so the diff_id covers exactly the bytes read, in one pass. */
#include "image/tarstream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"

#define TAIL_KEEP 1024

const char *
fk_tarstream_message (struct archive *a)
{
  const char *m = archive_error_string (a);
  return m ? m : "truncated or corrupt stream";
}

struct fk_tarstream
{
  int blobfd;
  struct archive *raw; /* decompressor: gzip and zstd filters, raw format */
  struct archive *tar; /* tar reader fed by tar_read_cb */
  fk_layer_compression_t compression;
  fk_sha256_t *sha;
  uint64_t fed;       /* uncompressed bytes handed to the tar reader */
  uint64_t blob_read; /* compressed bytes read from blobfd */
  int raw_eof;
  int magic_checked;
  /* The last chunk handed to the tar reader (valid until the next raw read), and the end of the
     one before, so data the tar reader read ahead past its end marker can be checked. */
  const unsigned char *last;
  size_t last_len;
  unsigned char prev_tail[TAIL_KEEP];
  size_t prev_tail_len;
  unsigned char inbuf[128 * 1024];
};

static la_ssize_t
raw_read_cb (struct archive *a, void *data, const void **buf)
{
  fk_tarstream_t *s = data;
  for (;;)
    {
      ssize_t n = read (s->blobfd, s->inbuf, sizeof s->inbuf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          archive_set_error (a, errno, "read layer blob: %s", strerror (errno));
          return -1;
        }
      s->blob_read += (uint64_t)n;
      *buf = s->inbuf;
      return n;
    }
}

/* Compressions OCI does not allow, named so the error says what the blob is. */
static const char *
foreign_compression (const unsigned char *p, size_t len)
{
  static const unsigned char xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
  if (len >= sizeof xz && memcmp (p, xz, sizeof xz) == 0)
    return "xz";
  if (len >= 3 && memcmp (p, "BZh", 3) == 0)
    return "bzip2";
  if (len >= 4 && memcmp (p, "\x04\x22\x4d\x18", 4) == 0)
    return "lz4";
  return NULL;
}

static la_ssize_t
tar_read_cb (struct archive *a, void *data, const void **buf)
{
  fk_tarstream_t *s = data;
  if (s->raw_eof)
    return 0;
  for (;;)
    {
      const void *block;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (s->raw, &block, &len, &off);
      if (r == ARCHIVE_EOF)
        {
          s->raw_eof = 1;
          return 0;
        }
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        {
          archive_set_error (a, archive_errno (s->raw) > 0 ? archive_errno (s->raw) : EIO, "%s",
                             fk_tarstream_message (s->raw));
          return -1;
        }
      if (len == 0)
        continue;
      if (!s->magic_checked)
        {
          s->magic_checked = 1;
          const char *c = foreign_compression (block, len);
          if (c != NULL)
            {
              archive_set_error (a, EINVAL,
                                 "layer is %s-compressed: only tar, tar+gzip and tar+zstd "
                                 "layers are supported",
                                 c);
              return -1;
            }
        }
      if (s->last_len > 0)
        {
          size_t keep = s->last_len < TAIL_KEEP ? s->last_len : TAIL_KEEP;
          memcpy (s->prev_tail, s->last + s->last_len - keep, keep);
          s->prev_tail_len = keep;
        }
      fk_sha256_update (s->sha, block, len);
      s->fed += len;
      s->last = block;
      s->last_len = len;
      *buf = block;
      return (la_ssize_t)len;
    }
}

static int
all_zero (const unsigned char *p, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (p[i] != 0)
      return 0;
  return 1;
}

/* After the tar end-of-archive marker only zero padding may follow: checks what the tar reader
   read ahead but did not consume, then drains (and hashes) the rest of the stream. */
int
fk_tarstream_finish (fk_tarstream_t *s, char ret_diff_id[FK_DIGEST_STR_LEN], uint64_t *ret_size,
                     fk_error_t *err)
{
  la_int64_t consumed = archive_filter_bytes (s->tar, 0);
  uint64_t unconsumed
      = consumed >= 0 && (uint64_t)consumed < s->fed ? s->fed - (uint64_t)consumed : 0;
  int garbage = 0;
  if (unconsumed > 0)
    {
      size_t in_last = unconsumed < s->last_len ? (size_t)unconsumed : s->last_len;
      if (!all_zero (s->last + s->last_len - in_last, in_last))
        garbage = 1;
      uint64_t before = unconsumed - in_last;
      if (before > 0)
        {
          size_t n = before < s->prev_tail_len ? (size_t)before : s->prev_tail_len;
          if (!all_zero (s->prev_tail + s->prev_tail_len - n, n))
            garbage = 1;
        }
    }
  uint64_t total = s->fed;
  while (!s->raw_eof)
    {
      const void *block;
      size_t len;
      la_int64_t off;
      int r = archive_read_data_block (s->raw, &block, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return fk_error_set (err, EIO, "layer: after the end of the tar archive: %s",
                             fk_tarstream_message (s->raw));
      fk_sha256_update (s->sha, block, len);
      total += len;
      if (!all_zero (block, len))
        garbage = 1;
    }
  if (garbage)
    return fk_error_set (err, EINVAL,
                         "layer: data after the end of the tar archive (a tar stream may end "
                         "only with zero padding)");
  /* libarchive's gzip reader ends quietly at bytes that do not start another member. */
  if (archive_filter_count (s->raw) > 1)
    {
      for (;;)
        {
          ssize_t n = read (s->blobfd, s->inbuf, sizeof s->inbuf);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return fk_error_set_errno (err, "read layer blob");
          if (n == 0)
            break;
          s->blob_read += (uint64_t)n;
        }
      la_int64_t used = archive_filter_bytes (s->raw, 1);
      if (used >= 0 && (uint64_t)used < s->blob_read)
        return fk_error_set (err, EINVAL,
                             "layer: %" PRIu64 " bytes after the end of the compressed stream",
                             s->blob_read - (uint64_t)used);
    }
  fk_sha256_final (s->sha, ret_diff_id);
  *ret_size = total;
  return 0;
}

void
fk_tarstream_free (fk_tarstream_t *s)
{
  if (s == NULL)
    return;
  if (s->tar != NULL)
    archive_read_free (s->tar);
  if (s->raw != NULL)
    archive_read_free (s->raw);
  fk_sha256_free (s->sha);
  free (s);
}

int
fk_tarstream_open (int blobfd, fk_tarstream_t **ret, fk_error_t *err)
{
  fk_tarstream_t *s = xcalloc (1, sizeof *s);
  s->blobfd = blobfd;
  s->sha = fk_sha256_new ();
  s->raw = archive_read_new ();
  s->tar = archive_read_new ();
  if (s->raw == NULL || s->tar == NULL)
    fk_oom (sizeof (void *));
  /* Only the compressions OCI allows, both built into libarchive (never an external program). */
  archive_read_support_filter_gzip (s->raw);
  archive_read_support_filter_zstd (s->raw);
  archive_read_support_format_raw (s->raw);
  archive_read_support_format_empty (s->raw);
  struct archive_entry *e;
  int r;
  if (archive_read_open (s->raw, s, NULL, raw_read_cb, NULL) != ARCHIVE_OK
      || ((r = archive_read_next_header (s->raw, &e)) != ARCHIVE_OK && r != ARCHIVE_WARN
          && r != ARCHIVE_EOF))
    {
      fk_error_set (err, EINVAL, "layer: %s", fk_tarstream_message (s->raw));
      fk_tarstream_free (s);
      return -1;
    }
  if (r == ARCHIVE_EOF)
    s->raw_eof = 1;
  int code = archive_filter_code (s->raw, 0);
  s->compression = code == ARCHIVE_FILTER_GZIP   ? FK_LAYER_COMPRESSION_GZIP
                   : code == ARCHIVE_FILTER_ZSTD ? FK_LAYER_COMPRESSION_ZSTD
                                                 : FK_LAYER_COMPRESSION_NONE;
  archive_read_support_format_tar (s->tar);
  archive_read_support_format_empty (s->tar);
  if (archive_read_open (s->tar, s, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
    {
      fk_error_set (err, EINVAL, "layer (%s): %s", fk_layer_compression_name (s->compression),
                    fk_tarstream_message (s->tar));
      fk_tarstream_free (s);
      return -1;
    }
  *ret = s;
  return 0;
}

struct archive *
fk_tarstream_archive (fk_tarstream_t *s)
{
  return s->tar;
}

const char *
fk_layer_compression_name (fk_layer_compression_t c)
{
  switch (c)
    {
    case FK_LAYER_COMPRESSION_GZIP:
      return "gzip";
    case FK_LAYER_COMPRESSION_ZSTD:
      return "zstd";
    case FK_LAYER_COMPRESSION_NONE:
    default:
      return "none";
    }
}

fk_layer_compression_t
fk_tarstream_compression (const fk_tarstream_t *s)
{
  return s->compression;
}
