/* tests/unit/test_shell.c: shells and shell pools against a real fk-agent (--listen on a temp
   socket; $FK_AGENT names the binary): exact output whatever it holds, state between runs,
   timeouts, cancel, exit, stdin, env and cwd per run, parallel slots. The per-run cases run
   with bash (the agent's driver loop) and, with FK_TEST_SHELL=/bin/sh, with sh (a line of
   script per run). */
#include "testutil.h"
#include "agentutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/clock.h"
#include "firkin/client.h"
#include "firkin/shell.h"

static test_agent_t agent;
static const char *dir; /* agent.dir: scratch space */
static fk_client_t *client;
static fk_shell_t *sh;
/* The shell of the group being run: NULL for the default (bash here), else its path. */
static const char *program;

static int
setup (void **state)
{
  /* The host's root: its bash and sh are the shells under test. */
  if (test_agent_start_in (&agent, "/", "--grace-ms=500") < 0)
    return -1;
  dir = agent.dir;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_client_connect (agent.sock, &client, &err) < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

static int
teardown (void **state)
{
  fk_client_close (client);
  test_agent_stop (&agent);
  return 0;
}

static int
open_shell (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_opts_t so = { .version = FK_SHELL_OPTIONS_VERSION, .program = program };
  if (fk_shell_open (client, &so, &sh, &err) < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      fk_error_clear (&err);
      return -1;
    }
  return 0;
}

static int
close_shell (void **state)
{
  fk_shell_close (sh);
  sh = NULL;
  return 0;
}

/* Runs cmd on sh and returns the result (asserting the call itself worked). */
static fk_shell_result_t
run_opts (fk_shell_t *s, const fk_shell_run_opts_t *o)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_result_t r;
  if (fk_shell_run (s, o, &r, &err) < 0)
    fail_msg ("run `%s': %s", o->command, fk_error_message (&err));
  return r;
}

static fk_shell_result_t
run (const char *cmd)
{
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = cmd };
  return run_opts (sh, &o);
}

#define assert_run(cmd, want, code)                                                                \
  do                                                                                               \
    {                                                                                              \
      fk_shell_result_t r_ = run (cmd);                                                            \
      assert_string_equal (r_.out, want);                                                          \
      assert_int_equal (r_.status.exit_code, code);                                                \
      fk_shell_result_free (&r_);                                                                  \
    }                                                                                              \
  while (0)

static void
test_exact_output (void **state)
{
  fk_shell_result_t r = run ("printf hello; printf oops >&2; false");
  assert_int_equal (r.out_len, 5);
  assert_memory_equal (r.out, "hello", 5);
  assert_int_equal (r.err_len, 4);
  assert_memory_equal (r.err, "oops", 4);
  assert_int_equal (r.status.exit_code, 1);
  assert_false (r.respawned);
  fk_shell_result_free (&r);
  /* An empty command and a comment are runs too. */
  assert_run ("", "", 0);
  assert_run ("# nothing", "", 0);
  assert_run ("exit_code() { return 7; }; exit_code", "", 7);
}

static void
test_state_persists (void **state)
{
  assert_run ("cd /tmp && V=shellvar && export E=exported && f() { printf 'fn:%s' \"$1\"; }", "",
              0);
  assert_run ("pwd", "/tmp\n", 0);
  assert_run ("printf '%s %s' \"$V\" \"$E\"", "shellvar exported", 0);
  assert_run ("f arg", "fn:arg", 0);
  /* Exported means children see it. */
  assert_run ("sh -c 'printf %s \"$E\"'", "exported", 0);
}

static void
test_cannot_be_fooled (void **state)
{
  /* What the status report looks like, quoting that would end a naive wrapper, braces. */
  assert_run ("printf '0\\n'; printf '}\\n'; echo \"it's\" '}' \"'\"", "0\n}\nit's } '\n", 0);
  assert_run ("printf '%s' \"$(printf '\\n0\\n1\\n')\"; exit_code=3", "\n0\n1", 0);
  /* NUL bytes and no trailing newline. */
  fk_shell_result_t r = run ("printf 'a\\000b\\000\\377'");
  assert_int_equal (r.out_len, 5);
  assert_memory_equal (r.out, "a\0b\0\377", 5);
  fk_shell_result_free (&r);
  /* A syntax error is reported like a command failing; the shell stays. */
  pid_t pid = fk_shell_pid (sh);
  r = run ("if then fi (");
  assert_int_not_equal (r.status.exit_code, 0);
  assert_false (r.respawned);
  assert_true (r.err_len > 0);
  fk_shell_result_free (&r);
  assert_int_equal (fk_shell_pid (sh), pid);
  assert_run ("printf after", "after", 0);
}

