/* Unit tests for the client library against a real fk-agent (--listen, --root): exec, streams,
   exit codes and signals, timeouts, stdin, pty, ps/attach/signal, files, concurrency. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include "agentutil.h"
#include "client/conn.h"
#include "client/exec.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "firkin/strv.h"

/* Asserts that a client call succeeded, printing the error when it did not. */
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
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  if (test_agent_start (&f->a, NULL) < 0)
    return -1;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_client_connect (f->a.sock, &f->c, &err) < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      return -1;
    }
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  fk_client_close (f->c);
  int rc = test_agent_stop (&f->a);
  free (f);
  /* SIGTERM: the agent stops everything and exits 0. */
  return rc == 0 ? 0 : -1;
}

static fk_exec_result_t
run_sh (fk_client_t *c, const char *cmd)
{
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = cmd };
  fk_exec_result_t r;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_client_exec (c, &o, 1 << 20, &r, &err) < 0)
    fail_msg ("exec `%s': %s", cmd, fk_error_message (&err));
  return r;
}

static void
exec_argv_and_shell (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  char *argv[] = { (char *)"echo", (char *)"hello", (char *)"world", NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t r;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "hello world\n");
  assert_int_equal (r.out_len, 12);
  assert_int_equal (r.status.exit_code, 0);
  assert_true (r.pid > 0);
  fk_exec_result_free (&r);

  r = run_sh (f->c, "echo out; echo err >&2; exit 3");
  assert_string_equal (r.out, "out\n");
  assert_string_equal (r.err, "err\n");
  assert_int_equal (r.status.exit_code, 3);
  assert_int_equal (r.status.signal, 0);
  fk_exec_result_free (&r);

  /* Binary output, NULs and no trailing newline survive byte for byte. */
  r = run_sh (f->c, "printf 'a\\000b\\377'");
  assert_int_equal (r.out_len, 4);
  assert_memory_equal (r.out, "a\0b\377", 4);
  fk_exec_result_free (&r);
}

static void
exec_signal_and_not_found (void **state)
{
  fixture_t *f = *state;
  fk_exec_result_t r = run_sh (f->c, "kill -9 $$");
  assert_int_equal (r.status.signal, 9);
  assert_int_equal (r.status.exit_code, 137);
  fk_exec_result_free (&r);

  fk_error_t err = FK_ERROR_INIT;
  char *argv[] = { (char *)"no-such-command-here", NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_int_equal (r.status.exit_code, 127);
  assert_non_null (strstr (r.err, "no-such-command-here: command not found"));
  fk_exec_result_free (&r);

  char *argv2[] = { (char *)"/no/such/path", NULL };
  o.argv = argv2;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_int_equal (r.status.exit_code, 127);
  fk_exec_result_free (&r);
}

static void
exec_bad_cwd_and_user (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "pwd", .cwd = "/no/such/dir" };
  fk_exec_result_t r;
  assert_true (fk_client_exec (f->c, &o, 1024, &r, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  assert_error_contains (&err, "cwd `/no/such/dir'");

  o.cwd = "/tmp";
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "/tmp\n");
  fk_exec_result_free (&r);

  /* Options not made with FK_EXEC_OPTIONS_INIT (or of a newer library) never reach the agent. */
  fk_exec_opts_t unversioned = { .shell = "true" };
  assert_true (fk_client_exec (f->c, &unversioned, 1024, &r, &err) < 0);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "FK_EXEC_OPTIONS_INIT");
  fk_exec_opts_t init = FK_EXEC_OPTIONS_INIT;
  init.shell = "pwd";
  init.cwd = "/tmp";
  assert_int_equal (fk_client_exec (f->c, &init, 1024, &r, &err), 0);
  assert_string_equal (r.out, "/tmp\n");
  fk_exec_result_free (&r);

  o.user = "nosuchuser";
  assert_true (fk_client_exec (f->c, &o, 1024, &r, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  assert_error_contains (&err, "nosuchuser");
}

static void
exec_user_from_root_passwd (void **state)
{
  fixture_t *f = *state;
  /* Users come from the root's own /etc/passwd and /etc/group, not the host's. */
  cleanup_free char *etc = xasprintf ("%s/etc", f->a.root);
  mkdir (etc, 0755);
  cleanup_free char *pw = xasprintf ("%s/passwd", etc);
  cleanup_free char *gr = xasprintf ("%s/group", etc);
  FILE *p = fopen (pw, "w");
  fputs ("root:x:0:0:root:/root:/bin/sh\nworker:x:4242:4343::/home/worker:/bin/sh\n", p);
  fclose (p);
  p = fopen (gr, "w");
  fputs ("root:x:0:\nworkers:x:4343:\nextra:x:4444:worker,other\n", p);
  fclose (p);
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "echo $(id -u):$(id -g):$(id -G):$HOME",
                       .user = "worker" };
  fk_exec_result_t r;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "4242:4343:4343 4444:/home/worker\n");
  fk_exec_result_free (&r);
  o.user = "1000:extra";
  o.shell = "echo $(id -u):$(id -g)";
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "1000:4444\n");
  fk_exec_result_free (&r);
  o.user = "worker:nogroup";
  assert_true (fk_client_exec (f->c, &o, 1024, &r, &err) < 0);
  assert_error_contains (&err, "nogroup");
}

