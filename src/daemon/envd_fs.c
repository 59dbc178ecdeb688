/* daemon/envd_fs.c: envd's filesystem.Filesystem unary calls (Connect, JSON): Stat, MakeDir,
   Move, ListDir (with depth), Remove, through the sandbox's agent (WatchDir and the watchers are
   envd_watch.c). Paths resolve inside the sandbox (the agent opens them in its root), relative
   ones (and `~') from the home of the call's user, whose the directories MakeDir makes are. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"
#include "daemon/envd.h"
#include "daemon/envdreq.h"

/* The most /etc/passwd or /etc/group fkd reads to name owners. */
#define NAMES_MAX (1u << 20)

typedef struct fs_call
{
  fkd_target_t t;
  fkd_fs_req_t *q;
} fs_call_t;

static void
fs_call_free (void *p)
{
  fs_call_t *f = p;
  fkd_target_clear (&f->t);
  fkd_fs_req_free (f->q);
  free (f);
}

char *
fkd_envd_clean_path (const char *path)
{
  size_t n = strlen (path);
  char *out = xmalloc (n + 2);
  size_t k = 0;
  const char *p = path;
  while (*p)
    {
      while (*p == '/')
        p++;
      const char *e = strchrnul (p, '/');
      size_t len = (size_t)(e - p);
      if (len == 0 || (len == 1 && p[0] == '.'))
        ;
      else if (len == 2 && p[0] == '.' && p[1] == '.')
        {
          while (k > 0 && out[k - 1] != '/')
            k--;
          if (k > 0)
            k--;
        }
      else
        {
          out[k++] = '/';
          memcpy (out + k, p, len);
          k += len;
        }
      p = e;
    }
  if (k == 0)
    out[k++] = '/';
  out[k] = '\0';
  return out;
}

int
fkd_envd_as_user (fk_client_t *c, const char *user, const char *path, char **ret_path,
                  fk_error_t *err)
{
  cleanup_free char *home = NULL;
  if (fk_client_user_lookup (c, user ? user : "", NULL, NULL, &home, err) < 0)
    {
      if (err->code != ENOENT)
        return -1;
      fk_error_clear (err);
      fk_error_set (err, EACCES, "invalid username: '%s'", user ? user : "");
      return -2;
    }
  fk_client_set_file_user (c, user ? user : "");
  cleanup_free char *abs = NULL;
  if (path[0] == '/')
    abs = xstrdup (path);
  else if (strcmp (path, "~") == 0)
    abs = xstrdup (home);
  else
    abs = xasprintf ("%s/%s", home, strncmp (path, "~/", 2) == 0 ? path + 2 : path);
  *ret_path = fkd_envd_clean_path (abs);
  return 0;
}

/* fkd_envd_as_user for a unary call: replies (unauthenticated for an unknown user) and returns
   -1 on failure. */
static int
as_user (fkd_req_t *r, fk_client_t *c, const char *user, const char *path, char **ret_path)
{
  fk_error_t err = FK_ERROR_INIT;
  int rc = fkd_envd_as_user (c, user, path, ret_path, &err);
  if (rc == -2)
    fkd_envd_connect_error (r, MHD_HTTP_UNAUTHORIZED, "unauthenticated", fk_error_message (&err));
  else if (rc < 0)
    fkd_envd_connect_fail (r, &err);
  fk_error_clear (&err);
  return rc < 0 ? -1 : 0;
}

/* uid or gid -> name, from the sandbox's /etc/passwd or /etc/group. */
typedef struct names
{
  char *text;
} names_t;

static void
names_load (fk_client_t *c, const char *path, names_t *ret)
{
  fk_error_t err = FK_ERROR_INIT;
  size_t len;
  ret->text = NULL;
  if (fk_client_file_read (c, path, NAMES_MAX, &ret->text, &len, &err) < 0)
    ret->text = NULL; /* no names: owners are numbers */
  fk_error_clear (&err);
}

