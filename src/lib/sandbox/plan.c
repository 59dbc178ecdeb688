/* sandbox/plan.c: the plan as data: defaults, checks and its JSON form (execution: start.c on
   the host, launch.c in the child). */
#include "sandbox/plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sandbox/caps.h"
#include "sandbox/procfs.h"
#include "sandbox/seccomp.h"

void
fk_plan_init (fk_plan_t *plan)
{
  memset (plan, 0, sizeof *plan);
  plan->process.no_new_privs = 1;
  plan->process.caps = fk_caps_default_mask ();
  plan->data_plane = FK_DATA_PLANE_NONE;
}

static void
hook_clear (fk_plan_hook_t *h)
{
  fk_strv_free (h->argv);
  fk_strv_free (h->env);
}

void
fk_plan_clear (fk_plan_t *plan)
{
  if (plan == NULL)
    return;
  free (plan->id);
  free (plan->bundle);
  free (plan->hostname);
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    free (plan->ns[i].join);
  fk_strv_free (plan->root.layers);
  free (plan->root.path);
  for (size_t i = 0; i < plan->n_mounts; i++)
    {
      free (plan->mounts[i].dest);
      free (plan->mounts[i].source);
      free (plan->mounts[i].fstype);
      fk_strv_free (plan->mounts[i].options);
    }
  free (plan->mounts);
  fk_strv_free (plan->masked_paths);
  fk_strv_free (plan->readonly_paths);
  free (plan->cgroup);
  fk_strv_free (plan->net_allow);
  fk_strv_free (plan->net_deny);
  free (plan->net_rules_path);
  free (plan->net_resolver);
  free (plan->net_resolver_log);
  free (plan->net_resolver_hub);
  fk_strv_free (plan->seccomp_deny);
  fk_strv_free (plan->seccomp_allow);
  free (plan->seccomp_oci);
  fk_strv_free (plan->sysctl);
  free (plan->process.groups);
  fk_strv_free (plan->process.argv);
  fk_strv_free (plan->process.env);
  free (plan->process.cwd);
  free (plan->process.rlimits);
  for (size_t i = 0; i < plan->n_hooks; i++)
    hook_clear (&plan->hooks[i]);
  free (plan->hooks);
  free (plan->start_fifo);
  memset (plan, 0, sizeof *plan);
}

void
fk_plan_add_mount (fk_plan_t *plan, fk_plan_mount_kind_t kind, const char *dest, const char *source,
                   const char *const *options, int readonly)
{
  plan->mounts = xrealloc (plan->mounts, (plan->n_mounts + 1) * sizeof *plan->mounts);
  plan->mounts[plan->n_mounts++] = (fk_plan_mount_t){
    .kind = kind,
    .dest = xstrdup (dest),
    .source = source ? xstrdup (source) : NULL,
    .options = xstrvdup (options),
    .readonly = readonly,
  };
}

/* "/proc/kcore" from the table's "proc/kcore". */
static char **
absolute (const char *const *rel)
{
  size_t n = fk_strv_len ((char *const *)rel);
  char **v = xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    v[i] = xasprintf ("/%s", rel[i]);
  return v;
}

void
fk_plan_add_default_mounts (fk_plan_t *plan)
{
  /* /dev first: masking covers files with its null. */
  fk_plan_add_mount (plan, FK_PLAN_MOUNT_DEV, "/dev", NULL, NULL, 0);
  fk_plan_add_mount (plan, FK_PLAN_MOUNT_PROC, "/proc", NULL, NULL, 0);
  fk_plan_add_mount (plan, FK_PLAN_MOUNT_SYSFS, "/sys", NULL, NULL, 1);
  /* No mount on /tmp: it is the root's own directory, on the same disk, so a snapshot, a fork
     and a pause to disk keep what an agent left there (docs/snapshots.md). */
  fk_strv_free (plan->masked_paths);
  fk_strv_free (plan->readonly_paths);
  plan->masked_paths = absolute (fk_procfs_masked_paths ());
  plan->readonly_paths = absolute (fk_procfs_readonly_paths ());
}

uint64_t
fk_plan_default_caps (void)
{
  return fk_caps_default_mask ();
}

/* Names of the enums, in their order. */
static const char *const ns_names[FK_PLAN_NS_N + 1]
    = { "user", "mount", "pid", "network", "ipc", "uts", "cgroup", NULL };
static const char *const root_names[] = { "layers", "dir", NULL };
static const char *const mount_names[]
    = { "proc", "sysfs", "dev", "disk-tmp", "tmpfs", "bind", "fs", NULL };
static const char *const stdio_names[] = { "null", "pipes", "tty", NULL };
static const char *const hook_names[FK_PLAN_HOOK_N + 1]
    = { "createRuntime", "poststart", "createContainer", "startContainer", "poststop", NULL };
static const char *const plane_names[] = { "none", "egress", NULL };