/* The agent's own environment: set (what a warm-pool lease does), read back, inherited by
   later processes under a request's own variables; a bad entry is refused before it goes. */
static void
agent_env_set_and_get (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  const char *set[] = { "LEASED=yes", "EMPTY=", NULL };
  assert_int_equal (fk_client_set_env (f->c, set, &err), 0);
  char **env = NULL;
  assert_int_equal (fk_client_get_env (f->c, &env, &err), 0);
  int leased = 0, empty = 0;
  for (char **e = env; *e; e++)
    {
      leased |= strcmp (*e, "LEASED=yes") == 0;
      empty |= strcmp (*e, "EMPTY=") == 0;
    }
  fk_strv_free (env);
  assert_true (leased && empty);
  char *req_env[] = { (char *)"LEASED=request", NULL };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "echo \"$LEASED\"" };
  fk_exec_result_t r;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "yes\n");
  fk_exec_result_free (&r);
  o.env = req_env;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "request\n");
  fk_exec_result_free (&r);
  const char *bad[] = { "=oops", NULL };
  assert_true (fk_client_set_env (f->c, bad, &err) < 0);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
}

/* REROOT (what a warm pool's fork sends, sandbox/reroot.h) is refused without its two fds and
   by an agent that holds no upper dir (this one: no sandbox gave it one), and the agent goes on
   serving: a forged request changes nothing. */
static void
agent_reroot_refused (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_creq_t *r = fk_creq_new (f->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_REROOT, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_CWD, "/");
  assert_int_equal (fk_wire_end (&b, &err), 0);
  assert_true (fk_client_call (f->c, r, &b, NULL, NULL, NULL, &err) < 0);
  assert_int_equal (err.code, EINVAL);
  fk_error_clear (&err);
  fk_creq_free (f->c, r);
  fk_wire_buf_free (&b);
  int dir = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int log = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  const char *env[] = { "REROOTED=yes", NULL };
  assert_true (fk_client_reroot (f->c, dir, log, "/", env, &err) < 0);
  assert_int_equal (err.code, ENOTSUP);
  fk_error_clear (&err);
  close (dir);
  close (log);
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "echo \"[$REROOTED]\"; pwd" };
  fk_exec_result_t res;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &res, &err), 0);
  assert_true (strncmp (res.out, "[]\n", 3) == 0);
  fk_exec_result_free (&res);
}

static void
exec_env_and_stdin (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  char *env[] = { (char *)"FK_TEST_A=1", (char *)"PATH=/usr/bin:/bin", NULL };
  fk_exec_opts_t o
      = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "echo $FK_TEST_A:$PATH", .env = env };
  fk_exec_result_t r;
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  assert_string_equal (r.out, "1:/usr/bin:/bin\n");
  fk_exec_result_free (&r);

  /* Closed stdin reads EOF at once. */
  fk_exec_opts_t o2 = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "cat; echo done" };
  assert_int_equal (fk_client_exec (f->c, &o2, 1024, &r, &err), 0);
  assert_string_equal (r.out, "done\n");
  fk_exec_result_free (&r);

  /* Bytes, small and large (the large one is streamed). */
  size_t big = 3u << 20;
  cleanup_free char *data = xmalloc (big);
  for (size_t i = 0; i < big; i++)
    data[i] = (char)(i * 7 + 3);
  fk_exec_opts_t o3 = { .version = FK_EXEC_OPTIONS_VERSION,
                        .argv = (char *[]){ (char *)"cat", NULL },
                        .stdin_mode = FK_STDIN_BYTES,
                        .stdin_data = data,
                        .stdin_len = 5 };
  assert_int_equal (fk_client_exec (f->c, &o3, 1024, &r, &err), 0);
  assert_int_equal (r.out_len, 5);
  assert_memory_equal (r.out, data, 5);
  fk_exec_result_free (&r);
  o3.stdin_len = big;
  assert_int_equal (fk_client_exec (f->c, &o3, big, &r, &err), 0);
  assert_int_equal (r.out_len, big);
  assert_memory_equal (r.out, data, big);
  assert_false (r.truncated);
  fk_exec_result_free (&r);

  /* Streamed stdin. */
  fk_exec_opts_t o4 = { .version = FK_EXEC_OPTIONS_VERSION,
                        .shell = "while read l; do echo \"<$l>\"; done",
                        .stdin_mode = FK_STDIN_STREAM };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (f->c, &o4, &p, &err), 0);
  assert_int_equal (fk_proc_write_stdin (p, "a\n", 2, &err), 0);
  fk_proc_event_t ev;
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_STDOUT);
  assert_int_equal (ev.len, 4);
  assert_memory_equal (ev.data, "<a>\n", 4);
  assert_int_equal (fk_proc_write_stdin (p, "b\n", 2, &err), 0);
  assert_int_equal (fk_proc_close_stdin (p, &err), 0);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_memory_equal (ev.data, "<b>\n", 4);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  assert_int_equal (ev.status.exit_code, 0);
  assert_true (fk_proc_next (p, 0, &ev, &err) < 0);
  assert_int_equal (err.code, EPIPE);
  fk_error_clear (&err);
  fk_proc_free (p);
}

