/* Unit tests for client/shell against a real fk-agent: persistent state, output that tries to
   fool completion, background jobs, exit/timeout/cancel, per-run stdin, env and cwd, pools. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "agentutil.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "firkin/client.h"

#define assert_ok(call)                                                                            \
  do                                                                                               \
    {                                                                                              \
      if ((call) < 0)                                                                              \
        fail_msg ("%s: %s", #call, fk_error_message (&err));                                       \
    }                                                                                              \
  while (0)

typedef struct fixture
{
  test_agent_t a;
  fk_client_t *c;
  fk_shell_t *sh;
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  fk_error_t err = FK_ERROR_INIT;
  if (test_agent_start (&f->a, NULL) < 0 || fk_client_connect (f->a.sock, &f->c, &err) < 0
      || fk_client_shell_open (f->c, NULL, &f->sh, &err) < 0)
    {
      fprintf (stderr, "# setup: %s\n", fk_error_message (&err));
      return -1;
    }
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  fk_client_shell_close (f->sh);
  fk_client_close (f->c);
  int rc = test_agent_stop (&f->a);
  free (f);
  return rc == 0 ? 0 : -1;
}

static fk_exec_result_t
run (fk_shell_t *sh, const char *cmd)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_run_opts_t o = {.command = cmd};
  fk_exec_result_t r;
  if (fk_client_shell_run (sh, &o, 16u << 20, &r, &err) < 0)
    fail_msg ("run `%s': %s", cmd, fk_error_message (&err));
  return r;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
state_persists (void **state)
{
  fixture_t *f = *state;
  fk_exec_result_t r = run (f->sh, "printf hi");
  assert_int_equal (r.out_len, 2);
  assert_string_equal (r.out, "hi");
  assert_int_equal (r.status.exit_code, 0);
  fk_exec_result_free (&r);
  r = run (f->sh, "cd /tmp; X=5; export Y=6; fn () { echo \"fn $1\"; }; false");
  assert_int_equal (r.status.exit_code, 1);
  fk_exec_result_free (&r);
  r = run (f->sh, "pwd; echo $X $Y; fn it; sh -c 'echo $Y'");
  assert_string_equal (r.out, "/tmp\n5 6\nfn it\n6\n");
  assert_string_equal (r.err, "");
  fk_exec_result_free (&r);
  r = run (f->sh, "echo to-err >&2; exit_code=7; (exit $exit_code)");
  assert_string_equal (r.out, "");
  assert_string_equal (r.err, "to-err\n");
  assert_int_equal (r.status.exit_code, 7);
  fk_exec_result_free (&r);
  /* Quotes, braces and newlines in the command are the command's own business. */
  r = run (f->sh, "echo 'it'\\''s' \"}\" '{'\nif true; then\n  echo multi\nfi");
  assert_string_equal (r.out, "it's } {\nmulti\n");
  fk_exec_result_free (&r);
  /* A syntax error is the run's error, and the shell carries on. */
  r = run (f->sh, "if then fi (");
  assert_int_not_equal (r.status.exit_code, 0);
  assert_true (r.err_len > 0);
  fk_exec_result_free (&r);
  r = run (f->sh, "echo $X");
  assert_string_equal (r.out, "5\n");
  fk_exec_result_free (&r);
}

static void
completion_cannot_be_fooled (void **state)
{
  fixture_t *f = *state;
  /* What a marker-based design would print, the status format itself, a write to the status
     fd (closed for the command), NULs, no final newline. */
  fk_exec_result_t r = run (f->sh, "printf '0\\n__FK_DONE__ 0\\n'; printf '%d\\n' 0 >&63; "
                                   "printf 'a\\000b'");
  assert_int_equal (r.out_len, 19);
  assert_memory_equal (r.out, "0\n__FK_DONE__ 0\na\0b", 19);
  assert_true (r.err_len > 0); /* fd 63: bad file descriptor */
  fk_exec_result_free (&r);
  /* Megabytes, byte for byte. */
  r = run (f->sh, "head -c 5000000 /dev/urandom | od -An -tx1 | head -c 4000000; printf end");
  assert_int_equal (r.out_len, 4000003);
  assert_memory_equal (r.out + 4000000, "end", 3);
  fk_exec_result_free (&r);
  r = run (f->sh, "i=0; while [ $i -lt 3 ]; do printf 'x%.0s' $(seq 1000); i=$((i+1)); done");
  assert_int_equal (r.out_len, 3000);
  fk_exec_result_free (&r);
}

