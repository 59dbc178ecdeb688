/* bench/ocibundle.c: config.json for crun, built with jansson. */
#include "bench/ocibundle.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "sandbox/caps.h"
#include "sandbox/procfs.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"
#include "sandbox/userns.h"

static json_t *
strings (const char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static json_t *
mount_entry (const char *dest, const char *type, const char *source, const char *const *options)
{
  return json_pack ("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source,
                    "options", strings (options));
}

static json_t *
id_map (uint32_t base, uint32_t count)
{
  return json_pack ("[{s:i, s:I, s:I}]", "containerID", 0, "hostID", (json_int_t)base, "size",
                    (json_int_t)count);
}

/* The seccomp section: allow by default, refuse the deny list with EPERM, clone3 with ENOSYS
   (libc falls back to clone) and clone with any namespace flag, as firkin's filter does. */
static json_t *
seccomp (const char *const *deny)
{
  static const unsigned long ns_flags[]
      = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
          CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP };
  json_t *rules = json_array ();
  json_array_append_new (rules, json_pack ("{s:o, s:s, s:i}", "names", strings (deny), "action",
                                           "SCMP_ACT_ERRNO", "errnoRet", EPERM));
  json_array_append_new (rules, json_pack ("{s:[s], s:s, s:i}", "names", "clone3", "action",
                                           "SCMP_ACT_ERRNO", "errnoRet", ENOSYS));
  for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++)
    json_array_append_new (rules, json_pack ("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}", "names",
                                             "clone", "action", "SCMP_ACT_ERRNO", "errnoRet", EPERM,
                                             "args", "index", 0, "value", (json_int_t)ns_flags[i],
                                             "valueTwo", (json_int_t)ns_flags[i], "op",
                                             "SCMP_CMP_MASKED_EQ"));
  return json_pack ("{s:s, s:[s], s:o}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
                    "SCMP_ARCH_X86_64", "syscalls", rules);
}

int
fk_bench_oci_bundle_write (const char *dir, const fk_bench_oci_opts_t *o, fk_error_t *err)
{
  static const char *const nsnames[] = { "pid", "network", "ipc", "uts", "mount", "cgroup", NULL };
  static const char *const proc_opts[] = { "nosuid", "noexec", "nodev", NULL };
  static const char *const dev_opts[]
      = { "nosuid", "strictatime", "mode=755", "size=65536k", NULL };
  static const char *const pts_opts[]
      = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", NULL };
  static const char *const shm_opts[]
      = { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL };
  static const char *const sys_opts[] = { "nosuid", "noexec", "nodev", "ro", NULL };
  static const char *const tmp_opts[] = { "nosuid", "nodev", "mode=1777", NULL };

  if (o->rootfs == NULL || o->rootfs[0] != '/' || o->args == NULL || o->args[0] == NULL)
    return fk_error_set (err, EINVAL, "an OCI bundle needs an absolute rootfs and a process");
  json_t *namespaces = json_array ();
  for (size_t i = 0; nsnames[i]; i++)
    json_array_append_new (namespaces, json_pack ("{s:s}", "type", nsnames[i]));
  json_t *linux_ = json_pack ("{s:o, s:o, s:o}", "namespaces", namespaces, "maskedPaths",
                              strings (o->masked), "readonlyPaths", strings (o->readonly));
  if (o->id_count)
    {
      json_array_append_new (namespaces, json_pack ("{s:s}", "type", "user"));
      json_object_set_new (linux_, "uidMappings", id_map (o->id_base, o->id_count));
      json_object_set_new (linux_, "gidMappings", id_map (o->id_base, o->id_count));
    }
  if (o->seccomp_deny)
    json_object_set_new (linux_, "seccomp", seccomp (o->seccomp_deny));
  json_t *resources = json_object ();
  if (o->pids_limit)
    json_object_set_new (resources, "pids",
                         json_pack ("{s:I}", "limit", (json_int_t)o->pids_limit));
  /* No swap figure: crun fails where the host has no swap accounting, which firkin skips. */
  if (o->memory_limit)
    json_object_set_new (resources, "memory",
                         json_pack ("{s:I}", "limit", (json_int_t)o->memory_limit));
  if (o->cpus > 0)
    json_object_set_new (resources, "cpu",
                         json_pack ("{s:I, s:I}", "quota", (json_int_t)(o->cpus * 100000.0 + 0.5),
                                    "period", (json_int_t)100000));
  if (json_object_size (resources))
    json_object_set_new (linux_, "resources", resources);
  else
    json_decref (resources);

  json_t *caps = strings (o->caps);
  json_t *process = json_pack (
      "{s:b, s:{s:i, s:i}, s:o, s:[s], s:s, s:{s:O, s:O, s:O}, s:b}", "terminal", 0, "user", "uid",
      0, "gid", 0, "args", strings (o->args), "env",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "cwd", "/",
      "capabilities", "bounding", caps, "effective", caps, "permitted", caps, "noNewPrivileges", 1);
  json_decref (caps);

  json_t *mounts = json_array ();
  json_array_append_new (mounts, mount_entry ("/proc", "proc", "proc", proc_opts));
  json_array_append_new (mounts, mount_entry ("/dev", "tmpfs", "tmpfs", dev_opts));
  json_array_append_new (mounts, mount_entry ("/dev/pts", "devpts", "devpts", pts_opts));
  json_array_append_new (mounts, mount_entry ("/dev/shm", "tmpfs", "shm", shm_opts));
  json_array_append_new (mounts, mount_entry ("/sys", "sysfs", "sysfs", sys_opts));
  json_array_append_new (mounts, mount_entry ("/tmp", "tmpfs", "tmpfs", tmp_opts));

  cleanup_json json_t *config
      = json_pack ("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.0", "process",
                   process, "root", "path", o->rootfs, "readonly", 1, "hostname",
                   o->hostname ? o->hostname : "fk-bench", "mounts", mounts, "linux", linux_);
  if (config == NULL)
    return fk_error_set (err, EINVAL, "build the OCI config");
  cleanup_close int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fk_error_set_errno (err, "open bundle `%s'", dir);
  if (fk_json_dump_file_atomic_at (dfd, "config.json", config, 1, err) < 0)
    return fk_error_wrap (err, "bundle `%s'", dir);
  return 0;
}