static void
exec_truncates_at_max (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "head -c 100000 /dev/zero" };
  fk_exec_result_t r;
  assert_int_equal (fk_client_exec (f->c, &o, 1000, &r, &err), 0);
  assert_int_equal (r.out_len, 1000);
  assert_true (r.truncated);
  assert_int_equal (r.status.exit_code, 0);
  fk_exec_result_free (&r);
}

static int
kill_pid_gone (pid_t pid)
{
  for (int i = 0; i < 1000; i++)
    {
      if (kill (pid, 0) < 0 && errno == ESRCH)
        return 1;
      test_sleep_ms (10);
    }
  return 0;
}

static void
exec_timeout_kills_group (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* The background sleep holds stdout open and is in the group: both die, and the exit is
     reported without waiting for it. */
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "sleep 100 & echo $!; sleep 100",
                       .timeout_ms = 300 };
  fk_exec_result_t r;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (fk_client_exec (f->c, &o, 1024, &r, &err), 0);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  assert_true (r.status.timed_out);
  assert_int_equal (r.status.signal, SIGKILL);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true (s >= 0.29 && s < 10);
  pid_t bg = (pid_t)atoi (r.out);
  assert_true (bg > 0);
  assert_true (kill_pid_gone (bg));
  fk_exec_result_free (&r);
}

static void
exec_background_job_does_not_hang (void **state)
{
  fixture_t *f = *state;
  /* The job keeps stdout open after the shell exits: the exit is still reported. */
  fk_exec_result_t r = run_sh (f->c, "sleep 30 & echo started");
  assert_string_equal (r.out, "started\n");
  assert_int_equal (r.status.exit_code, 0);
  fk_exec_result_free (&r);
}

typedef struct order
{
  char buf[256];
  size_t len;
} order_t;

static int
on_out (void *ud, const void *d, size_t n)
{
  order_t *o = ud;
  for (size_t i = 0; i < n && o->len < sizeof o->buf - 1; i++)
    o->buf[o->len++] = ((const char *)d)[i] == '\n' ? ' ' : ((const char *)d)[i];
  return 0;
}

static void
exec_stream_order (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  order_t out = { { 0 }, 0 };
  fk_exec_callbacks_t cbs = { .on_stdout = on_out, .on_stderr = NULL, .userdata = &out };
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "for i in 1 2 3 4 5; do echo $i; echo e$i >&2; done" };
  fk_exit_status_t st;
  assert_int_equal (fk_client_exec_stream (f->c, &o, &cbs, &st, &err), 0);
  assert_string_equal (out.buf, "1 2 3 4 5 ");
  assert_int_equal (st.exit_code, 0);

  /* Output arrives as it is produced: the first line comes before the command ends. */
  fk_exec_opts_t o2 = { .version = FK_EXEC_OPTIONS_VERSION,
                        .shell = "echo first; read x; echo second",
                        .stdin_mode = FK_STDIN_STREAM };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (f->c, &o2, &p, &err), 0);
  fk_proc_event_t ev;
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_STDOUT);
  assert_memory_equal (ev.data, "first\n", 6);
  /* Nothing more until it gets a line. */
  assert_int_equal (fk_proc_next (p, 50, &ev, &err), 0);
  assert_int_equal (fk_proc_write_stdin (p, "x\n", 2, &err), 0);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_memory_equal (ev.data, "second\n", 7);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  fk_proc_free (p);
}

