/* sandbox/ocilinux.c: config.json -> plan, its linux section (namespaces, id maps,
   resources and the cgroup path, sysctl, seccomp, propagation, masked and read-only paths,
   devices); the rest is in ociconfig.c. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sandbox/ociconfig.h"
#include "sandbox/ociconfig_impl.h"
#include "sandbox/seccomp_oci.h"

static const char *const ns_types[FK_PLAN_NS_N]
    = { "user", "mount", "pid", "network", "ipc", "uts", "cgroup" };

static int
namespaces_of (json_t *nss, fk_plan_t *plan, fk_error_t *err)
{
  int seen[FK_PLAN_NS_N] = { 0 };
  if (nss && !json_is_array (nss))
    return fk_error_set (err, EINVAL, "config.json: `linux.namespaces' is not a list");
  size_t i;
  json_t *e;
  json_array_foreach (nss, i, e)
  {
    static const char *const known[] = { "type", "path", NULL };
    const char *type, *path = NULL;
    if (!json_is_object (e) || oci_only_keys (e, "linux.namespaces[]", known, err) < 0)
      return err->code ? -1
                       : fk_error_set (err, EINVAL,
                                       "config.json: `linux.namespaces[%zu]' is not an object", i);
    if (fk_json_get_string (e, "type", 1, &type, err) < 0
        || fk_json_get_string (e, "path", 0, &path, err) < 0)
      return oci_wrap (err, "linux.namespaces");
    size_t k;
    for (k = 0; k < FK_PLAN_NS_N; k++)
      if (strcmp (ns_types[k], type) == 0)
        break;
    if (k == FK_PLAN_NS_N)
      return fk_error_set (err, ENOTSUP, "config.json: namespace type `%s' is not supported", type);
    if (seen[k]++)
      return fk_error_set (err, EINVAL, "config.json: namespace `%s' is listed twice", type);
    if (path && path[0])
      {
        if (path[0] != '/')
          return fk_error_set (err, EINVAL, "config.json: namespace path `%s' is not absolute",
                               path);
        if (k == FK_PLAN_NS_USER || k == FK_PLAN_NS_MOUNT)
          return fk_error_set (err, ENOTSUP,
                               "config.json: joining a %s namespace (`%s') is not supported", type,
                               path);
        plan->ns[k].join = xstrdup (path);
      }
  }
  if (!seen[FK_PLAN_NS_MOUNT])
    return fk_error_set (err, EINVAL, "config.json: `linux.namespaces' has no mount namespace");
  for (size_t k = 0; k < FK_PLAN_NS_N; k++)
    if (!seen[k])
      plan->ns[k].inherit = 1;
  if (plan->ns[FK_PLAN_NS_PID].join && !plan->ns[FK_PLAN_NS_USER].inherit)
    return fk_error_set (err, ENOTSUP,
                         "config.json: joining a pid namespace with a user namespace of the "
                         "container's own is not supported");
  return 0;
}

static int
maps_of (json_t *lin, const char *key, fk_plan_idmap_t *m, size_t *ret_n, fk_error_t *err)
{
  json_t *a = json_object_get (lin, key);
  if (a == NULL || json_is_null (a))
    return 0;
  if (!json_is_array (a) || json_array_size (a) > FK_PLAN_MAX_IDMAPS)
    return fk_error_set (err, EINVAL, "config.json: `linux.%s' is not a list of at most %d", key,
                         FK_PLAN_MAX_IDMAPS);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    uint32_t c = 0, h = 0, n = 0;
    if (!json_is_object (e) || oci_get_u32 (e, "containerID", key, 1, &c, err) < 0
        || oci_get_u32 (e, "hostID", key, 1, &h, err) < 0
        || oci_get_u32 (e, "size", key, 1, &n, err) < 0)
      return err->code ? -1 : fk_error_set (err, EINVAL, "config.json: `linux.%s' entry", key);
    m[i] = (fk_plan_idmap_t){ c, h, n };
  }
  *ret_n = json_array_size (a);
  return 0;
}

static int
resources_obj (json_t *res, fk_cgroup_limits_t *lim, fk_error_t *err)
{
  static const char *const known[] = { "devices",        "memory",  "cpu",  "pids",    "blockIO",
                                       "hugepageLimits", "network", "rdma", "unified", NULL };
  if (!json_is_object (res))
    return fk_error_set (err, EINVAL, "config.json: `linux.resources' is not an object");
  if (oci_only_keys (res, "linux.resources", known, err) < 0)
    return -1;
  static const char *const refused[]
      = { "blockIO", "hugepageLimits", "network", "rdma", "unified", NULL };
  for (size_t i = 0; refused[i]; i++)
    if (oci_refuse_set (res, "linux.resources", refused[i], err) < 0)
      return -1;
  /* devices: the device cgroup is not used; device nodes are usable only where fk-oci puts
     them (every other mount is nodev), see docs/oci.md. */
  json_t *devs = json_object_get (res, "devices");
  if (devs && !json_is_null (devs) && !json_is_array (devs))
    return fk_error_set (err, EINVAL, "config.json: `linux.resources.devices' is not a list");
  json_t *mem = json_object_get (res, "memory");
  if (mem && !json_is_null (mem))
    {
      static const char *const mkeys[] = { "limit",
                                           "reservation",
                                           "swap",
                                           "kernel",
                                           "kernelTCP",
                                           "swappiness",
                                           "disableOOMKiller",
                                           "useHierarchy",
                                           "checkBeforeUpdate",
                                           NULL };
      if (!json_is_object (mem) || oci_only_keys (mem, "linux.resources.memory", mkeys, err) < 0)
        return err->code ? -1 : fk_error_set (err, EINVAL, "config.json: bad resources.memory");
      long long limit = 0;
      int dis = 0;
      if (fk_json_get_int (mem, "limit", 0, &limit, err) < 0
          || fk_json_get_bool (mem, "disableOOMKiller", 0, &dis, err) < 0)
        return oci_wrap (err, "linux.resources.memory");
      if (dis)
        return fk_error_set (err, ENOTSUP,
                             "config.json: `linux.resources.memory.disableOOMKiller' is not "
                             "supported");
      if (oci_refuse_set (mem, "linux.resources.memory", "kernel", err) < 0
          || oci_refuse_set (mem, "linux.resources.memory", "kernelTCP", err) < 0)
        return -1;
      lim->memory_bytes = limit > 0 ? (uint64_t)limit : 0;
    }
  json_t *cpu = json_object_get (res, "cpu");
  if (cpu && !json_is_null (cpu))
    {
      static const char *const ckeys[]
          = { "shares", "quota", "period", "realtimeRuntime", "realtimePeriod",
              "cpus",   "mems",  "idle",   "burst",           NULL };
      if (!json_is_object (cpu) || oci_only_keys (cpu, "linux.resources.cpu", ckeys, err) < 0)
        return err->code ? -1 : fk_error_set (err, EINVAL, "config.json: bad resources.cpu");
      static const char *const crefused[]
          = { "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle", "burst", NULL };
      for (size_t i = 0; crefused[i]; i++)
        if (oci_refuse_set (cpu, "linux.resources.cpu", crefused[i], err) < 0)
          return -1;
      long long quota = 0, period = 0;
      if (fk_json_get_int (cpu, "quota", 0, &quota, err) < 0
          || fk_json_get_int (cpu, "period", 0, &period, err) < 0)
        return oci_wrap (err, "linux.resources.cpu");
      if (period <= 0)
        period = 100000;
      lim->cpus = quota > 0 ? (double)quota / (double)period : 0;
      if (lim->cpus > 4096)
        return fk_error_set (err, ERANGE, "config.json: cpu quota over 4096 CPUs");
    }
  json_t *pids = json_object_get (res, "pids");
  if (pids && !json_is_null (pids))
    {
      long long limit = 0;
      if (!json_is_object (pids) || fk_json_get_int (pids, "limit", 0, &limit, err) < 0)
        return err->code ? oci_wrap (err, "linux.resources.pids")
                         : fk_error_set (err, EINVAL, "config.json: bad resources.pids");
      lim->pids = limit > 0 ? (uint64_t)limit : 0;
    }
  return 0;
}