static const struct
{
  const char *name;
  int resource;
} rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_STACK", RLIMIT_STACK },
};
#define N_RLIMIT_NAMES (sizeof rlimit_names / sizeof rlimit_names[0])

const char *
fk_plan_rlimit_name (int resource)
{
  for (size_t i = 0; i < N_RLIMIT_NAMES; i++)
    if (rlimit_names[i].resource == resource)
      return rlimit_names[i].name;
  return NULL;
}

int
fk_plan_rlimit_resource (const char *name)
{
  for (size_t i = 0; i < N_RLIMIT_NAMES; i++)
    if (strcmp (rlimit_names[i].name, name) == 0)
      return rlimit_names[i].resource;
  return -1;
}

size_t
fk_plan_rlimit_count (void)
{
  return N_RLIMIT_NAMES;
}

static int
lookup_name (const char *const *names, const char *s)
{
  for (int i = 0; names[i]; i++)
    if (strcmp (names[i], s) == 0)
      return i;
  return -1;
}

/* The filesystems an FS mount step may make. */
static const char *const fs_types[]
    = { "devpts", "mqueue", "cgroup", "cgroup2", "tmpfs", "proc", "sysfs", NULL };

static int
check_abs (const char *path, const char *what, fk_error_t *err)
{
  if (path == NULL || path[0] != '/')
    return fk_error_set (err, EINVAL, "plan: %s `%s' is not an absolute path", what,
                         path ? path : "(none)");
  for (const char *p = path; (p = strstr (p, "..")) != NULL; p += 2)
    if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
      return fk_error_set (err, EINVAL, "plan: %s `%s' has a `..' component", what, path);
  return 0;
}

static int
check_maps (const fk_plan_idmap_t *m, size_t n, const char *what, fk_error_t *err)
{
  if (n == 0)
    return fk_error_set (err, EINVAL, "plan: no %s map", what);
  int root = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (m[i].count == 0 || (uint64_t)m[i].inside + m[i].count > UINT32_MAX
          || (uint64_t)m[i].outside + m[i].count > UINT32_MAX)
        return fk_error_set (err, EINVAL, "plan: %s map entry %zu is empty or overflows", what, i);
      /* Host root inside a sandbox would make its root the host's. */
      if (m[i].outside == 0)
        return fk_error_set (err, EPERM, "plan: %s map entry %zu maps host id 0", what, i);
      root |= m[i].inside == 0;
    }
  if (!root)
    return fk_error_set (err, EINVAL, "plan: the %s map has no id 0", what);
  return 0;
}

