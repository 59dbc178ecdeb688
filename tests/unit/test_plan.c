/* Unit tests for sandbox/plan: the plan firkin builds from a spec, its JSON form both ways, and
   a clear refusal for each bad plan given from outside. */
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "firkin/sandbox.h"
#include "sandbox/create.h"
#include "sandbox/plan.h"
#include "base/xalloc.h"

static const char *const layers[] = { "/l/bottom", "/l/top", NULL };

static int
has (char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return 1;
  return 0;
}

static void
from_spec_agent (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  const char *const env[] = { "A=1", "A=2", "HOME=/home/u", NULL };
  spec.env = env;
  spec.user = "1000:1000";
  fk_plan_t p;
  assert_int_equal (fk_sandbox_plan (&spec, "0123456789ab", 2000000000u, &p, &err), 0);
  assert_string_equal (p.hostname, "fk-01234567");
  assert_string_equal (p.cgroup, "firkin/0123456789ab");
  assert_int_equal (p.n_uid_map, 1);
  assert_int_equal (p.uid_map[0].inside, 0);
  assert_int_equal (p.uid_map[0].outside, 2000000000u);
  assert_int_equal (p.gid_map[0].outside, 2000000000u);
  assert_int_equal (p.root.kind, FK_PLAN_ROOT_LAYERS);
  assert_string_equal (p.root.layers[1], "/l/top");
  assert_int_equal (p.disk_bytes, spec.resources.disk_bytes);
  assert_int_equal (p.limits.pids, spec.resources.pids);
  /* /dev before the masks need its null; /tmp is the root's own (snapshots keep it). */
  assert_int_equal (p.n_mounts, 3);
  assert_int_equal (p.mounts[0].kind, FK_PLAN_MOUNT_DEV);
  for (size_t i = 0; i < p.n_mounts; i++)
    assert_string_not_equal (p.mounts[i].dest, "/tmp");
  assert_true (has (p.masked_paths, "/proc/kcore"));
  assert_true (has (p.masked_paths, "/proc/cmdline"));
  assert_true (has (p.readonly_paths, "/proc/sys"));
  /* The agent: its argv, its log on the disk, the user passed on. */
  assert_string_equal (p.process.argv[0], "fk-agent");
  assert_true (has (p.process.argv, "--user"));
  assert_true (has (p.process.argv, "1000:1000"));
  assert_true (p.process.log_to_disk);
  assert_true (p.process.no_new_privs);
  assert_int_equal (p.process.caps, fk_plan_default_caps ());
  assert_false (p.process.caps & (1ULL << 21)); /* CAP_SYS_ADMIN */
  /* The env: a later K= replaces, PATH and HOSTNAME added, HOME kept. */
  assert_true (has (p.process.env, "A=2"));
  assert_false (has (p.process.env, "A=1"));
  assert_true (has (p.process.env, "HOME=/home/u"));
  assert_true (has (p.process.env, "HOSTNAME=fk-01234567"));
  assert_string_equal (p.process.cwd, "/");
  assert_int_equal (fk_plan_validate (&p, &err), 0);
  fk_plan_clear (&p);
}

static void
from_spec_init (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  const char *const init[] = { "sh", "-c", "true", NULL };
  spec.init = init;
  spec.init_stdio = FK_INIT_STDIO_TTY;
  spec.init_rows = 40;
  spec.hostname = "box";
  spec.workdir = "/w";
  const char *const deny[] = { "mkdir", NULL };
  spec.seccomp.deny = deny;
  fk_plan_t p;
  assert_int_equal (fk_sandbox_plan (&spec, "abcdef012345", 3000000000u, &p, &err), 0);
  assert_string_equal (p.process.argv[2], "true");
  assert_int_equal (p.process.stdio, FK_INIT_STDIO_TTY);
  assert_int_equal (p.process.rows, 40);
  assert_false (p.process.log_to_disk);
  assert_string_equal (p.hostname, "box");
  assert_string_equal (p.process.cwd, "/w");
  assert_string_equal (p.seccomp_deny[0], "mkdir");
  fk_plan_clear (&p);
}

static void
unresolved_template (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = "base";
  fk_plan_t p;
  assert_int_equal (fk_sandbox_plan (&spec, "abcdef012345", 3000000000u, &p, &err), -1);
  assert_error_contains (&err, "template `base' is not resolved");
}