int
fk_oci_resources (const char *text, size_t len, fk_cgroup_limits_t *ret, fk_error_t *err)
{
  cleanup_json json_t *o = NULL;
  if (len > FK_OCI_CONFIG_MAX)
    return fk_error_set (err, E2BIG, "resources: too large");
  if (fk_json_parse (text, len, &o, err) < 0)
    return fk_error_wrap (err, "resources");
  fk_cgroup_limits_t lim = { 0 };
  if (resources_obj (o, &lim, err) < 0)
    return -1;
  *ret = lim;
  return 0;
}

/* "machine-a-b.slice" -> "machine.slice/machine-a.slice/machine-a-b.slice", as systemd nests
   slices by their dashes. */
static char *
expand_slice (const char *slice)
{
  if (strcmp (slice, "-.slice") == 0 || slice[0] == '\0')
    return xstrdup ("");
  size_t n = strlen (slice) - strlen (".slice");
  char *path = xstrdup ("");
  for (size_t i = 0; i <= n; i++)
    if (i == n || slice[i] == '-')
      {
        char *next = xasprintf ("%s%s%.*s.slice", path, path[0] ? "/" : "", (int)i, slice);
        free (path);
        path = next;
      }
  return path;
}

int
fk_oci_cgroup_path (const char *cp, int systemd, const char *id, char **ret, fk_error_t *err)
{
  char *path;
  if (cp == NULL || cp[0] == '\0')
    path = systemd ? xasprintf ("system.slice/fk-oci-%s.scope", id) : xasprintf ("fk-oci/%s", id);
  else if (systemd)
    {
      const char *c1 = strchr (cp, ':');
      const char *c2 = c1 ? strchr (c1 + 1, ':') : NULL;
      if (c2 == NULL || strchr (c2 + 1, ':'))
        return fk_error_set (err, EINVAL, "config.json: cgroupsPath `%s' is not slice:prefix:name",
                             cp);
      cleanup_free char *slice = xstrndup (cp, (size_t)(c1 - cp));
      if (slice[0] == '\0')
        {
          free (slice);
          slice = xstrdup ("system.slice");
        }
      size_t sl = strlen (slice);
      if (sl < 6 || strcmp (slice + sl - 6, ".slice") != 0 || strchr (slice, '/'))
        return fk_error_set (err, EINVAL, "config.json: `%s' in cgroupsPath is not a slice", slice);
      cleanup_free char *spath = expand_slice (slice);
      cleanup_free char *prefix = xstrndup (c1 + 1, (size_t)(c2 - c1 - 1));
      const char *name = c2 + 1;
      size_t nl = strlen (name);
      if (nl > 6 && strcmp (name + nl - 6, ".slice") == 0)
        path = xasprintf ("%s/%s", spath, name);
      else if (prefix[0])
        path = xasprintf ("%s/%s-%s.scope", spath, prefix, name);
      else
        path = xasprintf ("%s/%s.scope", spath, name);
    }
  else
    {
      while (*cp == '/')
        cp++;
      path = xstrdup (cp);
    }
  if (path[0] == '\0' || strstr (path, "..") || path[0] == '/' || strstr (path, "//"))
    {
      fk_error_set (err, EINVAL, "config.json: cgroupsPath `%s' is not a cgroup below the root",
                    path);
      free (path);
      return -1;
    }
  *ret = path;
  return 0;
}

