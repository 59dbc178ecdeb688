/* Unit tests for sandbox/cgroup: the file writes of v1 and v2 against fake trees, and the v2
   code against a real cgroup2 hierarchy (create, move a pid, freeze, kill, remove). */
#include "testutil.h"

#include <errno.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "sandbox/cgroup.h"

static int
setup (void **state)
{
  *state = test_tmpdir ();
  return 0;
}

static int
teardown (void **state)
{
  unsetenv ("FIRKIN_CGROUP_VERSION");
  test_tmpdir_free (*state);
  return 0;
}

static char *
slurp (const char *dir, const char *file)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  char *buf = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, path, 4096, &buf, &len, &err) < 0)
    fail_msg ("read %s: %s", path, fk_error_message (&err));
  return buf;
}

/* Makes root a fake unified hierarchy offering controllers and detects it. */
static void
fake_v2 (const char *root, const char *controllers, fk_cgroup_layout_t *layout)
{
  cleanup_free char *ctl = xasprintf ("%s/cgroup.controllers", root);
  FILE *f = fopen (ctl, "w");
  assert_non_null (f);
  fprintf (f, "%s\n", controllers);
  fclose (f);
  setenv ("FIRKIN_CGROUP_VERSION", "2", 1);
  fk_error_t err = FK_ERROR_INIT;
  if (fk_cgroup_detect (root, layout, &err) < 0)
    fail_msg ("detect: %s", fk_error_message (&err));
  assert_int_equal (layout->version, FK_CGROUP_V2);
}

