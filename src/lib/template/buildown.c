/* template/buildown.c: a build's leftovers tied to a lock it holds (buildown.h). */
#include "template/buildown.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "firkin/sandbox.h"

static char *
lock_path (const char *token)
{
  return xasprintf ("locks/build-%s", token);
}

int
fk_build_token_take (fk_store_t *store, char ret_token[FK_BUILD_TOKEN_LEN + 1], int *ret_fd,
                     fk_error_t *err)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      unsigned char r[FK_BUILD_TOKEN_LEN / 2];
      if (getrandom (r, sizeof r, 0) != (ssize_t)sizeof r)
        return fk_error_set_errno (err, "getrandom");
      for (size_t i = 0; i < sizeof r; i++)
        snprintf (ret_token + 2 * i, 3, "%02x", r[i]);
      cleanup_free char *path = lock_path (ret_token);
      cleanup_close int fd
          = openat (store->dirfd, path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        return fk_error_set_errno (err, "create lock `%s/%s'", store->dir, path);
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        continue;
      /* A sweep may have taken the new file's lock and removed it between the create and the
         flock: only the file still at its name counts. */
      struct stat a, b;
      if (fstat (fd, &a) < 0 || fstatat (store->dirfd, path, &b, AT_SYMLINK_NOFOLLOW) < 0
          || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        continue;
      *ret_fd = steal_fd (&fd);
      return 0;
    }
  return fk_error_set (err, EAGAIN, "cannot take a build lock in `%s/locks'", store->dir);
}

void
fk_build_token_release (fk_store_t *store, const char *token, int fd)
{
  if (fd < 0)
    return;
  cleanup_free char *path = lock_path (token);
  unlinkat (store->dirfd, path, 0);
  close (fd);
}

