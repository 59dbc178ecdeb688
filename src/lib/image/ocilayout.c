/* image/ocilayout.c: see ocilayout.h. */
#include "image/ocilayout.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"

/* Opens DIR/blobs/sha256/<hex> without following symlinks out of the layout. */
static int
open_layout_blob (int dirfd, const char *digest, fk_error_t *err)
{
  if (fk_digest_validate (digest, err) < 0)
    return -1;
  cleanup_free char *rel = xasprintf ("blobs/sha256/%s", fk_digest_hex (digest));
  return fk_open_beneath (dirfd, rel, O_RDONLY, 0, err);
}

/* Copies a layout blob into the store (verified) and, when ret_buf, reads it back. */
static int
import_blob (fk_store_t *store, int dirfd, const fk_descriptor_t *d, char **ret_buf,
             size_t *ret_len, fk_error_t *err)
{
  if (!fk_store_blob_has (store, d->digest, d->size))
    {
      cleanup_close int fd = open_layout_blob (dirfd, d->digest, err);
      if (fd < 0 || fk_store_blob_import_fd (store, fd, d->digest, d->size, err) < 0)
        return -1;
    }
  if (ret_buf != NULL)
    return fk_store_blob_read (store, d->digest, FK_MANIFEST_MAX_SIZE, ret_buf, ret_len, err);
  return 0;
}

static int
import_layout (fk_store_t *store, int dirfd, const char *where, const char *name,
               const fk_platform_t *want, int skip_unpacked, fk_image_t **ret, fk_error_t *err)
{
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (fk_read_file_at (dirfd, "index.json", FK_MANIFEST_MAX_SIZE, &buf, &len, err) < 0)
    return fk_error_wrap (err, "`%s' is not an OCI layout", where);
  cleanup_index fk_index_t *top = NULL;
  if (fk_index_parse (buf, len, &top, err) < 0)
    return fk_error_wrap (err, "`%s/index.json'", where);

  /* Pick the entry: by ref.name when a tag is given, else the only one. */
  const fk_descriptor_t *entry = NULL;
  for (size_t i = 0; i < top->n_manifests; i++)
    {
      const fk_descriptor_t *d = &top->manifests[i];
      if (name != NULL && d->ref_name != NULL && strcmp (d->ref_name, name) == 0)
        {
          entry = d;
          break;
        }
    }
  if (name != NULL && entry == NULL)
    return fk_error_set (err, ENOENT, "unknown tag `%s' in OCI layout `%s'", name, where);
  if (entry == NULL)
    {
      if (top->n_manifests != 1)
        return fk_error_set (err, EINVAL,
                             "OCI layout `%s' has %zu images: name one as `oci:%s:TAG'", where,
                             top->n_manifests, where);
      entry = &top->manifests[0];
    }

  cleanup_image fk_image_t *img = xcalloc (1, sizeof *img);
  cleanup_index fk_index_t *idx = NULL;
  fk_descriptor_t chosen = *entry;
  if (fk_manifest_doc_kind ("{}", 2, entry->media_type, NULL) == FK_DOC_INDEX)
    {
      cleanup_free char *ibuf = NULL;
      size_t ilen = 0;
      if (import_blob (store, dirfd, entry, &ibuf, &ilen, err) < 0
          || fk_index_parse (ibuf, ilen, &idx, err) < 0)
        return fk_error_wrap (err, "OCI layout `%s'", where);
      int i = fk_index_select (idx, want, err);
      if (i < 0)
        return fk_error_wrap (err, "wrong platform: OCI layout `%s'", where);
      img->index_digest = xstrdup (entry->digest);
      chosen = idx->manifests[i];
    }
  cleanup_free char *mbuf = NULL, *cbuf = NULL;
  size_t mlen = 0, clen = 0;
  if (import_blob (store, dirfd, &chosen, &mbuf, &mlen, err) < 0
      || fk_manifest_parse (mbuf, mlen, &img->manifest, err) < 0)
    return fk_error_wrap (err, "OCI layout `%s'", where);
  img->manifest_digest = xstrdup (chosen.digest);
  if (import_blob (store, dirfd, &img->manifest->config, &cbuf, &clen, err) < 0
      || fk_image_config_parse (cbuf, clen, &img->config, err) < 0)
    return fk_error_wrap (err, "OCI layout `%s'", where);
  if (fk_image_check (img, want, err) < 0)
    return -1;
  for (size_t i = 0; i < img->manifest->n_layers; i++)
    {
      if (skip_unpacked && fk_store_layer_has (store, img->config->diff_ids[i]))
        continue;
      if (import_blob (store, dirfd, &img->manifest->layers[i], NULL, NULL, err) < 0)
        return fk_error_wrap (err, "OCI layout `%s': layer %zu", where, i);
    }
  *ret = steal_pointer (&img);
  return 0;
}

