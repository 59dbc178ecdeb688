/* base/error.h: explicit error objects; a failing call fills one once, where it happened. */
#ifndef FK_BASE_ERROR_H
#define FK_BASE_ERROR_H

#include <stdarg.h>

typedef struct fk_error
{
  int code;  /* an errno value, or 0 when the failure has none */
  char *msg; /* owned; NULL when no error is set */
} fk_error_t;

#define FK_ERROR_INIT                                                                              \
  {                                                                                                \
    0, NULL                                                                                        \
  }

/* Sets the error unless one is set already ("never overwrite a lower error"); returns -1. */
int fk_error_set (fk_error_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Like fk_error_set, code = errno and ": strerror(errno)" appended. */
int fk_error_set_errno (fk_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Prefixes the set error with "context: "; returns -1. A NULL or unset err gets the context alone.
 */
int fk_error_wrap (fk_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* True when err holds an error. */
int fk_error_is_set (const fk_error_t *err);

/* Frees the message and resets err to FK_ERROR_INIT; safe on an unset error. */
void fk_error_clear (fk_error_t *err);

/* The message, or "unknown error" when none is set; owned by err. */
const char *fk_error_message (const fk_error_t *err);

#endif