static void
test_megabytes (void **state)
{
  /* 6 MiB of a pattern, on stdout, and 1 MiB on stderr at the same time. */
  fk_shell_result_t r = run (
      "i=0; s=0123456789abcdef; while [ $i -lt 16 ]; do s=$s$s; i=$((i+1)); done; "
      "j=0; while [ $j -lt 6 ]; do printf %s \"$s\"; j=$((j+1)); done; printf %s \"$s\" >&2");
  assert_int_equal (r.out_len, 6u << 20);
  assert_int_equal (r.err_len, 1u << 20);
  for (size_t i = 0; i < r.out_len; i++)
    if (r.out[i] != "0123456789abcdef"[i % 16])
      fail_msg ("byte %zu differs", i);
  assert_int_equal (r.status.exit_code, 0);
  fk_shell_result_free (&r);
}

static void
test_background_job (void **state)
{
  /* The job keeps stdout and stderr open for 30 s: completion must not wait for it. */
  uint64_t t0 = fk_now_ms ();
  assert_run ("sleep 30 & printf started", "started", 0);
  assert_run ("(sleep 30; echo late) >/dev/null 2>&1 & printf two", "two", 0);
  assert_run ("printf next", "next", 0);
  assert_true (fk_now_ms () - t0 < 10000);
}

static void
test_timeout (void **state)
{
  assert_run ("KEEP=1", "", 0);
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                            .command = "printf before; sleep 30",
                            .timeout_ms = 200 };
  uint64_t t0 = fk_now_ms ();
  fk_shell_result_t r = run_opts (sh, &o);
  assert_true (fk_now_ms () - t0 < 10000);
  assert_true (r.status.timed_out);
  assert_int_equal (r.status.signal, SIGKILL);
  assert_true (r.respawned);
  assert_string_equal (r.out, "before");
  fk_shell_result_free (&r);
  /* The slot works again, with a fresh shell. */
  assert_run ("printf '%s' \"${KEEP:-fresh}\"", "fresh", 0);
}

typedef struct cancel_arg
{
  fk_shell_t *sh;
  fk_shell_result_t r;
  int done;
} cancel_arg_t;

static void *
cancel_runner (void *p)
{
  cancel_arg_t *a = p;
  fk_shell_run_opts_t o
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "printf started; sleep 30" };
  a->r = run_opts (a->sh, &o);
  __atomic_store_n (&a->done, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void
test_cancel (void **state)
{
  assert_run ("KEEP=kept", "", 0);
  cancel_arg_t a = { .sh = sh };
  pthread_t t;
  pthread_create (&t, NULL, cancel_runner, &a);
  fk_error_t err = FK_ERROR_INIT;
  /* Poll until the command is under way (a child of the shell that has become `sleep'), then
     cancel: SIGINT before then would hit printf, or the shell's own fork before its exec (which
     runs the shell's `:' trap, and the sleep starts anyway). */
  uint64_t t0 = fk_now_ms ();
  while (!__atomic_load_n (&a.done, __ATOMIC_SEQ_CST) && fk_now_ms () - t0 < 10000)
    {
      char path[64];
      snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int)fk_shell_pid (sh),
                (int)fk_shell_pid (sh));
      FILE *f = fopen (path, "r");
      int slept = 0, pid;
      if (f)
        {
          if (fscanf (f, "%d", &pid) == 1)
            {
              char comm_path[64], comm[32] = "";
              snprintf (comm_path, sizeof comm_path, "/proc/%d/comm", pid);
              FILE *c = fopen (comm_path, "r");
              if (c)
                {
                  slept = fgets (comm, sizeof comm, c) != NULL && strcmp (comm, "sleep\n") == 0;
                  fclose (c);
                }
            }
          fclose (f);
        }
      if (slept)
        break;
      struct timespec ts = { 0, 2000000 };
      nanosleep (&ts, NULL);
    }
  assert_int_equal (fk_shell_cancel (sh, &err), 0);
  pthread_join (t, NULL);
  assert_true (fk_now_ms () - t0 < 10000);
  assert_string_equal (a.r.out, "started");
  assert_int_equal (a.r.status.exit_code, 128 + SIGINT);
  assert_false (a.r.respawned);
  fk_shell_result_free (&a.r);
  /* The shell survived: its state is still there. */
  assert_run ("printf %s \"$KEEP\"", "kept", 0);
  /* Nothing running: cancel is a no-op. */
  assert_int_equal (fk_shell_cancel (sh, &err), 0);
}