/* Checks an archive entry name: relative, no `..' component. */
static int
check_entry_name (const char *archive, const char *name, fk_error_t *err)
{
  if (name == NULL || name[0] == '\0')
    return fk_error_set (err, EINVAL, "archive `%s': an entry has no name", archive);
  if (name[0] == '/')
    return fk_error_set (err, EINVAL, "archive `%s': refused entry `%s': the path is absolute",
                         archive, name);
  for (const char *p = name; *p;)
    {
      size_t n = strcspn (p, "/");
      if (n == 2 && p[0] == '.' && p[1] == '.')
        return fk_error_set (err, EINVAL,
                             "archive `%s': refused entry `%s': it has a `..' "
                             "component",
                             archive, name);
      p += n;
      p += strspn (p, "/");
    }
  return 0;
}

/* Extracts the tar file at path into the directory destfd: directories and regular files only,
   every path resolved beneath destfd without following a symlink (the archive is untrusted). */
static int
extract_archive (const char *path, int destfd, int skip_symlinks, fk_error_t *err)
{
  struct archive *a = archive_read_new ();
  archive_read_support_format_tar (a);
  archive_read_support_filter_gzip (a);
  archive_read_support_filter_zstd (a);
  archive_read_support_filter_none (a);
  int ret = 0;
  if (archive_read_open_filename (a, path, 1 << 16) != ARCHIVE_OK)
    {
      ret = fk_error_set (err, archive_errno (a) > 0 ? archive_errno (a) : EINVAL,
                          "open archive `%s': %s", path, archive_error_string (a));
      goto out;
    }
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      const char *name = archive_entry_pathname (e);
      mode_t type = archive_entry_filetype (e);
      if (check_entry_name (path, name, err) < 0)
        {
          ret = -1;
          goto out;
        }
      if (type == AE_IFDIR)
        {
          if (fk_mkdir_p_in_root (destfd, name, 0700, err) < 0)
            {
              ret = fk_error_wrap (err, "archive `%s'", path);
              goto out;
            }
          continue;
        }
      /* docker save writes per-layer directories whose layer.tar links to the blob that
         manifest.json names directly: those links are never needed, so never created. */
      if (type == AE_IFLNK && skip_symlinks)
        continue;
      if (type != AE_IFREG)
        {
          ret = fk_error_set (err, EINVAL, "archive `%s': entry `%s' is not a file or directory",
                              path, name);
          goto out;
        }
      cleanup_free char *dir = NULL, *base = NULL;
      fk_path_split (name, &dir, &base);
      if (strcmp (dir, ".") != 0 && fk_mkdir_p_in_root (destfd, dir, 0700, err) < 0)
        {
          ret = fk_error_wrap (err, "archive `%s'", path);
          goto out;
        }
      cleanup_close int fd = fk_open_beneath (destfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600, err);
      if (fd < 0)
        {
          ret = fk_error_wrap (err, "archive `%s'", path);
          goto out;
        }
      const void *blk;
      size_t sz;
      la_int64_t off;
      while ((r = archive_read_data_block (a, &blk, &sz, &off)) == ARCHIVE_OK)
        if (pwrite (fd, blk, sz, off) != (ssize_t)sz)
          {
            ret = fk_error_set_errno (err, "archive `%s': write `%s'", path, name);
            goto out;
          }
      if (r != ARCHIVE_EOF)
        {
          ret = fk_error_set (err, EINVAL, "archive `%s': read `%s': %s", path, name,
                              archive_error_string (a));
          goto out;
        }
      /* A sparse tail leaves the file short: give it its full size. */
      if (ftruncate (fd, archive_entry_size (e)) < 0)
        {
          ret = fk_error_set_errno (err, "archive `%s': size `%s'", path, name);
          goto out;
        }
    }
  if (r != ARCHIVE_EOF)
    ret = fk_error_set (err, EINVAL, "archive `%s': %s", path, archive_error_string (a));