/* A plan with every field away from its default. */
static void
full_plan (fk_plan_t *p)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  assert_int_equal (fk_sandbox_plan (&spec, "0123456789ab", 2000000000u, p, &err), 0);
  p->ns[FK_PLAN_NS_NET].join = xstrdup ("/run/netns/x");
  p->uid_map[1] = (fk_plan_idmap_t){ 70000, 2000070000u, 10 };
  p->n_uid_map = 2;
  const char *const opts[] = { "size=1m", "mode=0700", NULL };
  fk_plan_add_mount (p, FK_PLAN_MOUNT_TMPFS, "/run", NULL, opts, 1);
  fk_plan_add_mount (p, FK_PLAN_MOUNT_BIND, "/data", "/srv/data", NULL, 1);
  p->limits.cpus = 1.5;
  p->seccomp_allow = xcalloc (2, sizeof (char *));
  p->seccomp_allow[0] = xstrdup ("ptrace");
  p->process.uid = 1000;
  p->process.gid = 100;
  p->process.no_new_privs = 0;
  p->process.caps = (1ULL << 0) | (1ULL << 10);
  p->process.rlimits = xcalloc (3, sizeof *p->process.rlimits);
  p->process.rlimits[0] = (fk_plan_rlimit_t){ RLIMIT_NOFILE, 512, 1024 };
  /* Unlimited: what config.json's -1 gives. */
  p->process.rlimits[1] = (fk_plan_rlimit_t){ RLIMIT_CORE, 0, RLIM_INFINITY };
  p->process.rlimits[2] = (fk_plan_rlimit_t){ RLIMIT_STACK, RLIM_INFINITY, RLIM_INFINITY };
  p->process.n_rlimits = 3;
  p->hooks = xcalloc (1, sizeof *p->hooks);
  p->hooks[0].point = FK_PLAN_HOOK_POSTSTART;
  const char *const hargv[] = { "/bin/true", "x", NULL };
  p->hooks[0].argv = xstrvdup (hargv);
  p->hooks[0].timeout_ms = 500;
  p->n_hooks = 1;
  p->start_fifo = xstrdup ("/run/fk/start");
}

static void
json_round_trip (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_plan_t p, back;
  full_plan (&p);
  char *text, *again;
  assert_int_equal (fk_plan_to_json (&p, &text, &err), 0);
  int r = fk_plan_from_json (text, strlen (text), &back, &err);
  if (r < 0)
    fail_msg ("%s\n%s", fk_error_message (&err), text);
  assert_int_equal (fk_plan_to_json (&back, &again, &err), 0);
  assert_string_equal (text, again);
  assert_string_equal (back.ns[FK_PLAN_NS_NET].join, "/run/netns/x");
  assert_null (back.ns[FK_PLAN_NS_IPC].join);
  assert_int_equal (back.uid_map[1].count, 10);
  assert_int_equal (back.n_mounts, 5);
  assert_string_equal (back.mounts[4].source, "/srv/data");
  assert_string_equal (back.mounts[3].options[1], "mode=0700");
  assert_int_equal (back.process.caps, (1ULL << 0) | (1ULL << 10));
  assert_int_equal (back.process.rlimits[0].resource, RLIMIT_NOFILE);
  assert_int_equal (back.process.rlimits[0].hard, 1024);
  assert_true (back.process.rlimits[1].soft == 0 && back.process.rlimits[1].hard == RLIM_INFINITY);
  assert_true (back.process.rlimits[2].soft == RLIM_INFINITY);
  assert_int_equal (back.hooks[0].point, FK_PLAN_HOOK_POSTSTART);
  assert_true (back.limits.cpus == 1.5);
  assert_string_equal (back.start_fifo, "/run/fk/start");
  free (text);
  free (again);
  fk_plan_clear (&p);
  fk_plan_clear (&back);
}

static const char minimal[] = "{\"cgroup\":\"t/x\",\"uid_map\":[{\"inside\":0,\"outside\":100000,"
                              "\"count\":1}],\"gid_map\":[{\"inside\":0,\"outside\":100000,"
                              "\"count\":1}],\"root\":{\"kind\":\"dir\",\"path\":\"/r\"},"
                              "\"process\":{\"argv\":[\"sh\"],\"cwd\":\"/\"}";