/* "cap_chown,cap_kill=eip" -> {"CAP_CHOWN", "CAP_KILL", NULL} */
static char **
caps_from_text (const char *text)
{
  cleanup_free char *copy = xstrdup (text);
  char *eq = strchr (copy, '=');
  if (eq)
    *eq = '\0';
  size_t n = 1;
  for (const char *p = copy; *p; p++)
    n += *p == ',';
  char **v = xcalloc (n + 1, sizeof *v);
  size_t i = 0;
  char *save = NULL;
  for (char *c = strtok_r (copy, ",", &save); c; c = strtok_r (NULL, ",", &save))
    {
      char *up = xstrdup (c);
      for (char *q = up; *q; q++)
        *q = (char)toupper ((unsigned char)*q);
      v[i++] = up;
    }
  return v;
}

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
fk_bench_oci_opts_firkin_defaults (const char *rootfs, const char *const *args,
                                   fk_bench_oci_opts_t *ret_opts)
{
  memset (ret_opts, 0, sizeof *ret_opts);
  ret_opts->rootfs = rootfs;
  ret_opts->args = args;
  ret_opts->id_base = FK_USERNS_HOST_BASE;
  ret_opts->id_count = FK_USERNS_SIZE;
  ret_opts->caps = (const char *const *)caps_from_text (fk_caps_default_text ());
  ret_opts->masked = (const char *const *)absolute (fk_procfs_masked_paths ());
  ret_opts->readonly = (const char *const *)absolute (fk_procfs_readonly_paths ());
  ret_opts->seccomp_deny = fk_seccomp_default_denied ();
  ret_opts->pids_limit = FK_SPEC_DEFAULT_PIDS;
  ret_opts->memory_limit = FK_SPEC_DEFAULT_MEMORY_BYTES;
  ret_opts->cpus = FK_SPEC_DEFAULT_VCPUS;
}

void
fk_bench_oci_opts_free (fk_bench_oci_opts_t *opts)
{
  fk_strv_free ((char **)opts->caps);
  fk_strv_free ((char **)opts->masked);
  fk_strv_free ((char **)opts->readonly);
  opts->caps = opts->masked = opts->readonly = NULL;
}
