/* Unit tests for sandbox/timeout and sandbox/events: the deadline file, rewritten in place,
   read back; one look of the watchdog (fk_timeout_check) against a fake freezer file and a
   child standing in for PID 1: it waits, pauses, leaves a paused sandbox alone, stops; the
   events it records, bounded. */
#include "testutil.h"

#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "sandbox/events.h"
#include "sandbox/timeout.h"

static void
write_read_rewrite (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  int w = openat (dfd, "deadline", O_WRONLY | O_CREAT, 0600);
  int r = openat (dfd, "deadline", O_RDONLY);
  fk_error_t err = FK_ERROR_INIT;
  int64_t d = 0;
  assert_int_equal (fk_timeout_read (r, &d), -1); /* empty: no deadline yet */
  assert_int_equal (fk_timeout_write (w, 1700000000, &err), 0);
  assert_int_equal (fk_timeout_read (r, &d), 0);
  assert_int_equal (d, 1700000000);
  /* Extending rewrites in place: a reader holding the fd sees the new value. */
  assert_int_equal (fk_timeout_write (w, 1800000123, &err), 0);
  assert_int_equal (fk_timeout_read (r, &d), 0);
  assert_int_equal (d, 1800000123);
  assert_int_equal (pwrite (w, "garbage\n", 8, 0), 8);
  assert_int_equal (fk_timeout_read (r, &d), -1);
  close (w);
  close (r);
  close (dfd);
  test_tmpdir_free (dir);
}

/* A sandbox directory with a deadline file, a fake freezer file holding freezer, and a child
   that sleeps as PID 1. */
typedef struct box
{
  char *dir;
  fk_timeout_fds_t fds;
  pid_t child;
} box_t;

static void
box_open (box_t *b, int64_t deadline, const char *freezer)
{
  b->dir = test_tmpdir ();
  int dfd = open (b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int w = openat (dfd, "deadline", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_timeout_write (w, deadline, &err), 0);
  close (w);
  int fz = openat (dfd, "freezer", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  assert_int_equal (write (fz, freezer, strlen (freezer)), (ssize_t)strlen (freezer));
  b->child = fork ();
  if (b->child == 0)
    {
      pause ();
      _exit (0);
    }
  b->fds.deadline = openat (dfd, "deadline", O_RDONLY | O_CLOEXEC);
  b->fds.pid1 = pidfd_open (b->child, 0);
  b->fds.dir = dfd;
  b->fds.freeze = fz;
  assert_true (b->fds.pid1 >= 0);
}

/* Ends the child; returns the signal that ended it (SIGKILL when the test had to). */
static int
box_close (box_t *b)
{
  struct timespec ms = { 0, 20000000 };
  nanosleep (&ms, NULL);
  int status;
  pid_t r = waitpid (b->child, &status, WNOHANG);
  if (r == 0)
    {
      kill (b->child, SIGKILL);
      waitpid (b->child, &status, 0);
    }
  close (b->fds.deadline);
  close (b->fds.pid1);
  close (b->fds.dir);
  close (b->fds.freeze);
  test_tmpdir_free (b->dir);
  return WIFSIGNALED (status) ? WTERMSIG (status) : 0;
}

static char *
slurp_at (int dfd, const char *name)
{
  char *text = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (dfd, name, 1 << 20, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return xstrdup ("");
    }
  return text;
}

static void
check_waits_before_the_deadline (void **state)
{
  box_t b;
  int64_t now = time (NULL), d;
  box_open (&b, now + 100, "0\n");
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_PAUSE, now, &d), FK_TIMEOUT_WAIT);
  assert_int_equal (d, now + 100);
  assert_int_equal (box_close (&b), SIGKILL); /* nothing was sent to it */
}

static void
check_pauses_then_leaves_it_alone (void **state)
{
  box_t b;
  int64_t now = time (NULL), d;
  box_open (&b, now - 1, "0\n");
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_PAUSE, now, &d), FK_TIMEOUT_PAUSED);
  cleanup_free char *fz = slurp_at (b.fds.dir, "freezer");
  assert_int_equal (fz[0], '1');
  assert_true (fk_timeout_frozen (b.fds.freeze));
  /* Paused past its deadline: nothing more happens, however often it looks. */
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_PAUSE, now + 60, &d), FK_TIMEOUT_PAUSED);
  cleanup_free char *ev = slurp_at (b.fds.dir, "events");
  fk_sandbox_event_t *e;
  size_t n;
  fk_events_parse (ev, strlen (ev), &e, &n);
  assert_int_equal (n, 1);
  assert_string_equal (e[0].name, "expired");
  assert_string_equal (e[0].detail, "paused at its deadline");
  fk_sandbox_events_free (e, n);
  assert_int_equal (box_close (&b), SIGKILL);
}

