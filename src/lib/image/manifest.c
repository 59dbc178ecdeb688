/* image/manifest.c: see manifest.h. */
#include "image/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/xalloc.h"

/* Bounds that keep a hostile document from costing more than a sane one. */
#define MAX_ENTRIES 4096
#define MAX_STRV 65536

void
fk_platform_clear (fk_platform_t *p)
{
  free (p->os);
  free (p->architecture);
  free (p->variant);
  p->os = p->architecture = p->variant = NULL;
}

static void
descriptor_clear (fk_descriptor_t *d)
{
  free (d->media_type);
  free (d->digest);
  free (d->ref_name);
  fk_platform_clear (&d->platform);
}

void
fk_index_free (fk_index_t *idx)
{
  if (idx == NULL)
    return;
  for (size_t i = 0; i < idx->n_manifests; i++)
    descriptor_clear (&idx->manifests[i]);
  free (idx->manifests);
  free (idx);
}

void
fk_manifest_free (fk_manifest_t *m)
{
  if (m == NULL)
    return;
  descriptor_clear (&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    descriptor_clear (&m->layers[i]);
  free (m->layers);
  free (m);
}

void
fk_image_config_free (fk_image_config_t *c)
{
  if (c == NULL)
    return;
  free (c->os);
  free (c->architecture);
  free (c->variant);
  fk_strv_free (c->env);
  fk_strv_free (c->entrypoint);
  fk_strv_free (c->cmd);
  free (c->workdir);
  free (c->user);
  fk_strv_free (c->diff_ids);
  free (c);
}

static char *
dup_opt (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

static int
parse_doc (const char *buf, size_t len, json_t **ret, fk_error_t *err)
{
  if (len > FK_MANIFEST_MAX_SIZE)
    return fk_error_set (err, EFBIG, "document of %zu bytes is larger than the %u allowed", len,
                         FK_MANIFEST_MAX_SIZE);
  json_t *j = NULL;
  if (fk_json_parse (buf, len, &j, err) < 0)
    return -1;
  if (!json_is_object (j))
    {
      json_decref (j);
      return fk_error_set (err, EINVAL, "document is not a JSON object");
    }
  *ret = j;
  return 0;
}

static int
parse_platform (const json_t *obj, fk_platform_t *p, fk_error_t *err)
{
  const char *os = NULL, *arch = NULL, *variant = NULL;
  if (fk_json_get_string (obj, "os", 1, &os, err) < 0
      || fk_json_get_string (obj, "architecture", 1, &arch, err) < 0
      || fk_json_get_string (obj, "variant", 0, &variant, err) < 0)
    return fk_error_wrap (err, "platform");
  p->os = xstrdup (os);
  p->architecture = xstrdup (arch);
  p->variant = variant && *variant ? xstrdup (variant) : NULL;
  return 0;
}

static int
parse_descriptor (const json_t *obj, fk_descriptor_t *d, fk_error_t *err)
{
  const char *mt = NULL, *digest = NULL;
  long long size = 0;
  if (!json_is_object (obj))
    return fk_error_set (err, EINVAL, "descriptor is not an object");
  if (fk_json_get_string (obj, "mediaType", 1, &mt, err) < 0
      || fk_json_get_string (obj, "digest", 1, &digest, err) < 0
      || fk_json_get_int (obj, "size", 1, &size, err) < 0)
    return -1;
  if (fk_digest_validate (digest, err) < 0)
    return -1;
  if (size < 0)
    return fk_error_set (err, EINVAL, "descriptor `%s' has a negative size", digest);
  d->media_type = xstrdup (mt);
  d->digest = xstrdup (digest);
  d->size = size;
  json_t *plat = NULL;
  if (fk_json_get_object (obj, "platform", 0, &plat, err) < 0)
    return -1;
  if (plat != NULL && parse_platform (plat, &d->platform, err) < 0)
    return -1;
  json_t *ann = NULL;
  if (fk_json_get_object (obj, "annotations", 0, &ann, err) < 0)
    return fk_error_wrap (err, "descriptor `%s'", digest);
  if (ann != NULL)
    {
      const char *name = NULL;
      if (fk_json_get_string (ann, "org.opencontainers.image.ref.name", 0, &name, err) < 0)
        return fk_error_wrap (err, "descriptor `%s' annotations", digest);
      d->ref_name = dup_opt (name);
    }
  return 0;
}

static int
check_schema (const json_t *j, fk_error_t *err)
{
  long long v = 0;
  int r = fk_json_get_int (j, "schemaVersion", 1, &v, err);
  if (r < 0)
    return -1;
  if (v != 2)
    return fk_error_set (err, EINVAL, "schemaVersion %lld is not supported (only 2)", v);
  return 0;
}

int
fk_manifest_doc_kind (const char *buf, size_t len, const char *media_type, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  const char *mt = media_type;
  if (mt != NULL)
    {
      /* A Content-Type may carry parameters. */
      size_t n = strcspn (mt, "; ");
      if (n == 0)
        mt = NULL;
      else
        {
          if (strncmp (mt, FK_MT_OCI_INDEX, n) == 0 || strncmp (mt, FK_MT_DOCKER_LIST, n) == 0)
            return FK_DOC_INDEX;
          if (strncmp (mt, FK_MT_OCI_MANIFEST, n) == 0
              || strncmp (mt, FK_MT_DOCKER_MANIFEST, n) == 0)
            return FK_DOC_MANIFEST;
        }
    }
  if (parse_doc (buf, len, &j, err) < 0)
    return -1;
  const char *own = NULL;
  if (fk_json_get_string (j, "mediaType", 0, &own, err) < 0)
    return -1;
  if (own != NULL)
    {
      if (strcmp (own, FK_MT_OCI_INDEX) == 0 || strcmp (own, FK_MT_DOCKER_LIST) == 0)
        return FK_DOC_INDEX;
      if (strcmp (own, FK_MT_OCI_MANIFEST) == 0 || strcmp (own, FK_MT_DOCKER_MANIFEST) == 0)
        return FK_DOC_MANIFEST;
      return fk_error_set (err, EINVAL, "unsupported manifest media type `%s'", own);
    }
  /* OCI allows mediaType to be absent: tell by shape. */
  if (json_is_array (json_object_get (j, "manifests")))
    return FK_DOC_INDEX;
  if (json_is_object (json_object_get (j, "config")))
    return FK_DOC_MANIFEST;
  if (mt != NULL)
    return fk_error_set (err, EINVAL, "unsupported manifest media type `%.*s'",
                         (int)strcspn (mt, "; "), mt);
  return fk_error_set (err, EINVAL, "document is neither an image index nor an image manifest");
}

int
fk_index_parse (const char *buf, size_t len, fk_index_t **ret, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_doc (buf, len, &j, err) < 0 || check_schema (j, err) < 0)
    return fk_error_wrap (err, "image index");
  json_t *arr = NULL;
  if (fk_json_get_array (j, "manifests", 1, &arr, err) < 0)
    return fk_error_wrap (err, "image index");
  size_t n = json_array_size (arr);
  if (n > MAX_ENTRIES)
    return fk_error_set (err, EINVAL, "image index: %zu manifests is more than %d", n, MAX_ENTRIES);
  cleanup_index fk_index_t *idx = xcalloc (1, sizeof *idx);
  idx->manifests = xcalloc (n ? n : 1, sizeof *idx->manifests);
  for (size_t i = 0; i < n; i++)
    {
      idx->n_manifests = i + 1;
      if (parse_descriptor (json_array_get (arr, i), &idx->manifests[i], err) < 0)
        return fk_error_wrap (err, "image index: manifests[%zu]", i);
    }
  *ret = steal_pointer (&idx);
  return 0;
}

int
fk_layer_media_type_ok (const char *mt)
{
  static const char *const ok[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strcmp (mt, ok[i]) == 0)
      return 1;
  return 0;
}

int
fk_manifest_parse (const char *buf, size_t len, fk_manifest_t **ret, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_doc (buf, len, &j, err) < 0 || check_schema (j, err) < 0)
    return fk_error_wrap (err, "image manifest");
  const char *own = NULL;
  if (fk_json_get_string (j, "mediaType", 0, &own, err) < 0)
    return fk_error_wrap (err, "image manifest");
  if (own != NULL && strcmp (own, FK_MT_OCI_MANIFEST) != 0
      && strcmp (own, FK_MT_DOCKER_MANIFEST) != 0)
    return fk_error_set (err, EINVAL, "image manifest: unsupported media type `%s'", own);

  cleanup_manifest fk_manifest_t *m = xcalloc (1, sizeof *m);
  json_t *cfg = NULL, *arr = NULL;
  if (fk_json_get_object (j, "config", 1, &cfg, err) < 0
      || fk_json_get_array (j, "layers", 1, &arr, err) < 0)
    return fk_error_wrap (err, "image manifest");
  if (parse_descriptor (cfg, &m->config, err) < 0)
    return fk_error_wrap (err, "image manifest: config");
  if (strcmp (m->config.media_type, FK_MT_OCI_CONFIG) != 0
      && strcmp (m->config.media_type, FK_MT_DOCKER_CONFIG) != 0)
    return fk_error_set (err, EINVAL,
                         "image manifest: config media type `%s' is not an image config "
                         "(an artifact, not an image?)",
                         m->config.media_type);
  if (m->config.size > (int64_t)FK_MANIFEST_MAX_SIZE)
    return fk_error_set (err, EFBIG, "image manifest: config of %lld bytes is too large",
                         (long long)m->config.size);
  size_t n = json_array_size (arr);
  if (n > MAX_ENTRIES)
    return fk_error_set (err, EINVAL, "image manifest: %zu layers is more than %d", n, MAX_ENTRIES);
  m->layers = xcalloc (n ? n : 1, sizeof *m->layers);
  for (size_t i = 0; i < n; i++)
    {
      m->n_layers = i + 1;
      if (parse_descriptor (json_array_get (arr, i), &m->layers[i], err) < 0)
        return fk_error_wrap (err, "image manifest: layers[%zu]", i);
      if (!fk_layer_media_type_ok (m->layers[i].media_type))
        return fk_error_set (err, EINVAL,
                             "image manifest: layers[%zu] has media type `%s', "
                             "not a tar layer",
                             i, m->layers[i].media_type);
    }
  *ret = steal_pointer (&m);
  return 0;
}