int
fk_plan_validate (const fk_plan_t *plan, fk_error_t *err)
{
  int host_user = plan->ns[FK_PLAN_NS_USER].inherit;
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    {
      if (plan->ns[i].join && plan->ns[i].inherit)
        return fk_error_set (err, EINVAL, "plan: the %s namespace is both joined and inherited",
                             ns_names[i]);
      if (plan->ns[i].inherit && i == FK_PLAN_NS_MOUNT)
        return fk_error_set (err, EINVAL, "plan: the mount namespace is always the sandbox's own");
      if (plan->ns[i].join)
        {
          if (i == FK_PLAN_NS_USER || i == FK_PLAN_NS_MOUNT || (i == FK_PLAN_NS_PID && !host_user))
            return fk_error_set (err, EINVAL,
                                 "plan: the %s namespace is always the sandbox's own: it cannot "
                                 "join `%s'",
                                 ns_names[i], plan->ns[i].join);
          if (check_abs (plan->ns[i].join, "namespace", err) < 0)
            return -1;
        }
    }
  if (host_user)
    {
      if (plan->n_uid_map || plan->n_gid_map)
        return fk_error_set (err, EINVAL, "plan: id maps without a user namespace of its own");
    }
  else if (check_maps (plan->uid_map, plan->n_uid_map, "uid", err) < 0
           || check_maps (plan->gid_map, plan->n_gid_map, "gid", err) < 0)
    return -1;
  if (plan->hostname && plan->ns[FK_PLAN_NS_UTS].inherit)
    return fk_error_set (err, EINVAL, "plan: a hostname without a uts namespace of its own");
  if (plan->propagation != 0 && plan->propagation != MS_SLAVE && plan->propagation != MS_SHARED)
    return fk_error_set (err, EINVAL, "plan: unknown root propagation %d", plan->propagation);
  for (char **p = plan->sysctl; p && *p; p++)
    {
      const char *eq = strchr (*p, '=');
      if (eq == NULL || eq == *p || memchr (*p, '/', (size_t)(eq - *p)) || strstr (*p, "..")
          || (*p)[0] == '.')
        return fk_error_set (err, EINVAL, "plan: sysctl `%s' is not key=value", *p);
    }
  switch (plan->root.kind)
    {
    case FK_PLAN_ROOT_LAYERS:
      if (plan->root.layers == NULL || plan->root.layers[0] == NULL)
        return fk_error_set (err, EINVAL, "plan: a layers root with no layer");
      for (size_t i = 0; plan->root.layers[i]; i++)
        if (check_abs (plan->root.layers[i], "layer", err) < 0)
          return -1;
      break;
    case FK_PLAN_ROOT_DIR:
      if (check_abs (plan->root.path, "root dir", err) < 0)
        return -1;
      break;
    default:
      return fk_error_set (err, EINVAL, "plan: unknown root kind %d", (int)plan->root.kind);
    }
  for (size_t i = 0; i < plan->n_mounts; i++)
    {
      const fk_plan_mount_t *m = &plan->mounts[i];
      if ((unsigned)m->kind > FK_PLAN_MOUNT_FS)
        return fk_error_set (err, EINVAL, "plan: mount %zu has an unknown kind", i);
      if (m->kind == FK_PLAN_MOUNT_FS
          && (m->fstype == NULL || lookup_name (fs_types, m->fstype) < 0))
        return fk_error_set (err, EINVAL, "plan: mount %zu: filesystem type `%s' is not supported",
                             i, m->fstype ? m->fstype : "(none)");
      if ((m->flags & FK_PLAN_MOUNT_F_DEVICE) && m->kind != FK_PLAN_MOUNT_BIND)
        return fk_error_set (err, EINVAL, "plan: mount %zu: only a bind is a device", i);
      if (check_abs (m->dest, "mount destination", err) < 0)
        return -1;
      if (m->kind == FK_PLAN_MOUNT_BIND && check_abs (m->source, "bind source", err) < 0)
        return -1;
    }
  for (char **p = plan->masked_paths; p && *p; p++)
    if (check_abs (*p, "masked path", err) < 0)
      return -1;
  for (char **p = plan->readonly_paths; p && *p; p++)
    if (check_abs (*p, "read-only path", err) < 0)
      return -1;
  if (plan->cgroup == NULL || plan->cgroup[0] == '\0' || plan->cgroup[0] == '/'
      || strstr (plan->cgroup, "..") != NULL)
    return fk_error_set (err, EINVAL, "plan: cgroup `%s' is not a relative path below the root",
                         plan->cgroup ? plan->cgroup : "");
  const fk_plan_process_t *p = &plan->process;
  if (p->argv == NULL || p->argv[0] == NULL || p->argv[0][0] == '\0')
    return fk_error_set (err, EINVAL, "plan: the process has no argv");
  if (check_abs (p->cwd, "cwd", err) < 0)
    return -1;
  if ((unsigned)p->stdio > FK_INIT_STDIO_TTY)
    return fk_error_set (err, EINVAL, "plan: unknown stdio mode %d", (int)p->stdio);
  for (size_t i = 0; i < p->n_rlimits; i++)
    if (fk_plan_rlimit_name (p->rlimits[i].resource) == NULL
        || p->rlimits[i].soft > p->rlimits[i].hard)
      return fk_error_set (err, EINVAL,
                           "plan: rlimit %zu is unknown or its soft limit is over "
                           "its hard one",
                           i);
  for (size_t i = 0; i < plan->n_hooks; i++)
    {
      const fk_plan_hook_t *h = &plan->hooks[i];
      if ((unsigned)h->point >= FK_PLAN_HOOK_N || h->argv == NULL || h->argv[0] == NULL)
        return fk_error_set (err, EINVAL, "plan: hook %zu has no point or no argv", i);
      if (check_abs (h->argv[0], "hook", err) < 0)
        return -1;
    }
  if (plan->start_fifo && check_abs (plan->start_fifo, "start fifo", err) < 0)
    return -1;
  fk_seccomp_spec_t sc = {
    .unconfined = plan->seccomp_unconfined,
    .deny = (const char *const *)plan->seccomp_deny,
    .allow = (const char *const *)plan->seccomp_allow,
  };
  return fk_seccomp_validate (&sc, err);
}

/* JSON. */

static json_t *
strv_json (char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
maps_json (const fk_plan_idmap_t *m, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a,
                           json_pack ("{s:I,s:I,s:I}", "inside", (json_int_t)m[i].inside, "outside",
                                      (json_int_t)m[i].outside, "count", (json_int_t)m[i].count));
  return a;
}

static void
set_str (json_t *o, const char *key, const char *s)
{
  if (s)
    json_object_set_new (o, key, json_string (s));
}

static json_t *
caps_json (uint64_t caps)
{
  json_t *a = json_array ();
  for (int c = 0; c < 64; c++)
    if (caps & (1ULL << c))
      {
        char *name = cap_to_name (c);
        /* libcap names them cap_chown; the usual spelling in configs is CAP_CHOWN. */
        cleanup_free char *up = xstrdup (name ? name : "");
        cap_free (name);
        for (char *q = up; *q; q++)
          *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q);
        json_array_append_new (a, json_string (up));
      }
  return a;
}

/* An rlimit's value in the JSON form (get_rlim reads it). */
static json_int_t
rlim_json (uint64_t v)
{
  return v == RLIM_INFINITY ? -1 : (json_int_t)v;
}

