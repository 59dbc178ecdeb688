/* sandbox/ocistate.c: fk-oci's state of a container (<root>/<id>/state.json) and, by its OCI
   id, the agent socket of a container fk-oci made, for the front ends that reach its agent
   (fk exec, fk cp, fk shell, fkd). */
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
#include "sandbox/ocistate.h"
#include "sandbox/state.h"

static char *
dup_str (json_t *o, const char *key)
{
  const char *s = json_string_value (json_object_get (o, key));
  return s ? xstrdup (s) : NULL;
}

int
fk_oci_state_load (int dirfd, fk_oci_state_t *ret, fk_error_t *err)
{
  cleanup_json json_t *o = NULL;
  if (fk_json_load_file_at (dirfd, "state.json", 1 << 20, &o, err) < 0)
    return -1;
  if (!json_is_object (o))
    return fk_error_set (err, EINVAL, "broken state");
  *ret = (fk_oci_state_t){
    .pid = (pid_t)json_integer_value (json_object_get (o, "pid")),
    .pid_start = (unsigned long long)json_integer_value (json_object_get (o, "pid_start")),
    .bundle = dup_str (o, "bundle"),
    .rootfs = dup_str (o, "rootfs"),
    .created = dup_str (o, "created"),
    .cgroup = dup_str (o, "cgroup"),
    .oci_version = dup_str (o, "ociVersion"),
    .annotations = json_incref (json_object_get (o, "annotations")),
    .agent_socket = dup_str (o, "agent_socket"),
    .started = json_is_true (json_object_get (o, "started")),
  };
  return 0;
}

int
fk_oci_state_save (int dirfd, const char *id, const fk_oci_state_t *st, fk_error_t *err)
{
  cleanup_json json_t *o = json_pack (
      "{s:s,s:i,s:I,s:s?,s:s?,s:s?,s:s?,s:s?,s:b,s:O?,s:s?}", "id", id, "pid", (int)st->pid,
      "pid_start", (json_int_t)st->pid_start, "bundle", st->bundle, "rootfs", st->rootfs, "created",
      st->created, "cgroup", st->cgroup, "ociVersion", st->oci_version, "started", st->started,
      "annotations", st->annotations, "agent_socket", st->agent_socket);
  if (o == NULL)
    return fk_error_set (err, ENOMEM, "state of `%s'", id);
  return fk_json_dump_file_atomic_at (dirfd, "state.json", o, 0, err);
}

void
fk_oci_state_clear (fk_oci_state_t *st)
{
  free (st->bundle);
  free (st->rootfs);
  free (st->created);
  free (st->cgroup);
  free (st->oci_version);
  free (st->agent_socket);
  json_decref (st->annotations);
  memset (st, 0, sizeof *st);
}

unsigned long long
fk_oci_pid_start (pid_t pid)
{
  unsigned long long start;
  fk_error_t err = FK_ERROR_INIT;
  if (pid <= 0 || fk_state_start_time (pid, 0, &start, &err) < 0)
    {
      fk_error_clear (&err);
      return 0;
    }
  return start;
}

fk_oci_status_t
fk_oci_state_status (const fk_oci_state_t *st, const fk_cgroup_layout_t *cg)
{
  if (st->pid <= 0 || fk_oci_pid_start (st->pid) != st->pid_start)
    return FK_OCI_STOPPED;
  fk_error_t e = FK_ERROR_INIT;
  if (cg && st->cgroup && fk_cgroup_is_frozen (cg, st->cgroup, &e) == 1)
    return FK_OCI_PAUSED;
  fk_error_clear (&e);
  return st->started ? FK_OCI_RUNNING : FK_OCI_CREATED;
}

const char *
fk_oci_status_name (fk_oci_status_t s)
{
  static const char *const names[] = { "created", "running", "paused", "stopped" };
  return names[s];
}

/* The agent's socket of a container whose state is st, or why it cannot be reached. */
static int
agent_socket (const char *id, const fk_oci_state_t *st, char **ret_path, fk_error_t *err)
{
  if (st->agent_socket == NULL)
    return fk_error_set (err, ENOTSUP,
                         "container `%s' runs without fk-agent (annotation %s=false, or made "
                         "before it had one)",
                         id, FK_OCI_AGENT_ANNOTATION);
  fk_cgroup_layout_t cg = { 0 };
  fk_error_t local = FK_ERROR_INIT;
  int have_cg = st->cgroup && fk_cgroup_detect (NULL, &cg, &local) == 0;
  fk_error_clear (&local);
  fk_oci_status_t s = fk_oci_state_status (st, have_cg ? &cg : NULL);
  fk_cgroup_layout_free (&cg);
  if (s == FK_OCI_STOPPED)
    return fk_error_set (err, ESRCH, "container `%s' is stopped", id);
  /* Created before paused, though a created container's cgroup may be frozen too. */
  if (!st->started)
    return fk_error_set (err, EAGAIN, "container `%s' is created, not started", id);
  if (s == FK_OCI_PAUSED)
    return fk_error_set (err, EAGAIN, "container `%s' is paused: resume it first", id);
  *ret_path = xstrdup (st->agent_socket);
  return 0;
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
  fk_oci_state_t st;
  if (fk_oci_state_load (dirfd, &st, err) < 0)
    return fk_error_wrap (err, "container `%s'", id);
  int r = agent_socket (id, &st, ret_path, err);
  fk_oci_state_clear (&st);
  return r;
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