out:
  archive_read_free (a);
  return ret;
}

static const char *
layer_type_by_magic (int fd)
{
  unsigned char m[4] = { 0 };
  ssize_t n = pread (fd, m, sizeof m, 0);
  if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
    return FK_MT_DOCKER_LAYER;
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  return "application/vnd.docker.image.rootfs.diff.tar";
}

/* Imports one file of an extracted docker archive as a blob; fills d. */
static int
import_file (fk_store_t *store, int dirfd, const char *rel, const char *media_type,
             fk_descriptor_t *d, fk_error_t *err)
{
  cleanup_close int fd = fk_open_beneath (dirfd, rel, O_RDONLY, 0, err);
  if (fd < 0)
    return -1;
  char digest[FK_DIGEST_STR_LEN];
  uint64_t size = 0;
  if (fk_sha256_fd (fd, digest, &size, err) < 0 || lseek (fd, 0, SEEK_SET) < 0)
    return -1;
  if (fk_store_blob_import_fd (store, fd, digest, (int64_t)size, err) < 0)
    return -1;
  d->digest = xstrdup (digest);
  d->size = (int64_t)size;
  d->media_type = xstrdup (media_type ? media_type : layer_type_by_magic (fd));
  return 0;
}

/* A docker-save archive: manifest.json names the config and the layer tars; firkin writes the
   Docker schema-2 manifest they make, so the template has a manifest digest like any other. */
