/* base/log.c: see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static fk_log_level_t threshold = FK_LOG_WARNING;
static fk_log_fn handler;
static void *handler_data;

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

const char *
fk_log_level_name (fk_log_level_t level)
{
  if ((unsigned)level >= sizeof names / sizeof names[0])
    return "unknown";
  return names[level];
}

fk_log_level_t
fk_log_get_level (void)
{
  return threshold;
}

void
fk_log_set_level (fk_log_level_t level)
{
  threshold = level;
}

void
fk_log_set_handler (fk_log_fn fn, void *userdata)
{
  handler = fn;
  handler_data = userdata;
}

static void vlog (fk_log_level_t level, int errnum, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 3, 0)));

static void
vlog (fk_log_level_t level, int errnum, const char *fmt, va_list ap)
{
  /* Nothing is formatted for a line nobody will see. */
  fk_log_fn fn = handler;
  if (fn == NULL || level > threshold)
    return;
  char msg[FK_LOG_MAX_MESSAGE];
  size_t off = 0;
  int m = vsnprintf (msg, sizeof msg, fmt, ap);
  if (m > 0)
    off = (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
  if (errnum != 0 && off < sizeof msg - 1)
    snprintf (msg + off, sizeof msg - off, ": %s", strerror (errnum));
  fn (handler_data, level, msg);
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