int
fk_plan_to_json (const fk_plan_t *plan, char **ret_text, fk_error_t *err)
{
  cleanup_json json_t *o = json_object ();
  set_str (o, "id", plan->id);
  set_str (o, "bundle", plan->bundle);
  set_str (o, "hostname", plan->hostname);
  json_t *ns = json_object ();
  for (size_t i = 0; i < FK_PLAN_NS_N; i++)
    json_object_set_new (ns, ns_names[i],
                         plan->ns[i].join      ? json_pack ("{s:s}", "join", plan->ns[i].join)
                         : plan->ns[i].inherit ? json_pack ("{s:b}", "inherit", 1)
                                               : json_object ());
  json_object_set_new (o, "namespaces", ns);
  json_object_set_new (o, "uid_map", maps_json (plan->uid_map, plan->n_uid_map));
  json_object_set_new (o, "gid_map", maps_json (plan->gid_map, plan->n_gid_map));
  json_t *root = json_pack ("{s:s}", "kind", root_names[plan->root.kind]);
  if (plan->root.kind == FK_PLAN_ROOT_LAYERS)
    json_object_set_new (root, "layers", strv_json (plan->root.layers));
  else
    {
      set_str (root, "path", plan->root.path);
      json_object_set_new (root, "readonly", json_boolean (plan->root.readonly));
    }
  json_object_set_new (o, "root", root);
  json_object_set_new (o, "disk_bytes", json_integer ((json_int_t)plan->disk_bytes));
  json_t *mounts = json_array ();
  for (size_t i = 0; i < plan->n_mounts; i++)
    {
      const fk_plan_mount_t *m = &plan->mounts[i];
      json_t *j = json_pack ("{s:s,s:s}", "kind", mount_names[m->kind], "dest", m->dest);
      set_str (j, "source", m->source);
      set_str (j, "fstype", m->fstype);
      if (m->attrs)
        json_object_set_new (j, "attrs", json_integer (m->attrs));
      if (m->flags)
        json_object_set_new (j, "flags", json_integer (m->flags));
      if (m->options)
        json_object_set_new (j, "options", strv_json (m->options));
      json_object_set_new (j, "readonly", json_boolean (m->readonly));
      json_array_append_new (mounts, j);
    }
  json_object_set_new (o, "mounts", mounts);
  json_object_set_new (o, "masked_paths", strv_json (plan->masked_paths));
  json_object_set_new (o, "readonly_paths", strv_json (plan->readonly_paths));
  set_str (o, "cgroup", plan->cgroup);
  json_object_set_new (o, "limits",
                       json_pack ("{s:I,s:f,s:I}", "memory_bytes",
                                  (json_int_t)plan->limits.memory_bytes, "cpus", plan->limits.cpus,
                                  "pids", (json_int_t)plan->limits.pids));
  json_object_set_new (o, "data_plane", json_string (plane_names[plan->data_plane]));
  json_object_set_new (o, "write_etc", json_boolean (plan->write_etc));
  json_object_set_new (o, "seccomp",
                       json_pack ("{s:b,s:o,s:o}", "unconfined", plan->seccomp_unconfined, "deny",
                                  strv_json (plan->seccomp_deny), "allow",
                                  strv_json (plan->seccomp_allow)));
  set_str (o, "seccomp_oci", plan->seccomp_oci);
  if (plan->sysctl)
    json_object_set_new (o, "sysctl", strv_json (plan->sysctl));
  if (plan->propagation)
    json_object_set_new (o, "propagation", json_integer (plan->propagation));
  const fk_plan_process_t *p = &plan->process;
  json_t *proc = json_object ();
  json_object_set_new (proc, "argv", strv_json (p->argv));
  json_object_set_new (proc, "env", strv_json (p->env));
  set_str (proc, "cwd", p->cwd);
  json_object_set_new (proc, "uid", json_integer (p->uid));
  json_object_set_new (proc, "gid", json_integer (p->gid));
  json_object_set_new (proc, "stdio", json_string (stdio_names[p->stdio]));
  json_object_set_new (proc, "rows", json_integer (p->rows));
  json_object_set_new (proc, "cols", json_integer (p->cols));
  json_object_set_new (proc, "log_to_disk", json_boolean (p->log_to_disk));
  json_object_set_new (proc, "no_new_privs", json_boolean (p->no_new_privs));
  json_object_set_new (proc, "caps", caps_json (p->caps));
  json_t *rl = json_array ();
  for (size_t i = 0; i < p->n_rlimits; i++)
    json_array_append_new (rl, json_pack ("{s:s,s:I,s:I}", "type",
                                          fk_plan_rlimit_name (p->rlimits[i].resource), "soft",
                                          rlim_json (p->rlimits[i].soft), "hard",
                                          rlim_json (p->rlimits[i].hard)));
  json_object_set_new (proc, "rlimits", rl);
  json_t *groups = json_array ();
  for (size_t i = 0; i < p->n_groups; i++)
    json_array_append_new (groups, json_integer (p->groups[i]));
  json_object_set_new (proc, "groups", groups);
  json_object_set_new (proc, "inherit_stdio", json_boolean (p->inherit_stdio));
  json_object_set_new (o, "process", proc);
  json_t *hooks = json_array ();
  for (size_t i = 0; i < plan->n_hooks; i++)
    json_array_append_new (
        hooks, json_pack ("{s:s,s:o,s:o,s:I}", "point", hook_names[plan->hooks[i].point], "argv",
                          strv_json (plan->hooks[i].argv), "env", strv_json (plan->hooks[i].env),
                          "timeout_ms", (json_int_t)plan->hooks[i].timeout_ms));
  json_object_set_new (o, "hooks", hooks);
  set_str (o, "start_fifo", plan->start_fifo);
  char *text = json_dumps (o, JSON_PRESERVE_ORDER | JSON_INDENT (2));
  if (text == NULL)
    return fk_error_set (err, ENOMEM, "plan: cannot serialise");
  *ret_text = text;
  return 0;
}

