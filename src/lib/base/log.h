/* base/log.h: the one logger; one lower-case line per event on stderr, naming the object. */
#ifndef FK_BASE_LOG_H
#define FK_BASE_LOG_H

typedef enum
{
  FK_LOG_ERROR = 0,
  FK_LOG_WARNING = 1,
  FK_LOG_INFO = 2,
  FK_LOG_DEBUG = 3,
} fk_log_level_t;

/* Sets the threshold; the default comes from FIRKIN_LOG (error|warning|info|debug), else warning.
 */
void fk_log_set_level (fk_log_level_t level);
fk_log_level_t fk_log_get_level (void);
/* Parses a level name; returns -1 on an unknown one. */
int fk_log_level_parse (const char *name, fk_log_level_t *ret_level);
/* Sets the program name printed before each line (default "firkin"); the string is not copied. */
void fk_log_set_program (const char *name);

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

#endif
