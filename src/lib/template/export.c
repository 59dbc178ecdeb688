/* template/export.c: fk_template_export: a template's image (its manifest, config and layer
   blobs from the store, as they are) written as an OCI layout directory, an OCI layout in a
   tar, or a `docker save' tar, for other tools and hosts. Archives are written beside their
   destination and renamed into place when complete. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "image/reference.h"
#include "image/store.h"
#include "template/record.h"
#include "template/stored.h"
#include "template/template.h"

#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"
#define MANIFEST_MAX (4u << 20)

typedef fk_template_image_t image_t;

void
fk_template_image_clear (image_t *im)
{
  free (im->manifest_digest);
  free (im->config_digest);
  free (im->manifest_type);
  fk_strv_free (im->layers);
}

int
fk_template_image_load (fk_store_t *store, const char *id, image_t *im, fk_error_t *err)
{
  cleanup_json json_t *rec = NULL;
  if (fk_template_record_load (store->dir, id, &rec, err) < 0)
    return -1;
  const char *md = json_string_value (json_object_get (rec, "manifestDigest"));
  if (md == NULL || fk_digest_validate (md, err) < 0)
    return fk_error_set (err, EINVAL, "template `%s': no manifest digest", id);
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (fk_store_blob_read (store, md, MANIFEST_MAX, &text, &len, err) < 0)
    return fk_error_wrap (err, "template `%s': its manifest", id);
  json_error_t jerr;
  cleanup_json json_t *m = json_loadb (text, len, 0, &jerr);
  const char *cfg = json_string_value (json_object_get (json_object_get (m, "config"), "digest"));
  json_t *layers = json_object_get (m, "layers");
  if (cfg == NULL || fk_digest_validate (cfg, NULL) < 0 || !json_is_array (layers))
    return fk_error_set (err, EINVAL, "template `%s': its manifest is not an image manifest", id);
  const char *mt = json_string_value (json_object_get (m, "mediaType"));
  im->manifest_digest = xstrdup (md);
  im->manifest_size = len;
  im->manifest_type = xstrdup (mt ? mt : OCI_MANIFEST);
  im->config_digest = xstrdup (cfg);
  im->layers = xcalloc (json_array_size (layers) + 1, sizeof *im->layers);
  for (size_t i = 0; i < json_array_size (layers); i++)
    {
      const char *d = json_string_value (json_object_get (json_array_get (layers, i), "digest"));
      if (d == NULL || fk_digest_validate (d, NULL) < 0)
        return fk_error_set (err, EINVAL, "template `%s': manifest layer %zu has no digest", id, i);
      if (!fk_store_blob_has (store, d, -1))
        return fk_error_set (err, ENOENT,
                             "template `%s': layer blob `%s' is not in the store (prepare the "
                             "template again)",
                             id, d);
      im->layers[i] = xstrdup (d);
    }
  return 0;
}

static json_t *
index_entry (const image_t *im, const char *tag)
{
  return json_pack ("{s:s, s:s, s:I, s:{s:s}}", "mediaType", im->manifest_type, "digest",
                    im->manifest_digest, "size", (json_int_t)im->manifest_size, "annotations",
                    REF_NAME, tag);
}

/* ---- tar archives ---- */

FK_DEFINE_CLEANUP (struct archive_entry *, archive_entry_free)
#define cleanup_entry FK_CLEANUP (archive_entry_free)

static int
tar_fail (struct archive *a, const char *name, fk_error_t *err)
{
  return fk_error_set (err, EIO, "write `%s': %s", name, archive_error_string (a));
}

static int
tar_buffer (struct archive *a, const char *name, const void *buf, size_t len, fk_error_t *err)
{
  cleanup_entry struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, (la_int64_t)len);
  if (archive_write_header (a, e) != ARCHIVE_OK
      || (len && archive_write_data (a, buf, len) != (la_ssize_t)len))
    return tar_fail (a, name, err);
  return 0;
}

static int
tar_dir (struct archive *a, const char *name, fk_error_t *err)
{
  cleanup_entry struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFDIR);
  archive_entry_set_perm (e, 0755);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    return tar_fail (a, name, err);
  return 0;
}

static int
tar_json (struct archive *a, const char *name, const json_t *j, fk_error_t *err)
{
  cleanup_free char *text = json_dumps (j, JSON_COMPACT);
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "serialise `%s'", name);
  return tar_buffer (a, name, text, strlen (text), err);
}