static int
devices_of (json_t *devs, const fk_oci_opts_t *opts, fk_plan_t *plan, fk_error_t *err)
{
  if (devs == NULL || json_is_null (devs))
    return 0;
  if (!json_is_array (devs) || json_array_size (devs) > 256)
    return fk_error_set (err, EINVAL, "config.json: `linux.devices' is not a list of at most 256");
  size_t i;
  json_t *e;
  json_array_foreach (devs, i, e)
  {
    static const char *const known[]
        = { "type", "path", "major", "minor", "fileMode", "uid", "gid", NULL };
    const char *type, *path;
    uint32_t major = 0, minor = 0;
    if (!json_is_object (e) || oci_only_keys (e, "linux.devices[]", known, err) < 0)
      return err->code ? -1 : fk_error_set (err, EINVAL, "config.json: bad linux.devices[%zu]", i);
    if (fk_json_get_string (e, "type", 1, &type, err) < 0
        || fk_json_get_string (e, "path", 1, &path, err) < 0)
      return oci_wrap (err, "linux.devices");
    if (oci_get_u32 (e, "major", "linux.devices[]", 0, &major, err) < 0
        || oci_get_u32 (e, "minor", "linux.devices[]", 0, &minor, err) < 0
        || oci_check_dest (path, "device", err) < 0)
      return -1;
    if (strcmp (type, "c") != 0 && strcmp (type, "b") != 0 && strcmp (type, "u") != 0)
      return fk_error_set (err, ENOTSUP, "config.json: device type `%s' (%s) is not supported",
                           type, path);
    /* Nodes are bound from the host's node of the same path: the sandbox gets exactly the
       device the host has there. */
    if (opts->host_checks)
      {
        struct stat st;
        if (stat (path, &st) < 0 || !(S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
            || (S_ISBLK (st.st_mode) != (type[0] == 'b')) || major (st.st_rdev) != major
            || minor (st.st_rdev) != minor)
          return fk_error_set (err, ENOTSUP,
                               "config.json: device `%s' (%s %u:%u): only a host device node of "
                               "the same path can be given",
                               path, type, major, minor);
      }
    oci_add_mount (plan, FK_PLAN_MOUNT_BIND, path, path, NULL, 0, NULL, 0,
                   FK_PLAN_MOUNT_F_DEVICE | FK_PLAN_MOUNT_F_NONRECURSIVE);
  }
  return 0;
}

int
oci_linux (json_t *lin, const fk_oci_opts_t *opts, fk_plan_t *plan, fk_error_t *err)
{
  static const char *const known[]
      = { "namespaces",  "uidMappings", "gidMappings",       "timeOffsets", "devices",
          "cgroupsPath", "rdma",        "resources",         "unified",     "intelRdt",
          "sysctl",      "seccomp",     "rootfsPropagation", "maskedPaths", "readonlyPaths",
          "mountLabel",  "personality", "memoryPolicy",      NULL };
  if (!json_is_object (lin))
    return fk_error_set (err, EINVAL, "config.json: `linux' is not an object");
  if (oci_only_keys (lin, "linux", known, err) < 0)
    return -1;
  static const char *const refused[] = { "timeOffsets", "rdma",        "unified",      "intelRdt",
                                         "mountLabel",  "personality", "memoryPolicy", NULL };
  for (size_t i = 0; refused[i]; i++)
    if (oci_refuse_set (lin, "linux", refused[i], err) < 0)
      return -1;
  if (namespaces_of (json_object_get (lin, "namespaces"), plan, err) < 0
      || maps_of (lin, "uidMappings", plan->uid_map, &plan->n_uid_map, err) < 0
      || maps_of (lin, "gidMappings", plan->gid_map, &plan->n_gid_map, err) < 0)
    return -1;
  if (!plan->ns[FK_PLAN_NS_USER].inherit && (plan->n_uid_map == 0 || plan->n_gid_map == 0))
    return fk_error_set (err, EINVAL,
                         "config.json: a user namespace needs linux.uidMappings and gidMappings");
  if (plan->ns[FK_PLAN_NS_USER].inherit && (plan->n_uid_map || plan->n_gid_map))
    return fk_error_set (err, EINVAL,
                         "config.json: id mappings without a user namespace in linux.namespaces");
  json_t *res = json_object_get (lin, "resources");
  if (res && !json_is_null (res) && resources_obj (res, &plan->limits, err) < 0)
    return -1;
  const char *cp = NULL;
  if (fk_json_get_string (lin, "cgroupsPath", 0, &cp, err) < 0)
    return oci_wrap (err, "linux");
  if (fk_oci_cgroup_path (cp, opts->systemd_cgroup, opts->id, &plan->cgroup, err) < 0)
    return -1;
  json_t *sys = json_object_get (lin, "sysctl");
  if (sys && !json_is_null (sys))
    {
      if (!json_is_object (sys) || json_object_size (sys) > 256)
        return fk_error_set (err, EINVAL, "config.json: `linux.sysctl' is not a small object");
      plan->sysctl = xcalloc (json_object_size (sys) + 1, sizeof (char *));
      size_t n = 0;
      const char *k;
      json_t *v;
      json_object_foreach (sys, k, v)
      {
        if (!json_is_string (v))
          return fk_error_set (err, EINVAL, "config.json: sysctl `%s' is not a string", k);
        int net = strncmp (k, "net.", 4) == 0;
        int ipc = strncmp (k, "kernel.msg", 10) == 0 || strncmp (k, "kernel.shm", 10) == 0
                  || strcmp (k, "kernel.sem") == 0 || strncmp (k, "fs.mqueue.", 10) == 0;
        int uts = strcmp (k, "kernel.hostname") == 0 || strcmp (k, "kernel.domainname") == 0;
        if ((net && plan->ns[FK_PLAN_NS_NET].inherit) || (ipc && plan->ns[FK_PLAN_NS_IPC].inherit)
            || (uts && plan->ns[FK_PLAN_NS_UTS].inherit) || !(net || ipc || uts))
          return fk_error_set (err, EPERM,
                               "config.json: sysctl `%s' is not one of the container's own "
                               "namespaces",
                               k);
        plan->sysctl[n++] = xasprintf ("%s=%s", k, json_string_value (v));
      }
    }
  json_t *sc = json_object_get (lin, "seccomp");
  if (sc && !json_is_null (sc))
    {
      char *text = json_dumps (sc, JSON_COMPACT);
      if (text == NULL)
        return fk_error_set (err, ENOMEM, "config.json: seccomp");
      plan->seccomp_oci = text;
      if (fk_seccomp_oci_check (text, err) < 0)
        return oci_wrap (err, "linux.seccomp");
    }
  else
    plan->seccomp_unconfined = 1;
  const char *prop = NULL;
  if (fk_json_get_string (lin, "rootfsPropagation", 0, &prop, err) < 0)
    return oci_wrap (err, "linux");
  if (prop == NULL || prop[0] == '\0' || strcmp (prop, "private") == 0
      || strcmp (prop, "rprivate") == 0)
    plan->propagation = 0;
  else if (strcmp (prop, "slave") == 0 || strcmp (prop, "rslave") == 0)
    plan->propagation = MS_SLAVE;
  else if (strcmp (prop, "shared") == 0 || strcmp (prop, "rshared") == 0)
    plan->propagation = MS_SHARED;
  else
    return fk_error_set (err, ENOTSUP, "config.json: rootfsPropagation `%s' is not supported",
                         prop);
  if (oci_get_strv (lin, "maskedPaths", "linux", &plan->masked_paths, err) < 0
      || oci_get_strv (lin, "readonlyPaths", "linux", &plan->readonly_paths, err) < 0)
    return -1;
  for (char **p = plan->masked_paths; p && *p; p++)
    if (oci_check_dest (*p, "masked path", err) < 0)
      return -1;
  for (char **p = plan->readonly_paths; p && *p; p++)
    if (oci_check_dest (*p, "read-only path", err) < 0)
      return -1;
  return devices_of (json_object_get (lin, "devices"), opts, plan, err);
}