static void
test_exit_respawns (void **state)
{
  assert_run ("GONE=1", "", 0);
  fk_shell_result_t r = run ("printf bye; exit 3");
  assert_int_equal (r.status.exit_code, 3);
  assert_true (r.respawned);
  assert_string_equal (r.out, "bye");
  fk_shell_result_free (&r);
  assert_run ("printf '%s' \"${GONE:-new}\"", "new", 0);
}

static void
test_stdin (void **state)
{
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                            .command = "cat",
                            .has_stdin = 1,
                            .stdin_data = "in\0put\n",
                            .stdin_len = 7 };
  fk_shell_result_t r = run_opts (sh, &o);
  assert_int_equal (r.out_len, 7);
  assert_memory_equal (r.out, "in\0put\n", 7);
  fk_shell_result_free (&r);
  /* `read` in the shell itself keeps the value. */
  fk_shell_run_opts_t o2 = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                             .command = "read LINE",
                             .has_stdin = 1,
                             .stdin_data = "line1\n",
                             .stdin_len = 6 };
  r = run_opts (sh, &o2);
  assert_int_equal (r.status.exit_code, 0);
  fk_shell_result_free (&r);
  assert_run ("printf %s \"$LINE\"", "line1", 0);
  /* A command that reads nothing of a big stdin still completes. */
  size_t big = 512 * 1024;
  char *data = calloc (1, big);
  fk_shell_run_opts_t o3 = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                             .command = "printf x",
                             .has_stdin = 1,
                             .stdin_data = data,
                             .stdin_len = big };
  r = run_opts (sh, &o3);
  assert_string_equal (r.out, "x");
  fk_shell_result_free (&r);
  fk_shell_run_opts_t o4 = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                             .command = "wc -c",
                             .has_stdin = 1,
                             .stdin_data = data,
                             .stdin_len = big };
  r = run_opts (sh, &o4);
  assert_int_equal (atol (r.out), (long)big);
  fk_shell_result_free (&r);
  free (data);
  /* Without stdin, the command reads EOF at once (not the shell's command stream). */
  assert_run ("cat; printf done", "done", 0);
}

static void
test_env_cwd_per_run (void **state)
{
  char *const env[] = { (char *)"ONLY_HERE=yes it's", NULL };
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                            .command = "printf '%s|' \"$ONLY_HERE\"; pwd",
                            .env = env,
                            .cwd = "/usr" };
  fk_shell_result_t r = run_opts (sh, &o);
  assert_string_equal (r.out, "yes it's|/usr\n");
  fk_shell_result_free (&r);
  assert_run ("cd /; printf '%s|' \"${ONLY_HERE:-unset}\"; pwd", "unset|/\n", 0);
  /* A cwd that does not exist fails the run, not the shell. */
  fk_shell_run_opts_t o2 = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                             .command = "printf no",
                             .cwd = "/does/not/exist" };
  r = run_opts (sh, &o2);
  assert_int_equal (r.status.exit_code, 1);
  assert_string_equal (r.out, "");
  assert_false (r.respawned);
  fk_shell_result_free (&r);
  /* A name that is not a variable is refused. */
  char *const bad[] = { (char *)"A-B=1", NULL };
  fk_shell_run_opts_t o3
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "true", .env = bad };
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_result_t r3;
  assert_int_equal (fk_shell_run (sh, &o3, &r3, &err), -1);
  assert_error_contains (&err, "A-B=1");
}