/* The name of id in `name:x:id:...' lines, or its number. */
static void
names_lookup (const names_t *n, unsigned id, char *buf, size_t size)
{
  snprintf (buf, size, "%u", id);
  for (const char *line = n->text; line && *line;)
    {
      const char *end = strchrnul (line, '\n');
      const char *c1 = memchr (line, ':', (size_t)(end - line));
      const char *c2 = c1 ? memchr (c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
      if (c1 && c2 && (size_t)(c1 - line) < size)
        {
          char *num_end;
          unsigned long v = strtoul (c2 + 1, &num_end, 10);
          if (num_end != c2 + 1 && *num_end == ':' && v == id)
            {
              memcpy (buf, line, (size_t)(c1 - line));
              buf[c1 - line] = '\0';
              return;
            }
        }
      line = *end ? end + 1 : end;
    }
}

typedef struct owners
{
  names_t users, groups;
  int loaded;
} owners_t;

static void
owners_free (owners_t *o)
{
  free (o->users.text);
  free (o->groups.text);
}

static const char *
type_name (fk_file_type_t t)
{
  switch (t)
    {
    case FK_FILE_TYPE_FILE:
      return "FILE_TYPE_FILE";
    case FK_FILE_TYPE_DIR:
      return "FILE_TYPE_DIRECTORY";
    case FK_FILE_TYPE_SYMLINK:
      return "FILE_TYPE_SYMLINK";
    default:
      return "FILE_TYPE_UNSPECIFIED";
    }
}

/* Go's os.FileMode string, as envd reports it: `-rw-r--r--', `drwxr-xr-x', `Lrwxrwxrwx'. */
static void
permissions (const fk_file_stat_t *st, char out[11])
{
  out[0] = st->type == FK_FILE_TYPE_DIR ? 'd' : st->type == FK_FILE_TYPE_SYMLINK ? 'L' : '-';
  const char *rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; i++)
    out[1 + i] = st->mode & (0400u >> i) ? rwx[i] : '-';
  out[10] = '\0';
}

/* A protobuf Timestamp in JSON: RFC 3339 in UTC, nanoseconds when there are any. */
static void
rfc3339 (int64_t ns, char *buf, size_t size)
{
  time_t sec = (time_t)(ns / 1000000000);
  long frac = (long)(ns % 1000000000);
  if (frac < 0)
    {
      sec--;
      frac += 1000000000;
    }
  struct tm tm;
  gmtime_r (&sec, &tm);
  size_t k = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  if (frac)
    snprintf (buf + k, size - k, ".%09ldZ", frac);
  else
    snprintf (buf + k, size - k, "Z");
}

/* An EntryInfo of path; link: a symlink's target (NULL: none). */
static json_t *
entry_info (fk_client_t *c, owners_t *o, const char *path, const fk_file_stat_t *st,
            const char *link)
{
  if (!o->loaded)
    {
      names_load (c, "/etc/passwd", &o->users);
      names_load (c, "/etc/group", &o->groups);
      o->loaded = 1;
    }
  char owner[64], group[64], perm[11], mtime[64], size[32];
  names_lookup (&o->users, (unsigned)st->uid, owner, sizeof owner);
  names_lookup (&o->groups, (unsigned)st->gid, group, sizeof group);
  permissions (st, perm);
  rfc3339 (st->mtime_ns, mtime, sizeof mtime);
  snprintf (size, sizeof size, "%" PRIu64, st->size);
  const char *slash = strrchr (path, '/');
  const char *name = slash && slash[1] ? slash + 1 : path;
  json_t *j
      = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "name", name, "type",
                   type_name (st->type), "path", path, "size", size, "mode", (int)st->mode,
                   "permissions", perm, "owner", owner, "group", group, "modifiedTime", mtime);
  /* json_string refuses a target that is not UTF-8: then it is left out. */
  json_t *target = link && st->type == FK_FILE_TYPE_SYMLINK ? json_string (link) : NULL;
  if (target)
    json_object_set_new (j, "symlinkTarget", target);
  return j;
}

/* Replies {"entry": EntryInfo} of path. */
static void
reply_entry (fkd_req_t *r, fk_client_t *c, const char *path)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_file_stat_t st;
  cleanup_free char *link = NULL;
  if (fk_client_file_stat_link (c, path, &st, &link, &err) < 0)
    {
      fkd_envd_connect_fail (r, &err);
      fk_error_clear (&err);
      return;
    }
  owners_t o = { 0 };
  fkd_envd_connect_reply (r, json_pack ("{s:o}", "entry", entry_info (c, &o, path, &st, link)));
  owners_free (&o);
}

static void
stat_job (fkd_req_t *r, void *data)
{
  fs_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  cleanup_free char *path = NULL;
  if (as_user (r, c, f->t.user, f->q->path, &path) == 0)
    reply_entry (r, c, path);
  fk_client_close (c);
}

/* envd's MakeDir: the directory and its parents; already_exists when the path is there. */
static void
mkdir_job (fkd_req_t *r, void *data)
{
  fs_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  cleanup_free char *path = NULL;
  fk_error_t err = FK_ERROR_INIT;
  fk_file_stat_t st;
  if (as_user (r, c, f->t.user, f->q->path, &path) < 0)
    goto out;
  if (fk_client_file_stat (c, path, &st, &err) == 0)
    fk_error_set (&err, st.type == FK_FILE_TYPE_DIR ? EEXIST : ENOTDIR, "`%s' already exists%s",
                  path, st.type == FK_FILE_TYPE_DIR ? "" : " and is not a directory");
  else if (err.code == ENOENT)
    {
      fk_error_clear (&err);
      if (fk_client_file_mkdir (c, path, 0755, FK_FILE_PARENTS, &err) == 0)
        {
          reply_entry (r, c, path);
          goto out;
        }
    }
  fkd_envd_connect_fail (r, &err);
out:
  fk_error_clear (&err);
  fk_client_close (c);
}

