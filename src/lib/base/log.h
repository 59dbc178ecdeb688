/* base/log.h: the one logger; one lower-case line per event, naming the object, handed to the
   handler the caller set (firkin/log.h). The library itself never writes to stderr. */
#ifndef FK_BASE_LOG_H
#define FK_BASE_LOG_H

#include "firkin/log.h"

void fk_log (fk_log_level_t level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Appends ": strerror(errnum)". */
void fk_log_errno (fk_log_level_t level, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_error(...) fk_log (FK_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) fk_log (FK_LOG_WARNING, __VA_ARGS__)
#define log_info(...) fk_log (FK_LOG_INFO, __VA_ARGS__)
#define log_debug(...) fk_log (FK_LOG_DEBUG, __VA_ARGS__)
#define log_error_errno(e, ...) fk_log_errno (FK_LOG_ERROR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) fk_log_errno (FK_LOG_WARNING, (e), __VA_ARGS__)

/* For firkin's own programs (fk, fk-image, fk-agent), not part of libfirkin (log_stderr.c is
   compiled into them, not into the library): sets the handler that writes each line to stderr
   as "NAME: LEVEL: message" in one write, and the level from $FIRKIN_LOG when it names one. The
   string is not copied. */
void fk_log_set_program (const char *name);

#endif
