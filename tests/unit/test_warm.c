/* tests/unit/test_warm.c: the warm pool with real sandboxes (a busybox root built by
   bench/rootfs.c, the agent from $FK_AGENT, a temp state directory): leases come ready and
   connected, the pool refills, a different spec is created cold, closing drains everything. */
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/rootfs.h"
#include "firkin/pool.h"
#include "firkin/runtime.h"
#include "firkin/sandbox.h"

static char *dir, *root, *state;
static fk_runtime_t *rt;
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
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = state;
  o.agent_path = getenv ("FK_AGENT");
  o.timeout_path = getenv ("FK_TIMEOUT");
  if (fk_bench_busybox_rootfs (root, FK_BENCH_BUSYBOX, &err) < 0
      || fk_runtime_open (&o, &rt, &err) < 0)
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
  fk_runtime_close (rt);
  test_tmpdir_free (dir);
  free (root);
  free (state);
  return 0;
}

static void
spec_of (fk_sandbox_spec_t *spec)
{
  fk_sandbox_spec_init (spec);
  spec->layers = layers;
}

static size_t
count_sandboxes (void)
{
  char *p;
  if (asprintf (&p, "%s/sandboxes", state) < 0)
    abort ();
  DIR *d = opendir (p);
  free (p);
  size_t n = 0;
  struct dirent *e;
  while (d && (e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  if (d)
    closedir (d);
  return n;
}

static void
echo_in (fk_client_t *c, const char *word)
{
  fk_error_t err = FK_ERROR_INIT;
  char *argv[] = { (char *)"echo", (char *)word, NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t r;
  if (fk_client_exec (c, &o, 4096, &r, &err) < 0)
    fail_msg ("exec: %s", fk_error_message (&err));
  assert_int_equal (r.status.exit_code, 0);
  assert_int_equal (r.out_len, strlen (word) + 1);
  assert_memory_equal (r.out, word, strlen (word));
  fk_exec_result_free (&r);
}

static void
delete_sb (fk_sandbox_t *sb, fk_client_t *c)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_close (c);
  if (fk_sandbox_delete (sb, 1, &err) < 0)
    fail_msg ("delete: %s", fk_error_message (&err));
  fk_sandbox_free (sb);
}

/* Opens a pool of spec with o (asserting it worked). */
static fk_warm_pool_t *
open_pool (const fk_sandbox_spec_t *spec, const fk_warm_pool_opts_t *o)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, spec, o, &pool, &err) < 0)
    fail_msg ("open: %s", fk_error_message (&err));
  return pool;
}

/* fk_warm_pool_create (asserting it worked); returns whether it came from the pool. */
static int
lease (fk_warm_pool_t *pool, const fk_sandbox_spec_t *spec, fk_sandbox_t **sb, fk_client_t **c)
{
  fk_error_t err = FK_ERROR_INIT;
  int pooled = 0;
  if (fk_warm_pool_create (pool, spec, sb, c, &pooled, &err) < 0)
    fail_msg ("create: %s", fk_error_message (&err));
  assert_non_null (*c);
  return pooled;
}