static int
import_docker (fk_store_t *store, int dirfd, const char *where, const fk_platform_t *want,
               fk_image_t **ret, fk_error_t *err)
{
  cleanup_json json_t *top = NULL;
  if (fk_json_load_file_at (dirfd, "manifest.json", FK_MANIFEST_MAX_SIZE, &top, err) < 0)
    return fk_error_wrap (err, "`%s' is not a docker archive", where);
  if (!json_is_array (top) || json_array_size (top) != 1)
    return fk_error_set (err, EINVAL, "docker archive `%s': manifest.json must list one image",
                         where);
  json_t *entry = json_array_get (top, 0), *layers = NULL;
  const char *config = NULL;
  if (fk_json_get_string (entry, "Config", 1, &config, err) < 0
      || fk_json_get_array (entry, "Layers", 1, &layers, err) < 0)
    return fk_error_wrap (err, "docker archive `%s': manifest.json", where);

  fk_descriptor_t cfg = { 0 };
  if (import_file (store, dirfd, config, FK_MT_DOCKER_CONFIG, &cfg, err) < 0)
    return fk_error_wrap (err, "docker archive `%s': config", where);
  cleanup_json json_t *m
      = json_pack ("{s:i, s:s, s:{s:s, s:I, s:s}, s:[]}", "schemaVersion", 2, "mediaType",
                   FK_MT_DOCKER_MANIFEST, "config", "mediaType", cfg.media_type, "size",
                   (json_int_t)cfg.size, "digest", cfg.digest, "layers");
  free (cfg.media_type);
  free (cfg.digest);
  json_t *ml = json_object_get (m, "layers");
  size_t i;
  json_t *l;
  json_array_foreach (layers, i, l)
  {
    if (!json_is_string (l))
      return fk_error_set (err, EINVAL, "docker archive `%s': Layers[%zu] is not a string", where,
                           i);
    fk_descriptor_t d = { 0 };
    if (import_file (store, dirfd, json_string_value (l), NULL, &d, err) < 0)
      return fk_error_wrap (err, "docker archive `%s': layer `%s'", where, json_string_value (l));
    json_array_append_new (ml, json_pack ("{s:s, s:I, s:s}", "mediaType", d.media_type, "size",
                                          (json_int_t)d.size, "digest", d.digest));
    free (d.media_type);
    free (d.digest);
  }
  cleanup_free char *mbuf = json_dumps (m, JSON_COMPACT | JSON_PRESERVE_ORDER);
  char digest[FK_DIGEST_STR_LEN];
  if (fk_store_blob_put (store, mbuf, strlen (mbuf), NULL, digest, err) < 0)
    return -1;
  cleanup_image fk_image_t *img = xcalloc (1, sizeof *img);
  img->manifest_digest = xstrdup (digest);
  if (fk_manifest_parse (mbuf, strlen (mbuf), &img->manifest, err) < 0)
    return fk_error_wrap (err, "docker archive `%s'", where);
  cleanup_free char *cbuf = NULL;
  size_t clen = 0;
  if (fk_store_blob_read (store, img->manifest->config.digest, FK_MANIFEST_MAX_SIZE, &cbuf, &clen,
                          err)
          < 0
      || fk_image_config_parse (cbuf, clen, &img->config, err) < 0)
    return fk_error_wrap (err, "docker archive `%s'", where);
  if (fk_image_check (img, want, err) < 0)
    return -1;
  *ret = steal_pointer (&img);
  return 0;
}

int
fk_oci_import (fk_store_t *store, const fk_reference_t *ref, const fk_platform_t *platform,
               int skip_unpacked, fk_image_t **ret, fk_error_t *err)
{
  fk_platform_t host = { 0 };
  const fk_platform_t *want = platform;
  if (want == NULL)
    {
      fk_platform_host (&host);
      want = &host;
    }
  int rc = -1;
  if (ref->kind == FK_REF_OCI_DIR)
    {
      cleanup_close int dirfd = open (ref->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0)
        rc = fk_error_set_errno (err, "open OCI layout `%s'", ref->path);
      else
        rc = import_layout (store, dirfd, ref->path, ref->name, want, skip_unpacked, ret, err);
    }
  else if (ref->kind == FK_REF_OCI_ARCHIVE || ref->kind == FK_REF_DOCKER_ARCHIVE)
    {
      cleanup_free char *tmp = xasprintf ("%s/tmp/archive-XXXXXX", store->dir);
      if (mkdtemp (tmp) == NULL)
        rc = fk_error_set_errno (err, "create a temporary directory in `%s/tmp'", store->dir);
      else
        {
          cleanup_close int dirfd = open (tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
          if (dirfd < 0)
            rc = fk_error_set_errno (err, "open `%s'", tmp);
          else if (extract_archive (ref->path, dirfd, ref->kind == FK_REF_DOCKER_ARCHIVE, err) == 0)
            {
              if (ref->kind == FK_REF_OCI_ARCHIVE)
                rc = import_layout (store, dirfd, ref->path, ref->name, want, skip_unpacked, ret,
                                    err);
              else
                rc = import_docker (store, dirfd, ref->path, want, ret, err);
            }
          fk_error_t rmerr = FK_ERROR_INIT;
          if (fk_rm_rf_at (AT_FDCWD, tmp, &rmerr) < 0)
            log_warning ("cleanup `%s': %s", tmp, fk_error_message (&rmerr));
          fk_error_clear (&rmerr);
        }
    }
  else
    rc = fk_error_set (err, EINVAL, "not an archive reference");
  fk_platform_clear (&host);
  return rc;
}
