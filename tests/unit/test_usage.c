/* tests/unit/test_usage.c: fk_sandbox_usage, fk_sandbox_events and the pause timeout action
   on real sandboxes (a busybox root built by bench/rootfs.c, a temp state directory, the
   build's fk-timeout): on this host's default cgroup layout, and on a real cgroup v2 hierarchy
   when there is one (the unified mount of a hybrid host: cpu.stat from the cgroup, memory from
   /proc as it has no memory controller). */
#include "testutil.h"

#include <errno.h>
#include <sys/statfs.h>
#include <time.h>

#include "bench/rootfs.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"

#define V2_ROOT "/sys/fs/cgroup/unified"

static char *dir, *root, *state;
static const char *layers[2];

static int
setup (void **st)
{
  if (geteuid () != 0)
    {
      fprintf (stderr, "# sandboxes need root\n");
      return 0;
    }
  dir = test_tmpdir ();
  if (asprintf (&root, "%s/root", dir) < 0 || asprintf (&state, "%s/state", dir) < 0)
    abort ();
  fk_error_t err = FK_ERROR_INIT;
  if (fk_bench_busybox_rootfs (root, FK_BENCH_BUSYBOX, &err) < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  layers[0] = root;
  return 0;
}

static int
teardown (void **st)
{
  if (dir)
    test_tmpdir_free (dir);
  free (root);
  free (state);
  return 0;
}

static fk_runtime_t *
open_runtime (void)
{
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = state;
  o.agent_path = getenv ("FK_AGENT");
  o.timeout_path = getenv ("FK_TIMEOUT");
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_runtime_open (&o, &rt, &err) < 0)
    fail_msg ("runtime: %s", fk_error_message (&err));
  return rt;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep (&ts, NULL);
}

/* An init sandbox that fills 8 MiB of its disk, then spins. */
static fk_sandbox_t *
busy_sandbox (fk_runtime_t *rt, double vcpus, uint64_t mem, uint64_t pids)
{
  static const char *const init[]
      = { "sh", "-c",
          "dd if=/dev/zero of=/tmp/f bs=1048576 count=8 2>/dev/null; while :; do :; done", NULL };
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  spec.init = init;
  spec.resources.vcpus = vcpus;
  spec.resources.memory_bytes = mem;
  spec.resources.pids = pids;
  spec.resources.disk_bytes = 64 << 20;
  fk_sandbox_t *sb = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_create (rt, &spec, &sb, &err) < 0)
    fail_msg ("create: %s", fk_error_message (&err));
  return sb;
}

static void
check_usage (fk_sandbox_t *sb, double cpus, uint64_t mem_limit)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_usage_t a, b;
  /* The disk fills, the CPU time grows. */
  for (int i = 0;; i++)
    {
      if (fk_sandbox_usage (sb, &a, &err) < 0)
        fail_msg ("usage: %s", fk_error_message (&err));
      if (a.disk_used >= 8u << 20 && a.cpu_usec > 50000)
        break;
      if (i > 100)
        fail_msg ("disk %llu, cpu %llu us after 10 s", (unsigned long long)a.disk_used,
                  (unsigned long long)a.cpu_usec);
      sleep_ms (100);
    }
  assert_int_equal (a.disk_total, 64 << 20);
  assert_true (a.disk_used <= a.disk_total);
  assert_true (a.mem_used > 0);
  assert_true (a.cpu_count == cpus);
  assert_int_equal (a.mem_total, mem_limit);
  assert_true (a.time_ms > 1700000000000LL);
  sleep_ms (300);
  assert_int_equal (fk_sandbox_usage (sb, &b, &err), 0);
  assert_true (b.cpu_usec > a.cpu_usec);
  double pct = fk_sandbox_usage_cpu_pct (&a, &b);
  /* A spinning shell uses what it may: most of its CPUs (one shell: one CPU of cpus). */
  assert_true (pct > 100.0 / cpus / 4 && pct <= 100.0);
  assert_true (fk_sandbox_usage_cpu_pct (&b, &a) == 0);
}

static void
usage_on_the_default_layout (void **st)
{
  if (dir == NULL)
    skip ();
  fk_runtime_t *rt = open_runtime ();
  fk_sandbox_t *sb = busy_sandbox (rt, 0.5, 256 << 20, 64);
  check_usage (sb, 0.5, 256 << 20);
  /* A paused sandbox has usage too, and its CPU time stands still. */
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_sandbox_pause (sb, &err), 0);
  assert_int_equal (fk_sandbox_pause (sb, &err), -1);
  assert_int_equal (err.code, EALREADY);
  fk_error_clear (&err);
  fk_sandbox_usage_t a, b;
  assert_int_equal (fk_sandbox_usage (sb, &a, &err), 0);
  sleep_ms (200);
  assert_int_equal (fk_sandbox_usage (sb, &b, &err), 0);
  assert_true (b.cpu_usec - a.cpu_usec < 20000);
  assert_int_equal (fk_sandbox_delete (sb, 1, &err), 0);
  assert_int_equal (fk_sandbox_usage (sb, &a, &err), -1);
  fk_error_clear (&err);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
}