static void
test_open_settings (void **state)
{
  char *const env[] = { (char *)"OPENED=with-env", NULL };
  fk_shell_opts_t so = { .version = FK_SHELL_OPTIONS_VERSION, .env = env, .cwd = "/usr" };
  fk_shell_t *s2 = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_shell_open (client, &so, &s2, &err), 0);
  fk_shell_run_opts_t o
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "printf '%s ' \"$OPENED\"; pwd" };
  fk_shell_result_t r = run_opts (s2, &o);
  assert_string_equal (r.out, "with-env /usr\n");
  fk_shell_result_free (&r);
  /* After a respawn the settings are the same. */
  fk_shell_run_opts_t ex = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "exit 0" };
  r = run_opts (s2, &ex);
  assert_true (r.respawned);
  fk_shell_result_free (&r);
  r = run_opts (s2, &o);
  assert_string_equal (r.out, "with-env /usr\n");
  fk_shell_result_free (&r);
  /* A run with unversioned options is refused and leaves the shell free for the next. */
  fk_shell_run_opts_t unversioned_run = { .command = "true" };
  assert_int_equal (fk_shell_run (s2, &unversioned_run, &r, &err), -1);
  assert_error_contains (&err, "FK_SHELL_RUN_OPTIONS_INIT");
  fk_shell_run_opts_t init = FK_SHELL_RUN_OPTIONS_INIT;
  init.command = "pwd";
  r = run_opts (s2, &init);
  assert_string_equal (r.out, "/usr\n");
  fk_shell_result_free (&r);
  fk_shell_close (s2);
  /* Unversioned options are refused before anything reaches the agent. */
  fk_shell_opts_t unversioned = { .cwd = "/" };
  assert_int_equal (fk_shell_open (client, &unversioned, &s2, &err), -1);
  assert_error_contains (&err, "FK_SHELL_OPTIONS_INIT");
  /* A cwd that cannot be used fails the open. */
  fk_shell_opts_t bad = { .version = FK_SHELL_OPTIONS_VERSION, .cwd = "/does/not/exist" };
  assert_int_equal (fk_shell_open (client, &bad, &s2, &err), -1);
  assert_error_contains (&err, "/does/not/exist");
  fk_error_clear (&err);
  /* The default is bash when there is one; a program must be an absolute path that exists. */
  assert_int_equal (fk_shell_open (client, NULL, &s2, &err), 0);
  const char *path = fk_shell_path (s2);
  assert_string_equal (path + strlen (path) - 5, "/bash");
  fk_shell_close (s2);
  fk_shell_opts_t rel = { .version = FK_SHELL_OPTIONS_VERSION, .program = "sh" };
  assert_int_equal (fk_shell_open (client, &rel, &s2, &err), -1);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  fk_shell_opts_t missing
      = { .version = FK_SHELL_OPTIONS_VERSION, .program = "/does/not/exist/sh" };
  assert_int_equal (fk_shell_open (client, &missing, &s2, &err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_error_contains (&err, "/does/not/exist/sh");
  fk_error_clear (&err);
}

static void
test_other_user (void **state)
{
  if (geteuid () != 0)
    skip ();
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_opts_t so = { .version = FK_SHELL_OPTIONS_VERSION, .user = "65534", .cwd = "/" };
  fk_shell_t *s2 = NULL;
  assert_int_equal (fk_shell_open (client, &so, &s2, &err), 0);
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "id -u" };
  fk_shell_result_t r = run_opts (s2, &o);
  assert_string_equal (r.out, "65534\n");
  fk_shell_result_free (&r);
  /* Its stdin pipe would have to be opened through the agent's /proc: refused up front. */
  fk_shell_run_opts_t oi = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                             .command = "cat",
                             .has_stdin = 1,
                             .stdin_data = "x",
                             .stdin_len = 1 };
  assert_int_equal (fk_shell_run (s2, &oi, &r, &err), -1);
  assert_int_equal (err.code, EPERM);
  assert_error_contains (&err, "another user");
  /* The shell is still fine. */
  r = run_opts (s2, &o);
  assert_string_equal (r.out, "65534\n");
  fk_shell_result_free (&r);
  fk_shell_close (s2);
}

typedef struct par_arg
{
  fk_shell_pool_t *pool;
  size_t slot; /* SIZE_MAX: lease */
  int ok;
} par_arg_t;

static void *
par_runner (void *p)
{
  par_arg_t *a = p;
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_run_opts_t o
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "sleep 1; printf done" };
  fk_shell_result_t r;
  int rc = a->slot == SIZE_MAX ? fk_shell_pool_run (a->pool, &o, &r, &err)
                               : fk_shell_run (fk_shell_pool_slot (a->pool, a->slot), &o, &r, &err);
  if (rc == 0)
    {
      a->ok = strcmp (r.out, "done") == 0 && r.status.exit_code == 0;
      fk_shell_result_free (&r);
    }
  else
    fk_error_clear (&err);
  return NULL;
}