static void
check_pauses_on_v1 (void **state)
{
  box_t b;
  int64_t now = time (NULL), d;
  box_open (&b, now, "THAWED\n");
  assert_false (fk_timeout_frozen (b.fds.freeze));
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_PAUSE, now, &d), FK_TIMEOUT_PAUSED);
  cleanup_free char *fz = slurp_at (b.fds.dir, "freezer");
  assert_int_equal (strncmp (fz, "FROZEN", 6), 0);
  assert_int_equal (box_close (&b), SIGKILL);
}

static void
check_stops_a_running_one_only (void **state)
{
  box_t b;
  int64_t now = time (NULL), d;
  /* Paused with the delete action: a paused sandbox does not expire. */
  box_open (&b, now - 5, "1\n");
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_DELETE, now, &d), FK_TIMEOUT_PAUSED);
  assert_int_equal (box_close (&b), SIGKILL);
  /* Running: SIGTERM to PID 1. */
  box_open (&b, now - 5, "0\n");
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_DELETE, now, &d), FK_TIMEOUT_STOPPED);
  assert_int_equal (box_close (&b), SIGTERM);
  /* No freezer file: pause acts as delete. */
  box_open (&b, now - 5, "0\n");
  int fz = b.fds.freeze;
  b.fds.freeze = -1;
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_PAUSE, now, &d), FK_TIMEOUT_STOPPED);
  b.fds.freeze = fz;
  assert_int_equal (box_close (&b), SIGTERM);
}

static void
check_sees_a_deleted_sandbox (void **state)
{
  box_t b;
  int64_t now = time (NULL), d;
  box_open (&b, now - 5, "0\n");
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_rm_rf_at (AT_FDCWD, b.dir, &err), 0);
  assert_int_equal (fk_timeout_check (&b.fds, FK_TIMEOUT_DELETE, now, &d), FK_TIMEOUT_GONE);
  assert_int_equal (mkdir (b.dir, 0700), 0); /* for test_tmpdir_free */
  assert_int_equal (box_close (&b), SIGKILL);
}

static void
events_are_bounded (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; i < 3000; i++)
    assert_int_equal (fk_events_append (dfd, "timeout", "number %d\nwith a newline", i), 0);
  struct stat st;
  assert_int_equal (fstatat (dfd, "events", &st, 0), 0);
  assert_true (st.st_size <= (off_t)FK_SANDBOX_EVENTS_MAX);
  cleanup_free char *text = slurp_at (dfd, "events");
  fk_sandbox_event_t *e;
  size_t n;
  fk_events_parse (text, strlen (text), &e, &n);
  assert_true (n > 100 && n < 3000);
  assert_string_equal (e[n - 1].detail, "number 2999 with a newline");
  for (size_t i = 1; i < n; i++)
    assert_true (e[i].time_ms >= e[i - 1].time_ms);
  fk_sandbox_events_free (e, n);
  /* Malformed lines are skipped. */
  const char *bad = "x y z\n12 \n-5 a b\n1700000000000 created template base\n";
  fk_events_parse (bad, strlen (bad), &e, &n);
  assert_int_equal (n, 1);
  assert_int_equal (e[0].time_ms, 1700000000000LL);
  assert_string_equal (e[0].detail, "template base");
  fk_sandbox_events_free (e, n);
  close (dfd);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (write_read_rewrite),
    cmocka_unit_test (check_waits_before_the_deadline),
    cmocka_unit_test (check_pauses_then_leaves_it_alone),
    cmocka_unit_test (check_pauses_on_v1),
    cmocka_unit_test (check_stops_a_running_one_only),
    cmocka_unit_test (check_sees_a_deleted_sandbox),
    cmocka_unit_test (events_are_bounded),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
