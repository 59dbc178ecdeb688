/* firkin/log.h: where libfirkin's log lines go. The library never writes to a terminal or a file
   itself: each line it logs at or above the level goes to the handler the caller set, and with
   no handler (the default) it is dropped. Lines are lower-case, one event each, naming the
   object ("removing sandbox `0a1b2c3d4e5f' (its PID 1 is gone)"). */
#ifndef FIRKIN_LOG_H
#define FIRKIN_LOG_H

typedef enum
{
  FK_LOG_ERROR = 0,
  FK_LOG_WARNING = 1,
  FK_LOG_INFO = 2,
  FK_LOG_DEBUG = 3,
} fk_log_level_t;

/* A message is cut to at most this many bytes, its NUL included. */
#define FK_LOG_MAX_MESSAGE 1984

/* Receives one line: its level and the message (no trailing newline), valid during the call.
   It runs in the thread that logged, or in a process the library forked (the warm pool's
   helper), so it must be thread-safe and must not call back into libfirkin. */
typedef void (*fk_log_fn) (void *userdata, fk_log_level_t level, const char *message);

/* Sets the process's handler (NULL: drop every line). Set it before other threads use the
   library. */
void fk_log_set_handler (fk_log_fn fn, void *userdata);

/* The level: lines less severe than it are not formatted at all (default FK_LOG_WARNING). */
void fk_log_set_level (fk_log_level_t level);
fk_log_level_t fk_log_get_level (void);

/* Parses a level name (error, warning, info, debug); -1 on an unknown one or NULL. */
int fk_log_level_parse (const char *name, fk_log_level_t *ret_level);
/* The name of a level ("warning"), "unknown" for a value out of range. */
const char *fk_log_level_name (fk_log_level_t level);

#endif