static void
test_pool_parallel (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_pool_t *pool = NULL;
  assert_int_equal (fk_shell_pool_open (client, 4, NULL, &pool, &err), 0);
  assert_int_equal (fk_shell_pool_slots (pool), 4);
  assert_null (fk_shell_pool_slot (pool, 4));
  /* Slots are distinct shells. */
  pid_t pids[4];
  for (size_t i = 0; i < 4; i++)
    {
      pids[i] = fk_shell_pid (fk_shell_pool_slot (pool, i));
      for (size_t j = 0; j < i; j++)
        assert_int_not_equal (pids[i], pids[j]);
    }
  /* Four one-second commands, one per slot, then eight leased ones: in parallel they take
     about 1 s and 2 s, far from 4 s and 8 s. */
  for (int round = 0; round < 2; round++)
    {
      size_t n = round == 0 ? 4 : 8;
      pthread_t t[8];
      par_arg_t a[8];
      uint64_t t0 = fk_now_ms ();
      for (size_t i = 0; i < n; i++)
        {
          a[i] = (par_arg_t){ .pool = pool, .slot = round == 0 ? i : SIZE_MAX };
          pthread_create (&t[i], NULL, par_runner, &a[i]);
        }
      for (size_t i = 0; i < n; i++)
        {
          pthread_join (t[i], NULL);
          assert_true (a[i].ok);
        }
      uint64_t took = fk_now_ms () - t0;
      assert_true (took >= (uint64_t)(n / 4) * 1000);
      assert_true (took < (uint64_t)(n / 4) * 1000 + 1500);
    }
  fk_shell_pool_close (pool);
  /* A pool whose shells cannot open fails whole, naming the slot, with nothing left open. */
  fk_shell_opts_t bad = { .version = FK_SHELL_OPTIONS_VERSION, .program = "/does/not/exist/sh" };
  assert_int_equal (fk_shell_pool_open (client, 3, &bad, &pool, &err), -1);
  assert_error_contains (&err, "shell pool slot 1 of 3");
  fk_error_clear (&err);
  assert_int_equal (fk_shell_pool_open (client, 0, NULL, &pool, &err), -1);
  assert_error_contains (&err, "at least one");
}

static void
test_loop_keywords (void **state)
{
  /* bash's driver loop must not be what a run's break or continue acts on. */
  assert_run ("K=kept", "", 0);
  pid_t pid = fk_shell_pid (sh);
  const char *cmds[] = { "break", "continue", "break 2", "for i in 1 2; do break; done" };
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    {
      fk_shell_result_t r = run (cmds[i]);
      assert_false (r.respawned);
      fk_shell_result_free (&r);
      assert_run ("printf %s \"$K\"", "kept", 0);
    }
  assert_int_equal (fk_shell_pid (sh), pid);
  /* Breaking out of every loop may end bash: then it is reported and replaced, no hang. */
  fk_shell_result_t r = run ("break 3");
  fk_shell_result_free (&r);
  assert_run ("printf after", "after", 0);
}

static void
test_bytes_in_any_locale (void **state)
{
  /* A run that switches to UTF-8 must not change how the next runs' bytes are read. */
  assert_run ("export LC_ALL=C.UTF-8", "", 0);
  assert_run ("printf '%s' 'h\xc3\xa9llo \xe2\x9c\x93'", "h\xc3\xa9llo \xe2\x9c\x93", 0);
  /* Bytes that are no UTF-8 at all, and quotes and backslashes beside them. */
  assert_run ("printf '%s' '\xff\xfe\\'\"'\"'\xc3'", "\xff\xfe\\'\xc3", 0);
  fk_shell_result_t r
      = run ("printf '%s' \"$(printf '\xc3\xa9%.0s' 1 2 3 4 5 6 7 8 9 10)\" | wc -c");
  assert_int_equal (atoi (r.out), 20);
  fk_shell_result_free (&r);
  char *d = NULL;
  if (asprintf (&d, "%s/dir-\xc3\xa9\xe2\x9c\x93", dir) < 0)
    abort ();
  assert_int_equal (mkdir (d, 0755), 0);
  char *env[] = { (char *)"V=\xc3\xa9t\xc3\xa9", NULL };
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION,
                            .command = "printf '%s|%s' \"$V\" \"$PWD\"",
                            .env = env,
                            .cwd = d };
  r = run_opts (sh, &o);
  char *want = NULL;
  if (asprintf (&want, "\xc3\xa9t\xc3\xa9|%s", d) < 0)
    abort ();
  assert_string_equal (r.out, want);
  fk_shell_result_free (&r);
  free (want);
  rmdir (d);
  free (d);
  assert_run ("unset LC_ALL; printf ok", "ok", 0);
}

