/* image/store.c: see store.h. */
#include "image/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/layer.h"

static const char *const store_dirs[] = {
  "blobs/sha256", "layers/sha256", "templates", "locks", "tmp",
};

void
fk_store_close (fk_store_t *s)
{
  if (s == NULL)
    return;
  close_and_reset (s->lockfd);
  close_and_reset (s->dirfd);
  free (s->dir);
  free (s);
}

int
fk_store_lock (fk_store_t *s, const char *name, fk_error_t *err)
{
  cleanup_free char *path = xasprintf ("locks/%s", name);
  cleanup_close int fd = openat (s->dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return fk_error_set_errno (err, "open lock `%s/%s'", s->dir, path);
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "lock `%s/%s'", s->dir, path);
  return steal_fd (&fd);
}

int
fk_store_open (const char *state_dir, fk_store_t **ret, fk_error_t *err)
{
  cleanup_store fk_store_t *s = xcalloc (1, sizeof *s);
  s->dirfd = s->lockfd = -1;
  if (fk_mkdir_p (state_dir, 0711, err) < 0)
    return fk_error_wrap (err, "state dir");
  s->dir = realpath (state_dir, NULL);
  if (s->dir == NULL)
    return fk_error_set_errno (err, "resolve state dir `%s'", state_dir);
  s->dirfd = open (s->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->dirfd < 0)
    return fk_error_set_errno (err, "open state dir `%s'", s->dir);
  for (size_t i = 0; i < sizeof store_dirs / sizeof store_dirs[0]; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", s->dir, store_dirs[i]);
      if (fk_mkdir_p (p, 0700, err) < 0)
        return -1;
    }
  s->lockfd = openat (s->dirfd, "locks/store", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s->lockfd < 0)
    return fk_error_set_errno (err, "open `%s/locks/store'", s->dir);
  while (flock (s->lockfd, LOCK_SH) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "lock `%s/locks/store'", s->dir);
  *ret = steal_pointer (&s);
  return 0;
}

static char *
blob_rel (const char *digest)
{
  return xasprintf ("blobs/sha256/%s", fk_digest_hex (digest));
}