static int
get_strv (const json_t *obj, const char *key, char ***ret, fk_error_t *err)
{
  json_t *arr = NULL;
  if (fk_json_get_array (obj, key, 0, &arr, err) < 0)
    return -1;
  if (arr == NULL)
    return 0;
  size_t n = json_array_size (arr);
  if (n > MAX_STRV)
    return fk_error_set (err, EINVAL, "`%s' has %zu entries, more than %d", key, n, MAX_STRV);
  cleanup_strv char **v = xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    {
      json_t *s = json_array_get (arr, i);
      if (!json_is_string (s))
        return fk_error_set (err, EINVAL, "`%s'[%zu] is not a string", key, i);
      if (strlen (json_string_value (s)) != json_string_length (s))
        return fk_error_set (err, EINVAL, "`%s'[%zu] has a NUL byte", key, i);
      v[i] = xstrdup (json_string_value (s));
    }
  *ret = steal_pointer (&v);
  return 0;
}

int
fk_image_config_parse (const char *buf, size_t len, fk_image_config_t **ret, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_doc (buf, len, &j, err) < 0)
    return fk_error_wrap (err, "image config");
  cleanup_image_config fk_image_config_t *c = xcalloc (1, sizeof *c);
  const char *os = NULL, *arch = NULL, *variant = NULL;
  if (fk_json_get_string (j, "os", 1, &os, err) < 0
      || fk_json_get_string (j, "architecture", 1, &arch, err) < 0
      || fk_json_get_string (j, "variant", 0, &variant, err) < 0)
    return fk_error_wrap (err, "image config");
  c->os = xstrdup (os);
  c->architecture = xstrdup (arch);
  c->variant = variant && *variant ? xstrdup (variant) : NULL;

  json_t *cfg = NULL;
  if (fk_json_get_object (j, "config", 0, &cfg, err) < 0)
    return fk_error_wrap (err, "image config");
  if (cfg != NULL)
    {
      const char *wd = NULL, *user = NULL;
      if (get_strv (cfg, "Env", &c->env, err) < 0 || get_strv (cfg, "Cmd", &c->cmd, err) < 0
          || get_strv (cfg, "Entrypoint", &c->entrypoint, err) < 0
          || fk_json_get_string (cfg, "WorkingDir", 0, &wd, err) < 0
          || fk_json_get_string (cfg, "User", 0, &user, err) < 0)
        return fk_error_wrap (err, "image config: config");
      c->workdir = wd && *wd ? xstrdup (wd) : NULL;
      c->user = dup_opt (user);
      for (char **e = c->env; e && *e; e++)
        if (strchr (*e, '=') == NULL)
          return fk_error_set (err, EINVAL, "image config: Env entry `%s' has no `='", *e);
    }

  json_t *rootfs = NULL, *ids = NULL;
  const char *type = NULL;
  if (fk_json_get_object (j, "rootfs", 1, &rootfs, err) < 0
      || fk_json_get_string (rootfs, "type", 1, &type, err) < 0
      || fk_json_get_array (rootfs, "diff_ids", 1, &ids, err) < 0)
    return fk_error_wrap (err, "image config");
  if (strcmp (type, "layers") != 0)
    return fk_error_set (err, EINVAL, "image config: rootfs type `%s' is not `layers'", type);
  if (get_strv (rootfs, "diff_ids", &c->diff_ids, err) < 0)
    return fk_error_wrap (err, "image config: rootfs");
  c->n_diff_ids = json_array_size (ids);
  if (c->n_diff_ids > MAX_ENTRIES)
    return fk_error_set (err, EINVAL, "image config: %zu diff_ids is more than %d", c->n_diff_ids,
                         MAX_ENTRIES);
  for (size_t i = 0; i < c->n_diff_ids; i++)
    if (fk_digest_validate (c->diff_ids[i], err) < 0)
      return fk_error_wrap (err, "image config: rootfs.diff_ids[%zu]", i);
  *ret = steal_pointer (&c);
  return 0;
}