static void
test_lease_and_replenish (void **st)
{
  if (rt == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  fk_warm_pool_opts_t o = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 2, .min_ready = 2 };
  fk_warm_pool_t *pool = open_pool (&spec, &o);
  fk_warm_pool_stats_t s;
  fk_warm_pool_stats (pool, &s);
  assert_int_equal (s.ready, 2);
  assert_int_equal (count_sandboxes (), 2);

  /* A spec built separately but asking the same is served from the pool, connected. */
  fk_sandbox_spec_t same;
  spec_of (&same);
  const char *layers2[] = { root, NULL };
  same.layers = layers2;
  assert_true (fk_warm_pool_matches (pool, &same));
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  assert_true (lease (pool, &same, &sb, &c));
  echo_in (c, "pooled");

  /* The pool refills behind the lease. */
  if (fk_warm_pool_wait_ready (pool, 2, 30000, &err) < 0)
    fail_msg ("refill: %s", fk_error_message (&err));
  fk_warm_pool_stats (pool, &s);
  assert_int_equal (s.ready, 2);
  assert_int_equal (s.created, 3);
  assert_int_equal (s.leased, 1);
  assert_int_equal (count_sandboxes (), 3);

  /* A different spec is created cold. */
  fk_sandbox_spec_t other;
  spec_of (&other);
  other.hostname = "other";
  assert_false (fk_warm_pool_matches (pool, &other));
  fk_sandbox_t *sb2 = NULL;
  fk_client_t *c2 = NULL;
  assert_false (lease (pool, &other, &sb2, &c2));
  echo_in (c2, "cold");
  fk_warm_pool_stats (pool, &s);
  assert_int_equal (s.cold, 1);

  /* Draining deletes the two ready ones; the leased ones are the caller's. */
  fk_sandbox_info_t *info = NULL;
  assert_int_equal (fk_sandbox_inspect (sb, &info, &err), 0);
  pid_t leased_pid = info->pid;
  fk_sandbox_info_free (info);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  assert_int_equal (count_sandboxes (), 2);
  assert_int_equal (kill (leased_pid, 0), 0);
  delete_sb (sb, c);
  delete_sb (sb2, c2);
  assert_int_equal (count_sandboxes (), 0);
}

static pid_t
ppid_of (pid_t pid, char *ret_state)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return -1;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  char *rp = strrchr (buf, ')');
  int ppid = -1;
  char pstate = '?';
  if (rp == NULL || sscanf (rp + 1, " %c %d", &pstate, &ppid) != 2)
    return -1;
  if (ret_state)
    *ret_state = pstate;
  return ppid;
}

/* Zombies whose parent is a child of this process (the pool's helper). */
static size_t
zombie_grandchildren (void)
{
  size_t n = 0;
  DIR *d = opendir ("/proc");
  struct dirent *e;
  while (d && (e = readdir (d)) != NULL)
    {
      char st;
      int pid = atoi (e->d_name);
      pid_t pp = pid > 0 ? ppid_of (pid, &st) : -1;
      if (pp > 0 && st == 'Z' && ppid_of (pp, NULL) == getpid ())
        n++;
    }
  if (d)
    closedir (d);
  return n;
}

/* The output of `sh -c script' in c, with env added to the request (may be NULL). */
static char *
sh_out (fk_client_t *c, const char *script, char **env)
{
  fk_error_t err = FK_ERROR_INIT;
  char *argv[] = { (char *)"sh", (char *)"-c", (char *)script, NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv, .env = env };
  fk_exec_result_t r;
  if (fk_client_exec (c, &o, 4096, &r, &err) < 0)
    fail_msg ("exec: %s", fk_error_message (&err));
  assert_int_equal (r.status.exit_code, 0);
  char *out = strndup (r.out, r.out_len);
  fk_exec_result_free (&r);
  return out;
}

/* What a lease sets: the creator's metadata, environment and timeout on a pooled sandbox, so a
   front end whose every create has its own labels (fkd's tokens) is served from the pool. */
