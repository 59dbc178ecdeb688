/* base/log_stderr.c: the log handler of firkin's own programs (fk_log_set_program in log.h).
   Compiled into fk, fk-image, fk-agent and fk-timeout, never into libfirkin: the library only
   hands lines to a handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

static void
to_stderr (void *userdata, fk_log_level_t level, const char *message)
{
  const char *program = userdata;
  char line[FK_LOG_MAX_MESSAGE + 64];
  int n = snprintf (line, sizeof line, "%s: %s: %s\n", program, fk_log_level_name (level), message);
  if (n <= 0)
    return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  line[len - 1] = '\n';
  /* One write per line so concurrent processes do not interleave within a line. */
  fflush (stderr);
  if (write (STDERR_FILENO, line, len) < 0)
    return;
}

void
fk_log_set_program (const char *name)
{
  fk_log_level_t level;
  if (fk_log_level_parse (getenv ("FIRKIN_LOG"), &level) == 0)
    fk_log_set_level (level);
  fk_log_set_handler (to_stderr, (void *)name);
}
