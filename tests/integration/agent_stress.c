/* Integration test (TAP) of fk-agent and the client under load and faults: 1 GB of stdout in
   bounded memory on both sides, a 100 MB file round trip, the agent killed mid-command,
   SIGTERM with a command that ignores it, orphan reaping, and exec latency. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/agentutil.h"
#include "base/xalloc.h"
#include "firkin/client.h"

static int n_test, failed;

#if defined(__SANITIZE_ADDRESS__)
static const int asan = 1;
#else
static const int asan = 0;
#endif

static void ok (int cond, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
ok (int cond, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s %d - ", cond ? "ok" : "not ok", ++n_test);
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  fflush (stdout);
  if (!cond)
    failed = 1;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set of a process in KiB (VmHWM). */
static long
peak_rss_kb (pid_t pid)
{
  char path[64], line[256];
  snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen (path, "r");
  long kb = -1;
  while (f && fgets (line, sizeof line, f))
    if (sscanf (line, "VmHWM: %ld kB", &kb) == 1)
      break;
  if (f)
    fclose (f);
  return kb;
}

/* A connection to the agent, or NULL after a failed check. */
static fk_client_t *
connect_or_fail (test_agent_t *a)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c;
  if (fk_client_connect (a->sock, &c, &err) == 0)
    return c;
  ok (0, "connect: %s", fk_error_message (&err));
  fk_error_clear (&err);
  return NULL;
}

static void
big_stdout (test_agent_t *a)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = connect_or_fail (a);
  if (c == NULL)
    return;
  long self_before = peak_rss_kb (getpid ());
  fk_exec_opts_t o
      = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "head -c 1073741824 /dev/zero" };
  fk_proc_t *p;
  uint64_t total = 0;
  int exit_code = -1, bad = 0;
  double t0 = now_s ();
  if (fk_client_exec_start (c, &o, &p, &err) == 0)
    {
      for (;;)
        {
          fk_proc_event_t ev;
          if (fk_proc_next (p, 60000, &ev, &err) <= 0)
            {
              bad = 1;
              break;
            }
          if (ev.kind == FK_PROC_EXIT)
            {
              exit_code = ev.status.exit_code;
              break;
            }
          total += ev.len;
        }
      fk_proc_free (p);
    }
  double secs = now_s () - t0;
  long agent_kb = peak_rss_kb (a->pid);
  long self_kb = peak_rss_kb (getpid ());
  ok (!bad && exit_code == 0 && total == (1ull << 30),
      "1 GiB of stdout streamed whole (%llu bytes, %.1f s, %.0f MiB/s)", (unsigned long long)total,
      secs, (double)total / secs / 1048576.0);
  if (bad)
    printf ("# %s\n", fk_error_message (&err));
  fk_error_clear (&err);
  /* The agent's queue stops at ~1 MiB and the client reads frame by frame. */
  ok (agent_kb > 0 && agent_kb < 16 * 1024, "agent peak RSS %ld KiB (< 16 MiB)", agent_kb);
  if (asan)
    printf ("ok %d - client peak RSS # SKIP ASan keeps freed memory in quarantine (grew %ld KiB)\n",
            ++n_test, self_kb - self_before);
  else
    ok (self_kb - self_before < 32 * 1024, "client peak RSS grew %ld KiB (< 32 MiB)",
        self_kb - self_before);
  fk_client_close (c);
}

static int
fill_random_file (const char *path, size_t size)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  uint8_t *buf = xmalloc (1 << 20);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t done = 0; done < size; done += 1 << 20)
    {
      for (size_t i = 0; i < (1 << 20); i += 8)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          memcpy (buf + i, &x, 8);
        }
      if (write (fd, buf, 1 << 20) != 1 << 20)
        {
          free (buf);
          close (fd);
          return -1;
        }
    }
  free (buf);
  return close (fd);
}

static int
same_files (const char *a, const char *b)
{
  char *cmd = xasprintf ("cmp -s '%s' '%s'", a, b);
  int r = system (cmd);
  free (cmd);
  return r == 0;
}