static void
test_lease_fields (void **st)
{
  if (rt == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  spec.timeout_sec = 300;
  fk_warm_pool_opts_t o = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 1 };
  fk_warm_pool_t *pool = open_pool (&spec, &o);

  fk_sandbox_spec_t want;
  spec_of (&want);
  const char *meta[] = { "owner=lease-test", "token=abc", NULL };
  const char *env[] = { "GREETING=hello from the lease", "SHADOWED=sandbox", NULL };
  want.metadata = meta;
  want.env = env;
  want.timeout_sec = 60;
  assert_true (fk_warm_pool_matches (pool, &want));
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  int64_t before = time (NULL);
  assert_true (lease (pool, &want, &sb, &c));

  fk_sandbox_info_t *info = NULL;
  assert_int_equal (fk_sandbox_inspect (sb, &info, &err), 0);
  assert_string_equal (info->metadata[0], "owner=lease-test");
  assert_string_equal (info->metadata[1], "token=abc");
  assert_null (info->metadata[2]);
  assert_true (info->expires >= before + 60 && info->expires <= time (NULL) + 60);
  fk_sandbox_info_free (info);
  /* Reopened from its state by id, as another process sees it. */
  fk_sandbox_t *again = NULL;
  assert_int_equal (fk_sandbox_open (rt, fk_sandbox_id (sb), &again, &err), 0);
  assert_int_equal (fk_sandbox_inspect (again, &info, &err), 0);
  assert_string_equal (info->metadata[1], "token=abc");
  fk_sandbox_info_free (info);
  fk_sandbox_free (again);

  /* Every later process inherits the variables; a request's own still wins. */
  char *out = sh_out (c, "echo \"$GREETING/$SHADOWED\"", NULL);
  assert_string_equal (out, "hello from the lease/sandbox\n");
  free (out);
  char *req_env[] = { (char *)"SHADOWED=request", NULL };
  out = sh_out (c, "echo \"$GREETING/$SHADOWED\"", req_env);
  assert_string_equal (out, "hello from the lease/request\n");
  free (out);

  /* The helper made the sandbox: once it is deleted, its processes are the helper's to reap,
     also when no other request comes. */
  fk_sandbox_t *gone = NULL;
  fk_client_t *gone_c = NULL;
  if (fk_warm_pool_wait_ready (pool, 1, 30000, &err) < 0)
    fail_msg ("refill: %s", fk_error_message (&err));
  assert_true (lease (pool, &want, &gone, &gone_c));
  delete_sb (gone, gone_c);
  for (int i = 0; i < 60 && zombie_grandchildren () > 0; i++)
    usleep (50000);
  assert_int_equal (zombie_grandchildren (), 0);

  /* Asking for no timeout from a pool with one, or other labels from a pool that has its own,
     is created cold. */
  fk_sandbox_spec_t none;
  spec_of (&none);
  assert_false (fk_warm_pool_matches (pool, &none));
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  delete_sb (sb, c);

  fk_sandbox_spec_t labelled;
  spec_of (&labelled);
  const char *own[] = { "pool=yes", NULL };
  labelled.metadata = own;
  pool = open_pool (&labelled, &o);
  assert_false (fk_warm_pool_matches (pool, &want));
  want.timeout_sec = 0;
  want.metadata = own;
  assert_true (fk_warm_pool_matches (pool, &want));
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  assert_int_equal (count_sandboxes (), 0);

  /* A member label marks the waiting sandboxes and is gone once one is leased, labels or none. */
  o.member_label = "pool.member=1";
  pool = open_pool (&spec, &o);
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  assert_int_equal (fk_sandbox_list (rt, &infos, &n, &err), 0);
  assert_int_equal (n, 1);
  assert_string_equal (infos[0]->metadata[0], "pool.member=1");
  fk_sandbox_info_list_free (infos, n);
  fk_sandbox_spec_t plain;
  spec_of (&plain);
  plain.timeout_sec = 30;
  assert_true (lease (pool, &plain, &sb, &c));
  assert_int_equal (fk_sandbox_inspect (sb, &info, &err), 0);
  assert_null (info->metadata[0]);
  fk_sandbox_info_free (info);
  delete_sb (sb, c);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  o.member_label = "no label";
  pool = NULL;
  assert_int_equal (fk_warm_pool_open (rt, &spec, &o, &pool, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  o.member_label = NULL;

  /* Bad labels are refused before anything changes. */
  const char *bad[] = { "=novalue", NULL };
  pool = open_pool (&spec, &o);
  want.metadata = bad;
  want.timeout_sec = 60;
  sb = NULL;
  c = NULL;
  int pooled = -1;
  assert_int_equal (fk_warm_pool_create (pool, &want, &sb, &c, &pooled, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  assert_int_equal (count_sandboxes (), 0);
}

static void
test_drain_while_filling (void **st)
{
  if (rt == NULL)
    skip ();
  /* Close right after open (no min ready): a creation may be in progress; nothing stays. */
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  fk_warm_pool_opts_t o = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 3 };
  fk_warm_pool_t *pool = open_pool (&spec, &o);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  assert_int_equal (count_sandboxes (), 0);
  /* Leasing everything, then closing, leaves only the leases. */
  o.min_ready = 1;
  o.depth = 1;
  pool = open_pool (&spec, &o);
  fk_sandbox_t *sb;
  fk_client_t *c;
  assert_true (lease (pool, &spec, &sb, &c));
  assert_int_equal (fk_warm_pool_close (pool, &err), 0);
  delete_sb (sb, c);
  assert_int_equal (count_sandboxes (), 0);
}

static void
test_refill_delay (void **st)
{
  if (rt == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  fk_warm_pool_opts_t o = {
    .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 1, .refill_delay_ms = 400
  };
  fk_warm_pool_t *pool = open_pool (&spec, &o);
  fk_sandbox_t *sb;
  fk_client_t *c;
  assert_true (lease (pool, &spec, &sb, &c));
  /* The refill waits for the delay: nothing is being created while the lease starts. */
  fk_warm_pool_stats_t s;
  fk_warm_pool_stats (pool, &s);
  assert_int_equal (s.ready + s.in_progress, 0);
  echo_in (c, "first");
  fk_warm_pool_stats (pool, &s);
  assert_int_equal (s.created, 1);
  /* And then it comes. */
  if (fk_warm_pool_wait_ready (pool, 1, 30000, &err) < 0)
    fail_msg ("refill: %s", fk_error_message (&err));
  assert_int_equal (fk_warm_pool_close (pool, &err), 0);
  delete_sb (sb, c);
  assert_int_equal (count_sandboxes (), 0);
}

static void
test_bad_settings (void **st)
{
  if (rt == NULL)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  fk_warm_pool_t *pool = NULL;
  fk_warm_pool_opts_t zero = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 0 };
  assert_int_equal (fk_warm_pool_open (rt, &spec, &zero, &pool, &err), -1);
  assert_error_contains (&err, "depth 0");
  fk_warm_pool_opts_t over
      = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 2 };
  assert_int_equal (fk_warm_pool_open (rt, &spec, &over, &pool, &err), -1);
  assert_error_contains (&err, "min ready 2");
  /* A spec that cannot be created: open reports the runtime's error instead of waiting. */
  const char *missing[] = { "/does/not/exist", NULL };
  spec.layers = missing;
  fk_warm_pool_opts_t o = {
    .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 1, .timeout_ms = 20000
  };
  assert_int_equal (fk_warm_pool_open (rt, &spec, &o, &pool, &err), -1);
  assert_error_contains (&err, "/does/not/exist");
  assert_int_equal (count_sandboxes (), 0);
}

/* Creating from a process that runs threads (a daemon's): while other threads allocate without
   pause, several threads create sandboxes at once; each must come up and answer (a child cloned
   while another thread held the allocator's lock would hang its create). */
static int churning;

static void *
churn (void *arg)
{
  while (__atomic_load_n (&churning, __ATOMIC_RELAXED))
    {
      void *p[64];
      for (int i = 0; i < 64; i++)
        p[i] = malloc ((size_t)(16 + i * 97));
      for (int i = 0; i < 64; i++)
        free (p[i]);
    }
  return NULL;
}

static void *
create_some (void *arg)
{
  for (int i = 0; i < 3; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_sandbox_spec_t spec;
      spec_of (&spec);
      fk_sandbox_t *sb = NULL;
      fk_client_t *c = NULL;
      if (fk_sandbox_create (rt, &spec, &sb, &err) < 0
          || fk_client_connect (fk_sandbox_socket_path (sb), &c, &err) < 0)
        {
          fprintf (stderr, "# create from a thread: %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          if (sb)
            {
              fk_sandbox_delete (sb, 1, &err);
              fk_error_clear (&err);
              fk_sandbox_free (sb);
            }
          return (void *)1;
        }
      echo_in (c, "threaded");
      delete_sb (sb, c);
    }
  return NULL;
}

static void
test_create_from_threads (void **st)
{
  if (rt == NULL)
    skip ();
  pthread_t churners[2], creators[4];
  __atomic_store_n (&churning, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < 2; i++)
    assert_int_equal (pthread_create (&churners[i], NULL, churn, NULL), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal (pthread_create (&creators[i], NULL, create_some, NULL), 0);
  int failed = 0;
  for (int i = 0; i < 4; i++)
    {
      void *r;
      pthread_join (creators[i], &r);
      failed += r != NULL;
    }
  __atomic_store_n (&churning, 0, __ATOMIC_RELAXED);
  for (int i = 0; i < 2; i++)
    pthread_join (churners[i], NULL);
  assert_int_equal (failed, 0);
  assert_int_equal (count_sandboxes (), 0);
}

/* An egress pool: its sandboxes wait with their interfaces made, and a lease with rules gets
   them set. In a network namespace of the test's own: the plane's host side (forwarding, the
   nftables table, the interfaces) goes there, never into the machine's. */
static void
test_egress_lease (void **st)
{
  if (rt == NULL)
    skip ();
  if (unshare (CLONE_NEWNET) < 0)
    {
      fprintf (stderr, "# no network namespace of its own: %s\n", strerror (errno));
      skip ();
    }
  setenv ("FIRKIN_NET_DNS", "192.0.2.1", 1); /* never asked: nothing resolves here */
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  spec_of (&spec);
  spec.data_plane.kind = FK_DATA_PLANE_EGRESS;
  fk_warm_pool_opts_t o = { .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 1 };
  fk_warm_pool_t *pool = open_pool (&spec, &o);
  fk_sandbox_spec_t want;
  spec_of (&want);
  want.data_plane.kind = FK_DATA_PLANE_EGRESS;
  const char *deny[] = { "203.0.113.0/24", NULL };
  want.data_plane.deny_out = deny;
  assert_true (fk_warm_pool_matches (pool, &want));
  fk_sandbox_spec_t none;
  spec_of (&none);
  assert_false (fk_warm_pool_matches (pool, &none));
  fk_sandbox_spec_t limited = want;
  limited.data_plane.max_connections = 5;
  assert_false (fk_warm_pool_matches (pool, &limited));
  fk_sandbox_t *sb = NULL;
  fk_client_t *c = NULL;
  assert_true (lease (pool, &want, &sb, &c));
  fk_sandbox_network_t *net = NULL;
  if (fk_sandbox_network (sb, &net, &err) < 0)
    fail_msg ("network: %s", fk_error_message (&err));
  assert_int_equal (net->kind, FK_DATA_PLANE_EGRESS);
  assert_non_null (net->interface);
  assert_non_null (net->deny_out[0]);
  assert_string_equal (net->deny_out[0], "203.0.113.0/24");
  assert_null (net->deny_out[1]);
  fk_sandbox_network_free (net);
  echo_in (c, "egress");
  delete_sb (sb, c);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail_msg ("close: %s", fk_error_message (&err));
  unsetenv ("FIRKIN_NET_DNS");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_lease_and_replenish), cmocka_unit_test (test_drain_while_filling),
    cmocka_unit_test (test_refill_delay),        cmocka_unit_test (test_bad_settings),
    cmocka_unit_test (test_create_from_threads), cmocka_unit_test (test_lease_fields),
    cmocka_unit_test (test_egress_lease),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
