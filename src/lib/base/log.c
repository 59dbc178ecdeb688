/* base/log.c: see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int level_set = 0;
static fk_log_level_t threshold = FK_LOG_WARNING;
static const char *program = "firkin";

static const char *const names[] = { "error", "warning", "info", "debug" };

int
fk_log_level_parse (const char *name, fk_log_level_t *ret_level)
{
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (name != NULL && strcmp (name, names[i]) == 0)
      {
        *ret_level = (fk_log_level_t)i;
        return 0;
      }
  return -1;
}

fk_log_level_t
fk_log_get_level (void)
{
  if (!level_set)
    {
      fk_log_level_t l;
      if (fk_log_level_parse (getenv ("FIRKIN_LOG"), &l) == 0)
        threshold = l;
      level_set = 1;
    }
  return threshold;
}

void
fk_log_set_level (fk_log_level_t level)
{
  threshold = level;
  level_set = 1;
}

void
fk_log_set_program (const char *name)
{
  program = name;
}

static void vlog (fk_log_level_t level, int errnum, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 3, 0)));

static void
vlog (fk_log_level_t level, int errnum, const char *fmt, va_list ap)
{
  if (level > fk_log_get_level ())
    return;
  char line[2048];
  int n = snprintf (line, sizeof line, "%s: %s: ", program, names[level]);
  if (n < 0)
    return;
  size_t off = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  int m = vsnprintf (line + off, sizeof line - off, fmt, ap);
  if (m > 0)
    off += (size_t)m < sizeof line - off ? (size_t)m : sizeof line - off - 1;
  if (errnum != 0 && off < sizeof line - 1)
    {
      m = snprintf (line + off, sizeof line - off, ": %s", strerror (errnum));
      if (m > 0)
        off += (size_t)m < sizeof line - off ? (size_t)m : sizeof line - off - 1;
    }
  /* One write per line so concurrent processes do not interleave within a line. */
  fprintf (stderr, "%.*s\n", (int)off, line);
}

void
fk_log (fk_log_level_t level, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vlog (level, 0, fmt, ap);
  va_end (ap);
}

void
fk_log_errno (fk_log_level_t level, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vlog (level, errnum, fmt, ap);
  va_end (ap);
}