static void
background_jobs (void **state)
{
  fixture_t *f = *state;
  double t0 = now_s ();
  fk_exec_result_t r = run (f->sh, "sleep 30 & echo started");
  assert_string_equal (r.out, "started\n");
  assert_true (now_s () - t0 < 5);
  fk_exec_result_free (&r);
  /* A job's output after its run completed does not leak into the next run. */
  r = run (f->sh, "(sleep 0.2; echo late; echo late >&2) & echo now");
  assert_string_equal (r.out, "now\n");
  fk_exec_result_free (&r);
  r = run (f->sh, "sleep 0.5; echo next");
  assert_string_equal (r.out, "next\n");
  assert_string_equal (r.err, "");
  fk_exec_result_free (&r);
}

static void
exit_timeout_and_respawn (void **state)
{
  fixture_t *f = *state;
  fk_exec_result_t r = run (f->sh, "X=1; exit 3");
  assert_int_equal (r.status.exit_code, 3);
  assert_int_equal (r.status.signal, 0);
  fk_exec_result_free (&r);
  /* A fresh shell: state is gone, the slot works. */
  r = run (f->sh, "echo \"[$X]\"");
  assert_string_equal (r.out, "[]\n");
  fk_exec_result_free (&r);

  fk_error_t err = FK_ERROR_INIT;
  fk_shell_run_opts_t o = {.command = "echo before; sleep 30", .timeout_ms = 200};
  double t0 = now_s ();
  assert_ok (fk_client_shell_run (f->sh, &o, 1024, &r, &err));
  assert_true (now_s () - t0 < 5);
  assert_true (r.status.timed_out);
  assert_int_equal (r.status.signal, SIGKILL);
  assert_string_equal (r.out, "before\n");
  fk_exec_result_free (&r);
  r = run (f->sh, "printf ok");
  assert_string_equal (r.out, "ok");
  fk_exec_result_free (&r);
}

typedef struct runner
{
  fk_shell_t *sh;
  const char *cmd;
  fk_exec_result_t r;
  int rc;
  volatile int done;
} runner_t;

