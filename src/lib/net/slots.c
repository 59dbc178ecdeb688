/* net/slots.c: the slot table of the egress plane, one file per taken slot. */
#include "net/slots.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

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

/* The table directory (readable: flock and readdir need one); made when create is set. */
static int
open_table (int state_dirfd, int create, fk_error_t *err)
{
  int fd = openat (state_dirfd, "net/slots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT || !create)
    return fk_error_set_errno (err, "open the network slot table `net/slots'");
  if ((mkdirat (state_dirfd, "net", 0700) < 0 && errno != EEXIST)
      || (mkdirat (state_dirfd, "net/slots", 0700) < 0 && errno != EEXIST))
    return fk_error_set_errno (err, "make the network slot table `net/slots'");
  fd = openat (state_dirfd, "net/slots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open the network slot table `net/slots'");
  return fd;
}

/* The owner in a slot file, or "" when it is unreadable or empty. */
static void
read_owner (int tablefd, const char *name, char out[ID_MAX + 1])
{
  out[0] = '\0';
  cleanup_close int fd = openat (tablefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read (fd, out, ID_MAX);
  out[n > 0 ? n : 0] = '\0';
  if (!valid_id (out))
    out[0] = '\0';
}

static unsigned
slot_of_name (const char *name)
{
  if (name[0] < '1' || name[0] > '9' || strlen (name) > 5)
    return 0;
  unsigned v = 0;
  for (const char *p = name; *p; p++)
    {
      if (*p < '0' || *p > '9')
        return 0;
      v = v * 10 + (unsigned)(*p - '0');
    }
  return v <= FK_NET_SLOTS_MAX ? v : 0;
}

int
fk_net_slot_alloc (int state_dirfd, const char *sandbox_id, unsigned max, unsigned *ret_slot,
                   fk_error_t *err)
{
  if (!valid_id (sandbox_id))
    return fk_error_set (err, EINVAL, "`%s' is not a sandbox id", sandbox_id);
  if (max > FK_NET_SLOTS_MAX)
    max = FK_NET_SLOTS_MAX;
  cleanup_close int table = open_table (state_dirfd, 1, err);
  if (table < 0)
    return -1;
  /* The table's lock, as fk_net_slot_free takes it: a free that saw a slot file made here but
     not yet written would take it for nobody's and remove it (two sandboxes on one slot). */
  if (flock (table, LOCK_EX) < 0)
    return fk_error_set_errno (err, "lock the network slot table");
  size_t len = strlen (sandbox_id);
  for (unsigned slot = 1; slot <= max; slot++)
    {
      char name[16];
      snprintf (name, sizeof name, "%u", slot);
      cleanup_close int fd
          = openat (table, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        {
          if (errno == EEXIST)
            continue;
          return fk_error_set_errno (err, "take network slot %u", slot);
        }
      if (write (fd, sandbox_id, len) != (ssize_t)len)
        {
          int e = errno ? errno : EIO;
          unlinkat (table, name, 0);
          return fk_error_set (err, e, "write network slot %u", slot);
        }
      *ret_slot = slot;
      return 0;
    }
  return fk_error_set (err, ENOSPC, "all %u network slots are taken", max);
}

int
fk_net_slot_free (int state_dirfd, unsigned slot, const char *sandbox_id, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  cleanup_close int table = open_table (state_dirfd, 0, &local);
  if (table < 0)
    {
      int missing = local.code == ENOENT;
      fk_error_clear (&local);
      if (missing)
        return 0;
      return fk_error_set_errno (err, "open the network slot table");
    }
  if (flock (table, LOCK_EX) < 0)
    return fk_error_set_errno (err, "lock the network slot table");
  char name[16], owner[ID_MAX + 1];
  snprintf (name, sizeof name, "%u", slot);
  read_owner (table, name, owner);
  if (owner[0] == '\0')
    {
      /* Free already, or a file never written: either way nobody owns it. */
      if (unlinkat (table, name, 0) < 0 && errno != ENOENT)
        return fk_error_set_errno (err, "free network slot %u", slot);
      return 0;
    }
  if (strcmp (owner, sandbox_id) != 0)
    return fk_error_set (err, EPERM, "network slot %u belongs to sandbox `%s', not `%s'", slot,
                         owner, sandbox_id);
  if (unlinkat (table, name, 0) < 0 && errno != ENOENT)
    return fk_error_set_errno (err, "free network slot %u", slot);
  return 0;
}

unsigned
fk_net_slot_find (int state_dirfd, const char *sandbox_id)
{
  fk_error_t local = FK_ERROR_INIT;
  int fd = open_table (state_dirfd, 0, &local);
  fk_error_clear (&local);
  if (fd < 0)
    return 0;
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return 0;
    }
  struct dirent *e;
  while ((e = readdir (d)))
    {
      unsigned slot = slot_of_name (e->d_name);
      if (slot == 0)
        continue;
      char owner[ID_MAX + 1];
      read_owner (dirfd (d), e->d_name, owner);
      if (strcmp (owner, sandbox_id) == 0)
        return slot;
    }
  return 0;
}

int
fk_net_slot_sweep (int state_dirfd, int sandboxes_dirfd, unsigned grace_sec,
                   int (*fn) (unsigned slot, void *data), void *data, fk_error_t *err)
{
  fk_error_t local = FK_ERROR_INIT;
  int fd = open_table (state_dirfd, 0, &local);
  if (fd < 0)
    {
      int missing = local.code == ENOENT;
      fk_error_clear (&local);
      return missing ? 0 : fk_error_set_errno (err, "open the network slot table");
    }
  cleanup_dir DIR *d = fdopendir (fd);
  if (d == NULL)
    {
      close (fd);
      return fk_error_set_errno (err, "read the network slot table");
    }
  if (flock (dirfd (d), LOCK_EX) < 0)
    return fk_error_set_errno (err, "lock the network slot table");
  int freed = 0;
  time_t now = time (NULL);
  struct dirent *e;
  while ((e = readdir (d)))
    {
      unsigned slot = slot_of_name (e->d_name);
      if (slot == 0)
        continue;
      struct stat st;
      if (fstatat (dirfd (d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || now - st.st_mtime < (time_t)grace_sec)
        continue;
      char owner[ID_MAX + 1];
      read_owner (dirfd (d), e->d_name, owner);
      if (owner[0] && faccessat (sandboxes_dirfd, owner, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        continue;
      if (fn && fn (slot, data) < 0)
        continue;
      if (unlinkat (dirfd (d), e->d_name, 0) == 0)
        freed++;
    }
  return freed;
}
