/* Unit tests for base/log: levels, the threshold, one line per event with the errno text, the
   handler every line goes to (none: nothing is written anywhere), and the stderr handler of
   firkin's own programs (log_stderr.c). */
#include "testutil.h"

#include <errno.h>

#include "base/log.h"

static char *
capture (void (*fn) (void))
{
  char path[] = "/tmp/firkin-log.XXXXXX";
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  unlink (path);
  fflush (stderr);
  int saved = dup (2);
  dup2 (fd, 2);
  fn ();
  fflush (stderr);
  dup2 (saved, 2);
  close (saved);
  lseek (fd, 0, SEEK_SET);
  char *buf = NULL;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_read_all (fd, 1 << 16, &buf, NULL, &err), 0);
  close (fd);
  return buf;
}

static void
emit_all (void)
{
  fk_log_set_program ("fk");
  fk_log_set_level (FK_LOG_INFO);
  log_error ("open `%s'", "a");
  log_info ("info line");
  log_debug ("not shown");
  log_error_errno (ENOENT, "stat `%s'", "b");
}

static void
lines_respect_threshold (void **state)
{
  char *out = capture (emit_all);
  assert_string_equal (out, "fk: error: open `a'\n"
                            "fk: info: info line\n"
                            "fk: error: stat `b': No such file or directory\n");
  free (out);
}

static void
level_names_parse (void **state)
{
  fk_log_level_t l;
  assert_int_equal (fk_log_level_parse ("debug", &l), 0);
  assert_int_equal (l, FK_LOG_DEBUG);
  assert_int_equal (fk_log_level_parse ("warning", &l), 0);
  assert_int_equal (l, FK_LOG_WARNING);
  assert_int_equal (fk_log_level_parse ("loud", &l), -1);
  assert_int_equal (fk_log_level_parse (NULL, &l), -1);
}

static void
emit_long (void)
{
  char big[5000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  fk_log_set_level (FK_LOG_ERROR);
  log_error ("%s", big);
}

static void
long_line_is_cut_not_overflowed (void **state)
{
  char *out = capture (emit_long);
  size_t n = strlen (out);
  assert_true (n > 1000 && n <= 2048);
  assert_int_equal (out[n - 1], '\n');
  free (out);
}

typedef struct seen
{
  int n;
  fk_log_level_t level;
  char message[FK_LOG_MAX_MESSAGE + 1];
} seen_t;

static void
remember (void *userdata, fk_log_level_t level, const char *message)
{
  seen_t *s = userdata;
  s->n++;
  s->level = level;
  snprintf (s->message, sizeof s->message, "%s", message);
}

static void
lines_go_to_the_handler (void **state)
{
  seen_t s = { 0 };
  fk_log_set_handler (remember, &s);
  fk_log_set_level (FK_LOG_WARNING);
  log_warning ("removing `%s'", "x");
  assert_int_equal (s.n, 1);
  assert_int_equal (s.level, FK_LOG_WARNING);
  assert_string_equal (s.message, "removing `x'");
  log_info ("below the level");
  assert_int_equal (s.n, 1);
  log_error_errno (EACCES, "open `%s'", "y");
  assert_int_equal (s.n, 2);
  assert_string_equal (s.message, "open `y': Permission denied");
  char big[5000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  log_error ("%s", big);
  assert_int_equal (strlen (s.message), FK_LOG_MAX_MESSAGE - 1);
  fk_log_set_handler (NULL, NULL);
}

static void
emit_without_handler (void)
{
  fk_log_set_handler (NULL, NULL);
  fk_log_set_level (FK_LOG_DEBUG);
  log_error ("nobody listens");
  log_debug ("nobody listens");
}

static void
without_a_handler_nothing_is_written (void **state)
{
  char *out = capture (emit_without_handler);
  assert_string_equal (out, "");
  free (out);
}

static void
level_names (void **state)
{
  assert_string_equal (fk_log_level_name (FK_LOG_ERROR), "error");
  assert_string_equal (fk_log_level_name (FK_LOG_DEBUG), "debug");
  assert_string_equal (fk_log_level_name ((fk_log_level_t)9), "unknown");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (lines_respect_threshold),
    cmocka_unit_test (level_names_parse),
    cmocka_unit_test (long_line_is_cut_not_overflowed),
    cmocka_unit_test (lines_go_to_the_handler),
    cmocka_unit_test (without_a_handler_nothing_is_written),
    cmocka_unit_test (level_names),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
