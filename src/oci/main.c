/* oci/main.c: fk-oci's global options (runc's: --root, --log, --log-format, --systemd-cgroup),
   the error log its callers read, and the verb table. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "oci/oci.h"

oci_globals_t oci_g = { .root = "/run/fk-oci" };

/* One line to --log: {"level","msg","time"} in JSON (what containerd and conmon show to the
   user: the last error line), else runc's text form. */
static void
log_line (const char *level, const char *msg)
{
  if (oci_g.log == NULL)
    return;
  int fd = open (oci_g.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    return;
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r (&ts.tv_sec, &tm);
  char when[64];
  snprintf (when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  char *line;
  if (oci_g.log_json)
    {
      json_t *o = json_pack ("{s:s,s:s,s:s}", "level", level, "msg", msg, "time", when);
      char *text = o ? json_dumps (o, JSON_COMPACT) : NULL;
      json_decref (o);
      line = xasprintf ("%s\n", text ? text : "{}");
      free (text);
    }
  else
    line = xasprintf ("time=\"%s\" level=%s msg=\"%s\"\n", when, level, msg);
  (void)!write (fd, line, strlen (line));
  free (line);
  close (fd);
}

static int
fail_msg (const char *msg)
{
  fprintf (stderr, "fk-oci: %s\n", msg);
  log_line ("error", msg);
  return 1;
}

int
oci_fail (fk_error_t *err)
{
  int r = fail_msg (fk_error_message (err));
  fk_error_clear (err);
  return r;
}

/* fmt with its arguments, NULL when that fails (the caller says fmt itself). */
static char *vformat (const char *fmt, va_list ap) __attribute__ ((format (printf, 1, 0)));
static char *
vformat (const char *fmt, va_list ap)
{
  char *msg = NULL;
  if (vasprintf (&msg, fmt, ap) < 0)
    msg = NULL;
  return msg;
}

int
oci_failf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = vformat (fmt, ap);
  va_end (ap);
  int r = fail_msg (msg ? msg : fmt);
  free (msg);
  return r;
}

void
oci_warn (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *msg = vformat (fmt, ap);
  va_end (ap);
  fprintf (stderr, "fk-oci: warning: %s\n", msg ? msg : fmt);
  log_line ("warning", msg ? msg : fmt);
  free (msg);
}

static const struct
{
  const char *name;
  int (*fn) (int, char **);
} verbs[] = {
  { "create", oci_create }, { "start", oci_start },       { "state", oci_state },
  { "kill", oci_kill },     { "delete", oci_delete },     { "exec", oci_exec },
  { "ps", oci_ps },         { "pause", oci_pause },       { "resume", oci_resume },
  { "update", oci_update }, { "features", oci_features }, { "list", oci_list },
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: fk-oci [--root DIR] [--log FILE] [--log-format text|json] "
              "[--systemd-cgroup] VERB ...\n"
              "verbs: create start state kill delete exec ps pause resume update features "
              "list\n");
}

/* "--name=value" or "--name value" (also with one dash, as Go's flag package allows). */
static int
global_value (int argc, char **argv, int *i, const char *name, const char **ret)
{
  const char *a = argv[*i];
  a += a[1] == '-' ? 2 : 1;
  size_t n = strlen (name);
  if (strncmp (a, name, n) != 0)
    return 0;
  if (a[n] == '=')
    {
      *ret = a + n + 1;
      return 1;
    }
  if (a[n] != '\0')
    return 0;
  if (*i + 1 >= argc)
    return -1;
  *ret = argv[++*i];
  return 1;
}

int
main (int argc, char **argv)
{
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      const char *v = NULL, *fmt = NULL;
      const char *a = argv[i] + (argv[i][1] == '-' ? 2 : 1);
      int r;
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        {
          usage (stdout);
          return 0;
        }
      if (strcmp (argv[i], "--version") == 0 || strcmp (argv[i], "-v") == 0)
        {
          printf ("fk-oci version 0.1\nspec: 1.2.0\n");
          return 0;
        }
      if (strcmp (a, "systemd-cgroup") == 0 || strcmp (a, "systemd-cgroup=true") == 0)
        oci_g.systemd_cgroup = 1;
      else if (strcmp (a, "systemd-cgroup=false") == 0 || strcmp (a, "debug") == 0
               || strncmp (a, "debug=", 6) == 0)
        ;
      else if ((r = global_value (argc, argv, &i, "root", &v)) != 0)
        {
          if (r < 0 || v[0] == '\0')
            return oci_failf ("--root needs a directory");
          oci_g.root = v;
        }
      else if ((r = global_value (argc, argv, &i, "log-format", &fmt)) != 0)
        {
          if (r < 0 || (strcmp (fmt, "json") != 0 && strcmp (fmt, "text") != 0))
            return oci_failf ("--log-format is text or json");
          oci_g.log_json = strcmp (fmt, "json") == 0;
        }
      else if ((r = global_value (argc, argv, &i, "log", &v)) != 0)
        {
          if (r < 0)
            return oci_failf ("--log needs a file");
          oci_g.log = v;
        }
      else
        return oci_failf ("unknown global option `%s'", argv[i]);
    }
  if (i >= argc)
    {
      usage (stderr);
      return 2;
    }
  for (size_t k = 0; k < sizeof verbs / sizeof verbs[0]; k++)
    if (strcmp (verbs[k].name, argv[i]) == 0)
      return verbs[k].fn (argc - i, argv + i);
  return oci_failf ("unknown command `%s'", argv[i]);
}
