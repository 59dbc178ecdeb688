/* agent/user.c: resolving a user spec against the root's own /etc/passwd and /etc/group (read
   as files: a static agent has no NSS, and the image's users are what count). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

#define DB_MAX (4u << 20)

/* Reads a database file; a missing one reads as empty. */
static char *
read_db (int rootfd, const char *path)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_close int fd = fk_open_in_root (rootfd, path, O_RDONLY, 0, &err);
  fk_error_clear (&err);
  char *buf = NULL;
  size_t len;
  if (fd < 0 || fk_read_all (fd, DB_MAX, &buf, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return xstrdup ("");
    }
  return buf;
}

static int
parse_id (const char *s, unsigned *ret)
{
  if (*s < '0' || *s > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul (s, &end, 10);
  if (errno || *end != '\0' || v > 0xfffffffeul)
    return -1;
  *ret = (unsigned)v;
  return 0;
}

/* Splits a line into at most n ':'-separated fields in place; returns the count. */
static int
split (char *line, char **f, int n)
{
  int k = 0;
  f[k++] = line;
  for (char *p = line; *p && k < n; p++)
    if (*p == ':')
      {
        *p = '\0';
        f[k++] = p + 1;
      }
  return k;
}

/* Finds a passwd entry by name (name != NULL) or uid. */
static int
find_passwd (char *db, const char *name, unsigned uid, unsigned *ret_uid, unsigned *ret_gid,
             char **ret_name, char **ret_home)
{
  char *save = NULL;
  for (char *line = strtok_r (db, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *f[7];
      if (split (line, f, 7) < 7)
        continue;
      unsigned u, g;
      if (parse_id (f[2], &u) < 0 || parse_id (f[3], &g) < 0)
        continue;
      if (name ? strcmp (f[0], name) == 0 : u == uid)
        {
          *ret_uid = u;
          *ret_gid = g;
          *ret_name = xstrdup (f[0]);
          *ret_home = xstrdup (f[5]);
          return 1;
        }
    }
  return 0;
}

int
agent_user_resolve (int rootfd, const char *spec, agent_user_t *ret, fk_error_t *err)
{
  cleanup_free char *s = xstrdup (spec);
  char *group = strchr (s, ':');
  if (group)
    *group++ = '\0';
  if (*s == '\0' || (group && *group == '\0'))
    return fk_error_set (err, EINVAL, "user `%s': empty user or group", spec);
  cleanup_free char *passwd = read_db (rootfd, "/etc/passwd");
  cleanup_free char *name = NULL;
  cleanup_free char *home = NULL;
  unsigned uid = 0, gid = 0, id;
  int found;
  if (parse_id (s, &id) == 0)
    {
      found = find_passwd (passwd, NULL, id, &uid, &gid, &name, &home);
      if (!found)
        {
          uid = id;
          gid = 0; /* like container runtimes: a uid without an entry gets group 0 */
        }
    }
  else
    {
      found = find_passwd (passwd, s, 0, &uid, &gid, &name, &home);
      if (!found)
        return fk_error_set (err, ENOENT, "user `%s': no such user in /etc/passwd", s);
    }

  agent_user_t u;
  memset (&u, 0, sizeof u);
  cleanup_free char *groups = read_db (rootfd, "/etc/group");
  if (group != NULL)
    {
      if (parse_id (group, &id) == 0)
        gid = id;
      else
        {
          int hit = 0;
          cleanup_free char *copy = xstrdup (groups);
          char *save = NULL;
          for (char *line = strtok_r (copy, "\n", &save); line && !hit;
               line = strtok_r (NULL, "\n", &save))
            {
              char *f[4];
              unsigned g;
              if (split (line, f, 4) >= 3 && strcmp (f[0], group) == 0 && parse_id (f[2], &g) == 0)
                {
                  gid = g;
                  hit = 1;
                }
            }
          if (!hit)
            return fk_error_set (err, ENOENT, "user `%s': no such group `%s' in /etc/group", spec,
                                 group);
        }
    }
  u.uid = uid;
  u.gid = gid;
  u.groups[u.n_groups++] = gid;
  /* Supplementary groups: those listing the user as a member. */
  if (name != NULL)
    {
      char *save = NULL;
      for (char *line = strtok_r (groups, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
        {
          char *f[4];
          unsigned g;
          if (split (line, f, 4) < 4 || parse_id (f[2], &g) < 0 || g == gid)
            continue;
          char *msave = NULL;
          for (char *mem = strtok_r (f[3], ",", &msave); mem; mem = strtok_r (NULL, ",", &msave))
            if (strcmp (mem, name) == 0 && u.n_groups < (int)(sizeof u.groups / sizeof u.groups[0]))
              {
                u.groups[u.n_groups++] = g;
                break;
              }
        }
    }
  u.home = home && *home ? steal_pointer (&home) : NULL;
  *ret = u;
  return 0;
}

void
agent_user_clear (agent_user_t *u)
{
  free (u->home);
  u->home = NULL;
}
