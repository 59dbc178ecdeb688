/* tests/unit/imagefixture.h: builds small OCI layouts for the image and template unit tests:
   tar layers written with libarchive, blobs by digest, an index.json. */
#ifndef FK_IMAGEFIXTURE_H
#define FK_IMAGEFIXTURE_H

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include "base/digest.h"
#include "base/xalloc.h"

/* An uncompressed tar of regular files: names[i] holds datas[i]. Caller frees *ret. */
static inline void
fixture_tar (const char *const *names, const char *const *datas, size_t n, char **ret,
             size_t *ret_len)
{
  size_t cap = 1 << 20;
  char *buf = xmalloc (cap);
  size_t used = 0;
  struct archive *a = archive_write_new ();
  archive_write_set_format_pax_restricted (a);
  archive_write_set_bytes_in_last_block (a, 1);
  if (archive_write_open_memory (a, buf, cap, &used) != ARCHIVE_OK)
    abort ();
  for (size_t i = 0; i < n; i++)
    {
      struct archive_entry *e = archive_entry_new ();
      archive_entry_set_pathname (e, names[i]);
      archive_entry_set_filetype (e, AE_IFREG);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_size (e, (la_int64_t) strlen (datas[i]));
      archive_entry_set_mtime (e, 1700000000, 0);
      archive_write_header (a, e);
      archive_write_data (a, datas[i], strlen (datas[i]));
      archive_entry_free (e);
    }
  archive_write_close (a);
  archive_write_free (a);
  *ret = buf;
  *ret_len = used;
}

/* Writes buf as dir/blobs/sha256/<hex>; returns the digest in out. */
static inline void
fixture_blob (const char *dir, const char *buf, size_t len, char out[FK_DIGEST_STR_LEN])
{
  fk_sha256_buffer (buf, len, out);
  char *d = xasprintf ("%s/blobs/sha256", dir);
  fk_mkdir_p (d, 0755, NULL);
  char *p = xasprintf ("%s/%s", d, fk_digest_hex (out));
  FILE *f = fopen (p, "wb");
  if (f == NULL || fwrite (buf, 1, len, f) != len)
    abort ();
  fclose (f);
  free (p);
  free (d);
}

/* Builds an OCI layout in dir with one image tagged `tag' whose layers hold one file each:
   layer i has file names[i] with content datas[i]. Adds to an existing index.json's list. */
static inline void
fixture_image (const char *dir, const char *tag, const char *const *names,
               const char *const *datas, size_t n, const char *arch)
{
  char *layers = xstrdup (""), *diffs = xstrdup ("");
  for (size_t i = 0; i < n; i++)
    {
      char *tar;
      size_t len;
      fixture_tar (&names[i], &datas[i], 1, &tar, &len);
      char dg[FK_DIGEST_STR_LEN];
      fixture_blob (dir, tar, len, dg);
      char *l = xasprintf ("%s%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                           "\"digest\":\"%s\",\"size\":%zu}",
                           layers, i ? "," : "", dg, len);
      char *d = xasprintf ("%s%s\"%s\"", diffs, i ? "," : "", dg);
      free (layers);
      free (diffs);
      layers = l;
      diffs = d;
      free (tar);
    }
  char *config = xasprintf ("{\"os\":\"linux\",\"architecture\":\"%s\",\"config\":{\"Env\":"
                            "[\"PATH=/bin\"],\"Cmd\":[\"/bin/sh\"],\"WorkingDir\":\"/w\","
                            "\"User\":\"1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
                            arch, diffs);
  char cdg[FK_DIGEST_STR_LEN], mdg[FK_DIGEST_STR_LEN];
  fixture_blob (dir, config, strlen (config), cdg);
  char *manifest = xasprintf (
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
      "\"size\":%zu},\"layers\":[%s]}",
      cdg, strlen (config), layers);
  fixture_blob (dir, manifest, strlen (manifest), mdg);

  char *ipath = xasprintf ("%s/index.json", dir);
  char *old = NULL;
  size_t olen = 0;
  char *entries = xstrdup ("");
  if (fk_read_file_at (AT_FDCWD, ipath, 1 << 20, &old, &olen, NULL) == 0)
    {
      char *start = strchr (old, '[');
      char *end = strrchr (old, ']');
      free (entries);
      entries = xstrndup (start + 1, (size_t) (end - start - 1));
    }
  char *index = xasprintf (
      "{\"schemaVersion\":2,\"manifests\":[%s%s{\"mediaType\":"
      "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
      "\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
      entries, entries[0] ? "," : "", mdg, strlen (manifest), tag);
  FILE *f = fopen (ipath, "w");
  fputs (index, f);
  fclose (f);
  f = NULL;
  char *lpath = xasprintf ("%s/oci-layout", dir);
  f = fopen (lpath, "w");
  fputs ("{\"imageLayoutVersion\":\"1.0.0\"}", f);
  fclose (f);
  free (lpath);
  free (index);
  free (entries);
  free (old);
  free (ipath);
  free (manifest);
  free (config);
  free (layers);
  free (diffs);
}

#endif