/* Decoding: the input may come from outside (a test, another front end): sizes bounded, every
   type checked, unknown keys refused so a misspelt field is never silently ignored. */
#define MAX_PLAN_TEXT (1u << 20)
#define MAX_LIST 4096

static int
only_keys (json_t *o, const char *what, const char *const *keys, fk_error_t *err)
{
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v)
  {
    (void)v;
    size_t i;
    for (i = 0; keys[i]; i++)
      if (strcmp (keys[i], k) == 0)
        break;
    if (keys[i] == NULL)
      return fk_error_set (err, EINVAL, "plan: unknown field `%s' in %s", k, what);
  }
  return 0;
}

static int
get_strv (json_t *o, const char *key, char ***ret, fk_error_t *err)
{
  json_t *a = NULL;
  int r = fk_json_get_array (o, key, 0, &a, err);
  if (r <= 0)
    return r;
  if (json_array_size (a) > MAX_LIST)
    return fk_error_set (err, E2BIG, "plan: `%s' has more than %d entries", key, MAX_LIST);
  char **v = xcalloc (json_array_size (a) + 1, sizeof *v);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    if (!json_is_string (e) || strlen (json_string_value (e)) != json_string_length (e))
      {
        fk_strv_free (v);
        return fk_error_set (err, EINVAL, "plan: `%s'[%zu] is not a string", key, i);
      }
    v[i] = xstrdup (json_string_value (e));
  }
  fk_strv_free (*ret);
  *ret = v;
  return 1;
}

static int
get_str (json_t *o, const char *key, char **ret, fk_error_t *err)
{
  const char *s;
  int r = fk_json_get_string (o, key, 0, &s, err);
  if (r == 1)
    {
      free (*ret);
      *ret = xstrdup (s);
    }
  return r < 0 ? -1 : 0;
}

static int
get_u64 (json_t *o, const char *key, uint64_t max, uint64_t *ret, fk_error_t *err)
{
  long long v;
  int r = fk_json_get_int (o, key, 0, &v, err);
  if (r < 0)
    return -1;
  if (r == 1)
    {
      if (v < 0 || (uint64_t)v > max)
        return fk_error_set (err, ERANGE, "plan: `%s' is out of range", key);
      *ret = (uint64_t)v;
    }
  return 0;
}

/* An rlimit's value: unlimited (RLIM_INFINITY) is -1 in the JSON form. */
static int
get_rlim (json_t *o, const char *key, uint64_t *ret, fk_error_t *err)
{
  long long v;
  int r = fk_json_get_int (o, key, 0, &v, err);
  if (r < 0)
    return -1;
  if (r == 1)
    {
      if (v < -1)
        return fk_error_set (err, ERANGE, "plan: `%s' is out of range", key);
      *ret = v == -1 ? RLIM_INFINITY : (uint64_t)v;
    }
  return 0;
}

static int
get_enum (json_t *o, const char *key, const char *const *names, int *ret, fk_error_t *err)
{
  const char *s;
  int r = fk_json_get_string (o, key, 0, &s, err);
  if (r < 0)
    return -1;
  if (r == 1)
    {
      int i = lookup_name (names, s);
      if (i < 0)
        return fk_error_set (err, EINVAL, "plan: `%s' is not a known %s", s, key);
      *ret = i;
    }
  return 0;
}

static int
get_bool (json_t *o, const char *key, int *ret, fk_error_t *err)
{
  return fk_json_get_bool (o, key, 0, ret, err) < 0 ? -1 : 0;
}