int
fk_platform_parse (const char *s, fk_platform_t *ret, fk_error_t *err)
{
  const char *a = strchr (s, '/');
  if (a == NULL || a == s || a[1] == '\0' || a[1] == '/')
    return fk_error_set (err, EINVAL, "invalid platform `%s': expected OS/ARCH[/VARIANT]", s);
  const char *v = strchr (a + 1, '/');
  if (v != NULL && (v[1] == '\0' || strchr (v + 1, '/') != NULL))
    return fk_error_set (err, EINVAL, "invalid platform `%s': expected OS/ARCH[/VARIANT]", s);
  ret->os = xstrndup (s, (size_t)(a - s));
  ret->architecture = v ? xstrndup (a + 1, (size_t)(v - a - 1)) : xstrdup (a + 1);
  ret->variant = v ? xstrdup (v + 1) : NULL;
  return 0;
}

void
fk_platform_host (fk_platform_t *ret)
{
  struct utsname u;
  const char *arch = "amd64", *variant = NULL;
  if (uname (&u) == 0)
    {
      if (strcmp (u.machine, "x86_64") == 0)
        arch = "amd64";
      else if (strcmp (u.machine, "aarch64") == 0)
        arch = "arm64", variant = "v8";
      else if (strncmp (u.machine, "armv7", 5) == 0)
        arch = "arm", variant = "v7";
      else if (strcmp (u.machine, "i686") == 0 || strcmp (u.machine, "i386") == 0)
        arch = "386";
      else if (strcmp (u.machine, "ppc64le") == 0)
        arch = "ppc64le";
      else if (strcmp (u.machine, "s390x") == 0)
        arch = "s390x";
      else if (strcmp (u.machine, "riscv64") == 0)
        arch = "riscv64";
      else
        arch = u.machine;
    }
  ret->os = xstrdup ("linux");
  ret->architecture = xstrdup (arch);
  ret->variant = variant ? xstrdup (variant) : NULL;
}