static void
exec_poll_fd_event_loop (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* A single-threaded loop: drain with timeout 0, then poll the connection's fd. */
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "echo one; sleep 0.1; echo two; sleep 0.1; exit 4" };
  fk_proc_t *p;
  assert_ok (fk_client_exec_start (f->c, &o, &p, &err));
  char out[64] = "";
  size_t len = 0;
  int code = -1, polls = 0;
  while (code < 0)
    {
      fk_proc_event_t ev;
      int r = fk_proc_next (p, 0, &ev, &err);
      assert_true (r >= 0);
      if (r == 1 && ev.kind == FK_PROC_EXIT)
        code = ev.status.exit_code;
      else if (r == 1)
        {
          memcpy (out + len, ev.data, ev.len);
          len += ev.len;
        }
      else
        {
          struct pollfd pfd = { .fd = fk_client_poll_fd (f->c), .events = POLLIN };
          assert_int_equal (poll (&pfd, 1, 10000), 1);
          polls++;
        }
    }
  out[len] = '\0';
  assert_string_equal (out, "one\ntwo\n");
  assert_int_equal (code, 4);
  assert_true (polls >= 2);
  fk_proc_free (p);
}

static void
exec_nonblocking_poll_fd (void **state)
{
  fixture_t *f = *state;
  /* An event loop may make the connection non-blocking; a blocking wait must still sleep, not
     spin (a 300 ms command costs far less than 300 ms of CPU). */
  int fd = fk_client_poll_fd (f->c);
  assert_int_equal (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK), 0);
  struct timespec c0, c1;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &c0);
  fk_exec_result_t r = run_sh (f->c, "sleep 0.3; echo done");
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &c1);
  assert_string_equal (r.out, "done\n");
  fk_exec_result_free (&r);
  double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
  assert_true (cpu < 0.1);
}

static void
exec_pty_and_resize (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "tty; stty size; read x; stty size",
                       .pty = 1,
                       .rows = 30,
                       .cols = 100,
                       .stdin_mode = FK_STDIN_STREAM };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (f->c, &o, &p, &err), 0);
  char out[4096];
  size_t len = 0;
  fk_proc_event_t ev;
  while (strstr (out, "30 100") == NULL)
    {
      assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
      assert_int_equal (ev.kind, FK_PROC_STDOUT);
      assert_true (len + ev.len < sizeof out);
      memcpy (out + len, ev.data, ev.len);
      len += ev.len;
      out[len] = '\0';
    }
  assert_non_null (strstr (out, "/dev/pts/"));
  assert_int_equal (fk_proc_resize (p, 40, 120, &err), 0);
  assert_int_equal (fk_proc_write_stdin (p, "\n", 1, &err), 0);
  int exited = 0;
  while (!exited)
    {
      assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
      if (ev.kind == FK_PROC_EXIT)
        exited = 1;
      else
        {
          assert_true (len + ev.len < sizeof out);
          memcpy (out + len, ev.data, ev.len);
          len += ev.len;
          out[len] = '\0';
        }
    }
  assert_non_null (strstr (out, "40 120"));
  assert_int_equal (ev.status.exit_code, 0);
  fk_proc_free (p);

  /* Closing stdin of a pty process sends the terminal's EOF: cat ends. */
  fk_exec_opts_t o2 = { .version = FK_EXEC_OPTIONS_VERSION,
                        .argv = (char *[]){ (char *)"cat", NULL },
                        .pty = 1,
                        .stdin_mode = FK_STDIN_STREAM };
  assert_ok (fk_client_exec_start (f->c, &o2, &p, &err));
  assert_ok (fk_proc_write_stdin (p, "typed\n", 6, &err));
  assert_ok (fk_proc_close_stdin (p, &err));
  len = 0;
  for (;;)
    {
      assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
      if (ev.kind == FK_PROC_EXIT)
        break;
      if (len + ev.len < sizeof out)
        {
          memcpy (out + len, ev.data, ev.len);
          len += ev.len;
        }
    }
  out[len] = '\0';
  assert_non_null (strstr (out, "typed"));
  assert_int_equal (ev.status.exit_code, 0);
  fk_proc_free (p);
}

