/* sandbox/ociconfig.c: config.json -> plan. Every field is either mapped onto the plan or
   refused by name; types are checked, sizes bounded. */
#include "sandbox/ociconfig.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sandbox/ociconfig_impl.h"
#include "sandbox/seccomp_oci.h"

#define MAX_LIST 4096

void
fk_oci_info_clear (fk_oci_info_t *info)
{
  if (info == NULL)
    return;
  free (info->oci_version);
  free (info->annotations);
  memset (info, 0, sizeof *info);
}

/* Refuses keys not in known: "`where.key' is not supported". */
int
oci_only_keys (json_t *o, const char *where, const char *const *known, fk_error_t *err)
{
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v)
  {
    (void)v;
    size_t i;
    for (i = 0; known[i]; i++)
      if (strcmp (known[i], k) == 0)
        break;
    if (known[i] == NULL)
      return fk_error_set (err, ENOTSUP, "config.json: `%s%s%s' is not supported", where,
                           where[0] ? "." : "", k);
  }
  return 0;
}

/* A key whose value, when present and not empty (null, "", [], {}, 0, false), is refused. */
int
oci_refuse_set (json_t *o, const char *where, const char *key, fk_error_t *err)
{
  json_t *v = json_object_get (o, key);
  if (v == NULL || json_is_null (v) || json_is_false (v)
      || (json_is_string (v) && json_string_length (v) == 0)
      || (json_is_array (v) && json_array_size (v) == 0)
      || (json_is_object (v) && json_object_size (v) == 0)
      || (json_is_integer (v) && json_integer_value (v) == 0))
    return 0;
  return fk_error_set (err, ENOTSUP, "config.json: `%s.%s' is not supported", where, key);
}

int
oci_get_strv (json_t *o, const char *key, const char *where, char ***ret, fk_error_t *err)
{
  json_t *a = json_object_get (o, key);
  if (a == NULL || json_is_null (a))
    return 0;
  if (!json_is_array (a) || json_array_size (a) > MAX_LIST)
    return fk_error_set (err, EINVAL, "config.json: `%s.%s' is not a list of strings", where, key);
  char **v = xcalloc (json_array_size (a) + 1, sizeof *v);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    if (!json_is_string (e) || strlen (json_string_value (e)) != json_string_length (e))
      {
        fk_strv_free (v);
        return fk_error_set (err, EINVAL, "config.json: `%s.%s[%zu]' is not a string", where, key,
                             i);
      }
    v[i] = xstrdup (json_string_value (e));
  }
  fk_strv_free (*ret);
  *ret = v;
  return 1;
}

int
oci_get_u32 (json_t *o, const char *key, const char *where, int required, uint32_t *ret,
             fk_error_t *err)
{
  json_t *v = json_object_get (o, key);
  if (v == NULL && !required)
    return 0;
  if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > UINT32_MAX)
    return fk_error_set (err, EINVAL, "config.json: `%s.%s' is not an integer in range", where,
                         key);
  *ret = (uint32_t)json_integer_value (v);
  return 1;
}

int
oci_wrap (fk_error_t *err, const char *where)
{
  return fk_error_wrap (err, "config.json: %s", where);
}