static int
tar_blob (fk_store_t *store, struct archive *a, const char *name, const char *digest,
          fk_error_t *err)
{
  cleanup_close int fd = fk_store_blob_open (store, digest, err);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return fk_error_set_errno (err, "stat blob `%s'", digest);
  cleanup_entry struct archive_entry *e = archive_entry_new ();
  archive_entry_copy_pathname (e, name);
  archive_entry_set_filetype (e, AE_IFREG);
  archive_entry_set_perm (e, 0644);
  archive_entry_set_size (e, st.st_size);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    return tar_fail (a, name, err);
  char buf[1 << 16];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read blob `%s'", digest);
      if (n == 0)
        break;
      if (archive_write_data (a, buf, (size_t)n) != n)
        return tar_fail (a, name, err);
    }
  return 0;
}

static char *
blob_name (const char *digest)
{
  return xasprintf ("blobs/sha256/%s", fk_digest_hex (digest));
}

static int
write_oci_tar (fk_store_t *store, struct archive *a, const image_t *im, const char *tag,
               fk_error_t *err)
{
  cleanup_json json_t *layout = json_pack ("{s:s}", "imageLayoutVersion", "1.0.0");
  cleanup_json json_t *index
      = json_pack ("{s:i, s:[o]}", "schemaVersion", 2, "manifests", index_entry (im, tag));
  if (tar_json (a, "oci-layout", layout, err) < 0 || tar_json (a, "index.json", index, err) < 0
      || tar_dir (a, "blobs/", err) < 0 || tar_dir (a, "blobs/sha256/", err) < 0)
    return -1;
  const char *fixed[] = { im->manifest_digest, im->config_digest };
  for (size_t i = 0; i < 2; i++)
    {
      cleanup_free char *name = blob_name (fixed[i]);
      if (tar_blob (store, a, name, fixed[i], err) < 0)
        return -1;
    }
  for (size_t i = 0; im->layers[i]; i++)
    {
      int dup = 0;
      for (size_t j = 0; j < i; j++)
        dup |= strcmp (im->layers[i], im->layers[j]) == 0;
      cleanup_free char *name = blob_name (im->layers[i]);
      if (!dup && tar_blob (store, a, name, im->layers[i], err) < 0)
        return -1;
    }
  return 0;
}

/* `docker save': manifest.json, the config as <hex>.json, each layer as <hex>/layer.tar (the
   blob as it is: readers take compressed layers too). */
static int
write_docker_tar (fk_store_t *store, struct archive *a, const image_t *im, const char *repotag,
                  fk_error_t *err)
{
  cleanup_free char *cfg = xasprintf ("%s.json", fk_digest_hex (im->config_digest));
  json_t *layers = json_array ();
  for (size_t i = 0; im->layers[i]; i++)
    json_array_append_new (layers, json_sprintf ("%s/layer.tar", fk_digest_hex (im->layers[i])));
  cleanup_json json_t *manifest
      = json_pack ("[{s:s, s:[s], s:o}]", "Config", cfg, "RepoTags", repotag, "Layers", layers);
  if (manifest == NULL)
    return fk_error_set (err, EINVAL, "cannot build manifest.json");
  if (tar_blob (store, a, cfg, im->config_digest, err) < 0)
    return -1;
  for (size_t i = 0; im->layers[i]; i++)
    {
      int dup = 0;
      for (size_t j = 0; j < i; j++)
        dup |= strcmp (im->layers[i], im->layers[j]) == 0;
      if (dup)
        continue;
      cleanup_free char *dir = xasprintf ("%s/", fk_digest_hex (im->layers[i]));
      cleanup_free char *name = xasprintf ("%s/layer.tar", fk_digest_hex (im->layers[i]));
      if (tar_dir (a, dir, err) < 0 || tar_blob (store, a, name, im->layers[i], err) < 0)
        return -1;
    }
  return tar_json (a, "manifest.json", manifest, err);
}

static int
write_archive (fk_store_t *store, const fk_reference_t *ref, const image_t *im, const char *id,
               fk_error_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s.tmp-XXXXXX", ref->path);
  int fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "create `%s'", tmp);
  struct archive *a = archive_write_new ();
  int rc = -1;
  if (archive_write_set_format_pax_restricted (a) != ARCHIVE_OK
      || archive_write_add_filter_none (a) != ARCHIVE_OK
      || archive_write_open_fd (a, fd) != ARCHIVE_OK)
    {
      tar_fail (a, ref->path, err);
      goto out;
    }
  if (ref->kind == FK_REF_OCI_ARCHIVE)
    {
      if (write_oci_tar (store, a, im, ref->name ? ref->name : id, err) < 0)
        goto out;
    }
  else
    {
      cleanup_free char *repotag = xasprintf ("%s:latest", id);
      for (char *p = repotag; *p && *p != ':'; p++)
        if (*p >= 'A' && *p <= 'Z')
          *p = (char)(*p - 'A' + 'a');
      if (write_docker_tar (store, a, im, repotag, err) < 0)
        goto out;
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      tar_fail (a, ref->path, err);
      goto out;
    }
  if (fchmod (fd, 0644) < 0 || fsync (fd) < 0 || rename (tmp, ref->path) < 0)
    {
      fk_error_set_errno (err, "write `%s'", ref->path);
      goto out;
    }
  rc = 0;