static void
big_file (test_agent_t *a)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = connect_or_fail (a);
  if (c == NULL)
    return;
  char *src = xasprintf ("%s/src.bin", a->dir);
  char *back = xasprintf ("%s/back.bin", a->dir);
  char *inside = xasprintf ("%s/data/big.bin", a->root);
  size_t size = 100u << 20;
  if (fill_random_file (src, size) < 0)
    {
      ok (0, "write the source file");
      return;
    }
  long self_before = peak_rss_kb (getpid ());
  int in = open (src, O_RDONLY | O_CLOEXEC);
  double t0 = now_s ();
  int r = fk_client_file_write_fd (c, "/data/big.bin", in, 0600, FK_FILE_PARENTS, &err);
  double t1 = now_s ();
  close (in);
  ok (r == 0 && same_files (src, inside), "100 MiB written in (%.2f s), identical inside the root",
      t1 - t0);
  if (r < 0)
    printf ("# %s\n", fk_error_message (&err));
  fk_error_clear (&err);
  int out = open (back, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  t0 = now_s ();
  r = fk_client_file_read_fd (c, "/data/big.bin", out, &err);
  t1 = now_s ();
  close (out);
  ok (r == 0 && same_files (src, back), "100 MiB read back (%.2f s), identical", t1 - t0);
  fk_error_clear (&err);
  fk_file_stat_t st;
  r = fk_client_file_stat (c, "/data/big.bin", &st, &err);
  ok (r == 0 && st.size == size && st.mode == 0600, "stat says %llu bytes, mode %o",
      (unsigned long long)st.size, st.mode);
  fk_error_clear (&err);
  long self_kb = peak_rss_kb (getpid ());
  if (asan)
    printf ("ok %d - client peak RSS # SKIP ASan keeps freed memory in quarantine (grew %ld KiB)\n",
            ++n_test, self_kb - self_before);
  else
    ok (self_kb - self_before < 32 * 1024, "client peak RSS grew %ld KiB during the copies",
        self_kb - self_before);
  ok (peak_rss_kb (a->pid) < 16 * 1024, "agent peak RSS %ld KiB", peak_rss_kb (a->pid));
  unlink (src);
  unlink (back);
  free (src);
  free (back);
  free (inside);
  fk_client_close (c);
}

static int
zombie_children (pid_t agent_pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int)agent_pid, (int)agent_pid);
  FILE *f = fopen (path, "r");
  int pid, zombies = 0;
  while (f && fscanf (f, "%d", &pid) == 1)
    {
      char sp[64], line[256];
      snprintf (sp, sizeof sp, "/proc/%d/stat", pid);
      FILE *s = fopen (sp, "r");
      if (s && fgets (line, sizeof line, s))
        {
          char *rp = strrchr (line, ')');
          if (rp && rp[1] == ' ' && rp[2] == 'Z')
            zombies++;
        }
      if (s)
        fclose (s);
    }
  if (f)
    fclose (f);
  return zombies;
}

static void
reaping_and_latency (test_agent_t *a)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = connect_or_fail (a);
  if (c == NULL)
    return;
  /* Orphans: each subshell's child outlives it and is reparented to the agent. */
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "for i in 1 2 3 4 5 6 7 8 9 10; do (sleep 0.05 &); done" };
  fk_exec_result_t r;
  int rc = fk_client_exec (c, &o, 1024, &r, &err);
  if (rc == 0)
    fk_exec_result_free (&r);
  fk_error_clear (&err);
  int z = -1;
  for (int i = 0; i < 500; i++)
    {
      /* Poll: the orphans exit after 50 ms; none may stay a zombie. */
      char path[64];
      snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int)a->pid, (int)a->pid);
      FILE *f = fopen (path, "r");
      int any = f && fgetc (f) != EOF;
      if (f)
        fclose (f);
      z = zombie_children (a->pid);
      if (!any)
        break;
      test_sleep_ms (10);
    }
  ok (rc == 0 && z == 0, "orphans of commands are reaped (zombies left: %d)", z);

  /* Exec latency of `true` on one connection. */
  enum
  {
    N = 200
  };
  double lat[N];
  char *argv[] = { (char *)"/bin/true", NULL };
  fk_exec_opts_t t = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  int bad = 0;
  for (int i = 0; i < N; i++)
    {
      double t0 = now_s ();
      if (fk_client_exec (c, &t, 64, &r, &err) < 0 || r.status.exit_code != 0)
        bad = 1;
      else
        fk_exec_result_free (&r);
      fk_error_clear (&err);
      lat[i] = now_s () - t0;
    }
  for (int i = 1; i < N; i++)
    for (int j = i; j > 0 && lat[j] < lat[j - 1]; j--)
      {
        double tmp = lat[j];
        lat[j] = lat[j - 1];
        lat[j - 1] = tmp;
      }
  ok (!bad, "exec /bin/true x%d: p50 %.0f us, p95 %.0f us", N, lat[N / 2] * 1e6,
      lat[N * 95 / 100] * 1e6);
  fk_client_close (c);
}