int
fk_store_blob_has (fk_store_t *s, const char *digest, int64_t size)
{
  if (fk_digest_validate (digest, NULL) < 0)
    return 0;
  cleanup_free char *rel = blob_rel (digest);
  struct stat st;
  if (fstatat (s->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG (st.st_mode))
    return 0;
  return size < 0 || st.st_size == size;
}

int
fk_store_blob_open (fk_store_t *s, const char *digest, fk_error_t *err)
{
  if (fk_digest_validate (digest, err) < 0)
    return -1;
  cleanup_free char *rel = blob_rel (digest);
  int fd = openat (s->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fk_error_set_errno (err, "open blob `%s'", digest);
  return fd;
}

int
fk_store_blob_read (fk_store_t *s, const char *digest, size_t max, char **ret_buf, size_t *ret_len,
                    fk_error_t *err)
{
  cleanup_close int fd = fk_store_blob_open (s, digest, err);
  if (fd < 0)
    return -1;
  if (fk_read_all (fd, max, ret_buf, ret_len, err) < 0)
    return fk_error_wrap (err, "blob `%s'", digest);
  return 0;
}

int
fk_store_tmp_file (fk_store_t *s, char **ret_name, fk_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/tmp/blob-XXXXXX", s->dir);
  int fd = mkostemp (path, O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "create a temporary file in `%s/tmp'", s->dir);
  close (fd);
  *ret_name = xstrdup (path + strlen (s->dir) + 1);
  return 0;
}

int
fk_store_blob_commit (fk_store_t *s, const char *tmp_name, const char *digest, int64_t size,
                      int verified, fk_error_t *err)
{
  if (fk_digest_validate (digest, err) < 0)
    {
      unlinkat (s->dirfd, tmp_name, 0);
      return -1;
    }
  if (!verified)
    {
      cleanup_close int fd = openat (s->dirfd, tmp_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0)
        return fk_error_set_errno (err, "open `%s/%s'", s->dir, tmp_name);
      char got[FK_DIGEST_STR_LEN];
      uint64_t n = 0;
      if (fk_sha256_fd (fd, got, &n, err) < 0)
        return -1;
      if (size >= 0 && n != (uint64_t)size)
        {
          unlinkat (s->dirfd, tmp_name, 0);
          return fk_error_set (err, EBADMSG,
                               "size mismatch for blob `%s': expected %lld bytes, "
                               "got %llu",
                               digest, (long long)size, (unsigned long long)n);
        }
      if (strcmp (got, digest) != 0)
        {
          unlinkat (s->dirfd, tmp_name, 0);
          return fk_error_set (
              err, EBADMSG, "digest mismatch for blob `%s': content hashes to `%s'", digest, got);
        }
    }
  /* Read-only in the store: nothing rewrites a blob in place. */
  if (fchmodat (s->dirfd, tmp_name, 0444, 0) < 0)
    {
      fk_error_set_errno (err, "make blob `%s' read-only", tmp_name);
      unlinkat (s->dirfd, tmp_name, 0);
      return -1;
    }
  cleanup_free char *rel = blob_rel (digest);
  if (renameat (s->dirfd, tmp_name, s->dirfd, rel) < 0)
    {
      fk_error_set_errno (err, "rename `%s' to `%s'", tmp_name, rel);
      unlinkat (s->dirfd, tmp_name, 0);
      return -1;
    }
  return 0;
}

int
fk_store_blob_import_fd (fk_store_t *s, int fd, const char *digest, int64_t size, fk_error_t *err)
{
  if (fk_digest_validate (digest, err) < 0)
    return -1;
  if (fk_store_blob_has (s, digest, size))
    return 0;
  cleanup_free char *tmp = NULL;
  if (fk_store_tmp_file (s, &tmp, err) < 0)
    return -1;
  cleanup_close int out = openat (s->dirfd, tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (out < 0)
    return fk_error_set_errno (err, "open `%s'", tmp);
  fk_sha256_t *ctx = fk_sha256_new ();
  static __thread char buf[1 << 16];
  uint64_t total = 0;
  int ret = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          ret = fk_error_set_errno (err, "read blob `%s'", digest);
          break;
        }
      if (n == 0)
        break;
      total += (uint64_t)n;
      if (size >= 0 && total > (uint64_t)size)
        {
          ret = fk_error_set (err, EBADMSG,
                              "size mismatch for blob `%s': more than the %lld "
                              "bytes its descriptor says",
                              digest, (long long)size);
          break;
        }
      fk_sha256_update (ctx, buf, (size_t)n);
      if (fk_write_all (out, buf, (size_t)n, err) < 0)
        {
          ret = -1;
          break;
        }
    }
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_final (ctx, got);
  fk_sha256_free (ctx);
  if (ret == 0 && size >= 0 && total != (uint64_t)size)
    ret = fk_error_set (err, EBADMSG, "size mismatch for blob `%s': expected %lld bytes, got %llu",
                        digest, (long long)size, (unsigned long long)total);
  if (ret == 0 && strcmp (got, digest) != 0)
    ret = fk_error_set (err, EBADMSG, "digest mismatch for blob `%s': content hashes to `%s'",
                        digest, got);
  if (ret < 0)
    {
      unlinkat (s->dirfd, tmp, 0);
      return -1;
    }
  return fk_store_blob_commit (s, tmp, digest, size, 1, err);
}

int
fk_store_blob_put (fk_store_t *s, const void *buf, size_t len, const char *digest,
                   char ret_digest[FK_DIGEST_STR_LEN], fk_error_t *err)
{
  char got[FK_DIGEST_STR_LEN];
  fk_sha256_buffer (buf, len, got);
  if (digest != NULL && strcmp (digest, got) != 0)
    return fk_error_set (err, EBADMSG, "digest mismatch: expected `%s', content hashes to `%s'",
                         digest, got);
  if (!fk_store_blob_has (s, got, (int64_t)len))
    {
      cleanup_free char *tmp = NULL;
      if (fk_store_tmp_file (s, &tmp, err) < 0)
        return -1;
      cleanup_close int fd = openat (s->dirfd, tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0 || fk_write_all (fd, buf, len, err) < 0)
        {
          if (fd < 0)
            fk_error_set_errno (err, "open `%s'", tmp);
          unlinkat (s->dirfd, tmp, 0);
          return -1;
        }
      if (fk_store_blob_commit (s, tmp, got, (int64_t)len, 1, err) < 0)
        return -1;
    }
  if (ret_digest != NULL)
    memcpy (ret_digest, got, FK_DIGEST_STR_LEN);
  return 0;
}

static char *
layer_rel (const char *diff_id)
{
  return xasprintf ("layers/sha256/%s", fk_digest_hex (diff_id));
}

char *
fk_store_layer_path (const fk_store_t *s, const char *diff_id)
{
  return xasprintf ("%s/layers/sha256/%s/fs", s->dir, fk_digest_hex (diff_id));
}

int
fk_store_layer_has (fk_store_t *s, const char *diff_id)
{
  if (fk_digest_validate (diff_id, NULL) < 0)
    return 0;
  cleanup_free char *rel = layer_rel (diff_id);
  cleanup_free char *meta = xasprintf ("%s/layer.json", rel);
  /* layer.json is written last, inside tmp/, before the rename: its presence means complete. */
  struct stat st;
  return fstatat (s->dirfd, meta, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG (st.st_mode);
}

/* Takes the lock of layer diff_id: 0 with *ret_lockfd held, 1 (no lock kept) when the layer is
   in the store by then, -1 on error. */
static int
layer_lock (fk_store_t *s, const char *diff_id, int *ret_lockfd, fk_error_t *err)
{
  cleanup_free char *lockname = xasprintf ("layer-%s", fk_digest_hex (diff_id));
  int fd = fk_store_lock (s, lockname, err);
  if (fd < 0)
    return -1;
  if (fk_store_layer_has (s, diff_id))
    {
      close (fd);
      return 1;
    }
  *ret_lockfd = fd;
  return 0;
}

int
fk_store_layer_unpack (fk_store_t *s, const char *blob_digest, const char *diff_id, fk_error_t *err)
{
  if (fk_digest_validate (diff_id, err) < 0)
    return fk_error_wrap (err, "layer diff-id");
  if (fk_store_layer_has (s, diff_id))
    return 0;
  cleanup_close int lockfd = -1;
  /* Another process may have finished it while this one waited. */
  int there = layer_lock (s, diff_id, &lockfd, err);
  if (there != 0)
    return there < 0 ? -1 : 0;

  cleanup_free char *tmp = xasprintf ("%s/tmp/layer-XXXXXX", s->dir);
  if (mkdtemp (tmp) == NULL)
    return fk_error_set_errno (err, "create a temporary directory in `%s/tmp'", s->dir);
  const char *tmp_rel = tmp + strlen (s->dir) + 1;
  int ret = -1;
  {
    cleanup_close int blobfd = fk_store_blob_open (s, blob_digest, err);
    cleanup_close int tmpfd = -1, rootfd = -1;
    fk_layer_stats_t stats;
    memset (&stats, 0, sizeof stats);
    if (blobfd < 0)
      goto out;
    tmpfd = open (tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (tmpfd < 0 || mkdirat (tmpfd, "fs", 0755) < 0)
      {
        fk_error_set_errno (err, "create `%s/fs'", tmp);
        goto out;
      }
    rootfd = openat (tmpfd, "fs", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (rootfd < 0)
      {
        fk_error_set_errno (err, "open `%s/fs'", tmp);
        goto out;
      }
    /* Image owners need root on the host; anyone else gets the files as their own. */
    fk_layer_opts_t lo = { .ignore_owners = geteuid () != 0 };
    if (fk_layer_apply (rootfd, blobfd, &lo, &stats, err) < 0)
      {
        fk_error_wrap (err, "layer `%s'", blob_digest);
        goto out;
      }
    if (strcmp (stats.diff_id, diff_id) != 0)
      {
        fk_error_set (err, EBADMSG,
                      "diff-id mismatch for layer `%s': the image config says `%s', the "
                      "uncompressed content hashes to `%s'",
                      blob_digest, diff_id, stats.diff_id);
        goto out;
      }
    cleanup_json json_t *meta
        = json_pack ("{s:s, s:s, s:I, s:I}", "diffID", diff_id, "digest", blob_digest, "size",
                     (json_int_t)stats.unpacked_size, "entries", (json_int_t)stats.entries);
    if (fk_json_dump_file_atomic_at (tmpfd, "layer.json", meta, 1, err) < 0)
      goto out;
    cleanup_free char *rel = layer_rel (diff_id);
    if (renameat (s->dirfd, tmp_rel, s->dirfd, rel) < 0)
      {
        fk_error_set_errno (err, "rename `%s' to `%s/%s'", tmp, s->dir, rel);
        goto out;
      }
    ret = 0;
  }
out:
  if (ret < 0)
    {
      fk_error_t rmerr = FK_ERROR_INIT;
      if (fk_rm_rf_at (s->dirfd, tmp_rel, &rmerr) < 0)
        log_warning ("cleanup `%s': %s", tmp, fk_error_message (&rmerr));
      fk_error_clear (&rmerr);
    }
  return ret;
}

int
fk_store_layer_begin (fk_store_t *s, char **ret_tmp, int *ret_rootfd, fk_error_t *err)
{
  cleanup_free char *tmp = xasprintf ("%s/tmp/layer-XXXXXX", s->dir);
  if (mkdtemp (tmp) == NULL)
    return fk_error_set_errno (err, "create a temporary directory in `%s/tmp'", s->dir);
  cleanup_free char *rel = xstrdup (tmp + strlen (s->dir) + 1);
  cleanup_close int tmpfd = openat (s->dirfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  int rootfd = -1;
  if (tmpfd < 0 || mkdirat (tmpfd, "fs", 0755) < 0
      || (rootfd = openat (tmpfd, "fs", O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    {
      fk_error_set_errno (err, "create `%s/fs'", tmp);
      fk_store_layer_abort (s, rel);
      return -1;
    }
  *ret_tmp = steal_pointer (&rel);
  *ret_rootfd = rootfd;
  return 0;
}

void
fk_store_layer_abort (fk_store_t *s, const char *tmp)
{
  fk_error_t rmerr = FK_ERROR_INIT;
  if (fk_rm_rf_at (s->dirfd, tmp, &rmerr) < 0)
    log_warning ("cleanup `%s/%s': %s", s->dir, tmp, fk_error_message (&rmerr));
  fk_error_clear (&rmerr);
}

/* fk_store_layer_commit's work: 1 when tmp became the layer, 0 when the layer was there. */
static int
layer_install (fk_store_t *s, const char *tmp, const char *blob_digest, const char *diff_id,
               uint64_t unpacked_size, uint64_t entries, fk_error_t *err)
{
  cleanup_close int lockfd = -1;
  /* The same content unpacked before (a snapshot of the same changes): that one stays. */
  int there = layer_lock (s, diff_id, &lockfd, err);
  if (there != 0)
    return there < 0 ? -1 : 0;
  cleanup_close int tmpfd = openat (s->dirfd, tmp, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (tmpfd < 0)
    return fk_error_set_errno (err, "open `%s/%s'", s->dir, tmp);
  cleanup_json json_t *meta
      = json_pack ("{s:s, s:s, s:I, s:I}", "diffID", diff_id, "digest", blob_digest, "size",
                   (json_int_t)unpacked_size, "entries", (json_int_t)entries);
  if (fk_json_dump_file_atomic_at (tmpfd, "layer.json", meta, 1, err) < 0)
    return -1;
  cleanup_free char *rel = layer_rel (diff_id);
  if (renameat (s->dirfd, tmp, s->dirfd, rel) < 0)
    return fk_error_set_errno (err, "rename `%s/%s' to `%s/%s'", s->dir, tmp, s->dir, rel);
  return 1;
}

int
fk_store_layer_commit (fk_store_t *s, const char *tmp, const char *blob_digest, const char *diff_id,
                       uint64_t unpacked_size, uint64_t entries, fk_error_t *err)
{
  if (fk_digest_validate (diff_id, err) < 0)
    {
      fk_store_layer_abort (s, tmp);
      return fk_error_wrap (err, "layer diff-id");
    }
  int ret = layer_install (s, tmp, blob_digest, diff_id, unpacked_size, entries, err);
  if (ret <= 0)
    fk_store_layer_abort (s, tmp);
  return ret < 0 ? -1 : 0;
}

/* The digests every template record refers to. Keys follow the record format (template.c). */
static int
collect_refs (fk_store_t *s, json_t *blobs, json_t *layers, fk_error_t *err)
{
  cleanup_close int dfd = openat (s->dirfd, "templates", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fk_error_set_errno (err, "open `%s/templates'", s->dir);
  cleanup_dir DIR *d = fdopendir (dfd);
  if (d == NULL)
    return fk_error_set_errno (err, "read `%s/templates'", s->dir);
  steal_fd (&dfd);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      size_t n = strlen (de->d_name);
      if (de->d_name[0] == '.' || n < 6 || strcmp (de->d_name + n - 5, ".json") != 0)
        continue;
      cleanup_json json_t *rec = NULL;
      /* A record that cannot be read keeps everything: GC must never free what is in use. */
      if (fk_json_load_file_at (dirfd (d), de->d_name, 1 << 20, &rec, err) < 0)
        return fk_error_wrap (err, "garbage collection stopped: template record");
      const char *keys[] = { "manifestDigest", "configDigest", "indexDigest" };
      for (size_t i = 0; i < 3; i++)
        {
          json_t *v = json_object_get (rec, keys[i]);
          if (json_is_string (v))
            json_object_set_new (blobs, json_string_value (v), json_true ());
        }
      json_t *ls = json_object_get (rec, "layers");
      size_t i;
      json_t *l;
      json_array_foreach (ls, i, l)
      {
        json_t *dg = json_object_get (l, "digest"), *di = json_object_get (l, "diffID");
        if (json_is_string (dg))
          json_object_set_new (blobs, json_string_value (dg), json_true ());
        if (json_is_string (di))
          json_object_set_new (layers, json_string_value (di), json_true ());
      }
    }
  return 0;
}

static uint64_t
tree_size (int parentfd, const char *name)
{
  struct stat st;
  if (fstatat (parentfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  if (!S_ISDIR (st.st_mode))
    return (uint64_t)st.st_blocks * 512;
  int fd = openat (parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return 0;
    }
  uint64_t total = (uint64_t)st.st_blocks * 512;
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      total += tree_size (dirfd (d), de->d_name);
  closedir (d);
  return total;
}

static int
sweep (fk_store_t *s, const char *dir, json_t *keep, unsigned *ret_removed, uint64_t *ret_bytes,
       fk_error_t *err)
{
  cleanup_close int dfd = openat (s->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fk_error_set_errno (err, "open `%s/%s'", s->dir, dir);
  cleanup_dir DIR *d = fdopendir (dfd);
  if (d == NULL)
    return fk_error_set_errno (err, "read `%s/%s'", s->dir, dir);
  int fd = steal_fd (&dfd);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      /* In tmp/, only the store's own leftovers: other areas may keep work in progress there. */
      if (keep == NULL && strncmp (de->d_name, "blob-", 5) != 0
          && strncmp (de->d_name, "layer-", 6) != 0 && strncmp (de->d_name, "archive-", 8) != 0)
        continue;
      if (keep != NULL)
        {
          cleanup_free char *digest = xasprintf ("sha256:%s", de->d_name);
          if (json_object_get (keep, digest) != NULL)
            continue;
        }
      *ret_bytes += tree_size (fd, de->d_name);
      if (fk_rm_rf_at (fd, de->d_name, err) < 0)
        return -1;
      (*ret_removed)++;
    }
  return 0;
}

int
fk_store_gc (fk_store_t *s, fk_store_gc_stats_t *ret_stats, fk_error_t *err)
{
  fk_store_gc_stats_t st = { 0, 0, 0 };
  /* Exclusive: no prepare is between fetching blobs and writing its record. */
  while (flock (s->lockfd, LOCK_EX) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "lock `%s/locks/store'", s->dir);
  cleanup_json json_t *blobs = json_object (), *layers = json_object ();
  unsigned tmp_removed = 0;
  int ret = collect_refs (s, blobs, layers, err);
  if (ret == 0)
    ret = sweep (s, "blobs/sha256", blobs, &st.blobs_removed, &st.bytes_freed, err);
  if (ret == 0)
    ret = sweep (s, "layers/sha256", layers, &st.layers_removed, &st.bytes_freed, err);
  if (ret == 0)
    ret = sweep (s, "tmp", NULL, &tmp_removed, &st.bytes_freed, err);
  while (flock (s->lockfd, LOCK_SH) < 0 && errno == EINTR)
    ;
  if (ret < 0)
    return fk_error_wrap (err, "garbage collection");
  if (ret_stats != NULL)
    *ret_stats = st;
  return 0;
}
