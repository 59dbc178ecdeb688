/* Unit tests for sandbox/ociconfig: config.json onto the plan (namespaces inherited or joined,
   mounts, the cgroup path forms, hooks, seccomp) and a refusal naming the field for what the
   plan cannot honour. */
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/xalloc.h"
#include "sandbox/ociconfig.h"
#include "sandbox/plan.h"

static const char *const v1[] = { "cpu,cpuacct", "memory", "pids", "blkio", "systemd", NULL };

/* A config with extra fields spliced in: LINUX inside "linux", TOP at the top level. */
static char *
config (const char *top, const char *lin)
{
  /* The default namespaces unless LINUX (",..." ) gives its own. */
  int own = strstr (lin, "\"namespaces\"") != NULL;
  return xasprintf (
      "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
      "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"env\":[\"PATH=/bin\"]},"
      "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\"},"
      "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"options\":[\"ro\"]}]%s,"
      "\"linux\":{%s%s}}",
      top, own ? "" : "\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"pid\"}]",
      own ? lin + 1 : lin);
}

static int
convert (const char *text, int v2, fk_plan_t *p, fk_oci_info_t *info, fk_error_t *err)
{
  fk_oci_opts_t opts = {
    .id = "c1", .bundle = "/b", .cgroup_v2 = v2, .cgroup_v1 = v1, .cgroup_root = "/sys/fs/cgroup"
  };
  return fk_oci_config_to_plan (text, strlen (text), &opts, p, info, err);
}