/* A path from the config: absolute inside the container, no `..' component. */
int
oci_check_dest (const char *path, const char *what, fk_error_t *err)
{
  if (path[0] != '/')
    return fk_error_set (err, EINVAL, "config.json: %s `%s' is not absolute", what, path);
  for (const char *p = path; (p = strstr (p, "..")) != NULL; p += 2)
    if ((p == path || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
      return fk_error_set (err, EINVAL, "config.json: %s `%s' has a `..' component", what, path);
  return 0;
}

static char *
host_path (const char *bundle, const char *path)
{
  if (path[0] == '/' || bundle == NULL)
    return xstrdup (path);
  return xasprintf ("%s/%s", bundle, path);
}

/* Capabilities: the plan has one set for bounding, permitted, effective and inheritable; the
   config's permitted and effective ones, within its bounding set. *ret_ambient: the config's
   ambient set within those, all a uid other than 0 keeps across exec (as under runc). */
static int
caps_of (json_t *caps, uint64_t *ret, uint64_t *ret_ambient, fk_error_t *err)
{
  static const char *const known[]
      = { "bounding", "effective", "permitted", "inheritable", "ambient", NULL };
  if (!json_is_object (caps))
    return fk_error_set (err, EINVAL, "config.json: `process.capabilities' is not an object");
  if (oci_only_keys (caps, "process.capabilities", known, err) < 0)
    return -1;
  uint64_t sets[5] = { 0 };
  int has[5] = { 0 };
  for (int s = 0; s < 5; s++)
    {
      cleanup_strv char **names = NULL;
      int r = oci_get_strv (caps, known[s], "process.capabilities", &names, err);
      if (r < 0)
        return -1;
      has[s] = r;
      for (size_t i = 0; names && names[i]; i++)
        {
          cleanup_free char *low = xstrdup (names[i]);
          for (char *q = low; *q; q++)
            *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
          cap_value_t c;
          if (strncmp (low, "cap_", 4) != 0 || cap_from_name (low, &c) < 0 || c < 0 || c > 63)
            return fk_error_set (err, EINVAL,
                                 "config.json: `%s' in process.capabilities.%s is not a known "
                                 "capability",
                                 names[i], known[s]);
          sets[s] |= 1ULL << c;
        }
    }
  uint64_t mask = sets[1] | sets[2];
  if (has[0])
    mask &= sets[0];
  *ret = mask;
  *ret_ambient = sets[4] & mask;
  return 0;
}

static int
process_of (json_t *proc, fk_plan_t *plan, fk_oci_info_t *info, fk_error_t *err)
{
  static const char *const known[] = { "terminal",
                                       "consoleSize",
                                       "user",
                                       "args",
                                       "env",
                                       "cwd",
                                       "capabilities",
                                       "rlimits",
                                       "noNewPrivileges",
                                       "apparmorProfile",
                                       "oomScoreAdj",
                                       "selinuxLabel",
                                       "commandLine",
                                       NULL };
  fk_plan_process_t *p = &plan->process;
  if (!json_is_object (proc))
    return fk_error_set (err, EINVAL, "config.json: `process' is not an object");
  if (oci_only_keys (proc, "process", known, err) < 0)
    return -1;
  const char *s = NULL;
  if (fk_json_get_string (proc, "apparmorProfile", 0, &s, err) < 0)
    return oci_wrap (err, "process");
  if (s && s[0])
    return fk_error_set (err, ENOTSUP,
                         "config.json: `process.apparmorProfile' (%s): AppArmor profiles are not "
                         "supported",
                         s);
  s = NULL;
  if (fk_json_get_string (proc, "selinuxLabel", 0, &s, err) < 0)
    return oci_wrap (err, "process");
  if (s && s[0])
    return fk_error_set (err, ENOTSUP,
                         "config.json: `process.selinuxLabel' (%s): SELinux labels are not "
                         "supported",
                         s);
  if (oci_refuse_set (proc, "process", "commandLine", err) < 0)
    return -1;
  p->no_new_privs = 0; /* the spec's default, unlike firkin's */
  if (fk_json_get_bool (proc, "terminal", 0, &info->terminal, err) < 0
      || fk_json_get_bool (proc, "noNewPrivileges", 0, &p->no_new_privs, err) < 0)
    return oci_wrap (err, "process");
  if (oci_get_strv (proc, "args", "process", &p->argv, err) < 0
      || oci_get_strv (proc, "env", "process", &p->env, err) < 0)
    return -1;
  if (p->argv == NULL || p->argv[0] == NULL || p->argv[0][0] == '\0')
    return fk_error_set (err, EINVAL, "config.json: `process.args' is empty");
  if (p->env == NULL)
    p->env = xcalloc (1, sizeof (char *));
  const char *cwd;
  if (fk_json_get_string (proc, "cwd", 1, &cwd, err) < 0)
    return oci_wrap (err, "process");
  if (oci_check_dest (cwd, "process.cwd", err) < 0)
    return -1;
  p->cwd = xstrdup (cwd);
  json_t *user = json_object_get (proc, "user");
  if (user)
    {
      static const char *const ukeys[] = { "uid", "gid", "umask", "additionalGids", NULL };
      if (!json_is_object (user))
        return fk_error_set (err, EINVAL, "config.json: `process.user' is not an object");
      if (oci_only_keys (user, "process.user", ukeys, err) < 0
          || oci_get_u32 (user, "uid", "process.user", 0, &p->uid, err) < 0
          || oci_get_u32 (user, "gid", "process.user", 0, &p->gid, err) < 0)
        return -1;
      /* 2^32-1 is no id: set*id take it as "leave as it is". */
      if (p->uid == UINT32_MAX || p->gid == UINT32_MAX)
        return fk_error_set (err, EINVAL, "config.json: `process.user': %s 4294967295 is not an id",
                             p->uid == UINT32_MAX ? "uid" : "gid");
      uint32_t mask = 0;
      int r = oci_get_u32 (user, "umask", "process.user", 0, &mask, err);
      if (r < 0)
        return -1;
      if (r == 1)
        {
          if (mask > 0777)
            return fk_error_set (err, EINVAL, "config.json: `process.user.umask' is over 0777");
          p->umask_set = 1;
          p->umask = mask;
        }
      json_t *g = json_object_get (user, "additionalGids");
      if (g && !json_is_null (g))
        {
          if (!json_is_array (g) || json_array_size (g) > 64)
            return fk_error_set (err, EINVAL,
                                 "config.json: `process.user.additionalGids' is not a list of at "
                                 "most 64 gids");
          p->groups = xcalloc (json_array_size (g) + 1, sizeof *p->groups);
          size_t i;
          json_t *e;
          json_array_foreach (g, i, e)
          {
            if (!json_is_integer (e) || json_integer_value (e) < 0
                || json_integer_value (e) >= UINT32_MAX)
              return fk_error_set (
                  err, EINVAL, "config.json: `process.user.additionalGids[%zu]' is not a gid", i);
            p->groups[p->n_groups++] = (uint32_t)json_integer_value (e);
          }
        }
    }
  json_t *caps = json_object_get (proc, "capabilities");
  p->ambient_exact = 1;
  p->ambient = 0;
  if (caps == NULL || json_is_null (caps))
    p->caps = 0;
  else if (caps_of (caps, &p->caps, &p->ambient, err) < 0)
    return -1;
  json_t *rl = json_object_get (proc, "rlimits");
  if (rl && !json_is_null (rl))
    {
      if (!json_is_array (rl) || json_array_size (rl) > fk_plan_rlimit_count ())
        return fk_error_set (err, EINVAL, "config.json: `process.rlimits' is not a short list");
      p->rlimits = xcalloc (json_array_size (rl) + 1, sizeof *p->rlimits);
      size_t i;
      json_t *e;
      json_array_foreach (rl, i, e)
      {
        const char *type;
        long long soft, hard;
        if (!json_is_object (e) || fk_json_get_string (e, "type", 1, &type, err) < 0
            || fk_json_get_int (e, "soft", 1, &soft, err) < 0
            || fk_json_get_int (e, "hard", 1, &hard, err) < 0)
          return err->code
                     ? oci_wrap (err, "process.rlimits")
                     : fk_error_set (err, EINVAL,
                                     "config.json: `process.rlimits[%zu]' is not an object", i);
        int resource = fk_plan_rlimit_resource (type);
        if (resource < 0)
          return fk_error_set (err, EINVAL, "config.json: rlimit `%s' is not known", type);
        /* -1 and values past 2^63 come as negative integers: unlimited. */
        uint64_t so = soft < 0 ? RLIM_INFINITY : (uint64_t)soft;
        uint64_t ha = hard < 0 ? RLIM_INFINITY : (uint64_t)hard;
        if (so > ha)
          return fk_error_set (err, EINVAL, "config.json: rlimit `%s': soft over hard", type);
        p->rlimits[p->n_rlimits++]
            = (fk_plan_rlimit_t){ .resource = resource, .soft = so, .hard = ha };
      }
    }
  long long oom;
  int r = fk_json_get_int (proc, "oomScoreAdj", 0, &oom, err);
  if (r < 0)
    return oci_wrap (err, "process");
  if (r == 1)
    {
      if (oom < -1000 || oom > 1000)
        return fk_error_set (err, ERANGE, "config.json: `process.oomScoreAdj' out of range");
      info->has_oom_score_adj = 1;
      info->oom_score_adj = (int)oom;
    }
  json_t *cs = json_object_get (proc, "consoleSize");
  if (cs && json_is_object (cs))
    {
      uint32_t h = 0, w = 0;
      if (oci_get_u32 (cs, "height", "process.consoleSize", 0, &h, err) < 0
          || oci_get_u32 (cs, "width", "process.consoleSize", 0, &w, err) < 0)
        return -1;
      p->rows = (unsigned short)(h > 0xffff ? 0xffff : h);
      p->cols = (unsigned short)(w > 0xffff ? 0xffff : w);
    }
  if (info->terminal)
    p->stdio = FK_INIT_STDIO_TTY;
  else
    p->inherit_stdio = 1;
  return 0;
}

/* Mount options: attributes, propagation (ignored: the sandbox's mounts are private), bind and
   the rest as filesystem data. */
static int
mount_options (char **opts, int *ret_bind, int *ret_recursive, int *ret_ro, unsigned *ret_attrs,
               char ***ret_data, fk_error_t *err)
{
  static const char *const ignored[]
      = { "rw",     "suid",     "dev",     "exec",      "private",     "rprivate",     "slave",
          "rslave", "shared",   "rshared", "relatime",  "async",       "nosymfollow_", "norelatime",
          "auto",   "defaults", "nouser",  "tmpcopyup", "notmpcopyup", "copyup",       "nocopyup",
          "idmap_", "z",        "Z",       "U",         NULL };
  size_t n = fk_strv_len (opts);
  char **data = xcalloc (n + 1, sizeof *data);
  size_t nd = 0;
  for (size_t i = 0; i < n; i++)
    {
      const char *o = opts[i];
      if (strcmp (o, "bind") == 0)
        *ret_bind = 1;
      else if (strcmp (o, "rbind") == 0)
        *ret_bind = *ret_recursive = 1;
      else if (strcmp (o, "ro") == 0)
        *ret_ro = 1;
      else if (strcmp (o, "nosuid") == 0 || strcmp (o, "nodev") == 0)
        ; /* always */
      else if (strcmp (o, "noexec") == 0)
        *ret_attrs |= MOUNT_ATTR_NOEXEC;
      else if (strcmp (o, "noatime") == 0)
        *ret_attrs |= MOUNT_ATTR_NOATIME;
      else if (strcmp (o, "strictatime") == 0)
        *ret_attrs |= MOUNT_ATTR_STRICTATIME;
      else if (strcmp (o, "nodiratime") == 0)
        *ret_attrs |= MOUNT_ATTR_NODIRATIME;
      else if (strcmp (o, "unbindable") == 0 || strcmp (o, "runbindable") == 0)
        {
          fk_strv_free (data);
          return fk_error_set (err, ENOTSUP, "config.json: mount option `%s' is not supported", o);
        }
      else
        {
          size_t k;
          for (k = 0; ignored[k]; k++)
            if (strcmp (ignored[k], o) == 0)
              break;
          if (ignored[k] == NULL)
            data[nd++] = xstrdup (o);
        }
    }
  *ret_data = data;
  return 0;
}

void
oci_add_mount (fk_plan_t *plan, fk_plan_mount_kind_t kind, const char *dest, const char *source,
               char **data, int ro, const char *fstype, unsigned attrs, int flags)
{
  fk_plan_add_mount (plan, kind, dest, source, (const char *const *)data, ro);
  fk_plan_mount_t *m = &plan->mounts[plan->n_mounts - 1];
  m->fstype = fstype ? xstrdup (fstype) : NULL;
  m->attrs = attrs;
  m->flags = flags;
}

/* 1 when the v1 hierarchy h ("cpu,cpuacct") holds one of the controllers sandbox/cgroup.c
   makes the sandbox's cgroup in. */
static int
sandbox_hierarchy (const char *h)
{
  static const char *const managed[] = { "freezer", "memory", "cpu", "pids", NULL };
  for (const char *q = h; *q;)
    {
      size_t len = strcspn (q, ",");
      for (size_t i = 0; managed[i]; i++)
        if (strlen (managed[i]) == len && strncmp (managed[i], q, len) == 0)
          return 1;
      q += len + (q[len] == ',');
    }
  return 0;
}

static int
mounts_of (json_t *mounts, const fk_oci_opts_t *opts, fk_plan_t *plan, fk_error_t *err)
{
  if (!json_is_array (mounts) || json_array_size (mounts) > 1024)
    return fk_error_set (err, EINVAL, "config.json: `mounts' is not a list of at most 1024");
  size_t i;
  json_t *e;
  int has_dev = 0;
  json_array_foreach (mounts, i, e)
  {
    if (json_is_object (e))
      {
        const char *dest = NULL;
        if (fk_json_get_string (e, "destination", 0, &dest, err) < 0)
          return oci_wrap (err, "mounts");
        if (dest && strcmp (dest, "/dev") == 0)
          has_dev = 1;
      }
  }
  /* The devices a container always has (null, zero, full, random, urandom, tty, ptmx). */
  if (!has_dev)
    oci_add_mount (plan, FK_PLAN_MOUNT_DEV, "/dev", NULL, NULL, 0, NULL, 0, 0);
  json_array_foreach (mounts, i, e)
  {
    static const char *const known[]
        = { "destination", "type", "source", "options", "uidMappings", "gidMappings", NULL };
    const char *dest, *type = NULL, *source = NULL;
    cleanup_strv char **options = NULL;
    if (!json_is_object (e))
      return fk_error_set (err, EINVAL, "config.json: `mounts[%zu]' is not an object", i);
    if (oci_only_keys (e, "mounts[]", known, err) < 0
        || oci_refuse_set (e, "mounts[]", "uidMappings", err) < 0
        || oci_refuse_set (e, "mounts[]", "gidMappings", err) < 0)
      return -1;
    if (fk_json_get_string (e, "destination", 1, &dest, err) < 0
        || fk_json_get_string (e, "type", 0, &type, err) < 0
        || fk_json_get_string (e, "source", 0, &source, err) < 0)
      return oci_wrap (err, "mounts");
    if (oci_get_strv (e, "options", "mounts[]", &options, err) < 0
        || oci_check_dest (dest, "mount destination", err) < 0)
      return -1;
    int bind = 0, rec = 0, ro = 0;
    unsigned attrs = 0;
    cleanup_strv char **data = NULL;
    if (mount_options (options, &bind, &rec, &ro, &attrs, &data, err) < 0)
      return -1;
    if (type && strcmp (type, "bind") == 0)
      bind = 1;
    if (bind)
      {
        if (source == NULL || source[0] == '\0')
          return fk_error_set (err, EINVAL, "config.json: bind mount on `%s' has no source", dest);
        cleanup_free char *src = host_path (opts->bundle, source);
        oci_add_mount (plan, FK_PLAN_MOUNT_BIND, dest, src, NULL, ro, NULL, attrs,
                       rec ? 0 : FK_PLAN_MOUNT_F_NONRECURSIVE);
        continue;
      }
    if (type == NULL)
      return fk_error_set (err, EINVAL, "config.json: mount on `%s' has no type", dest);
    if (strcmp (dest, "/dev") == 0 && strcmp (type, "tmpfs") == 0)
      oci_add_mount (plan, FK_PLAN_MOUNT_DEV, dest, NULL, NULL, 0, NULL, 0, 0);
    else if (strcmp (type, "proc") == 0)
      oci_add_mount (plan, FK_PLAN_MOUNT_PROC, dest, NULL, NULL, 0, NULL, 0, 0);
    else if (strcmp (type, "sysfs") == 0)
      oci_add_mount (plan, FK_PLAN_MOUNT_SYSFS, dest, NULL, NULL, 1, NULL, 0, 0);
    else if (strcmp (type, "tmpfs") == 0)
      oci_add_mount (plan, FK_PLAN_MOUNT_TMPFS, dest, NULL, data, ro, NULL, attrs, 0);
    else if (strcmp (type, "devpts") == 0 || strcmp (type, "mqueue") == 0)
      oci_add_mount (plan, FK_PLAN_MOUNT_FS, dest, NULL, data, ro, type, attrs, 0);
    else if (strcmp (type, "cgroup") == 0 || strcmp (type, "cgroup2") == 0)
      {
        /* Without a cgroup namespace a new cgroup filesystem would show the host's whole
           tree: the container's own cgroup is bound instead (as runc does). */
        int own_ns = !plan->ns[FK_PLAN_NS_CGROUP].inherit;
        if (opts->cgroup_v2)
          {
            if (own_ns)
              oci_add_mount (plan, FK_PLAN_MOUNT_FS, dest, NULL, NULL, ro, "cgroup2", attrs, 0);
            else if (opts->cgroup_root)
              {
                cleanup_free char *src = xasprintf ("%s/%s", opts->cgroup_root, plan->cgroup);
                oci_add_mount (plan, FK_PLAN_MOUNT_BIND, dest, src, NULL, ro, NULL, attrs,
                               FK_PLAN_MOUNT_F_NONRECURSIVE);
              }
            continue;
          }
        /* v1: one mount per hierarchy below a tmpfs, each showing the sandbox's own cgroup
           (the cgroup namespace's root). */
        static const char *const tmpfs_opts[] = { "mode=0755", "size=65536", NULL };
        oci_add_mount (plan, FK_PLAN_MOUNT_TMPFS, dest, NULL, (char **)tmpfs_opts, 0, NULL, attrs,
                       0);
        for (size_t k = 0; opts->cgroup_v1 && opts->cgroup_v1[k]; k++)
          {
            const char *h = opts->cgroup_v1[k];
            if (strchr (h, '/') || strchr (h, '=') || h[0] == '.' || h[0] == '\0')
              continue;
            cleanup_free char *sub = xasprintf ("%s/%s", dest, h);
            if (!own_ns)
              {
                /* Only the hierarchies the sandbox has a cgroup in; the others stay an empty
                   directory rather than show the host's. */
                if (!sandbox_hierarchy (h) || opts->cgroup_root == NULL)
                  continue;
                cleanup_free char *src = xasprintf ("%s/%s/%s", opts->cgroup_root, h, plan->cgroup);
                oci_add_mount (plan, FK_PLAN_MOUNT_BIND, sub, src, NULL, ro, NULL, attrs,
                               FK_PLAN_MOUNT_F_NONRECURSIVE);
                continue;
              }
            char **cdata;
            if (strcmp (h, "systemd") == 0)
              {
                cdata = xcalloc (3, sizeof *cdata);
                cdata[0] = xstrdup ("none");
                cdata[1] = xstrdup ("name=systemd");
              }
            else
              {
                size_t nc = 1;
                for (const char *q = h; *q; q++)
                  nc += *q == ',';
                cdata = xcalloc (nc + 1, sizeof *cdata);
                size_t c = 0;
                for (const char *q = h; *q;)
                  {
                    size_t len = strcspn (q, ",");
                    cdata[c++] = xstrndup (q, len);
                    q += len + (q[len] == ',');
                  }
              }
            oci_add_mount (plan, FK_PLAN_MOUNT_FS, sub, NULL, cdata, ro, "cgroup", attrs, 0);
            fk_strv_free (cdata);
          }
      }
    else
      return fk_error_set (err, ENOTSUP, "config.json: mount type `%s' (on `%s') is not supported",
                           type, dest);
  }
  return 0;
}

int
fk_oci_process (const char *text, size_t len, fk_plan_process_t *ret_process, int *ret_terminal,
                fk_error_t *err)
{
  cleanup_json json_t *o = NULL;
  if (len > FK_OCI_CONFIG_MAX)
    return fk_error_set (err, E2BIG, "process: too large");
  if (fk_json_parse (text, len, &o, err) < 0)
    return fk_error_wrap (err, "process");
  fk_plan_t plan;
  fk_plan_init (&plan);
  fk_oci_info_t info = { 0 };
  if (process_of (o, &plan, &info, err) < 0)
    {
      fk_plan_clear (&plan);
      return -1;
    }
  fk_plan_process_t old = *ret_process;
  *ret_process = plan.process;
  memset (&plan.process, 0, sizeof plan.process);
  plan.process = old;
  fk_plan_clear (&plan);
  *ret_terminal = info.terminal;
  return 0;
}

static int
hooks_of (json_t *hooks, fk_plan_t *plan, fk_error_t *err)
{
  static const char *const names[]
      = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
          NULL };
  static const fk_plan_hook_point_t points[]
      = { FK_PLAN_HOOK_CREATE_RUNTIME,  FK_PLAN_HOOK_CREATE_RUNTIME, FK_PLAN_HOOK_CREATE_CONTAINER,
          FK_PLAN_HOOK_START_CONTAINER, FK_PLAN_HOOK_POSTSTART,      FK_PLAN_HOOK_POSTSTOP };
  if (!json_is_object (hooks))
    return fk_error_set (err, EINVAL, "config.json: `hooks' is not an object");
  if (oci_only_keys (hooks, "hooks", names, err) < 0)
    return -1;
  for (size_t k = 0; names[k]; k++)
    {
      json_t *list = json_object_get (hooks, names[k]);
      if (list == NULL || json_is_null (list))
        continue;
      if (!json_is_array (list) || json_array_size (list) > 64 || plan->n_hooks > 256)
        return fk_error_set (err, EINVAL, "config.json: `hooks.%s' is not a short list", names[k]);
      size_t i;
      json_t *e;
      json_array_foreach (list, i, e)
      {
        static const char *const known[] = { "path", "args", "env", "timeout", NULL };
        const char *path;
        long long timeout = 0;
        if (!json_is_object (e) || oci_only_keys (e, "hooks[]", known, err) < 0)
          return err->code ? -1 : fk_error_set (err, EINVAL, "config.json: bad hooks.%s", names[k]);
        if (fk_json_get_string (e, "path", 1, &path, err) < 0
            || fk_json_get_int (e, "timeout", 0, &timeout, err) < 0)
          return oci_wrap (err, "hooks");
        if (path[0] != '/')
          return fk_error_set (err, EINVAL, "config.json: hook path `%s' is not absolute", path);
        if (timeout < 0 || timeout > 24 * 3600)
          return fk_error_set (err, ERANGE, "config.json: hook timeout out of range");
        cleanup_strv char **args = NULL, **env = NULL;
        if (oci_get_strv (e, "args", "hooks[]", &args, err) < 0
            || oci_get_strv (e, "env", "hooks[]", &env, err) < 0)
          return -1;
        /* The plan runs argv[0] as the path; the config's args[0] is only a name. */
        size_t na = fk_strv_len (args);
        char **argv = xcalloc (na + 2, sizeof *argv);
        argv[0] = xstrdup (path);
        for (size_t a = 1; a < na; a++)
          argv[a] = xstrdup (args[a]);
        plan->hooks = xrealloc (plan->hooks, (plan->n_hooks + 1) * sizeof *plan->hooks);
        plan->hooks[plan->n_hooks++] = (fk_plan_hook_t){
          .point = points[k],
          .argv = argv,
          .env = steal_pointer (&env),
          .timeout_ms = (unsigned)timeout * 1000,
        };
      }
    }
  return 0;
}

static int
convert (json_t *o, const fk_oci_opts_t *opts, fk_plan_t *plan, fk_oci_info_t *info,
         fk_error_t *err)
{
  static const char *const known[]
      = { "ociVersion", "process", "root",        "hostname", "domainname",
          "mounts",     "hooks",   "annotations", "linux",    NULL };
  if (!json_is_object (o))
    return fk_error_set (err, EINVAL, "config.json: not a JSON object");
  if (oci_only_keys (o, "", known, err) < 0 || oci_refuse_set (o, "config", "domainname", err) < 0)
    return -1;
  const char *ver;
  if (fk_json_get_string (o, "ociVersion", 1, &ver, err) < 0)
    return oci_wrap (err, "ociVersion");
  if (strncmp (ver, "1.", 2) != 0 || ver[2] < '0' || ver[2] > '2'
      || (ver[3] != '.' && ver[3] != '\0' && ver[3] != '-' && ver[3] != '+'))
    return fk_error_set (
        err, ENOTSUP, "config.json: ociVersion `%s' is not supported (1.0, 1.1 and 1.2 are)", ver);
  info->oci_version = xstrdup (ver);
  plan->id = xstrdup (opts->id);
  plan->bundle = opts->bundle ? xstrdup (opts->bundle) : NULL;
  json_t *root = NULL;
  if (fk_json_get_object (o, "root", 1, &root, err) < 0)
    return oci_wrap (err, "root");
  static const char *const rkeys[] = { "path", "readonly", NULL };
  const char *rpath;
  if (oci_only_keys (root, "root", rkeys, err) < 0)
    return -1;
  if (fk_json_get_string (root, "path", 1, &rpath, err) < 0
      || fk_json_get_bool (root, "readonly", 0, &plan->root.readonly, err) < 0)
    return oci_wrap (err, "root");
  if (rpath[0] == '\0')
    return fk_error_set (err, EINVAL, "config.json: `root.path' is empty");
  plan->root.kind = FK_PLAN_ROOT_DIR;
  plan->root.path = host_path (opts->bundle, rpath);
  if (plan->root.path[0] != '/')
    return fk_error_set (err, EINVAL, "config.json: `root.path' `%s' is not absolute (no bundle)",
                         plan->root.path);
  json_t *proc = NULL;
  if (fk_json_get_object (o, "process", 1, &proc, err) < 0)
    return oci_wrap (err, "process");
  if (process_of (proc, plan, info, err) < 0)
    return -1;
  json_t *lin = json_object_get (o, "linux");
  if (lin == NULL)
    return fk_error_set (err, EINVAL, "config.json: no `linux' section");
  if (oci_linux (lin, opts, plan, err) < 0)
    return -1;
  const char *hostname = NULL;
  if (fk_json_get_string (o, "hostname", 0, &hostname, err) < 0)
    return oci_wrap (err, "hostname");
  if (hostname && hostname[0])
    {
      if (plan->ns[FK_PLAN_NS_UTS].inherit)
        return fk_error_set (err, EINVAL,
                             "config.json: `hostname' needs a uts namespace in linux.namespaces");
      if (strlen (hostname) > 64)
        return fk_error_set (err, EINVAL, "config.json: `hostname' is over 64 bytes");
      plan->hostname = xstrdup (hostname);
    }
  json_t *mounts = json_object_get (o, "mounts");
  if (mounts == NULL || json_is_null (mounts))
    {
      cleanup_json json_t *none = json_array ();
      if (mounts_of (none, opts, plan, err) < 0)
        return -1;
    }
  else
    {
      /* Devices were added by linux_of: they must come after /dev. Build mounts first. */
      size_t n_dev = plan->n_mounts;
      fk_plan_mount_t *devs = plan->mounts;
      plan->mounts = NULL;
      plan->n_mounts = 0;
      int r = mounts_of (mounts, opts, plan, err);
      plan->mounts = xrealloc (plan->mounts, (plan->n_mounts + n_dev + 1) * sizeof *plan->mounts);
      if (n_dev)
        memcpy (plan->mounts + plan->n_mounts, devs, n_dev * sizeof *devs);
      plan->n_mounts += n_dev;
      free (devs);
      if (r < 0)
        return -1;
    }
  json_t *hooks = json_object_get (o, "hooks");
  if (hooks && !json_is_null (hooks) && hooks_of (hooks, plan, err) < 0)
    return -1;
  json_t *ann = json_object_get (o, "annotations");
  if (ann && !json_is_null (ann))
    {
      if (!json_is_object (ann))
        return fk_error_set (err, EINVAL, "config.json: `annotations' is not an object");
      const char *k;
      json_t *v;
      json_object_foreach (ann, k, v)
      {
        if (!json_is_string (v))
          return fk_error_set (err, EINVAL, "config.json: annotation `%s' is not a string", k);
      }
      info->annotations = json_dumps (ann, JSON_COMPACT | JSON_SORT_KEYS);
      const char *a = json_string_value (json_object_get (ann, FK_OCI_AGENT_ANNOTATION));
      if (a && strcmp (a, "false") != 0 && strcmp (a, "true") != 0)
        return fk_error_set (err, EINVAL, "config.json: annotation %s is `%s', not true or false",
                             FK_OCI_AGENT_ANNOTATION, a);
      info->no_agent = a && strcmp (a, "false") == 0;
    }
  if (info->annotations == NULL)
    info->annotations = xstrdup ("{}");
  return 0;
}

int
fk_oci_config_to_plan (const char *text, size_t len, const fk_oci_opts_t *opts, fk_plan_t *ret_plan,
                       fk_oci_info_t *ret_info, fk_error_t *err)
{
  if (len > FK_OCI_CONFIG_MAX)
    return fk_error_set (err, E2BIG, "config.json: %zu bytes, at most %u", len, FK_OCI_CONFIG_MAX);
  if (opts->id == NULL || opts->id[0] == '\0')
    return fk_error_set (err, EINVAL, "config.json: no container id");
  cleanup_json json_t *o = NULL;
  if (fk_json_parse (text, len, &o, err) < 0)
    return fk_error_wrap (err, "config.json");
  fk_plan_t plan;
  fk_plan_init (&plan);
  fk_oci_info_t info = { 0 };
  if (convert (o, opts, &plan, &info, err) < 0 || fk_plan_validate (&plan, err) < 0)
    {
      fk_plan_clear (&plan);
      fk_oci_info_clear (&info);
      return -1;
    }
  *ret_plan = plan;
  *ret_info = info;
  return 0;
}