static int
get_maps (json_t *o, const char *key, fk_plan_idmap_t *m, size_t *ret_n, fk_error_t *err)
{
  json_t *a = NULL;
  int r = fk_json_get_array (o, key, 0, &a, err);
  if (r <= 0)
    return r;
  if (json_array_size (a) > FK_PLAN_MAX_IDMAPS)
    return fk_error_set (err, E2BIG, "plan: `%s' has more than %d entries", key,
                         FK_PLAN_MAX_IDMAPS);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    static const char *const keys[] = { "inside", "outside", "count", NULL };
    uint64_t in = 0, out = 0, n = 0;
    if (!json_is_object (e))
      return fk_error_set (err, EINVAL, "plan: `%s'[%zu] is not an object", key, i);
    if (only_keys (e, key, keys, err) < 0 || get_u64 (e, "inside", UINT32_MAX, &in, err) < 0
        || get_u64 (e, "outside", UINT32_MAX, &out, err) < 0
        || get_u64 (e, "count", UINT32_MAX, &n, err) < 0)
      return -1;
    m[i] = (fk_plan_idmap_t){ (uint32_t)in, (uint32_t)out, (uint32_t)n };
  }
  *ret_n = json_array_size (a);
  return 0;
}

static int
decode_caps (json_t *proc, uint64_t *ret, fk_error_t *err)
{
  cleanup_strv char **names = NULL;
  int r = get_strv (proc, "caps", &names, err);
  if (r <= 0)
    return r;
  uint64_t mask = 0;
  for (size_t i = 0; names[i]; i++)
    {
      cleanup_free char *low = xstrdup (names[i]);
      for (char *q = low; *q; q++)
        *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
      cap_value_t c;
      if (strncmp (low, "cap_", 4) != 0 || cap_from_name (low, &c) < 0 || c < 0 || c > 63)
        return fk_error_set (err, EINVAL, "plan: `%s' is not a known capability", names[i]);
      mask |= 1ULL << c;
    }
  *ret = mask;
  return 0;
}

static int
decode_process (json_t *proc, fk_plan_process_t *p, fk_error_t *err)
{
  static const char *const keys[] = { "argv",  "env",     "cwd",    "uid",           "gid",
                                      "stdio", "rows",    "cols",   "log_to_disk",   "no_new_privs",
                                      "caps",  "rlimits", "groups", "inherit_stdio", NULL };
  uint64_t uid = 0, gid = 0, rows = 0, cols = 0;
  int stdio = (int)p->stdio;
  if (only_keys (proc, "process", keys, err) < 0 || get_strv (proc, "argv", &p->argv, err) < 0
      || get_strv (proc, "env", &p->env, err) < 0 || get_str (proc, "cwd", &p->cwd, err) < 0
      || get_u64 (proc, "uid", UINT32_MAX - 1, &uid, err) < 0
      || get_u64 (proc, "gid", UINT32_MAX - 1, &gid, err) < 0
      || get_enum (proc, "stdio", stdio_names, &stdio, err) < 0
      || get_u64 (proc, "rows", 0xffff, &rows, err) < 0
      || get_u64 (proc, "cols", 0xffff, &cols, err) < 0
      || get_bool (proc, "log_to_disk", &p->log_to_disk, err) < 0
      || get_bool (proc, "no_new_privs", &p->no_new_privs, err) < 0
      || get_bool (proc, "inherit_stdio", &p->inherit_stdio, err) < 0
      || decode_caps (proc, &p->caps, err) < 0)
    return -1;
  json_t *groups = NULL;
  if (fk_json_get_array (proc, "groups", 0, &groups, err) < 0)
    return -1;
  if (groups && json_array_size (groups) > 64)
    return fk_error_set (err, E2BIG, "plan: more than 64 groups");
  if (groups && json_array_size (groups))
    {
      p->groups = xcalloc (json_array_size (groups), sizeof *p->groups);
      size_t gi;
      json_t *g;
      json_array_foreach (groups, gi, g)
      {
        if (!json_is_integer (g) || json_integer_value (g) < 0
            || json_integer_value (g) >= UINT32_MAX)
          return fk_error_set (err, EINVAL, "plan: group %zu is not a gid", gi);
        p->groups[p->n_groups++] = (uint32_t)json_integer_value (g);
      }
    }
  p->uid = (uint32_t)uid;
  p->gid = (uint32_t)gid;
  p->stdio = (fk_init_stdio_t)stdio;
  p->rows = (unsigned short)rows;
  p->cols = (unsigned short)cols;
  json_t *rl = NULL;
  int r = fk_json_get_array (proc, "rlimits", 0, &rl, err);
  if (r < 0)
    return -1;
  if (r == 1)
    {
      if (json_array_size (rl) > N_RLIMIT_NAMES)
        return fk_error_set (err, E2BIG, "plan: too many rlimits");
      p->rlimits = xcalloc (json_array_size (rl) + 1, sizeof *p->rlimits);
      size_t i;
      json_t *e;
      json_array_foreach (rl, i, e)
      {
        static const char *const rkeys[] = { "type", "soft", "hard", NULL };
        const char *type;
        fk_plan_rlimit_t *l = &p->rlimits[i];
        if (!json_is_object (e) || only_keys (e, "rlimit", rkeys, err) < 0
            || fk_json_get_string (e, "type", 1, &type, err) < 0
            || get_rlim (e, "soft", &l->soft, err) < 0 || get_rlim (e, "hard", &l->hard, err) < 0)
          return err->code ? -1
                           : fk_error_set (err, EINVAL, "plan: rlimit %zu is not an object", i);
        l->resource = fk_plan_rlimit_resource (type);
        if (l->resource < 0)
          return fk_error_set (err, EINVAL, "plan: `%s' is not a known rlimit", type);
        p->n_rlimits++;
      }
    }
  return 0;
}