static void
ps_signal_attach (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "echo a; read x; echo \"got $x\"",
                       .tag = "job1",
                       .stdin_mode = FK_STDIN_STREAM };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (f->c, &o, &p, &err), 0);
  pid_t pid = fk_proc_pid (p);
  fk_proc_event_t ev;
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_memory_equal (ev.data, "a\n", 2);
  /* Dropping the handle and the connection leaves a tagged process running. */
  fk_proc_free (p);
  fk_client_close (f->c);
  assert_int_equal (fk_client_connect (f->a.sock, &f->c, &err), 0);

  fk_proc_info_t *procs;
  size_t n;
  assert_int_equal (fk_client_ps (f->c, &procs, &n, &err), 0);
  int seen = 0;
  for (size_t i = 0; i < n; i++)
    if (procs[i].pid == pid)
      {
        seen = 1;
        assert_string_equal (procs[i].tag, "job1");
        assert_true (procs[i].running);
        assert_false (procs[i].attached);
        assert_string_equal (procs[i].argv[0], "/bin/sh");
      }
  assert_true (seen);
  fk_proc_info_free (procs, n);

  assert_true (fk_client_attach (f->c, 0, "nope", &p, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (fk_client_attach (f->c, 0, "job1", &p, &err), 0);
  assert_int_equal (fk_proc_pid (p), pid);
  fk_proc_t *p2;
  assert_true (fk_client_attach (f->c, pid, NULL, &p2, &err) < 0);
  assert_int_equal (err.code, EBUSY);
  fk_error_clear (&err);
  assert_int_equal (fk_proc_write_stdin (p, "hi\n", 3, &err), 0);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_memory_equal (ev.data, "got hi\n", 7);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  fk_proc_free (p);

  /* keep: output and exit while detached are kept and replayed on reattach by pid. The
     command waits for a file written after the detach, so its output is produced detached. */
  cleanup_free char *cmd
      = xasprintf ("while [ ! -e '%s/go' ]; do sleep 0.01; done; echo during; exit 7", f->a.root);
  fk_exec_opts_t o2 = { .version = FK_EXEC_OPTIONS_VERSION, .shell = cmd, .keep = 1 };
  assert_int_equal (fk_client_exec_start (f->c, &o2, &p, &err), 0);
  pid = fk_proc_pid (p);
  fk_proc_free (p);
  assert_ok (fk_client_file_write (f->c, "/go", "", 0, 0, 0, &err));
  int done = 0;
  for (int i = 0; i < 1000 && !done; i++)
    {
      assert_ok (fk_client_ps (f->c, &procs, &n, &err));
      for (size_t k = 0; k < n; k++)
        if (procs[k].pid == pid && !procs[k].running)
          done = 1;
      fk_proc_info_free (procs, n);
      if (!done)
        test_sleep_ms (10);
    }
  assert_true (done);
  assert_ok (fk_client_attach (f->c, pid, NULL, &p, &err));
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_STDOUT);
  assert_memory_equal (ev.data, "during\n", 7);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  assert_int_equal (ev.status.exit_code, 7);
  fk_proc_free (p);
  /* Collected: it is gone now. */
  assert_true (fk_client_attach (f->c, pid, NULL, &p, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);

  /* Signal by pid, to a kept process reattached by pid. */
  fk_exec_opts_t o2b = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "exec sleep 100", .keep = 1 };
  assert_int_equal (fk_client_exec_start (f->c, &o2b, &p, &err), 0);
  pid = fk_proc_pid (p);
  fk_proc_free (p);
  assert_ok (fk_client_attach (f->c, pid, NULL, &p, &err));
  assert_int_equal (fk_client_signal (f->c, pid, NULL, SIGTERM, 0, &err), 0);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  assert_int_equal (ev.status.signal, SIGTERM);
  fk_proc_free (p);
  assert_true (fk_client_signal (f->c, 1, NULL, SIGTERM, 0, &err) < 0);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);

  /* An untagged process dies with its handle. */
  fk_exec_opts_t o3 = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "exec sleep 100" };
  assert_int_equal (fk_client_exec_start (f->c, &o3, &p, &err), 0);
  pid = fk_proc_pid (p);
  fk_proc_free (p);
  assert_true (kill_pid_gone (pid));

  /* fk_proc_signal to the group. */
  assert_int_equal (fk_client_exec_start (f->c, &o3, &p, &err), 0);
  assert_int_equal (fk_proc_signal (p, SIGINT, 1, &err), 0);
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_int_equal (ev.kind, FK_PROC_EXIT);
  assert_int_equal (ev.status.signal, SIGINT);
  fk_proc_free (p);
}

static void
write_host_file (const char *path, const char *content)
{
  FILE *fp = fopen (path, "w");
  assert_non_null (fp);
  fputs (content, fp);
  fclose (fp);
}