static int
valid_token (const char *s, size_t n)
{
  if (n != FK_BUILD_TOKEN_LEN)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* The token of a temporary record's file name (build-step-TOKEN-N.json), else NULL. */
static char *
record_token (const char *name)
{
  const char *p = NULL;
  if (strncmp (name, "build-step-", 11) == 0 || strncmp (name, "build-snap-", 11) == 0)
    p = name + 11;
  if (p == NULL || strlen (p) <= FK_BUILD_TOKEN_LEN || p[FK_BUILD_TOKEN_LEN] != '-'
      || !valid_token (p, FK_BUILD_TOKEN_LEN))
    return NULL;
  return xstrndup (p, FK_BUILD_TOKEN_LEN);
}

/* The lock of a token nobody holds, taken (>= 0); -1 when a live build holds it. */
static int
take_dead (fk_store_t *store, const char *token)
{
  cleanup_free char *path = lock_path (token);
  cleanup_close int fd
      = openat (store->dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
    return -1;
  return steal_fd (&fd);
}

static void
add_token (char ***v, const char *t)
{
  for (size_t i = 0; *v && (*v)[i]; i++)
    if (strcmp ((*v)[i], t) == 0)
      return;
  size_t n = fk_strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof **v);
  (*v)[n] = xstrdup (t);
  (*v)[n + 1] = NULL;
}

/* `.NAME.tmp.PID' that fk_write_file_atomic_at leaves when its process dies mid-write. */
static void
sweep_atomic_leftovers (fk_store_t *store, const char *dir, unsigned *removed)
{
  cleanup_close int dfd = openat (store->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return;
  cleanup_dir DIR *d = fdopendir (dfd);
  if (d == NULL)
    return;
  int fd = steal_fd (&dfd);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      const char *t = de->d_name[0] == '.' ? strstr (de->d_name, ".tmp.") : NULL;
      if (t == NULL)
        continue;
      char *end = NULL;
      long pid = strtol (t + 5, &end, 10);
      if (end == t + 5 || *end || pid <= 0)
        continue;
      if (kill ((pid_t)pid, 0) == 0 || errno != ESRCH)
        continue; /* its writer may still be at it */
      if (unlinkat (fd, de->d_name, 0) == 0)
        (*removed)++;
    }
}

int
fk_build_sweep (fk_runtime_t *rt, fk_store_t *store, unsigned *ret_removed, fk_error_t *err)
{
  unsigned removed = 0;
  cleanup_strv char **tokens = NULL;
  /* The tokens: of temporary records, of lock files, of RUN sandboxes. */
  static const char *const dirs[] = { "templates", "locks" };
  for (size_t k = 0; k < 2; k++)
    {
      cleanup_close int dfd = openat (store->dirfd, dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0)
        continue;
      cleanup_dir DIR *d = fdopendir (dfd);
      if (d == NULL)
        continue;
      dfd = -1;
      struct dirent *de;
      while ((de = readdir (d)) != NULL)
        {
          if (k == 0)
            {
              cleanup_free char *t = record_token (de->d_name);
              if (t)
                add_token (&tokens, t);
            }
          else if (strncmp (de->d_name, "build-", 6) == 0
                   && valid_token (de->d_name + 6, strlen (de->d_name + 6)))
            add_token (&tokens, de->d_name + 6);
        }
    }
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  if (fk_sandbox_list (rt, &infos, &n, err) < 0)
    return -1;
  size_t klen = strlen (FK_BUILD_META_KEY);
  for (size_t i = 0; i < n; i++)
    for (char **m = infos[i]->metadata; m && *m; m++)
      if (strncmp (*m, FK_BUILD_META_KEY, klen) == 0 && (*m)[klen] == '='
          && valid_token (*m + klen + 1, strlen (*m + klen + 1)))
        add_token (&tokens, *m + klen + 1);

  for (size_t t = 0; tokens && tokens[t]; t++)
    {
      const char *tok = tokens[t];
      int fd = take_dead (store, tok);
      if (fd < 0)
        continue;
      /* Its sandboxes first (a record is a sandbox's template), then its records. */
      for (size_t i = 0; i < n; i++)
        for (char **m = infos[i]->metadata; m && *m; m++)
          if (strncmp (*m, FK_BUILD_META_KEY, klen) == 0 && (*m)[klen] == '='
              && strcmp (*m + klen + 1, tok) == 0)
            {
              fk_sandbox_t *sb = NULL;
              fk_error_t local = FK_ERROR_INIT;
              if (fk_sandbox_open (rt, infos[i]->id, &sb, &local) == 0
                  && fk_sandbox_delete (sb, 1, &local) == 0)
                {
                  log_info ("removed sandbox `%s' of a build that is gone", infos[i]->id);
                  removed++;
                }
              else if (local.code != ENOENT)
                log_warning ("sandbox `%s' of a build that is gone: %s", infos[i]->id,
                             fk_error_message (&local));
              fk_error_clear (&local);
              fk_sandbox_free (sb);
            }
      static const char *const kinds[] = { "step", "snap" };
      cleanup_close int dfd
          = openat (store->dirfd, "templates", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      cleanup_dir DIR *d = dfd >= 0 ? fdopendir (dfd) : NULL;
      if (d)
        {
          int tfd = steal_fd (&dfd);
          struct dirent *de;
          while ((de = readdir (d)) != NULL)
            for (size_t k = 0; k < 2; k++)
              {
                cleanup_free char *prefix = xasprintf ("build-%s-%s-", kinds[k], tok);
                if (strncmp (de->d_name, prefix, strlen (prefix)) == 0
                    && unlinkat (tfd, de->d_name, 0) == 0)
                  removed++;
              }
        }
      fk_build_token_release (store, tok, fd);
      removed++;
    }
  fk_sandbox_info_list_free (infos, n);
  sweep_atomic_leftovers (store, "templates", &removed);
  sweep_atomic_leftovers (store, "build-cache", &removed);
  if (ret_removed)
    *ret_removed = removed;
  return 0;
}
