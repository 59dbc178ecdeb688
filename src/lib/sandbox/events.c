/* sandbox/events.c: see events.h. */
#include "sandbox/events.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/xalloc.h"

#define EVENT_LINE_MAX 512

/* Keeps the newer half of the file (from a line's start), through a temporary file and a
   rename. */
static int
trim (int dirfd)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *text = NULL;
  size_t len;
  if (fk_read_file_at (dirfd, "events", 4 * FK_SANDBOX_EVENTS_MAX, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return -1;
    }
  const char *keep = memchr (text + len / 2, '\n', len - len / 2);
  keep = keep ? keep + 1 : text + len;
  int r = fk_write_file_atomic_at (dirfd, "events", keep, (size_t)(text + len - keep), 0600, &err);
  fk_error_clear (&err);
  return r;
}

int
fk_events_append (int dirfd, const char *name, const char *fmt, ...)
{
  char line[EVENT_LINE_MAX];
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int n = snprintf (line, sizeof line, "%" PRId64 " %s ", ms, name);
  if (n < 0 || (size_t)n >= sizeof line - 1)
    return -1;
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end (ap);
  size_t len = strlen (line);
  for (size_t i = (size_t)n; i < len; i++)
    if (line[i] == '\n' || line[i] == '\r')
      line[i] = ' ';
  line[len++] = '\n';
  struct stat st;
  if (fstatat (dirfd, "events", &st, AT_SYMLINK_NOFOLLOW) == 0
      && (uint64_t)st.st_size + len > FK_SANDBOX_EVENTS_MAX)
    trim (dirfd);
  cleanup_close int fd
      = openat (dirfd, "events", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  return write (fd, line, len) == (ssize_t)len ? 0 : -1;
}

void
fk_events_parse (const char *text, size_t len, fk_sandbox_event_t **ret_events, size_t *ret_n)
{
  fk_sandbox_event_t *ev = NULL;
  size_t n = 0, cap = 0;
  const char *p = text, *end = text + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t)(end - p));
      const char *le = nl ? nl : end;
      cleanup_free char *line = xstrndup (p, (size_t)(le - p));
      p = nl ? nl + 1 : end;
      char *rest;
      errno = 0;
      long long ms = strtoll (line, &rest, 10);
      if (errno || rest == line || *rest != ' ' || ms < 0)
        continue;
      char *name = rest + 1, *sp = strchr (name, ' ');
      if (sp == NULL || sp == name)
        continue;
      *sp = '\0';
      xgrow ((void **)&ev, &cap, n + 1, sizeof *ev);
      ev[n].time_ms = ms;
      ev[n].name = xstrdup (name);
      ev[n].detail = xstrdup (sp + 1);
      n++;
    }
  *ret_events = ev;
  *ret_n = n;
}