static void
move_job (fkd_req_t *r, void *data)
{
  fs_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  cleanup_free char *from = NULL;
  cleanup_free char *to = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (as_user (r, c, f->t.user, f->q->path, &from) < 0
      || as_user (r, c, f->t.user, f->q->destination, &to) < 0)
    ;
  else if (fk_client_file_rename (c, from, to, &err) < 0)
    fkd_envd_connect_fail (r, &err);
  else
    reply_entry (r, c, to);
  fk_error_clear (&err);
  fk_client_close (c);
}

static void
remove_job (fkd_req_t *r, void *data)
{
  fs_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  cleanup_free char *path = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (as_user (r, c, f->t.user, f->q->path, &path) < 0)
    ;
  else if (strcmp (path, "/") == 0)
    {
      fk_error_set (&err, EINVAL, "the sandbox's root cannot be removed");
      fkd_envd_connect_fail (r, &err);
    }
  else if (fk_client_file_remove (c, path, FK_FILE_RECURSIVE, &err) < 0)
    fkd_envd_connect_fail (r, &err);
  else
    fkd_envd_connect_reply (r, json_object ());
  fk_error_clear (&err);
  fk_client_close (c);
}

/* The entries depth levels down (1: the directory's own), each with its absolute path. */
static void
listdir_job (fkd_req_t *r, void *data)
{
  fs_call_t *f = data;
  fk_client_t *c = NULL;
  if (fkd_envd_connect_agent (r, &f->t, &c) < 0)
    return;
  cleanup_free char *path = NULL;
  fk_error_t err = FK_ERROR_INIT;
  fk_file_entry_t *ents = NULL;
  size_t n = 0;
  unsigned depth = f->q->depth;
  if (as_user (r, c, f->t.user, f->q->path, &path) < 0)
    {
      fk_client_close (c);
      return;
    }
  if (fk_client_file_list (c, path, depth > 1 ? FK_FILE_RECURSIVE : 0, &ents, &n, &err) < 0)
    {
      fkd_envd_connect_fail (r, &err);
      fk_error_clear (&err);
      fk_client_close (c);
      return;
    }
  owners_t o = { 0 };
  json_t *arr = json_array ();
  for (size_t i = 0; i < n; i++)
    {
      unsigned level = 1;
      for (const char *p = ents[i].path; *p; p++)
        level += *p == '/';
      if (level > depth)
        continue;
      cleanup_free char *full
          = xasprintf ("%s%s%s", path, strcmp (path, "/") == 0 ? "" : "/", ents[i].path);
      json_array_append_new (arr, entry_info (c, &o, full, &ents[i].st, ents[i].link));
    }
  owners_free (&o);
  fk_file_entries_free (ents, n);
  fkd_envd_connect_reply (r, json_pack ("{s:o}", "entries", arr));
  fk_client_close (c);
}

static const struct
{
  const char *name;
  fkd_fs_kind_t kind;
  fkd_job_fn fn;
} methods[] = {
  { "Stat", FKD_FS_PATH, stat_job },     { "MakeDir", FKD_FS_PATH, mkdir_job },
  { "Remove", FKD_FS_PATH, remove_job }, { "ListDir", FKD_FS_LISTDIR, listdir_job },
  { "Move", FKD_FS_MOVE, move_job },
};

int
fkd_envd_fs_route (fkd_req_t *r, fkd_target_t *t, const char *method)
{
  if (fkd_envd_watch_route (r, t, method) == 0)
    return 0;
  size_t i;
  for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp (methods[i].name, method) == 0)
      break;
  if (i == sizeof methods / sizeof methods[0])
    return -1;
  if (fkd_envd_json_body (r, "filesystem.Filesystem") < 0)
    {
      fkd_target_clear (t);
      return 0;
    }
  fk_error_t err = FK_ERROR_INIT;
  fkd_fs_req_t *q = NULL;
  if (fkd_fs_req_parse (methods[i].kind, r->body ? r->body : "", r->len, &q, &err) < 0)
    {
      fkd_target_clear (t);
      fkd_envd_connect_error (r, MHD_HTTP_BAD_REQUEST, "invalid_argument", fk_error_message (&err));
      fk_error_clear (&err);
      return 0;
    }
  fs_call_t *f = xcalloc (1, sizeof *f);
  f->t = *t;
  f->q = q;
  fkd_run_job (r, methods[i].fn, f, fs_call_free);
  return 0;
}
