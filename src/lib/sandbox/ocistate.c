/* sandbox/ocistate.c: a container fk-oci made, found by its OCI id in fk-oci's state
   (<root>/<id>/state.json, written by src/oci/container.c), for the front ends that reach its
   agent (fk exec, fk cp, fk shell, fkd). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "firkin/sandbox.h"
#include "sandbox/cgroup.h"
#include "sandbox/ociconfig.h"

/* Field 22 of /proc/PID/stat (start time), 0 when the pid is gone or a zombie. */
static unsigned long long
pid_start (pid_t pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  const char *p = strrchr (buf, ')');
  if (p == NULL || p[1] == '\0' || p[2] == 'Z' || p[2] == 'X')
    return 0;
  for (int field = 2; p && field < 22; field++)
    p = strchr (p + 1, ' ');
  return p ? strtoull (p + 1, NULL, 10) : 0;
}

int
fk_oci_agent_socket (const char *oci_root, const char *id, char **ret_path, fk_error_t *err)
{
  *ret_path = NULL;
  if (oci_root == NULL || oci_root[0] == '\0')
    oci_root = getenv ("FIRKIN_OCI_ROOT");
  if (oci_root == NULL || oci_root[0] == '\0')
    oci_root = FK_OCI_DEFAULT_ROOT;
  if (id[0] == '\0' || id[0] == '.' || strchr (id, '/') != NULL)
    return fk_error_set (err, ENOENT, "no container `%s'", id);
  cleanup_free char *dir = xasprintf ("%s/%s", oci_root, id);
  cleanup_close int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0)
    return fk_error_set (err, ENOENT, "no sandbox nor fk-oci container `%s' (under %s)", id,
                         oci_root);
  cleanup_json json_t *o = NULL;
  if (fk_json_load_file_at (dirfd, "state.json", 1 << 20, &o, err) < 0)
    return fk_error_wrap (err, "container `%s'", id);
  const char *sock = json_string_value (json_object_get (o, "agent_socket"));
  if (sock == NULL)
    return fk_error_set (err, ENOTSUP,
                         "container `%s' runs without fk-agent (annotation %s=false, or made "
                         "before it had one)",
                         id, FK_OCI_AGENT_ANNOTATION);
  pid_t pid = (pid_t)json_integer_value (json_object_get (o, "pid"));
  unsigned long long start
      = (unsigned long long)json_integer_value (json_object_get (o, "pid_start"));
  if (pid <= 0 || pid_start (pid) != start)
    return fk_error_set (err, ESRCH, "container `%s' is stopped", id);
  if (!json_is_true (json_object_get (o, "started")))
    return fk_error_set (err, EAGAIN, "container `%s' is created, not started", id);
  const char *cgroup = json_string_value (json_object_get (o, "cgroup"));
  fk_cgroup_layout_t cg = { 0 };
  fk_error_t local = FK_ERROR_INIT;
  int frozen = cgroup && fk_cgroup_detect (NULL, &cg, &local) == 0
               && fk_cgroup_is_frozen (&cg, cgroup, &local) == 1;
  fk_cgroup_layout_free (&cg);
  fk_error_clear (&local);
  if (frozen)
    return fk_error_set (err, EAGAIN, "container `%s' is paused: resume it first", id);
  *ret_path = xstrdup (sock);
  return 0;
}

char *
fk_oci_agent_program (void)
{
  const char *env = getenv ("FIRKIN_AGENT");
  if (env && env[0])
    return xstrdup (env);
  /* Beside the running program: installed side by side, or the build tree
     (src/oci/fk-oci -> src/agent/fk-agent). */
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n > 0)
    {
      self[n] = '\0';
      char *slash = strrchr (self, '/');
      if (slash)
        *slash = '\0';
      static const char *const rels[] = { "fk-agent", "../agent/fk-agent", NULL };
      for (size_t i = 0; rels[i]; i++)
        {
          char *path = xasprintf ("%s/%s", self, rels[i]);
          if (access (path, X_OK) == 0)
            return path;
          free (path);
        }
    }
  return xstrdup (FK_LIBEXECDIR "/fk-agent");
}

void
fk_oci_plan_agent (fk_plan_t *plan)
{
  size_t n = fk_strv_len (plan->process.argv);
  char **argv = xcalloc (n + 6, sizeof *argv);
  static const char *const head[] = { "fk-agent", "--listen-fd", "3", "--init", "--" };
  for (size_t i = 0; i < 5; i++)
    argv[i] = xstrdup (head[i]);
  for (size_t i = 0; i < n; i++)
    argv[5 + i] = plan->process.argv[i];
  free (plan->process.argv);
  plan->process.argv = argv;
  plan->workload_argi = 5;
}
