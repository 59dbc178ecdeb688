/* cli/cp.c: fk cp SRC DST: copies a file into or out of a sandbox; one side is ID:/path, the
   other a host path (or - for stdin/stdout). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "cli/connect.h"
#include "cli/remote.h"

/* The sandbox's files: through its agent, or through fkd under --remote. */
typedef struct files
{
  const fk_cli_remote_api_t *remote;
  fk_remote_t *r;
  const char *id;
  fk_client_t *client;
} files_t;

static int
file_stat (files_t *f, const char *path, fk_file_stat_t *st, fk_error_t *err)
{
  return f->remote ? f->remote->file_stat (f->r, f->id, path, st, err)
                   : fk_client_file_stat (f->client, path, st, err);
}

static int
file_read_fd (files_t *f, const char *path, const fk_file_stat_t *st, int fd, fk_error_t *err)
{
  return f->remote ? f->remote->file_read_fd (f->r, f->id, path, st, fd, err)
                   : fk_client_file_read_fd_stat (f->client, path, st, fd, err);
}

static int
file_write_fd (files_t *f, const char *path, int fd, unsigned mode, fk_error_t *err)
{
  /* fkd's API sets no mode: its files are 0644 */
  return f->remote ? f->remote->file_write_fd (f->r, f->id, path, fd, err)
                   : fk_client_file_write_fd (f->client, path, fd, mode, 0, err);
}

/* Splits "ID:/path" (the id has no '/', the path is absolute); 0 when arg is a host path. */
static int
split_remote (const char *arg, char **ret_id, const char **ret_path)
{
  const char *colon = strchr (arg, ':');
  if (colon == NULL || colon == arg || memchr (arg, '/', (size_t)(colon - arg)))
    return 0;
  *ret_id = xstrndup (arg, (size_t)(colon - arg));
  *ret_path = colon + 1;
  return 1;
}

static char *
base_of (const char *path)
{
  cleanup_free char *copy = xstrdup (path);
  return xstrdup (basename (copy));
}

int
fk_verb_cp (const fk_cli_globals_t *g, int argc, char **argv)
{
  if (argc != 3)
    {
      int help = argc == 2 && strcmp (argv[1], "-h") == 0;
      fprintf (help ? stdout : stderr,
               "usage: fk cp SRC DST   (one of them ID:/path; a host side may be -)\n");
      return help ? 0 : 2;
    }
  cleanup_free char *src_id = NULL, *dst_id = NULL;
  const char *src_path = argv[1], *dst_path = argv[2];
  int src_remote = split_remote (argv[1], &src_id, &src_path);
  int dst_remote = split_remote (argv[2], &dst_id, &dst_path);
  if (src_remote == dst_remote)
    {
      fprintf (stderr, "fk: cp: exactly one of SRC and DST must be ID:/path\n");
      return 2;
    }
  const char *remote = src_remote ? src_path : dst_path;
  if (remote[0] != '/')
    {
      fprintf (stderr, "fk: cp: `%s' is not an absolute path in the sandbox\n", remote);
      return 2;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_runtime_t *rt = NULL;
  fk_sandbox_t *sb = NULL;
  files_t f = { .remote = g->remote, .id = src_remote ? src_id : dst_id };
  int rc = 0;
  if (g->remote ? fk_cli_remote_open (g, &f.r, &err) < 0 || g->remote->attach (f.r, f.id, &err) < 0
                : fk_cli_connect (g, f.id, &rt, &sb, &f.client, &err) < 0)
    {
      rc = fk_cli_fail (&err, 1);
      goto out;
    }
  if (src_remote)
    {
      /* Out of the sandbox: into a host file, a host directory, or stdout. */
      cleanup_free char *target = xstrdup (dst_path);
      struct stat st;
      if (strcmp (dst_path, "-") != 0 && stat (dst_path, &st) == 0 && S_ISDIR (st.st_mode))
        {
          cleanup_free char *b = base_of (src_path);
          free (target);
          target = xasprintf ("%s/%s", dst_path, b);
        }
      fk_file_stat_t fst;
      if (file_stat (&f, src_path, &fst, &err) < 0)
        {
          rc = fk_cli_fail (&err, 1);
          goto out;
        }
      if (fst.type == FK_FILE_TYPE_DIR)
        {
          fprintf (stderr, "fk: cp: `%s' is a directory: fk cp copies files\n", src_path);
          rc = 1;
          goto out;
        }
      int to_stdout = strcmp (target, "-") == 0;
      cleanup_free char *tmp = to_stdout ? NULL : xasprintf ("%s.fk-cp.%d", target, (int)getpid ());
      /* The mode is the agent's word: never more than rwx for everyone, then the umask. */
      cleanup_close int fd
          = to_stdout
                ? dup (STDOUT_FILENO)
                : open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, fst.mode & 0777);
      if (fd < 0)
        {
          fprintf (stderr, "fk: cp: create `%s': %s\n", target, strerror (errno));
          rc = 1;
          goto out;
        }
      /* Into a temp file renamed only once the whole file came: a failed copy (the agent gone,
         late, or sending more than the size its stat gave) leaves neither a partial target
         nor the temp file. The stat above bounds the read. */
      if (file_read_fd (&f, src_path, &fst, fd, &err) < 0)
        {
          if (tmp)
            unlink (tmp);
          rc = fk_cli_fail (&err, 1);
          goto out;
        }
      if (tmp && rename (tmp, target) < 0)
        {
          fprintf (stderr, "fk: cp: rename to `%s': %s\n", target, strerror (errno));
          unlink (tmp);
          rc = 1;
        }
    }
  else
    {
      /* Into the sandbox: a path ending in '/' names a directory to copy into. */
      cleanup_free char *target = NULL;
      size_t dl = strlen (dst_path);
      if (dst_path[dl - 1] == '/')
        {
          cleanup_free char *b = base_of (src_path);
          target = xasprintf ("%s%s", dst_path, b);
        }
      else
        {
          fk_file_stat_t dst;
          fk_error_t local = FK_ERROR_INIT;
          if (file_stat (&f, dst_path, &dst, &local) == 0 && dst.type == FK_FILE_TYPE_DIR)
            {
              cleanup_free char *b = base_of (src_path);
              target = xasprintf ("%s/%s", dst_path, b);
            }
          else
            target = xstrdup (dst_path);
          fk_error_clear (&local);
        }
      int from_stdin = strcmp (src_path, "-") == 0;
      cleanup_close int fd
          = from_stdin ? dup (STDIN_FILENO) : open (src_path, O_RDONLY | O_CLOEXEC);
      struct stat st = { .st_mode = 0644 };
      if (fd < 0 || (!from_stdin && fstat (fd, &st) < 0))
        {
          fprintf (stderr, "fk: cp: open `%s': %s\n", src_path, strerror (errno));
          rc = 1;
          goto out;
        }
      if (S_ISDIR (st.st_mode))
        {
          fprintf (stderr, "fk: cp: `%s' is a directory: fk cp copies files\n", src_path);
          rc = 1;
          goto out;
        }
      if (file_write_fd (&f, target, fd, st.st_mode & 07777, &err) < 0)
        rc = fk_cli_fail (&err, 1);
    }
out:
  fk_cli_disconnect (rt, sb, f.client);
  if (f.r)
    g->remote->close (f.r);
  return rc;
}