static void
maps_onto_the_plan (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p;
  fk_oci_info_t info;
  char *text = config (",\"hostname\":\"h\"", ",\"cgroupsPath\":\"/a/b\"");
  /* a hostname without a uts namespace */
  assert_int_equal (convert (text, 0, &p, &info, &err), -1);
  assert_error_contains (&err, "uts namespace");
  fk_error_clear (&err);
  free (text);
  text = config ("", ",\"cgroupsPath\":\"/a/b\"");
  if (convert (text, 0, &p, &info, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_string_equal (p.root.path, "/b/rootfs");
  assert_string_equal (p.cgroup, "a/b");
  assert_true (p.ns[FK_PLAN_NS_USER].inherit);
  assert_true (p.ns[FK_PLAN_NS_NET].inherit);
  assert_false (p.ns[FK_PLAN_NS_PID].inherit);
  assert_true (p.process.inherit_stdio);
  assert_false (p.process.no_new_privs);
  assert_int_equal (p.process.caps, 0);
  assert_true (p.seccomp_unconfined);
  /* /dev first (none given), proc, then the cgroup hierarchies the sandbox has a cgroup in,
     bound (no cgroup namespace): cpu,cpuacct, memory, pids; blkio and systemd left out. */
  assert_int_equal (p.mounts[0].kind, FK_PLAN_MOUNT_DEV);
  assert_int_equal (p.mounts[1].kind, FK_PLAN_MOUNT_PROC);
  assert_int_equal (p.mounts[2].kind, FK_PLAN_MOUNT_TMPFS);
  assert_int_equal (p.n_mounts, 6);
  assert_string_equal (p.mounts[3].source, "/sys/fs/cgroup/cpu,cpuacct/a/b");
  assert_string_equal (p.mounts[5].dest, "/sys/fs/cgroup/pids");
  assert_true (p.mounts[5].readonly);
  assert_string_equal (info.annotations, "{}");
  fk_plan_clear (&p);
  fk_oci_info_clear (&info);
  free (text);
}

static void
cgroup_paths (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *path;
  assert_int_equal (fk_oci_cgroup_path ("machine-a.slice:libpod:x", 1, "id", &path, &err), 0);
  assert_string_equal (path, "machine.slice/machine-a.slice/libpod-x.scope");
  free (path);
  assert_int_equal (fk_oci_cgroup_path (NULL, 0, "id", &path, &err), 0);
  assert_string_equal (path, "fk-oci/id");
  free (path);
  assert_int_equal (fk_oci_cgroup_path ("/x/../../y", 0, "id", &path, &err), -1);
  fk_error_clear (&err);
  assert_int_equal (fk_oci_cgroup_path ("nocolons", 1, "id", &path, &err), -1);
  assert_error_contains (&err, "slice:prefix:name");
  fk_error_clear (&err);
}

static void
refuse (const char *top, const char *lin, const char *want)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p;
  fk_oci_info_t info;
  char *text = config (top, lin);
  if (convert (text, 1, &p, &info, &err) == 0)
    fail_msg ("accepted: %s", text);
  if (strstr (fk_error_message (&err), want) == NULL)
    fail_msg ("for %s: `%s' lacks `%s'", text, fk_error_message (&err), want);
  fk_error_clear (&err);
  free (text);
}

static void
refusals (void **state)
{
  refuse (",\"solaris\":{}", "", "`solaris' is not supported");
  refuse (",\"domainname\":\"d\"", "", "domainname");
  refuse ("", ",\"namespaces\":[{\"type\":\"pid\"}]", "no mount namespace");
  refuse ("", ",\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"time\"}]", "`time'");
  refuse ("", ",\"namespaces\":[{\"type\":\"mount\"},{\"type\":\"user\"}]", "uidMappings");
  refuse ("", ",\"intelRdt\":{\"closID\":\"x\"}", "linux.intelRdt");
  refuse ("", ",\"resources\":{\"blockIO\":{\"weight\":10}}", "blockIO");
  refuse ("", ",\"sysctl\":{\"kernel.panic\":\"1\"}", "kernel.panic");
  refuse ("", ",\"rootfsPropagation\":\"unbindable\"", "unbindable");
  refuse ("", ",\"seccomp\":{\"defaultAction\":\"SCMP_ACT_NOTIFY\"}", "SCMP_ACT_NOTIFY");
  refuse (
      "",
      ",\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
      "SCMP_ARCH_Z80");
  refuse ("", ",\"maskedPaths\":[\"/proc/../etc\"]", "`..'");
  refuse (",\"hooks\":{\"prestart\":[{\"path\":\"rel\"}]}", "", "not absolute");
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p;
  fk_oci_info_t info;
  const char *apparmor = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"/r\"},\"process\":{"
                         "\"args\":[\"sh\"],\"cwd\":\"/\",\"apparmorProfile\":\"p\"},\"linux\":{"
                         "\"namespaces\":[{\"type\":\"mount\"}]}}";
  assert_int_equal (convert (apparmor, 0, &p, &info, &err), -1);
  assert_error_contains (&err, "AppArmor");
  fk_error_clear (&err);
  const char *version = "{\"ociVersion\":\"2.0.0\"}";
  assert_int_equal (convert (version, 0, &p, &info, &err), -1);
  assert_error_contains (&err, "ociVersion `2.0.0'");
  fk_error_clear (&err);
}

static void
hooks_and_seccomp (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p;
  fk_oci_info_t info;
  char *text = config (
      ",\"hooks\":{\"prestart\":[{\"path\":\"/bin/a\",\"args\":[\"a\",\"x\"],\"timeout\":2}],"
      "\"poststop\":[{\"path\":\"/bin/b\"}]}",
      ",\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],"
      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]},\"rootfsPropagation\":\"rslave\"");
  if (convert (text, 1, &p, &info, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_int_equal (p.n_hooks, 2);
  assert_int_equal (p.hooks[0].point, FK_PLAN_HOOK_CREATE_RUNTIME);
  assert_string_equal (p.hooks[0].argv[0], "/bin/a");
  assert_string_equal (p.hooks[0].argv[1], "x");
  assert_int_equal (p.hooks[0].timeout_ms, 2000);
  assert_int_equal (p.hooks[1].point, FK_PLAN_HOOK_POSTSTOP);
  assert_non_null (p.seccomp_oci);
  assert_false (p.seccomp_unconfined);
  assert_int_equal (p.propagation, MS_SLAVE);
  /* cgroup v2 with its own... here no cgroup namespace: the cgroup is bound. */
  assert_int_equal (p.mounts[2].kind, FK_PLAN_MOUNT_BIND);
  assert_string_equal (p.mounts[2].source, "/sys/fs/cgroup/fk-oci/c1");
  fk_plan_clear (&p);
  fk_oci_info_clear (&info);
  free (text);
}

static void
rlimits (void **state)
{
  (void)state;
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p;
  fk_plan_init (&p);
  int terminal;
  const char *ok = "{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":["
                   "{\"type\":\"RLIMIT_NOFILE\",\"soft\":512,\"hard\":1024},"
                   "{\"type\":\"RLIMIT_CORE\",\"soft\":-1,\"hard\":-1}]}";
  if (fk_oci_process (ok, strlen (ok), &p.process, &terminal, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_int_equal (p.process.n_rlimits, 2);
  assert_int_equal (p.process.rlimits[0].resource, RLIMIT_NOFILE);
  assert_int_equal (p.process.rlimits[0].soft, 512);
  assert_int_equal (p.process.rlimits[0].hard, 1024);
  assert_int_equal (p.process.rlimits[1].resource, RLIMIT_CORE);
  assert_true (p.process.rlimits[1].hard == RLIM_INFINITY);
  /* Unlimited goes through the plan's JSON form and back (what the agent is handed). */
  const char *bundle = "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
                       "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":["
                       "{\"type\":\"RLIMIT_CORE\",\"soft\":0,\"hard\":-1}]},"
                       "\"linux\":{\"namespaces\":[{\"type\":\"mount\"}]}}";
  fk_plan_t whole, back;
  fk_oci_info_t info;
  if (convert (bundle, 0, &whole, &info, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  char *json = NULL;
  assert_int_equal (fk_plan_to_json (&whole, &json, &err), 0);
  if (fk_plan_from_json (json, strlen (json), &back, &err) < 0)
    fail_msg ("%s\n%s", fk_error_message (&err), json);
  assert_true (back.process.rlimits[0].soft == 0);
  assert_true (back.process.rlimits[0].hard == RLIM_INFINITY);
  fk_plan_clear (&back);
  fk_plan_clear (&whole);
  fk_oci_info_clear (&info);
  free (json);
  const char *unknown = "{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":["
                        "{\"type\":\"RLIMIT_NOPE\",\"soft\":1,\"hard\":1}]}";
  assert_int_equal (fk_oci_process (unknown, strlen (unknown), &p.process, &terminal, &err), -1);
  assert_error_contains (&err, "rlimit `RLIMIT_NOPE' is not known");
  fk_error_clear (&err);
  /* 2^32-1 is no id (setuid takes it as "no change"). */
  const char *no_id = "{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":4294967295}}";
  fk_plan_process_t q = { 0 };
  assert_int_equal (fk_oci_process (no_id, strlen (no_id), &q, &terminal, &err), -1);
  assert_error_contains (&err, "gid 4294967295 is not an id");
  fk_error_clear (&err);
  fk_plan_clear (&p);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (maps_onto_the_plan),
    cmocka_unit_test (cgroup_paths),
    cmocka_unit_test (refusals),
    cmocka_unit_test (hooks_and_seccomp),
    cmocka_unit_test (rlimits),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