static void
test_hostile_definitions (void **state)
{
  /* Functions named like what a wrapper might call, and TMOUT (which bounds bash's read). */
  pid_t pid = fk_shell_pid (sh);
  if (program == NULL)
    {
      /* bash lets functions take the names of special builtins, and of command and builtin
         (sh's wrapper needs command and printf; POSIX leaves the special ones undefined). */
      assert_run ("read() { return 1; }; eval() { return 1; }; test() { return 1; }; "
                  "printf() { return 1; }; exit() { return 1; }; command() { return 1; }",
                  "", 0);
      assert_run ("echo still", "still\n", 0);
      assert_run ("unset -f read eval test printf exit command", "", 0);
    }
  else
    {
      assert_run ("read() { return 1; }; test() { return 1; }", "", 0);
      assert_run ("echo still", "still\n", 0);
      assert_run ("unset -f read test", "", 0);
    }
  /* TMOUT ends bash's idle read (status 142), and an IFS of 4 must not split that status. */
  assert_run ("K=kept; TMOUT=1; IFS=4", "", 0);
  struct timespec ts = { 1, 500000000 };
  nanosleep (&ts, NULL);
  assert_run ("printf %s \"$K$TMOUT\"", "kept1", 0);
  assert_int_equal (fk_shell_pid (sh), pid);
  /* SIGINT between runs (a cancel that lost the race with the end of its run). */
  kill (-pid, SIGINT);
  ts.tv_sec = 0;
  ts.tv_nsec = 100000000;
  nanosleep (&ts, NULL);
  assert_run ("printf %s \"$K$TMOUT\"; unset IFS TMOUT", "kept1", 0);
  assert_int_equal (fk_shell_pid (sh), pid);
}

static void
test_plumbing_stays_private (void **state)
{
  /* Commands inherit stdin (/dev/null), stdout, stderr and nothing else of the shell's. */
  assert_run ("ls /proc/self/fd", "0\n1\n2\n3\n", 0);
  /* A run that closes or replaces fd 8 or 9 does not reach the next run. */
  pid_t pid = fk_shell_pid (sh);
  char *cmd = NULL;
  if (asprintf (&cmd, "exec 8>%s/fd8; exec 9>%s/fd9", dir, dir) < 0)
    abort ();
  fk_shell_result_t r = run (cmd);
  free (cmd);
  fk_shell_result_free (&r);
  assert_run ("cat; echo \"cat=$?\"", "cat=0\n", 0);
  r = run ("exec 8<&- 9>&-");
  fk_shell_result_free (&r);
  assert_run ("cat; echo \"cat=$?\"", "cat=0\n", 0);
  assert_int_equal (fk_shell_pid (sh), pid);
  /* The driver's variables are not the run's, even under set -a. */
  assert_run ("set -a; X=1", "", 0);
  assert_run ("env | grep -c __fk", "0\n", 1);
  assert_run ("set +a; env | grep -c '^X='", "1\n", 0);
  assert_int_equal (fk_shell_pid (sh), pid);
}

static void
test_begin_finish (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_t *s2 = NULL;
  assert_int_equal (fk_shell_open (client, NULL, &s2, &err), 0);
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "printf begun" };
  fk_shell_pending_t *p = NULL;
  assert_int_equal (fk_shell_run_begin (s2, &o, &p, &err), 0);
  /* A second run on the same shell, begun or blocking, is EBUSY (not a wait). */
  fk_shell_pending_t *p2 = NULL;
  assert_int_equal (fk_shell_run_begin (s2, &o, &p2, &err), -1);
  assert_int_equal (err.code, EBUSY);
  fk_error_clear (&err);
  fk_shell_result_t r;
  assert_int_equal (fk_shell_run (s2, &o, &r, &err), -1);
  assert_int_equal (err.code, EBUSY);
  fk_error_clear (&err);
  assert_int_equal (fk_shell_run_finish (p, &r, &err), 0);
  assert_string_equal (r.out, "begun");
  fk_shell_result_free (&r);
  /* Closing with a run begun ends the run; its finish reports it and frees the shell. */
  fk_shell_run_opts_t slow = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "sleep 30" };
  assert_int_equal (fk_shell_run_begin (s2, &slow, &p, &err), 0);
  fk_shell_close (s2);
  assert_int_equal (fk_shell_run_finish (p, &r, &err), 0);
  assert_int_equal (r.status.signal, SIGKILL);
  fk_shell_result_free (&r);
}