static void
refuse (const char *extra, const char *want)
{
  fk_error_t err = FK_ERROR_INIT;
  char *text = xasprintf ("%s%s}", minimal, extra);
  fk_plan_t p;
  int r = fk_plan_from_json (text, strlen (text), &p, &err);
  if (r == 0)
    fail_msg ("accepted: %s", text);
  if (strstr (fk_error_message (&err), want) == NULL)
    fail_msg ("for %s: `%s' lacks `%s'", text, fk_error_message (&err), want);
  fk_error_clear (&err);
  free (text);
}

static void
json_refusals (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  char *text = xasprintf ("%s}", minimal);
  fk_plan_t p;
  assert_int_equal (fk_plan_from_json (text, strlen (text), &p, &err), 0);
  assert_true (p.process.no_new_privs);
  assert_int_equal (p.process.caps, fk_plan_default_caps ());
  fk_plan_clear (&p);
  free (text);
  refuse (",\"bogus\":1", "unknown field `bogus'");
  refuse (",\"namespaces\":{\"user\":{\"join\":\"/proc/1/ns/user\"}}", "always the sandbox's own");
  refuse (",\"namespaces\":{\"time\":{}}", "unknown field `time'");
  refuse (",\"mounts\":[{\"kind\":\"bind\",\"dest\":\"/a\",\"source\":\"rel\"}]",
          "not an absolute path");
  refuse (",\"mounts\":[{\"kind\":\"overlay\",\"dest\":\"/a\"}]", "not a known kind");
  refuse (",\"mounts\":[{\"kind\":\"tmpfs\",\"dest\":\"/a/../../etc\"}]", "`..'");
  refuse (",\"masked_paths\":[1]", "not a string");
  refuse (",\"disk_bytes\":-1", "out of range");
  refuse (",\"limits\":{\"cpus\":\"two\"}", "cpus");
  refuse (",\"seccomp\":{\"deny\":[\"no_such_call\"]}", "no_such_call");
  refuse (",\"hooks\":[{\"point\":\"poststart\",\"argv\":[\"rel\"]}]", "not an absolute path");
  refuse (",\"hooks\":[{\"point\":\"later\",\"argv\":[\"/x\"]}]", "not a known point");
  const char *big = "{\"process\":{\"caps\":[\"CAP_NOPE\"]}}";
  assert_int_equal (fk_plan_from_json (big, strlen (big), &p, &err), -1);
  fk_error_clear (&err);
  /* Host root may not be anyone's inside a sandbox. */
  const char *hostroot
      = "{\"cgroup\":\"t/x\",\"uid_map\":[{\"inside\":0,\"outside\":0,\"count\":1}],"
        "\"gid_map\":[{\"inside\":0,\"outside\":100000,\"count\":1}],\"root\":{\"kind\":\"dir\","
        "\"path\":\"/r\"},\"process\":{\"argv\":[\"sh\"],\"cwd\":\"/\"}}";
  assert_int_equal (fk_plan_from_json (hostroot, strlen (hostroot), &p, &err), -1);
  assert_error_contains (&err, "maps host id 0");
  fk_error_clear (&err);
  assert_int_equal (fk_plan_from_json ("[1]", 3, &p, &err), -1);
  assert_error_contains (&err, "not a JSON object");
}

/* The one table of rlimit names, both ways. */
static void
rlimit_names (void **state)
{
  (void)state;
  assert_int_equal (fk_plan_rlimit_count (), 16);
  assert_string_equal (fk_plan_rlimit_name (RLIMIT_NOFILE), "RLIMIT_NOFILE");
  assert_int_equal (fk_plan_rlimit_resource ("RLIMIT_STACK"), RLIMIT_STACK);
  assert_int_equal (fk_plan_rlimit_resource ("RLIMIT_NOPE"), -1);
  assert_null (fk_plan_rlimit_name (-1));
  size_t n = 0;
  for (int r = 0; r < RLIM_NLIMITS; r++)
    {
      const char *name = fk_plan_rlimit_name (r);
      if (name != NULL)
        {
          assert_int_equal (fk_plan_rlimit_resource (name), r);
          n++;
        }
    }
  assert_int_equal (n, fk_plan_rlimit_count ());
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (from_spec_agent),     cmocka_unit_test (from_spec_init),
    cmocka_unit_test (unresolved_template), cmocka_unit_test (json_round_trip),
    cmocka_unit_test (json_refusals),       cmocka_unit_test (rlimit_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