static int
decode (json_t *o, fk_plan_t *plan, fk_error_t *err)
{
  static const char *const keys[] = { "id",
                                      "bundle",
                                      "hostname",
                                      "namespaces",
                                      "uid_map",
                                      "gid_map",
                                      "root",
                                      "disk_bytes",
                                      "mounts",
                                      "masked_paths",
                                      "readonly_paths",
                                      "cgroup",
                                      "limits",
                                      "data_plane",
                                      "write_etc",
                                      "seccomp",
                                      "process",
                                      "hooks",
                                      "start_fifo",
                                      "seccomp_oci",
                                      "sysctl",
                                      "propagation",
                                      NULL };
  if (!json_is_object (o))
    return fk_error_set (err, EINVAL, "plan: not a JSON object");
  if (only_keys (o, "the plan", keys, err) < 0 || get_str (o, "id", &plan->id, err) < 0
      || get_str (o, "bundle", &plan->bundle, err) < 0
      || get_str (o, "hostname", &plan->hostname, err) < 0)
    return -1;
  json_t *ns = NULL;
  if (fk_json_get_object (o, "namespaces", 0, &ns, err) < 0)
    return -1;
  if (ns && only_keys (ns, "namespaces", ns_names, err) < 0)
    return -1;
  for (size_t i = 0; ns && i < FK_PLAN_NS_N; i++)
    {
      json_t *one = NULL;
      static const char *const nkeys[] = { "join", "inherit", NULL };
      if (fk_json_get_object (ns, ns_names[i], 0, &one, err) < 0)
        return -1;
      if (one
          && (only_keys (one, ns_names[i], nkeys, err) < 0
              || get_str (one, "join", &plan->ns[i].join, err) < 0
              || get_bool (one, "inherit", &plan->ns[i].inherit, err) < 0))
        return -1;
    }
  if (get_maps (o, "uid_map", plan->uid_map, &plan->n_uid_map, err) < 0
      || get_maps (o, "gid_map", plan->gid_map, &plan->n_gid_map, err) < 0)
    return -1;
  json_t *root = NULL;
  if (fk_json_get_object (o, "root", 1, &root, err) < 0)
    return -1;
  static const char *const rkeys[] = { "kind", "layers", "path", "readonly", NULL };
  int kind = 0;
  if (only_keys (root, "root", rkeys, err) < 0
      || get_enum (root, "kind", root_names, &kind, err) < 0
      || get_strv (root, "layers", &plan->root.layers, err) < 0
      || get_str (root, "path", &plan->root.path, err) < 0
      || get_bool (root, "readonly", &plan->root.readonly, err) < 0
      || get_u64 (o, "disk_bytes", UINT64_MAX >> 1, &plan->disk_bytes, err) < 0)
    return -1;
  plan->root.kind = (fk_plan_root_kind_t)kind;
  json_t *mounts = NULL;
  if (fk_json_get_array (o, "mounts", 0, &mounts, err) < 0)
    return -1;
  if (mounts && json_array_size (mounts) > MAX_LIST)
    return fk_error_set (err, E2BIG, "plan: too many mounts");
  size_t i;
  json_t *e;
  json_array_foreach (mounts, i, e)
  {
    static const char *const mkeys[]
        = { "kind", "dest", "source", "options", "readonly", "fstype", "attrs", "flags", NULL };
    const char *dest;
    int mk = 0, ro = 0;
    uint64_t attrs = 0, mflags = 0;
    cleanup_free char *source = NULL, *fstype = NULL;
    cleanup_strv char **options = NULL;
    if (!json_is_object (e))
      return fk_error_set (err, EINVAL, "plan: mount %zu is not an object", i);
    if (only_keys (e, "a mount", mkeys, err) < 0 || get_enum (e, "kind", mount_names, &mk, err) < 0
        || fk_json_get_string (e, "dest", 1, &dest, err) < 0
        || get_str (e, "source", &source, err) < 0 || get_strv (e, "options", &options, err) < 0
        || get_bool (e, "readonly", &ro, err) < 0 || get_str (e, "fstype", &fstype, err) < 0
        || get_u64 (e, "attrs", UINT32_MAX, &attrs, err) < 0
        || get_u64 (e, "flags", 3, &mflags, err) < 0)
      return -1;
    fk_plan_add_mount (plan, (fk_plan_mount_kind_t)mk, dest, source, (const char *const *)options,
                       ro);
    fk_plan_mount_t *added = &plan->mounts[plan->n_mounts - 1];
    added->fstype = steal_pointer (&fstype);
    added->attrs = (unsigned)attrs;
    added->flags = (int)mflags;
  }
  if (get_strv (o, "masked_paths", &plan->masked_paths, err) < 0
      || get_strv (o, "readonly_paths", &plan->readonly_paths, err) < 0
      || get_str (o, "cgroup", &plan->cgroup, err) < 0)
    return -1;
  json_t *limits = NULL;
  if (fk_json_get_object (o, "limits", 0, &limits, err) < 0)
    return -1;
  if (limits)
    {
      static const char *const lkeys[] = { "memory_bytes", "cpus", "pids", NULL };
      if (only_keys (limits, "limits", lkeys, err) < 0
          || get_u64 (limits, "memory_bytes", UINT64_MAX >> 1, &plan->limits.memory_bytes, err) < 0
          || get_u64 (limits, "pids", UINT64_MAX >> 1, &plan->limits.pids, err) < 0
          || fk_json_get_number (limits, "cpus", 0, &plan->limits.cpus, err) < 0)
        return -1;
      if (!(plan->limits.cpus >= 0 && plan->limits.cpus <= 4096))
        return fk_error_set (err, ERANGE, "plan: `cpus' is out of range");
    }
  int plane = (int)plan->data_plane;
  if (get_enum (o, "data_plane", plane_names, &plane, err) < 0
      || get_bool (o, "write_etc", &plan->write_etc, err) < 0)
    return -1;
  plan->data_plane = (fk_data_plane_kind_t)plane;
  json_t *sc = NULL;
  if (fk_json_get_object (o, "seccomp", 0, &sc, err) < 0)
    return -1;
  if (sc)
    {
      static const char *const skeys[] = { "unconfined", "deny", "allow", NULL };
      if (only_keys (sc, "seccomp", skeys, err) < 0
          || get_bool (sc, "unconfined", &plan->seccomp_unconfined, err) < 0
          || get_strv (sc, "deny", &plan->seccomp_deny, err) < 0
          || get_strv (sc, "allow", &plan->seccomp_allow, err) < 0)
        return -1;
    }
  json_t *proc = NULL;
  if (fk_json_get_object (o, "process", 1, &proc, err) < 0
      || decode_process (proc, &plan->process, err) < 0)
    return -1;
  json_t *hooks = NULL;
  if (fk_json_get_array (o, "hooks", 0, &hooks, err) < 0)
    return -1;
  if (hooks && json_array_size (hooks) > 64)
    return fk_error_set (err, E2BIG, "plan: too many hooks");
  if (hooks)
    plan->hooks = xcalloc (json_array_size (hooks) + 1, sizeof *plan->hooks);
  json_array_foreach (hooks, i, e)
  {
    static const char *const hkeys[] = { "point", "argv", "env", "timeout_ms", NULL };
    fk_plan_hook_t *h = &plan->hooks[i];
    int point = 0;
    uint64_t t = 0;
    plan->n_hooks++;
    if (!json_is_object (e))
      return fk_error_set (err, EINVAL, "plan: hook %zu is not an object", i);
    if (only_keys (e, "a hook", hkeys, err) < 0
        || get_enum (e, "point", hook_names, &point, err) < 0
        || get_strv (e, "argv", &h->argv, err) < 0 || get_strv (e, "env", &h->env, err) < 0
        || get_u64 (e, "timeout_ms", 24u * 3600 * 1000, &t, err) < 0)
      return -1;
    h->point = (fk_plan_hook_point_t)point;
    h->timeout_ms = (unsigned)t;
  }
  uint64_t prop = 0;
  if (get_str (o, "seccomp_oci", &plan->seccomp_oci, err) < 0
      || get_strv (o, "sysctl", &plan->sysctl, err) < 0
      || get_u64 (o, "propagation", UINT32_MAX, &prop, err) < 0)
    return -1;
  plan->propagation = (int)prop;
  return get_str (o, "start_fifo", &plan->start_fifo, err);
}

int
fk_plan_from_json (const char *text, size_t len, fk_plan_t *ret_plan, fk_error_t *err)
{
  if (len > MAX_PLAN_TEXT)
    return fk_error_set (err, E2BIG, "plan: %zu bytes of JSON, at most %u", len, MAX_PLAN_TEXT);
  cleanup_json json_t *o = NULL;
  if (fk_json_parse (text, len, &o, err) < 0)
    return fk_error_wrap (err, "plan");
  fk_plan_t plan;
  fk_plan_init (&plan);
  if (decode (o, &plan, err) < 0 || fk_plan_validate (&plan, err) < 0)
    {
      fk_plan_clear (&plan);
      return -1;
    }
  *ret_plan = plan;
  return 0;
}