out:
  archive_write_free (a);
  close (fd);
  if (rc < 0)
    unlink (tmp);
  return rc;
}

/* ---- an OCI layout directory ---- */

static int
copy_blob (fk_store_t *store, int dirfd, const char *digest, fk_error_t *err)
{
  cleanup_free char *name = blob_name (digest);
  struct stat st, have;
  cleanup_close int in = fk_store_blob_open (store, digest, err);
  if (in < 0 || fstat (in, &st) < 0)
    return in < 0 ? -1 : fk_error_set_errno (err, "stat blob `%s'", digest);
  if (fstatat (dirfd, name, &have, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (have.st_mode)
      && have.st_size == st.st_size)
    return 0; /* content-addressed: the same name is the same bytes */
  cleanup_free char *tmp = xasprintf ("%s.tmp", name);
  cleanup_close int out
      = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (out < 0)
    return fk_error_set_errno (err, "create `%s'", tmp);
  char buf[1 << 16];
  for (;;)
    {
      ssize_t n = read (in, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read blob `%s'", digest);
      if (n == 0)
        break;
      if (fk_write_all (out, buf, (size_t)n, err) < 0)
        return -1;
    }
  if (renameat (dirfd, tmp, dirfd, name) < 0)
    return fk_error_set_errno (err, "rename `%s'", tmp);
  return 0;
}

static int
write_dir (fk_store_t *store, const fk_reference_t *ref, const image_t *im, const char *id,
           fk_error_t *err)
{
  cleanup_free char *blobs = xasprintf ("%s/blobs/sha256", ref->path);
  if (fk_mkdir_p (blobs, 0755, err) < 0)
    return -1;
  cleanup_close int dirfd = open (ref->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return fk_error_set_errno (err, "open `%s'", ref->path);
  if (copy_blob (store, dirfd, im->config_digest, err) < 0)
    return -1;
  for (size_t i = 0; im->layers[i]; i++)
    if (copy_blob (store, dirfd, im->layers[i], err) < 0)
      return -1;
  if (copy_blob (store, dirfd, im->manifest_digest, err) < 0)
    return -1;
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  if (fk_write_file_atomic_at (dirfd, "oci-layout", layout, sizeof layout - 1, 0644, err) < 0)
    return -1;
  /* index.json: other tags kept, this one replaced. */
  const char *tag = ref->name ? ref->name : id;
  cleanup_json json_t *index = NULL;
  fk_error_t lerr = FK_ERROR_INIT;
  if (fk_json_load_file_at (dirfd, "index.json", MANIFEST_MAX, &index, &lerr) < 0)
    {
      if (lerr.code != ENOENT)
        {
          fk_error_set (err, lerr.code, "`%s/index.json': %s", ref->path, fk_error_message (&lerr));
          fk_error_clear (&lerr);
          return -1;
        }
      fk_error_clear (&lerr);
      index = json_pack ("{s:i, s:[]}", "schemaVersion", 2, "manifests");
    }
  json_t *manifests = json_object_get (index, "manifests");
  if (!json_is_array (manifests))
    return fk_error_set (err, EINVAL, "`%s/index.json' has no manifests list", ref->path);
  for (size_t i = json_array_size (manifests); i-- > 0;)
    {
      const char *n = json_string_value (json_object_get (
          json_object_get (json_array_get (manifests, i), "annotations"), REF_NAME));
      if (n && strcmp (n, tag) == 0)
        json_array_remove (manifests, i);
    }
  json_array_append_new (manifests, index_entry (im, tag));
  return fk_json_dump_file_atomic_at (dirfd, "index.json", index, 0, err);
}

int
fk_template_export (fk_runtime_t *rt, const char *id, const char *dest, fk_error_t *err)
{
  cleanup_reference fk_reference_t *ref = NULL;
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  if (strncmp (dest, "oci:", 4) != 0 && strncmp (dest, "oci-archive:", 12) != 0
      && strncmp (dest, "docker-archive:", 15) != 0)
    return fk_error_set (err, EINVAL,
                         "export to `%s': say oci:DIR[:TAG], oci-archive:FILE[:TAG] or "
                         "docker-archive:FILE",
                         dest);
  if (fk_reference_parse (dest, &ref, err) < 0)
    return fk_error_wrap (err, "export to `%s'", dest);
  cleanup_store fk_store_t *store = NULL;
  if (fk_store_open (fk_runtime_state_dir (rt), &store, err) < 0)
    return -1;
  image_t im = { 0 };
  int rc = fk_template_image_load (store, id, &im, err);
  if (rc == 0)
    rc = ref->kind == FK_REF_OCI_DIR ? write_dir (store, ref, &im, id, err)
                                     : write_archive (store, ref, &im, id, err);
  fk_template_image_clear (&im);
  if (rc < 0)
    fk_error_wrap (err, "export template `%s' to `%s'", id, dest);
  return rc;
}