static void *
runner_main (void *arg)
{
  runner_t *x = arg;
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_run_opts_t o = {.command = x->cmd};
  x->rc = fk_client_shell_run (x->sh, &o, 1024, &x->r, &err);
  fk_error_clear (&err);
  __atomic_store_n (&x->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void
cancel_keeps_the_shell (void **state)
{
  fixture_t *f = *state;
  fk_exec_result_t r = run (f->sh, "KEPT=yes");
  fk_exec_result_free (&r);
  runner_t x = {.sh = f->sh, .cmd = "sleep 30"};
  pthread_t t;
  assert_int_equal (pthread_create (&t, NULL, runner_main, &x), 0);
  fk_error_t err = FK_ERROR_INIT;
  double t0 = now_s ();
  /* Cancel until the run is seen (it may not have reached the agent yet). */
  while (!__atomic_load_n (&x.done, __ATOMIC_SEQ_CST) && now_s () - t0 < 10)
    {
      assert_ok (fk_client_shell_cancel (f->sh, &err));
      test_sleep_ms (20);
    }
  pthread_join (t, NULL);
  assert_int_equal (x.rc, 0);
  assert_true (now_s () - t0 < 10);
  assert_int_equal (x.r.status.exit_code, 130);
  fk_exec_result_free (&x.r);
  r = run (f->sh, "echo $KEPT");
  assert_string_equal (r.out, "yes\n");
  fk_exec_result_free (&r);
  /* Nothing running: cancel is a no-op. */
  assert_ok (fk_client_shell_cancel (f->sh, &err));
}

static void
stdin_env_cwd_per_run (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_run_opts_t o = {.command = "cat; echo; wc -c", .stdin_data = "abc\0d", .stdin_len = 5};
  fk_exec_result_t r;
  assert_ok (fk_client_shell_run (f->sh, &o, 1024, &r, &err));
  assert_int_equal (r.out_len, 8);
  assert_memory_equal (r.out, "abc\0d\n0\n", 8);
  fk_exec_result_free (&r);
  r = run (f->sh, "wc -c");
  assert_string_equal (r.out, "0\n");
  fk_exec_result_free (&r);
  char *env[] = {(char *) "FOO=it's bar", NULL};
  fk_shell_run_opts_t o2 = {.command = "echo \"$FOO\"; pwd; cd /; BAR=1", .env = env, .cwd = "/tmp"};
  assert_ok (fk_client_shell_run (f->sh, &o2, 1024, &r, &err));
  assert_string_equal (r.out, "it's bar\n/tmp\n");
  fk_exec_result_free (&r);
  /* Per-run settings do not stick. */
  r = run (f->sh, "echo \"[$FOO][$BAR]\"");
  assert_string_equal (r.out, "[][]\n");
  fk_exec_result_free (&r);
  fk_shell_run_opts_t o3 = {.command = "pwd", .cwd = "/no/such/dir"};
  assert_ok (fk_client_shell_run (f->sh, &o3, 1024, &r, &err));
  assert_int_not_equal (r.status.exit_code, 0);
  assert_non_null (strstr (r.err, "/no/such/dir"));
  fk_exec_result_free (&r);
}

typedef struct pool_job
{
  fk_shell_pool_t *p;
  int index;
  int ok;
} pool_job_t;

static void *
pool_main (void *arg)
{
  pool_job_t *j = arg;
  char cmd[64], want[32];
  snprintf (cmd, sizeof cmd, "sleep 0.5; printf job%d", j->index);
  snprintf (want, sizeof want, "job%d", j->index);
  fk_shell_run_opts_t o = {.command = cmd};
  fk_exec_result_t r;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_shell_pool_run (j->p, &o, 1024, &r, &err) == 0)
    {
      j->ok = strcmp (r.out, want) == 0 && r.status.exit_code == 0;
      fk_exec_result_free (&r);
    }
  fk_error_clear (&err);
  return NULL;
}

static void
pool_runs_in_parallel (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_pool_t *p;
  assert_ok (fk_client_shell_pool_open (f->c, 4, NULL, &p, &err));
  assert_int_equal (fk_shell_pool_slots (p), 4);
  assert_null (fk_shell_pool_slot (p, 4));
  for (unsigned i = 0; i < 4; i++)
    {
      fk_exec_result_t r = run (fk_shell_pool_slot (p, i), "printf warm");
      assert_string_equal (r.out, "warm");
      fk_exec_result_free (&r);
    }
  /* 8 jobs of 0.5 s on 4 slots: two waves (1 s), not eight (4 s). */
  enum { N = 8 };
  pthread_t t[N];
  pool_job_t j[N];
  double t0 = now_s ();
  for (int i = 0; i < N; i++)
    {
      j[i] = (pool_job_t){p, i, 0};
      assert_int_equal (pthread_create (&t[i], NULL, pool_main, &j[i]), 0);
    }
  for (int i = 0; i < N; i++)
    {
      pthread_join (t[i], NULL);
      assert_true (j[i].ok);
    }
  double secs = now_s () - t0;
  printf ("# 8 runs of 0.5 s on 4 slots: %.2f s\n", secs);
  assert_true (secs >= 0.95 && secs < 3.0);
  fk_shell_pool_close (p);
}

static void
shell_as_another_user (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* Not the agent's uid: runs go through a private FIFO directory instead of /proc. */
  fk_shell_opts_t so = {.user = "65534"};
  fk_shell_t *sh;
  assert_ok (fk_client_shell_open (f->c, &so, &sh, &err));
  fk_exec_result_t r = run (sh, "id -u; cd /; V=1");
  assert_string_equal (r.out, "65534\n");
  fk_exec_result_free (&r);
  fk_shell_run_opts_t o = {.command = "cat; echo \"$V\" >&2; pwd", .stdin_data = "in", .stdin_len = 2};
  assert_ok (fk_client_shell_run (sh, &o, 1024, &r, &err));
  assert_string_equal (r.out, "in/\n");
  assert_string_equal (r.err, "1\n");
  fk_exec_result_free (&r);
  r = run (sh, "sleep 30 & printf bg");
  assert_string_equal (r.out, "bg");
  fk_exec_result_free (&r);
  fk_client_shell_close (sh);
  assert_true (fk_client_shell_open (f->c, &(fk_shell_opts_t){.user = "nosuch"}, &sh, &err) < 0);
  assert_error_contains (&err, "nosuch");
}

typedef struct stress_job
{
  fk_shell_pool_t *p;
  int index;
  int bad;
} stress_job_t;

static void *
stress_main (void *arg)
{
  stress_job_t *j = arg;
  for (int i = 0; i < 40; i++)
    {
      /* Sizes around the pipe and chunk sizes, on both streams. */
      size_t n = (size_t) ((j->index * 7919 + i * 104729) % 200000);
      char cmd[160];
      snprintf (cmd, sizeof cmd,
                "head -c %zu /dev/zero | tr '\\0' o; head -c %zu /dev/zero | tr '\\0' e >&2; exit %d",
                n, n / 3, i % 7);
      fk_shell_run_opts_t o = {.command = cmd};
      fk_exec_result_t r;
      fk_error_t err = FK_ERROR_INIT;
      if (fk_shell_pool_run (j->p, &o, 1u << 20, &r, &err) < 0)
        {
          fprintf (stderr, "# %s\n", fk_error_message (&err));
          fk_error_clear (&err);
          j->bad++;
          continue;
        }
      if (r.out_len != n || r.err_len != n / 3 || r.status.exit_code != i % 7
          || (n && (r.out[0] != 'o' || r.out[n - 1] != 'o')))
        j->bad++;
      fk_exec_result_free (&r);
    }
  return NULL;
}

static void
pool_stress (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_pool_t *p;
  assert_ok (fk_client_shell_pool_open (f->c, 4, NULL, &p, &err));
  enum { N = 6 };
  pthread_t t[N];
  stress_job_t j[N];
  for (int i = 0; i < N; i++)
    {
      j[i] = (stress_job_t){p, i, 0};
      assert_int_equal (pthread_create (&t[i], NULL, stress_main, &j[i]), 0);
    }
  for (int i = 0; i < N; i++)
    {
      pthread_join (t[i], NULL);
      assert_int_equal (j[i].bad, 0);
    }
  fk_shell_pool_close (p);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
run_latency (void **state)
{
  fixture_t *f = *state;
  enum { N = 500 };
  double lat[N];
  for (int i = 0; i < N; i++)
    {
      double t0 = now_s ();
      fk_exec_result_t r = run (f->sh, "printf x");
      lat[i] = now_s () - t0;
      assert_string_equal (r.out, "x");
      fk_exec_result_free (&r);
    }
  qsort (lat, N, sizeof lat[0], cmp_double);
  printf ("# shell run `printf x': p50 %.0f us, p95 %.0f us\n", lat[N / 2] * 1e6,
          lat[N * 95 / 100] * 1e6);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (state_persists, setup, teardown),
    cmocka_unit_test_setup_teardown (completion_cannot_be_fooled, setup, teardown),
    cmocka_unit_test_setup_teardown (background_jobs, setup, teardown),
    cmocka_unit_test_setup_teardown (exit_timeout_and_respawn, setup, teardown),
    cmocka_unit_test_setup_teardown (cancel_keeps_the_shell, setup, teardown),
    cmocka_unit_test_setup_teardown (stdin_env_cwd_per_run, setup, teardown),
    cmocka_unit_test_setup_teardown (pool_runs_in_parallel, setup, teardown),
    cmocka_unit_test_setup_teardown (pool_stress, setup, teardown),
    cmocka_unit_test_setup_teardown (shell_as_another_user, setup, teardown),
    cmocka_unit_test_setup_teardown (run_latency, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
