/* sandbox/idrange.c: the slot table of per-sandbox host id ranges, one file per taken slot.
   Taking a slot is an O_EXCL create (atomic across processes, no lock); giving one back and the
   sweep hold an flock on the table directory across read-compare-unlink, so the unlink never
   hits a slot that was freed and taken by another sandbox after it was read. */
#include "sandbox/idrange.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

#define TABLE "idranges"
/* A slot file younger than this may belong to a create still running (see the header). */
#define SWEEP_GRACE_SEC 60
/* Sandbox ids are at most 64 characters; a slot file holds one. */
#define ID_MAX 64

static int
valid_id (const char *id)
{
  size_t n = strlen (id);
  if (n == 0 || n > ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') || id[i] == '-'))
      return 0;
  return 1;
}

/* The slot of a host base, or -1 when host_base is not the base of a slot alloc hands out. */
static int64_t
slot_of (uint32_t host_base)
{
  if (host_base < FK_USERNS_HOST_BASE || (host_base - FK_USERNS_HOST_BASE) % FK_USERNS_SIZE)
    return -1;
  uint32_t slot = (host_base - FK_USERNS_HOST_BASE) / FK_USERNS_SIZE;
  if (slot < FK_IDRANGE_FIRST_SLOT || slot >= FK_IDRANGE_SLOTS)
    return -1;
  return slot;
}

/* The slot a file name stands for, or -1 for any other name. */
static int64_t
slot_of_name (const char *name)
{
  if (name[0] < '1' || name[0] > '9' || strlen (name) > 5)
    return -1;
  uint32_t v = 0;
  for (const char *p = name; *p; p++)
    {
      if (*p < '0' || *p > '9')
        return -1;
      v = v * 10 + (uint32_t)(*p - '0');
    }
  return v >= FK_IDRANGE_FIRST_SLOT && v < FK_IDRANGE_SLOTS ? (int64_t)v : -1;
}

/* An fd on the table directory (readable: flock and readdir need one), made when create is set;
   -1 with ENOENT in err when it is missing and create is not. */
static int
open_table (int state_dirfd, int create, fk_error_t *err)
{
  int fd = openat (state_dirfd, TABLE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT || !create)
    {
      if (fd < 0)
        return fk_error_set_errno (err, "open the id range table `" TABLE "'");
      return fd;
    }
  if (mkdirat (state_dirfd, TABLE, 0700) < 0 && errno != EEXIST)
    return fk_error_set_errno (err, "make the id range table `" TABLE "'");
  fd = openat (state_dirfd, TABLE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open the id range table `" TABLE "'");
  return fd;
}

static int
lock_table (int fd, fk_error_t *err)
{
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return fk_error_set_errno (err, "lock the id range table `" TABLE "'");
  return 0;
}

/* Reads the owner in slot file fd into buf (NUL-terminated, "" when empty or too long). */
static int
read_owner (int fd, const char *name, char buf[ID_MAX + 2], fk_error_t *err)
{
  ssize_t n;
  do
    n = pread (fd, buf, ID_MAX + 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return fk_error_set_errno (err, "read id range slot `%s'", name);
  buf[n] = '\0';
  if (n > ID_MAX)
    buf[0] = '\0';
  return 0;
}

static uint32_t
random_u32 (void)
{
  uint32_t r;
  if (getrandom (&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
    return r;
  /* No entropy yet (early boot): any spread will do, the O_EXCL create decides. */
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid () << 16);
}

int
fk_idrange_alloc (int state_dirfd, const char *sandbox_id, uint32_t *ret_host_base, fk_error_t *err)
{
  if (!valid_id (sandbox_id))
    return fk_error_set (err, EINVAL, "id range: `%s' is not a sandbox id", sandbox_id);
  cleanup_close int table = open_table (state_dirfd, 1, err);
  if (table < 0)
    return -1;
  const uint32_t n = FK_IDRANGE_SLOTS - FK_IDRANGE_FIRST_SLOT;
  const uint32_t start = random_u32 () % n;
  const size_t len = strlen (sandbox_id);
  for (uint32_t i = 0; i < n; i++)
    {
      uint32_t slot = FK_IDRANGE_FIRST_SLOT + (start + i) % n;
      char name[16];
      snprintf (name, sizeof name, "%u", slot);
      cleanup_close int fd
          = openat (table, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        {
          if (errno == EEXIST)
            continue;
          return fk_error_set_errno (err, "take id range slot `%s'", name);
        }
      /* The slot is ours from the create on; until the id is in it, a sweep leaves it alone
         (it is young) and a free refuses (no owner matches). */
      ssize_t w = write (fd, sandbox_id, len);
      if (w != (ssize_t)len)
        {
          int e = w < 0 ? errno : EIO;
          unlinkat (table, name, 0);
          errno = e;
          return fk_error_set_errno (err, "write id range slot `%s'", name);
        }
      *ret_host_base = fk_idrange_slot_base (slot);
      return 0;
    }
  return fk_error_set (err, ENOSPC,
                       "no free host id range: all %u ranges of %u ids are taken (one per "
                       "sandbox, in the state dir's `" TABLE "')",
                       n, FK_USERNS_SIZE);
}

int
fk_idrange_free (int state_dirfd, uint32_t host_base, const char *sandbox_id, fk_error_t *err)
{
  int64_t slot = slot_of (host_base);
  if (slot < 0)
    return fk_error_set (err, EINVAL, "id range: %u is not the base of a sandbox's range",
                         host_base);
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int table = open_table (state_dirfd, 0, &local);
  if (table < 0)
    {
      if (local.code == ENOENT)
        {
          fk_error_clear (&local);
          return 0;
        }
      fk_error_set (err, local.code, "%s", fk_error_message (&local));
      fk_error_clear (&local);
      return -1;
    }
  if (lock_table (table, err) < 0)
    return -1;
  char name[16];
  snprintf (name, sizeof name, "%u", (uint32_t)slot);
  cleanup_close int fd = openat (table, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return fk_error_set_errno (err, "open id range slot `%s'", name);
    }
  char owner[ID_MAX + 2];
  if (read_owner (fd, name, owner, err) < 0)
    return -1;
  if (strcmp (owner, sandbox_id) != 0)
    return fk_error_set (err, EPERM, "id range %u (slot %s) belongs to sandbox `%s', not `%s'",
                         host_base, name, owner, sandbox_id);
  if (unlinkat (table, name, 0) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "free id range slot `%s'", name);
  return 0;
}

int
fk_idrange_find (int state_dirfd, const char *sandbox_id, uint32_t *ret_host_base, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  int table = open_table (state_dirfd, 0, &local);
  if (table < 0)
    {
      fk_error_set (err, local.code, "%s", fk_error_message (&local));
      fk_error_clear (&local);
      return fk_error_wrap (err, "no id range for sandbox `%s'", sandbox_id);
    }
  cleanup_dir DIR *d = fdopendir (table);
  if (d == NULL)
    {
      close (table);
      return fk_error_set_errno (err, "read the id range table `" TABLE "'");
    }
  struct dirent *e;
  while ((e = readdir (d)))
    {
      int64_t slot = slot_of_name (e->d_name);
      if (slot < 0)
        continue;
      cleanup_close int fd = openat (dirfd (d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      char owner[ID_MAX + 2];
      if (fd < 0 || read_owner (fd, e->d_name, owner, &local) < 0)
        {
          /* Freed meanwhile, or unreadable: not this sandbox's. */
          fk_error_clear (&local);
          continue;
        }
      if (strcmp (owner, sandbox_id) == 0)
        {
          *ret_host_base = fk_idrange_slot_base ((uint32_t)slot);
          return 0;
        }
    }
  return fk_error_set (err, ENOENT, "no id range for sandbox `%s'", sandbox_id);
}

size_t
fk_idrange_count (int state_dirfd)
{
  int fd = openat (state_dirfd, TABLE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return 0;
    }
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    n += e->d_name[0] != '.';
  closedir (d);
  return n;
}

int
fk_idrange_sweep (int state_dirfd, int sandboxes_dirfd, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  int table = open_table (state_dirfd, 0, &local);
  if (table < 0)
    {
      if (local.code == ENOENT)
        {
          fk_error_clear (&local);
          return 0;
        }
      fk_error_set (err, local.code, "%s", fk_error_message (&local));
      fk_error_clear (&local);
      return -1;
    }
  cleanup_dir DIR *d = fdopendir (table);
  if (d == NULL)
    {
      close (table);
      return fk_error_set_errno (err, "read the id range table `" TABLE "'");
    }
  /* Held until closedir: no free or other sweep unlinks a slot between our read and unlink. */
  if (lock_table (dirfd (d), err) < 0)
    return -1;
  time_t now = time (NULL);
  int freed = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    {
      if (slot_of_name (e->d_name) < 0)
        continue;
      cleanup_close int fd = openat (dirfd (d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      char owner[ID_MAX + 2];
      if (fd < 0 || fstat (fd, &st) < 0 || read_owner (fd, e->d_name, owner, &local) < 0)
        {
          fk_error_clear (&local);
          continue;
        }
      if (now - st.st_mtime < SWEEP_GRACE_SEC)
        continue;
      /* An empty or malformed slot is a create that died between taking and writing it. */
      if (valid_id (owner))
        {
          struct stat sb;
          if (fstatat (sandboxes_dirfd, owner, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
            continue;
        }
      if (unlinkat (dirfd (d), e->d_name, 0) == 0)
        freed++;
    }
  return freed;
}