static void
agent_killed (void)
{
  test_agent_t a = { 0 };
  if (test_agent_start (&a, NULL) < 0)
    {
      ok (0, "start the agent");
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c;
  fk_proc_t *p = NULL;
  int started = fk_client_connect (a.sock, &c, &err) == 0;
  fk_exec_opts_t o
      = { .version = FK_EXEC_OPTIONS_VERSION, .shell = "echo running; exec sleep 100" };
  started = started && fk_client_exec_start (c, &o, &p, &err) == 0;
  fk_proc_event_t ev;
  started = started && fk_proc_next (p, 10000, &ev, &err) == 1;
  pid_t child = p ? fk_proc_pid (p) : 0;
  kill (a.pid, SIGKILL);
  double t0 = now_s ();
  int r = started ? fk_proc_next (p, 20000, &ev, &err) : 0;
  double dt = now_s () - t0;
  ok (started && r < 0 && dt < 5, "agent killed mid-command: the client gets `%s' in %.3f s",
      fk_error_message (&err), dt);
  fk_error_clear (&err);
  fk_proc_free (p);
  fk_client_close (c);
  int st;
  waitpid (a.pid, &st, 0);
  a.pid = 0;
  if (child > 0)
    kill (-child, SIGKILL);
  test_agent_stop (&a);
}

static void
sigterm_grace (void)
{
  test_agent_t a = { 0 };
  if (test_agent_start (&a, "--grace-ms=300") < 0)
    {
      ok (0, "start the agent");
      return;
    }
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = NULL;
  fk_proc_t *p = NULL;
  int started = fk_client_connect (a.sock, &c, &err) == 0;
  /* The shell and its sleep ignore SIGTERM. */
  fk_exec_opts_t o = { .version = FK_EXEC_OPTIONS_VERSION,
                       .shell = "trap '' TERM; echo ready; sleep 100; echo not-killed",
                       .keep = 1 };
  started = started && fk_client_exec_start (c, &o, &p, &err) == 0;
  fk_proc_event_t ev;
  started = started && fk_proc_next (p, 10000, &ev, &err) == 1;
  pid_t child = p ? fk_proc_pid (p) : 0;
  double t0 = now_s ();
  kill (a.pid, SIGTERM);
  int st = 0;
  waitpid (a.pid, &st, 0);
  double dt = now_s () - t0;
  a.pid = 0;
  ok (started && WIFEXITED (st) && WEXITSTATUS (st) == 0 && dt >= 0.25 && dt < 5,
      "SIGTERM: a command ignoring it is killed after the grace period; exit 0 in %.2f s", dt);
  ok (child > 0 && kill (child, 0) < 0 && errno == ESRCH, "nothing of it is left");
  fk_error_clear (&err);
  fk_proc_free (p);
  fk_client_close (c);
  test_agent_stop (&a);
}

int
main (void)
{
  printf ("1..14\n");
  test_agent_t a = { 0 };
  if (test_agent_start (&a, NULL) < 0)
    {
      printf ("Bail out! cannot start fk-agent ($FK_AGENT)\n");
      return 1;
    }
  big_stdout (&a);
  big_file (&a);
  reaping_and_latency (&a);
  ok (test_agent_stop (&a) == 0, "agent stops on SIGTERM with exit 0");
  agent_killed ();
  sigterm_grace ();
  printf ("# %d tests\n", n_test);
  return failed;
}
