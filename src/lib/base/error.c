/* base/error.c: see error.h. */
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static int vset (fk_error_t *err, int code, const char *suffix, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 4, 0)));

static int
vset (fk_error_t *err, int code, const char *suffix, const char *fmt, va_list ap)
{
  if (err == NULL || err->msg != NULL)
    return -1;
  char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    abort ();
  if (suffix != NULL)
    {
      char *full = xasprintf ("%s: %s", msg, suffix);
      free (msg);
      msg = full;
    }
  err->code = code;
  err->msg = msg;
  return -1;
}

int
fk_error_set (fk_error_t *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vset (err, code, NULL, fmt, ap);
  va_end (ap);
  return -1;
}

int
fk_error_set_errno (fk_error_t *err, const char *fmt, ...)
{
  int saved = errno;
  va_list ap;
  va_start (ap, fmt);
  vset (err, saved, strerror (saved), fmt, ap);
  va_end (ap);
  errno = saved;
  return -1;
}

int
fk_error_wrap (fk_error_t *err, const char *fmt, ...)
{
  if (err == NULL)
    return -1;
  char *ctx = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    abort ();
  va_end (ap);
  if (err->msg == NULL)
    {
      err->msg = ctx;
      return -1;
    }
  char *full = xasprintf ("%s: %s", ctx, err->msg);
  free (ctx);
  free (err->msg);
  err->msg = full;
  return -1;
}

int
fk_error_is_set (const fk_error_t *err)
{
  return err != NULL && err->msg != NULL;
}

void
fk_error_clear (fk_error_t *err)
{
  if (err == NULL)
    return;
  free (err->msg);
  err->msg = NULL;
  err->code = 0;
}

const char *
fk_error_message (const fk_error_t *err)
{
  if (err == NULL || err->msg == NULL)
    return "unknown error";
  return err->msg;
}

int
fk_options_check_version (unsigned version, unsigned current, const char *type,
                          const char *init_macro, fk_error_t *err)
{
  if (version >= 1 && version <= current)
    return 0;
  return fk_error_set (err, EINVAL,
                       "%s: unknown version %u (this libfirkin knows 1 to %u): initialize it "
                       "with %s",
                       type, version, current, init_macro);
}