static void
usage_on_cgroup_v2 (void **st)
{
  struct statfs sfs;
  if (dir == NULL || statfs (V2_ROOT, &sfs) < 0 || sfs.f_type != 0x63677270 /* cgroup2 */)
    skip ();
  setenv ("FIRKIN_CGROUP_ROOT", V2_ROOT, 1);
  fk_runtime_t *rt = open_runtime ();
  unsetenv ("FIRKIN_CGROUP_ROOT");
  /* This hierarchy may have no controllers: no limits (one whose controller is missing fails). */
  fk_sandbox_t *sb = busy_sandbox (rt, 0, 0, 0);
  long online = sysconf (_SC_NPROCESSORS_ONLN);
  check_usage (sb, (double)online, (uint64_t)sysconf (_SC_PHYS_PAGES) * sysconf (_SC_PAGESIZE));
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_sandbox_delete (sb, 1, &err), 0);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
}

static int
has_event (fk_sandbox_t *sb, const char *name, const char *detail)
{
  fk_sandbox_event_t *e;
  size_t n;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_events (sb, &e, &n, &err) < 0)
    fail_msg ("events: %s", fk_error_message (&err));
  int found = 0;
  for (size_t i = 0; i < n; i++)
    found |= strcmp (e[i].name, name) == 0 && (detail == NULL || strstr (e[i].detail, detail));
  fk_sandbox_events_free (e, n);
  return found;
}

static fk_sandbox_status_t
status_of (fk_sandbox_t *sb)
{
  fk_sandbox_info_t *info;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_inspect (sb, &info, &err) < 0)
    fail_msg ("inspect: %s", fk_error_message (&err));
  fk_sandbox_status_t s = info->status;
  fk_sandbox_info_free (info);
  return s;
}

/* The pause action: the watchdog freezes the sandbox at its deadline, leaves it so, and a
   resume with a new deadline brings it back; a reopened runtime's sweep keeps it. */
static void
timeout_pause_action (void **st)
{
  if (dir == NULL)
    skip ();
  fk_runtime_t *rt = open_runtime ();
  static const char *const init[] = { "sleep", "1000", NULL };
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  spec.init = init;
  spec.timeout_sec = 1;
  spec.timeout_action = FK_TIMEOUT_PAUSE;
  fk_sandbox_t *sb = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_create (rt, &spec, &sb, &err) < 0)
    fail_msg ("create: %s", fk_error_message (&err));
  for (int i = 0; status_of (sb) != FK_SANDBOX_PAUSED; i++)
    {
      if (i > 50)
        fail_msg ("not paused 5 s after its deadline");
      sleep_ms (100);
    }
  assert_true (has_event (sb, "created", "then pause"));
  assert_true (has_event (sb, "expired", "paused"));
  /* Past its deadline and paused: a new runtime's sweep keeps it. */
  sleep_ms (1200);
  fk_runtime_close (rt);
  rt = open_runtime ();
  fk_sandbox_t *again = NULL;
  assert_int_equal (fk_sandbox_open (rt, fk_sandbox_id (sb), &again, &err), 0);
  assert_int_equal (status_of (again), FK_SANDBOX_PAUSED);
  int resumed = 0;
  assert_int_equal (fk_sandbox_extend_ex (again, 60, FK_EXTEND_RESUME, &resumed, &err), 0);
  assert_int_equal (resumed, 1);
  assert_int_equal (status_of (again), FK_SANDBOX_RUNNING);
  assert_true (has_event (again, "resumed", NULL));
  /* No-shorten keeps the later deadline; a running sandbox is not "resumed". */
  fk_sandbox_info_t *info;
  assert_int_equal (fk_sandbox_inspect (again, &info, &err), 0);
  int64_t end = info->expires;
  assert_int_equal (info->timeout_action, FK_TIMEOUT_PAUSE);
  fk_sandbox_info_free (info);
  assert_int_equal (
      fk_sandbox_extend_ex (again, 5, FK_EXTEND_RESUME | FK_EXTEND_NO_SHORTEN, &resumed, &err), 0);
  assert_int_equal (resumed, 0);
  assert_int_equal (fk_sandbox_inspect (again, &info, &err), 0);
  assert_int_equal (info->expires, end);
  fk_sandbox_info_free (info);
  assert_int_equal (fk_sandbox_delete (again, 1, &err), 0);
  fk_sandbox_free (again);
  fk_sandbox_free (sb);
  fk_runtime_close (rt);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (usage_on_the_default_layout),
    cmocka_unit_test (usage_on_cgroup_v2),
    cmocka_unit_test (timeout_pause_action),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