static void
files_round_trip (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_client_file_write (f->c, "/a/b/c.txt", "hello", 5, 0600, 0, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (
      fk_client_file_write (f->c, "/a/b/c.txt", "hello", 5, 0600, FK_FILE_PARENTS, &err), 0);
  char *data;
  size_t len;
  assert_ok (fk_client_file_read (f->c, "/a/b/c.txt", 100, &data, &len, &err));
  assert_int_equal (len, 5);
  assert_string_equal (data, "hello");
  free (data);
  assert_true (fk_client_file_read (f->c, "/a/b/c.txt", 3, &data, &len, &err) < 0);
  assert_int_equal (err.code, EFBIG);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_write (f->c, "a/b/c.txt", " world", 6, 0, FK_FILE_APPEND, &err),
                    0);
  assert_int_equal (fk_client_file_read (f->c, "a/b/c.txt", 100, &data, &len, &err), 0);
  assert_string_equal (data, "hello world");
  free (data);
  /* Replacing is atomic and leaves no temp file beside it. */
  assert_int_equal (fk_client_file_write (f->c, "/a/b/c.txt", "new", 3, 0640, 0, &err), 0);
  fk_file_stat_t st;
  assert_int_equal (fk_client_file_stat (f->c, "/a/b/c.txt", &st, &err), 0);
  assert_int_equal (st.type, FK_FILE_TYPE_FILE);
  assert_int_equal (st.size, 3);
  assert_int_equal (st.mode, 0640);
  assert_int_equal (fk_client_file_write (f->c, "/a/b/c.txt", "x", 1, 0, FK_FILE_EXCL, &err), -1);
  assert_int_equal (err.code, EEXIST);
  fk_error_clear (&err);

  assert_int_equal (fk_client_file_mkdir (f->c, "/a/d/e", 0750, FK_FILE_PARENTS, &err), 0);
  assert_int_equal (fk_client_file_mkdir (f->c, "/a/d", 0750, 0, &err), -1);
  assert_int_equal (err.code, EEXIST);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_write (f->c, "/a/d/e/f", "", 0, 0, 0, &err), 0);
  fk_file_entry_t *ents;
  size_t n;
  assert_int_equal (fk_client_file_list (f->c, "/a", FK_FILE_RECURSIVE, &ents, &n, &err), 0);
  assert_int_equal (n, 5);
  const char *want[] = { "b", "b/c.txt", "d", "d/e", "d/e/f" };
  for (size_t i = 0; i < n; i++)
    assert_string_equal (ents[i].path, want[i]);
  assert_int_equal (ents[0].st.type, FK_FILE_TYPE_DIR);
  assert_int_equal (ents[4].st.size, 0);
  fk_file_entries_free (ents, n);
  assert_int_equal (fk_client_file_list (f->c, "/a", 0, &ents, &n, &err), 0);
  assert_int_equal (n, 2);
  fk_file_entries_free (ents, n);

  assert_int_equal (fk_client_file_rename (f->c, "/a/b/c.txt", "/a/d/moved", &err), 0);
  assert_int_equal (fk_client_file_stat (f->c, "/a/b/c.txt", &st, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_chmod (f->c, "/a/d/moved", 0705, &err), 0);
  assert_int_equal (fk_client_file_stat (f->c, "/a/d/moved", &st, &err), 0);
  assert_int_equal (st.mode, 0705);
  assert_int_equal (fk_client_file_remove (f->c, "/a/d", 0, &err), -1);
  assert_int_equal (err.code, ENOTEMPTY);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_remove (f->c, "/a/d", FK_FILE_RECURSIVE, &err), 0);
  assert_int_equal (fk_client_file_remove (f->c, "/a/d", 0, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_read (f->c, "/missing", 10, &data, &len, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_read (f->c, "/a", 10, &data, &len, &err), -1);
  assert_int_equal (err.code, EISDIR);
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_list (f->c, "/nope", 0, &ents, &n, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);

  /* The host file is where the agent's root is. */
  cleanup_free char *host = xasprintf ("%s/a/b", f->a.root);
  struct stat hst;
  assert_int_equal (stat (host, &hst), 0);
}

static void
files_contained_in_root (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* A host file beside the root, and symlinks in the root pointing at it. */
  cleanup_free char *secret = xasprintf ("%s/secret", f->a.dir);
  write_host_file (secret, "host secret");
  cleanup_free char *l1 = xasprintf ("%s/abs", f->a.root);
  cleanup_free char *l2 = xasprintf ("%s/rel", f->a.root);
  assert_int_equal (symlink (secret, l1), 0);
  assert_int_equal (symlink ("../secret", l2), 0);
  char *data;
  size_t len;
  const char *paths[] = { "../secret", "/../secret", "abs", "rel", "/x/../../secret" };
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    {
      assert_int_equal (fk_client_file_read (f->c, paths[i], 100, &data, &len, &err), -1);
      assert_int_equal (err.code, ENOENT);
      fk_error_clear (&err);
    }
  /* Writes through them land inside the root, never on the host file. */
  assert_int_equal (fk_client_file_write (f->c, "../secret", "in", 2, 0, 0, &err), 0);
  assert_int_equal (fk_client_file_write (f->c, "rel", "via", 3, 0, FK_FILE_APPEND, &err), 0);
  cleanup_free char *host = NULL;
  size_t hlen;
  assert_int_equal (fk_read_file_at (AT_FDCWD, secret, 100, &host, &hlen, &err), 0);
  assert_string_equal (host, "host secret");
  cleanup_free char *inside = xasprintf ("%s/secret", f->a.root);
  cleanup_free char *in = NULL;
  assert_int_equal (fk_read_file_at (AT_FDCWD, inside, 100, &in, &hlen, &err), 0);
  assert_string_equal (in, "invia");
  /* Replacing a symlink replaces the link, not its target. */
  assert_int_equal (fk_client_file_write (f->c, "abs", "link", 4, 0, 0, &err), 0);
  free (host);
  host = NULL;
  assert_int_equal (fk_read_file_at (AT_FDCWD, secret, 100, &host, &hlen, &err), 0);
  assert_string_equal (host, "host secret");
  /* chmod through a symlink changes the file inside the root. */
  assert_ok (fk_client_file_chmod (f->c, "rel", 0600, &err));
  struct stat st;
  assert_int_equal (stat (secret, &st), 0);
  assert_int_not_equal (st.st_mode & 07777, 0600);
  assert_int_equal (stat (inside, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  /* Removing through ".." stays inside too. */
  assert_ok (fk_client_file_remove (f->c, "/../../secret", 0, &err));
  assert_int_equal (access (secret, F_OK), 0);
  assert_int_equal (access (inside, F_OK), -1);
}

typedef struct worker
{
  fk_client_t *c;
  int index;
  int failures;
} worker_t;

static void *
worker_main (void *arg)
{
  worker_t *w = arg;
  for (int i = 0; i < 40; i++)
    {
      char cmd[64];
      snprintf (cmd, sizeof cmd, "printf %d-%d", w->index, i);
      fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = cmd };
      fk_exec_result_t r;
      fk_error_t err = FK_ERROR_INIT;
      char want[32];
      snprintf (want, sizeof want, "%d-%d", w->index, i);
      if (fk_client_exec (w->c, &o, 1024, &r, &err) < 0)
        {
          fprintf (stderr, "# worker %d: %s\n", w->index, fk_error_message (&err));
          fk_error_clear (&err);
          w->failures++;
          continue;
        }
      if (strcmp (r.out, want) != 0 || r.status.exit_code != 0)
        w->failures++;
      fk_exec_result_free (&r);
      char path[64];
      snprintf (path, sizeof path, "/w%d", w->index);
      if (fk_client_file_write (w->c, path, want, strlen (want), 0, 0, &err) < 0)
        {
          fk_error_clear (&err);
          w->failures++;
        }
    }
  return NULL;
}

static void
concurrent_requests_one_connection (void **state)
{
  fixture_t *f = *state;
  enum
  {
    N = 8
  };
  pthread_t t[N];
  worker_t w[N];
  for (int i = 0; i < N; i++)
    {
      w[i] = (worker_t){ f->c, i, 0 };
      assert_int_equal (pthread_create (&t[i], NULL, worker_main, &w[i]), 0);
    }
  for (int i = 0; i < N; i++)
    {
      pthread_join (t[i], NULL);
      assert_int_equal (w[i].failures, 0);
    }
}

static void
signals_to_the_agent_are_forwarded (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "trap 'echo got-usr1; exit 5' USR1; echo ready; "
                                "while :; do sleep 0.05; done" };
  fk_proc_t *p;
  assert_ok (fk_client_exec_start (f->c, &o, &p, &err));
  fk_proc_event_t ev;
  assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
  assert_memory_equal (ev.data, "ready\n", 6);
  kill (f->a.pid, SIGUSR1);
  char out[256] = "";
  size_t len = 0;
  for (;;)
    {
      assert_int_equal (fk_proc_next (p, 10000, &ev, &err), 1);
      if (ev.kind == FK_PROC_EXIT)
        break;
      if (ev.kind == FK_PROC_STDOUT && len + ev.len < sizeof out)
        {
          memcpy (out + len, ev.data, ev.len);
          len += ev.len;
        }
    }
  assert_non_null (strstr (out, "got-usr1"));
  assert_int_equal (ev.status.exit_code, 5);
  fk_proc_free (p);
}

/* The bounds and deadlines hold the honest agent to nothing it does: files of every kind read
   whole, a short deadline does not cut a command without a timeout, nor an upload. */
static void
honest_agent_within_bounds (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  size_t big = 200000;
  char *data = xmalloc (big);
  for (size_t i = 0; i < big; i++)
    data[i] = (char)(i * 31 + 7);
  assert_ok (fk_client_file_write (f->c, "/big", data, big, 0644, 0, &err));
  assert_ok (fk_client_file_write (f->c, "/empty", "", 0, 0644, 0, &err));
  cleanup_free char *link = xasprintf ("%s/link", f->a.root);
  assert_int_equal (symlink ("big", link), 0);
  char *host = test_tmpdir ();
  cleanup_free char *out = xasprintf ("%s/out", host);
  const char *paths[] = { "/big", "/link", "/empty" };
  for (size_t i = 0; i < 3; i++)
    {
      int fd = open (out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      assert_true (fd >= 0);
      assert_ok (fk_client_file_read_fd (f->c, paths[i], fd, &err));
      char *got;
      size_t len;
      assert_int_equal (lseek (fd, 0, SEEK_SET), 0);
      assert_int_equal (fk_read_all (fd, 1 << 20, &got, &len, &err), 0);
      close (fd);
      assert_int_equal (len, i < 2 ? big : 0);
      if (len)
        assert_memory_equal (got, data, len);
      free (got);
    }
  /* Exactly max bytes is not too many. */
  char *got;
  size_t len;
  assert_ok (fk_client_file_read (f->c, "/big", big, &got, &len, &err));
  assert_int_equal (len, big);
  free (got);

  fk_client_set_deadline_ms (f->c, 100);
  /* A command without a timeout may take longer than the deadline; one with a timeout is
     ended by the agent, well before the client's own deadline for it. */
  fk_exec_result_t r = run_sh (f->c, "sleep 0.4; echo done");
  assert_string_equal (r.out, "done\n");
  fk_exec_result_free (&r);
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "sleep 5", .timeout_ms = 200 };
  assert_ok (fk_client_exec (f->c, &o, 100, &r, &err));
  assert_true (r.status.timed_out);
  fk_exec_result_free (&r);
  /* An upload of a few MiB from a pipe. */
  int pfd[2];
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  pid_t child = fork ();
  if (child == 0)
    {
      for (int i = 0; i < 20; i++)
        if (write (pfd[1], data, big) != (ssize_t)big)
          _exit (1);
      _exit (0);
    }
  close (pfd[1]);
  assert_ok (fk_client_file_write_fd (f->c, "/up", pfd[0], 0, 0, &err));
  close (pfd[0]);
  waitpid (child, NULL, 0);
  fk_file_stat_t st;
  assert_ok (fk_client_file_stat (f->c, "/up", &st, &err));
  assert_int_equal (st.size, 20 * big);
  fk_client_set_deadline_ms (f->c, 0);
  test_tmpdir_free (host);
  free (data);
}

static void
agent_gone_is_an_error (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "exec sleep 100" };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (f->c, &o, &p, &err), 0);
  kill (f->a.pid, SIGKILL);
  fk_proc_event_t ev;
  assert_true (fk_proc_next (p, 10000, &ev, &err) < 0);
  assert_true (err.code == EPIPE || err.code == ECONNRESET);
  fk_error_clear (&err);
  pid_t child = fk_proc_pid (p);
  fk_proc_free (p);
  int st;
  waitpid (f->a.pid, &st, 0);
  f->a.pid = 0;
  kill (child, SIGKILL);
  /* Every later request fails at once too. */
  fk_exec_result_t r;
  assert_true (fk_client_exec (f->c, &o, 10, &r, &err) < 0);
  fk_error_clear (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (exec_argv_and_shell, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_signal_and_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_bad_cwd_and_user, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_user_from_root_passwd, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_env_and_stdin, setup, teardown),
    cmocka_unit_test_setup_teardown (agent_env_set_and_get, setup, teardown),
    cmocka_unit_test_setup_teardown (agent_reroot_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_truncates_at_max, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_timeout_kills_group, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_background_job_does_not_hang, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_stream_order, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_poll_fd_event_loop, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_nonblocking_poll_fd, setup, teardown),
    cmocka_unit_test_setup_teardown (exec_pty_and_resize, setup, teardown),
    cmocka_unit_test_setup_teardown (ps_signal_attach, setup, teardown),
    cmocka_unit_test_setup_teardown (files_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown (files_contained_in_root, setup, teardown),
    cmocka_unit_test_setup_teardown (concurrent_requests_one_connection, setup, teardown),
    cmocka_unit_test_setup_teardown (signals_to_the_agent_are_forwarded, setup, teardown),
    cmocka_unit_test_setup_teardown (honest_agent_within_bounds, setup, teardown),
    cmocka_unit_test_setup_teardown (agent_gone_is_an_error, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