static void
v2_fake_tree_writes_limits (void **state)
{
  const char *root = *state;
  /* A fake unified root offering the three controllers. */
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpuset cpu io memory pids", &layout);
  fk_cgroup_limits_t lim = { .memory_bytes = 256 << 20, .cpus = 1.5, .pids = 64 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/abc", &lim, &err), 0);
  cleanup_free char *firkin = xasprintf ("%s/firkin", root);
  cleanup_free char *sb = xasprintf ("%s/firkin/abc", root);
  cleanup_free char *m = slurp (sb, "memory.max");
  cleanup_free char *c = slurp (sb, "cpu.max");
  cleanup_free char *p = slurp (sb, "pids.max");
  assert_string_equal (m, "268435456");
  assert_string_equal (c, "150000 100000");
  assert_string_equal (p, "64");
  /* Controllers were enabled in the root and the parent, in one write each. */
  cleanup_free char *sc = slurp (firkin, "cgroup.subtree_control");
  assert_string_equal (sc, "+memory +cpu +pids");
  cleanup_free char *rsc = slurp (root, "cgroup.subtree_control");
  assert_string_equal (rsc, "+memory +cpu +pids");
  assert_int_equal (fk_cgroup_add_pid (&layout, "firkin/abc", 4242, &err), 0);
  cleanup_free char *procs = slurp (sb, "cgroup.procs");
  assert_string_equal (procs, "4242");
  assert_int_equal (fk_cgroup_destroy (&layout, "firkin/abc", &err), 0);
  struct stat st;
  assert_int_equal (stat (sb, &st), -1);
  fk_cgroup_layout_free (&layout);
}

static void
v2_missing_controller_is_named (void **state)
{
  const char *root = *state;
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpu pids", &layout);
  fk_cgroup_limits_t lim = { .memory_bytes = 64 << 20 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/x", &lim, &err), -1);
  assert_error_contains (&err, "controller `memory' is not available");
  fk_cgroup_layout_free (&layout);
}

static void
v1_fake_tree_writes_limits (void **state)
{
  const char *root = *state;
  static const char *const ctrls[] = { "memory", "cpu", "pids", "freezer" };
  for (size_t i = 0; i < 4; i++)
    {
      cleanup_free char *d = xasprintf ("%s/%s", root, ctrls[i]);
      assert_int_equal (mkdir (d, 0755), 0);
    }
  setenv ("FIRKIN_CGROUP_VERSION", "1", 1);
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_cgroup_detect (root, &layout, &err), 0);
  assert_int_equal (layout.version, FK_CGROUP_V1);
  fk_cgroup_limits_t lim = { .memory_bytes = 1 << 30, .cpus = 0.5, .pids = 100 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/v1", &lim, &err), 0);
  cleanup_free char *mem = xasprintf ("%s/memory/firkin/v1", root);
  cleanup_free char *cpu = xasprintf ("%s/cpu/firkin/v1", root);
  cleanup_free char *pids = xasprintf ("%s/pids/firkin/v1", root);
  cleanup_free char *frz = xasprintf ("%s/freezer/firkin/v1", root);
  cleanup_free char *m = slurp (mem, "memory.limit_in_bytes");
  cleanup_free char *q = slurp (cpu, "cpu.cfs_quota_us");
  cleanup_free char *per = slurp (cpu, "cpu.cfs_period_us");
  cleanup_free char *p = slurp (pids, "pids.max");
  assert_string_equal (m, "1073741824");
  assert_string_equal (q, "50000");
  assert_string_equal (per, "100000");
  assert_string_equal (p, "100");
  assert_int_equal (fk_cgroup_add_pid (&layout, "firkin/v1", 77, &err), 0);
  cleanup_free char *procs = slurp (frz, "cgroup.procs");
  assert_string_equal (procs, "77");
  /* Freezing writes FROZEN; the fake file then reads FROZEN, as the kernel would once done. */
  assert_int_equal (fk_cgroup_freeze (&layout, "firkin/v1", 1, &err), 0);
  cleanup_free char *fs = slurp (frz, "freezer.state");
  assert_string_equal (fs, "FROZEN");
  assert_int_equal (fk_cgroup_is_frozen (&layout, "firkin/v1", &err), 1);
  assert_int_equal (fk_cgroup_destroy (&layout, "firkin/v1", &err), 0);
  struct stat st;
  assert_int_equal (stat (mem, &st), -1);
  fk_cgroup_layout_free (&layout);
}

static void
parent_limits_leave_the_host_a_share (void **state)
{
  (void)state;
  fk_cgroup_parent_limits_t pl;
  /* This machine: pid_max 32768 under threads-max, 24 GiB. */
  fk_cgroup_parent_limits_for (32768, 192734, 24ULL << 30, &pl);
  assert_int_equal (pl.pids, 24576);
  uint64_t reserve = (24ULL << 30) / 10;
  assert_int_equal (pl.memory_bytes, ((24ULL << 30) - reserve) & ~((1ULL << 20) - 1));
  assert_int_equal (pl.cpu_weight, 50);
  /* threads-max lower than pid_max (a small host with pid_max 4194304). */
  fk_cgroup_parent_limits_for (4194304, 15000, 4ULL << 30, &pl);
  assert_int_equal (pl.pids, 11250);
  /* 10 % is under 1 GiB: 1 GiB stays the host's. */
  assert_int_equal (pl.memory_bytes, 3ULL << 30);
  /* A tiny host keeps half. */
  fk_cgroup_parent_limits_for (32768, 0, 1ULL << 30, &pl);
  assert_int_equal (pl.memory_bytes, 512ULL << 20);
  assert_int_equal (pl.pids, 24576);
  /* Unknown numbers set nothing. */
  fk_cgroup_parent_limits_for (0, 0, 0, &pl);
  assert_int_equal (pl.pids, 0);
  assert_int_equal (pl.memory_bytes, 0);
  /* The host's own: numbers, and below what /proc says. */
  fk_cgroup_parent_limits_host (&pl);
  assert_true (pl.pids > 0);
  assert_true (pl.memory_bytes > 0);
}

static char *
u64_text (uint64_t v)
{
  return xasprintf ("%llu", (unsigned long long)v);
}

/* The parent dir of a fake tree goes, as the kernel removes it with the last sandbox (a fake
   parent keeps its limit files, so fk_cgroup_destroy leaves it). */
static void
remove_fake_dir (const char *dir)
{
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_rm_rf_at (AT_FDCWD, dir, &err), 0);
}

static void
v2_parent_gets_limits_each_time_it_is_made (void **state)
{
  const char *root = *state;
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpuset cpu io memory pids", &layout);
  fk_cgroup_parent_limits_t pl;
  fk_cgroup_parent_limits_host (&pl);
  cleanup_free char *want_pids = u64_text (pl.pids);
  cleanup_free char *want_mem = u64_text (pl.memory_bytes);
  cleanup_free char *firkin = xasprintf ("%s/firkin", root);
  /* A sandbox without limits of its own: the parent still gets the host's share. */
  fk_cgroup_limits_t none = { 0 };
  for (int round = 0; round < 2; round++)
    {
      assert_int_equal (fk_cgroup_create (&layout, "firkin/a", &none, &err), 0);
      cleanup_free char *p = slurp (firkin, "pids.max");
      cleanup_free char *m = slurp (firkin, "memory.max");
      cleanup_free char *w = slurp (firkin, "cpu.weight");
      assert_string_equal (p, want_pids);
      assert_string_equal (m, want_mem);
      assert_string_equal (w, "50");
      /* The sandbox's controllers are on even without limits (usage is accounted). */
      cleanup_free char *sc = slurp (firkin, "cgroup.subtree_control");
      assert_string_equal (sc, "+memory +cpu +pids");
      /* A second sandbox finds the parent made: its limits (maybe tuned) stay as they are. */
      cleanup_free char *pids_path = xasprintf ("%s/pids.max", firkin);
      FILE *fp = fopen (pids_path, "w");
      assert_non_null (fp);
      fputs ("777", fp);
      fclose (fp);
      fk_cgroup_limits_t lim = { .pids = 10 };
      assert_int_equal (fk_cgroup_create (&layout, "firkin/b", &lim, &err), 0);
      cleanup_free char *p2 = slurp (firkin, "pids.max");
      assert_string_equal (p2, "777");
      assert_int_equal (fk_cgroup_destroy (&layout, "firkin/a", &err), 0);
      assert_int_equal (fk_cgroup_destroy (&layout, "firkin/b", &err), 0);
      /* The last sandbox gone, the parent goes; the next create makes it and writes again. */
      remove_fake_dir (firkin);
    }
  fk_cgroup_layout_free (&layout);
}

static void
v2_parent_skips_a_missing_controller (void **state)
{
  const char *root = *state;
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpu pids", &layout);
  fk_cgroup_limits_t lim = { .pids = 64, .cpus = 1 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/x", &lim, &err), 0);
  cleanup_free char *firkin = xasprintf ("%s/firkin", root);
  cleanup_free char *sc = slurp (firkin, "cgroup.subtree_control");
  assert_string_equal (sc, "+cpu +pids");
  cleanup_free char *mem = xasprintf ("%s/memory.max", firkin);
  assert_int_equal (access (mem, F_OK), -1);
  cleanup_free char *w = slurp (firkin, "cpu.weight");
  assert_string_equal (w, "50");
  fk_cgroup_layout_free (&layout);
}

/* A root that refuses to enable controllers (here: its subtree_control cannot be written; on a
   real host, a delegated root holding processes): a sandbox without limits is still made, one
   with a limit is an error. */
static void
v2_refused_controllers_only_fail_limits (void **state)
{
  const char *root = *state;
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpu memory pids", &layout);
  cleanup_free char *sc = xasprintf ("%s/cgroup.subtree_control", root);
  assert_int_equal (mkdir (sc, 0755), 0);
  fk_cgroup_limits_t none = { 0 }, lim = { .pids = 64 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/free", &none, &err), 0);
  cleanup_free char *firkin = xasprintf ("%s/firkin", root);
  cleanup_free char *pm = xasprintf ("%s/pids.max", firkin);
  assert_int_equal (access (pm, F_OK), -1); /* nothing enabled: no parent limit either */
  assert_int_equal (fk_cgroup_create (&layout, "firkin/limited", &lim, &err), -1);
  assert_error_contains (&err, "cgroup.subtree_control");
  fk_cgroup_layout_free (&layout);
}

static void
v1_parent_gets_limits_each_time_it_is_made (void **state)
{
  const char *root = *state;
  static const char *const ctrls[] = { "memory", "cpu", "pids", "freezer" };
  for (size_t i = 0; i < 4; i++)
    {
      cleanup_free char *d = xasprintf ("%s/%s", root, ctrls[i]);
      assert_int_equal (mkdir (d, 0755), 0);
    }
  setenv ("FIRKIN_CGROUP_VERSION", "1", 1);
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_cgroup_detect (root, &layout, &err), 0);
  fk_cgroup_parent_limits_t pl;
  fk_cgroup_parent_limits_host (&pl);
  cleanup_free char *want_pids = u64_text (pl.pids);
  cleanup_free char *want_mem = u64_text (pl.memory_bytes);
  for (int round = 0; round < 2; round++)
    {
      fk_cgroup_limits_t none = { 0 };
      assert_int_equal (fk_cgroup_create (&layout, "firkin/a", &none, &err), 0);
      cleanup_free char *mem = xasprintf ("%s/memory/firkin", root);
      cleanup_free char *cpu = xasprintf ("%s/cpu/firkin", root);
      cleanup_free char *pids = xasprintf ("%s/pids/firkin", root);
      cleanup_free char *m = slurp (mem, "memory.limit_in_bytes");
      cleanup_free char *c = slurp (cpu, "cpu.shares");
      cleanup_free char *p = slurp (pids, "pids.max");
      assert_string_equal (m, want_mem);
      assert_string_equal (c, "512");
      assert_string_equal (p, want_pids);
      assert_int_equal (fk_cgroup_destroy (&layout, "firkin/a", &err), 0);
      for (size_t i = 0; i < 4; i++)
        {
          cleanup_free char *d = xasprintf ("%s/%s/firkin", root, ctrls[i]);
          remove_fake_dir (d);
        }
    }
  fk_cgroup_layout_free (&layout);
}

static void
detect_rejects_a_plain_dir (void **state)
{
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_cgroup_detect (*state, &layout, &err), -1);
  assert_error_contains (&err, "neither a cgroup2 mount nor a cgroup v1 tree");
  setenv ("FIRKIN_CGROUP_VERSION", "3", 1);
  assert_int_equal (fk_cgroup_detect (*state, &layout, &err), -1);
  assert_error_contains (&err, "expected 1 or 2");
}

/* The real cgroup2 hierarchy: /sys/fs/cgroup when unified, else the hybrid's unified mount. */
static const char *
real_cgroup2 (void)
{
  static const char *const candidates[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
  for (size_t i = 0; i < 2; i++)
    {
      struct statfs s;
      if (statfs (candidates[i], &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC
          && access (candidates[i], W_OK) == 0)
        return candidates[i];
    }
  return NULL;
}

static void
v2_real_hierarchy (void **state)
{
  const char *root = real_cgroup2 ();
  if (root == NULL || geteuid () != 0)
    {
      print_message ("# SKIP no writable cgroup2 hierarchy (needs root)\n");
      skip ();
    }
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_cgroup_detect (root, &layout, &err), 0);
  assert_int_equal (layout.version, FK_CGROUP_V2);
  cleanup_free char *name = xasprintf ("firkin-test/t%d", (int)getpid ());
  fk_cgroup_limits_t none = { 0 };
  assert_int_equal (fk_cgroup_create (&layout, name, &none, &err), 0);
  pid_t child = fork ();
  if (child == 0)
    {
      for (;;)
        pause ();
    }
  assert_int_equal (fk_cgroup_add_pid (&layout, name, child, &err), 0);
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  assert_int_equal (fk_cgroup_pids (&layout, name, &pids, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_int_equal (pids[0], child);
  /* Freeze: the kernel reports frozen in cgroup.events; the task is stopped in /proc. */
  assert_int_equal (fk_cgroup_freeze (&layout, name, 1, &err), 0);
  assert_int_equal (fk_cgroup_is_frozen (&layout, name, &err), 1);
  assert_int_equal (fk_cgroup_freeze (&layout, name, 0, &err), 0);
  assert_int_equal (fk_cgroup_is_frozen (&layout, name, &err), 0);
  /* Kill through cgroup.kill, even when frozen. */
  assert_int_equal (fk_cgroup_freeze (&layout, name, 1, &err), 0);
  assert_int_equal (fk_cgroup_kill (&layout, name, 5000, &err), 0);
  int status;
  assert_int_equal (waitpid (child, &status, 0), child);
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  assert_int_equal (fk_cgroup_destroy (&layout, name, &err), 0);
  cleanup_free char *parent = xasprintf ("%s/firkin-test", root);
  rmdir (parent);
  fk_cgroup_layout_free (&layout);
}

/* Writes text into dir/file of a fake tree. */
static void
put (const char *dir, const char *file, const char *text)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, file);
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

static void
v2_fake_tree_usage (void **state)
{
  const char *root = *state;
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  fake_v2 (root, "cpu memory pids", &layout);
  fk_cgroup_limits_t lim = { .memory_bytes = 512 << 20 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/u2", &lim, &err), 0);
  cleanup_free char *sb = xasprintf ("%s/firkin/u2", root);
  put (sb, "cpu.stat", "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n");
  put (sb, "memory.current", "104857600\n");
  /* file holds the tmpfs pages (shmem), which cannot be reclaimed: not cache. */
  put (sb, "memory.stat", "anon 20000000\nfile 70000000\nfile_mapped 100\nshmem 30000000\n");
  fk_cgroup_usage_t u;
  assert_int_equal (fk_cgroup_usage (&layout, "firkin/u2", &u, &err), 0);
  assert_true (u.has_cpu && u.has_mem);
  assert_int_equal (u.cpu_usec, 1234567);
  assert_int_equal (u.mem_current, 104857600);
  assert_int_equal (u.mem_cache, 40000000);
  assert_int_equal (u.mem_limit, 512 << 20);
  put (sb, "memory.max", "max\n");
  assert_int_equal (fk_cgroup_usage (&layout, "firkin/u2", &u, &err), 0);
  assert_int_equal (u.mem_limit, 0);
  /* No memory controller (a v2 hierarchy without it): no memory numbers, not an error. */
  cleanup_free char *mc = xasprintf ("%s/memory.current", sb);
  unlink (mc);
  assert_int_equal (fk_cgroup_usage (&layout, "firkin/u2", &u, &err), 0);
  assert_true (u.has_cpu && !u.has_mem);
  /* The freezer file for the watchdog: cgroup.freeze. */
  int fd = fk_cgroup_open_freeze (&layout, "firkin/u2", &err);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "1", 1), 1);
  close (fd);
  cleanup_free char *fz = slurp (sb, "cgroup.freeze");
  assert_string_equal (fz, "1");
  assert_int_equal (fk_cgroup_destroy (&layout, "firkin/u2", &err), 0);
  fk_cgroup_layout_free (&layout);
}

static void
v1_fake_tree_usage (void **state)
{
  const char *root = *state;
  static const char *const ctrls[] = { "memory", "cpu", "pids", "freezer" };
  for (size_t i = 0; i < 4; i++)
    {
      cleanup_free char *d = xasprintf ("%s/%s", root, ctrls[i]);
      assert_int_equal (mkdir (d, 0755), 0);
    }
  setenv ("FIRKIN_CGROUP_VERSION", "1", 1);
  fk_cgroup_layout_t layout;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_cgroup_detect (root, &layout, &err), 0);
  fk_cgroup_limits_t lim = { .memory_bytes = 1 << 30 };
  assert_int_equal (fk_cgroup_create (&layout, "firkin/u1", &lim, &err), 0);
  cleanup_free char *mem = xasprintf ("%s/memory/firkin/u1", root);
  cleanup_free char *cpu = xasprintf ("%s/cpu/firkin/u1", root);
  put (mem, "memory.usage_in_bytes", "50000000\n");
  put (mem, "memory.stat", "cache 1\nrss 2\ntotal_cache 30000000\ntotal_shmem 10000000\n");
  fk_cgroup_usage_t u;
  /* cpu without cpuacct beside it: no CPU time from the cgroup. */
  assert_int_equal (fk_cgroup_usage (&layout, "firkin/u1", &u, &err), 0);
  assert_false (u.has_cpu);
  assert_true (u.has_mem);
  assert_int_equal (u.mem_current, 50000000);
  assert_int_equal (u.mem_cache, 20000000);
  assert_int_equal (u.mem_limit, 1 << 30);
  /* cpu,cpuacct mounted together: cpuacct.usage in nanoseconds. */
  put (cpu, "cpuacct.usage", "2500000000\n");
  put (mem, "memory.limit_in_bytes", "9223372036854771712\n");
  assert_int_equal (fk_cgroup_usage (&layout, "firkin/u1", &u, &err), 0);
  assert_true (u.has_cpu);
  assert_int_equal (u.cpu_usec, 2500000);
  assert_int_equal (u.mem_limit, 0); /* v1's "no limit" */
  int fd = fk_cgroup_open_freeze (&layout, "firkin/u1", &err);
  assert_true (fd >= 0);
  close (fd);
  assert_int_equal (fk_cgroup_destroy (&layout, "firkin/u1", &err), 0);
  fk_cgroup_layout_free (&layout);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (v2_fake_tree_writes_limits, setup, teardown),
    cmocka_unit_test_setup_teardown (v2_missing_controller_is_named, setup, teardown),
    cmocka_unit_test_setup_teardown (v1_fake_tree_writes_limits, setup, teardown),
    cmocka_unit_test_setup_teardown (v2_fake_tree_usage, setup, teardown),
    cmocka_unit_test_setup_teardown (v1_fake_tree_usage, setup, teardown),
    cmocka_unit_test (parent_limits_leave_the_host_a_share),
    cmocka_unit_test_setup_teardown (v2_parent_gets_limits_each_time_it_is_made, setup, teardown),
    cmocka_unit_test_setup_teardown (v2_parent_skips_a_missing_controller, setup, teardown),
    cmocka_unit_test_setup_teardown (v2_refused_controllers_only_fail_limits, setup, teardown),
    cmocka_unit_test_setup_teardown (v1_parent_gets_limits_each_time_it_is_made, setup, teardown),
    cmocka_unit_test_setup_teardown (detect_rejects_a_plain_dir, setup, teardown),
    cmocka_unit_test (v2_real_hierarchy),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
