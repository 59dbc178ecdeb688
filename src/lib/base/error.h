/* base/error.h: explicit error objects; a failing call fills one once, where it happened. The
   type and what users of the library read are public (firkin/error.h); setting errors is the
   library's own. */
#ifndef FK_BASE_ERROR_H
#define FK_BASE_ERROR_H

#include <stdarg.h>

#include "firkin/error.h"

/* Sets the error unless one is set already ("never overwrite a lower error"); returns -1. */
int fk_error_set (fk_error_t *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Like fk_error_set, code = errno and ": strerror(errno)" appended. */
int fk_error_set_errno (fk_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Prefixes the set error with "context: "; returns -1. A NULL or unset err gets the context alone.
 */
int fk_error_wrap (fk_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Checks the version of a public options struct (NULL opts are fine and checked by no one):
   known versions are 1 to current; anything else is EINVAL naming the struct and its _INIT
   macro. Returns 0 or -1. */
int fk_options_check_version (unsigned version, unsigned current, const char *type,
                              const char *init_macro, fk_error_t *err);

#endif