static size_t
count_lines (const char *path)
{
  FILE *f = fopen (path, "r");
  size_t n = 0;
  int ch;
  while (f && (ch = fgetc (f)) != EOF)
    n += ch == '\n';
  if (f)
    fclose (f);
  return n;
}

static void
test_dying_shell_is_not_looped (void **state)
{
  /* A shell that exits as soon as it starts is not started again and again. */
  char *prog = NULL, *starts = NULL;
  if (asprintf (&prog, "%s/dies.sh", dir) < 0 || asprintf (&starts, "%s/starts", dir) < 0)
    abort ();
  FILE *f = fopen (prog, "w");
  assert_non_null (f);
  fprintf (f, "#!/bin/sh\necho started >>%s\nexit 1\n", starts);
  fclose (f);
  assert_int_equal (chmod (prog, 0755), 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_opts_t so = { .version = FK_SHELL_OPTIONS_VERSION, .program = prog };
  fk_shell_t *s2 = NULL;
  assert_int_equal (fk_shell_open (client, &so, &s2, &err), 0);
  struct timespec ts = { 1, 500000000 };
  nanosleep (&ts, NULL);
  assert_int_equal (count_lines (starts), 1);
  /* The next run starts it again and reports that it ended. */
  fk_shell_run_opts_t o = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "true" };
  fk_shell_result_t r = run_opts (s2, &o);
  assert_true (r.respawned);
  fk_shell_result_free (&r);
  nanosleep (&ts, NULL);
  assert_true (count_lines (starts) <= 3);
  fk_shell_close (s2);
  free (prog);
  free (starts);
}

static void
test_close_kills_everything (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_shell_t *s2 = NULL;
  assert_int_equal (fk_shell_open (client, NULL, &s2, &err), 0);
  pid_t pid = fk_shell_pid (s2);
  fk_shell_run_opts_t o
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "sleep 60 & printf %s $!" };
  fk_shell_result_t r = run_opts (s2, &o);
  pid_t job = (pid_t)atoi (r.out);
  fk_shell_result_free (&r);
  assert_true (job > 0);
  fk_shell_close (s2);
  /* Poll until the agent has reaped both (kill 0 fails with ESRCH). */
  uint64_t t0 = fk_now_ms ();
  while ((kill (pid, 0) == 0 || kill (job, 0) == 0) && fk_now_ms () - t0 < 10000)
    {
      struct timespec ts = { 0, 5000000 };
      nanosleep (&ts, NULL);
    }
  assert_int_equal (kill (pid, 0), -1);
  assert_int_equal (kill (job, 0), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_exact_output, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_state_persists, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_cannot_be_fooled, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_megabytes, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_background_job, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_timeout, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_cancel, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_exit_respawns, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_stdin, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_env_cwd_per_run, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_loop_keywords, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_bytes_in_any_locale, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_hostile_definitions, open_shell, close_shell),
    cmocka_unit_test_setup_teardown (test_plumbing_stays_private, open_shell, close_shell),
  };
  const struct CMUnitTest once[] = {
    cmocka_unit_test (test_open_settings),
    cmocka_unit_test (test_other_user),
    cmocka_unit_test (test_pool_parallel),
    cmocka_unit_test (test_begin_finish),
    cmocka_unit_test (test_dying_shell_is_not_looped),
    cmocka_unit_test (test_close_kills_everything),
  };
  /* $FK_TEST_SHELL: the per-run cases with that shell (the settings cases run with the
     default only). */
  program = getenv ("FK_TEST_SHELL");
  if (program != NULL)
    return cmocka_run_group_tests (tests, setup, teardown);
  struct CMUnitTest all[sizeof tests / sizeof tests[0] + sizeof once / sizeof once[0]];
  memcpy (all, tests, sizeof tests);
  memcpy (all + sizeof tests / sizeof tests[0], once, sizeof once);
  return cmocka_run_group_tests (all, setup, teardown);
}