char *
fk_platform_format (const fk_platform_t *p)
{
  return xasprintf ("%s/%s%s%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?",
                    p->variant ? "/" : "", p->variant ? p->variant : "");
}

static int
variant_matches (const fk_platform_t *want, const fk_platform_t *have)
{
  if (have->variant == NULL || want->variant == NULL)
    return 1;
  return strcmp (want->variant, have->variant) == 0;
}

int
fk_index_select (const fk_index_t *idx, const fk_platform_t *platform, fk_error_t *err)
{
  int loose = -1;
  for (size_t i = 0; i < idx->n_manifests; i++)
    {
      const fk_descriptor_t *d = &idx->manifests[i];
      if (strcmp (d->media_type, FK_MT_OCI_MANIFEST) != 0
          && strcmp (d->media_type, FK_MT_DOCKER_MANIFEST) != 0)
        continue;
      if (d->platform.os == NULL)
        {
          /* An entry without a platform fits any platform only in a one-entry index. */
          if (idx->n_manifests == 1)
            return (int)i;
          continue;
        }
      if (strcmp (d->platform.os, platform->os) != 0
          || strcmp (d->platform.architecture, platform->architecture) != 0)
        continue;
      if (d->platform.variant != NULL && platform->variant != NULL
          && strcmp (d->platform.variant, platform->variant) == 0)
        return (int)i;
      if (loose < 0 && variant_matches (platform, &d->platform))
        loose = (int)i;
    }
  if (loose >= 0)
    return loose;

  /* Say what there is, so the user can pick with --platform. */
  size_t cap = 256, len = 0;
  cleanup_free char *list = xmalloc (cap);
  list[0] = '\0';
  for (size_t i = 0; i < idx->n_manifests; i++)
    {
      const fk_descriptor_t *d = &idx->manifests[i];
      if (d->platform.os == NULL || strcmp (d->platform.os, "unknown") == 0)
        continue;
      cleanup_free char *p = fk_platform_format (&d->platform);
      size_t n = strlen (p);
      xgrow ((void **)&list, &cap, len + n + 3, 1);
      if (len)
        {
          memcpy (list + len, ", ", 2);
          len += 2;
        }
      memcpy (list + len, p, n + 1);
      len += n;
    }
  cleanup_free char *want = fk_platform_format (platform);
  return fk_error_set (err, ENOENT, "no image for platform %s in the index (it has: %s)", want,
                       len ? list : "nothing");
}

void
fk_image_free (fk_image_t *img)
{
  if (img == NULL)
    return;
  free (img->index_digest);
  free (img->manifest_digest);
  fk_manifest_free (img->manifest);
  fk_image_config_free (img->config);
  free (img);
}

int
fk_image_check (const fk_image_t *img, const fk_platform_t *want, fk_error_t *err)
{
  if (img->config->n_diff_ids != img->manifest->n_layers)
    return fk_error_set (err, EINVAL,
                         "image `%s': the manifest has %zu layers but the config %zu diff-ids",
                         img->manifest_digest, img->manifest->n_layers, img->config->n_diff_ids);
  if (want == NULL)
    return 0;
  fk_platform_t have = { img->config->os, img->config->architecture, img->config->variant };
  if (strcmp (have.os, want->os) != 0 || strcmp (have.architecture, want->architecture) != 0
      || !variant_matches (want, &have))
    {
      cleanup_free char *h = fk_platform_format (&have), *w = fk_platform_format (want);
      return fk_error_set (err, ENOEXEC,
                           "wrong platform: image `%s' is for %s, not %s (pick "
                           "another image or --platform)",
                           img->manifest_digest, h, w);
    }
  return 0;
}
