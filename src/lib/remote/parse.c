/* remote/parse.c: see parse.h. */
#include "remote/parse.h"

#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

/* Strings of fkd's answers kept in an info or a message: at most this long. */
#define FIELD_MAX 4096
#define MESSAGE_MAX 1024
/* Sandboxes in one list answer and metadata entries in one sandbox. */
#define LIST_MAX 100000
#define META_MAX 4096

static int
parse_json (const char *text, size_t len, json_t **ret, const char *what, fk_error_t *err)
{
  fk_error_t jerr = FK_ERROR_INIT;
  if (fk_json_parse (text, len, ret, &jerr) < 0)
    {
      fk_error_set (err, EPROTO, "fkd's %s is not JSON: %s", what, fk_error_message (&jerr));
      fk_error_clear (&jerr);
      return -1;
    }
  return 0;
}

/* A string field: NULL when absent or null; EPROTO when of another type, empty when
   nonempty is asked, holding a NUL, or longer than FIELD_MAX. */
static int
str_field (const json_t *obj, const char *key, int required, const char **ret, fk_error_t *err)
{
  json_t *v = json_object_get (obj, key);
  *ret = NULL;
  if (v == NULL || json_is_null (v))
    return required ? fk_error_set (err, EPROTO, "fkd's answer has no `%s'", key) : 0;
  if (!json_is_string (v) || json_string_length (v) > FIELD_MAX
      || strlen (json_string_value (v)) != json_string_length (v))
    return fk_error_set (err, EPROTO, "fkd's answer has a bad `%s'", key);
  *ret = json_string_value (v);
  return 0;
}

static int
int_field (const json_t *obj, const char *key, long long lo, long long hi, long long *ret,
           fk_error_t *err)
{
  json_t *v = json_object_get (obj, key);
  if (v == NULL || json_is_null (v))
    return 0;
  long long x;
  if (json_is_integer (v))
    x = json_integer_value (v);
  else if (json_is_string (v))
    {
      /* proto3 JSON gives int64 as a string */
      const char *s = json_string_value (v);
      char *end;
      errno = 0;
      x = strtoll (s, &end, 10);
      if (errno || end == s || *end)
        return fk_error_set (err, EPROTO, "fkd's answer has a bad `%s'", key);
    }
  else
    return fk_error_set (err, EPROTO, "fkd's answer has a bad `%s'", key);
  if (x < lo || x > hi)
    return fk_error_set (err, EPROTO, "fkd's answer has `%s' out of range", key);
  *ret = x;
  return 1;
}

int
fk_remote_parse_time (const char *s, int64_t *ret, fk_error_t *err)
{
  struct tm tm = { 0 };
  const char *p = s ? strptime (s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
  if (p == NULL)
    return fk_error_set (err, EPROTO, "fkd's time `%.64s' is not RFC 3339", s ? s : "");
  if (*p == '.')
    {
      p++;
      if (*p < '0' || *p > '9')
        return fk_error_set (err, EPROTO, "fkd's time `%.64s' is not RFC 3339", s);
      while (*p >= '0' && *p <= '9')
        p++;
    }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z')
    p++;
  else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '2' && p[2] >= '0' && p[2] <= '9'
           && p[3] == ':' && p[4] >= '0' && p[4] <= '5' && p[5] >= '0' && p[5] <= '9')
    {
      off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
      if (*p == '-')
        off = -off;
      p += 6;
    }
  else
    return fk_error_set (err, EPROTO, "fkd's time `%.64s' is not RFC 3339", s);
  if (*p)
    return fk_error_set (err, EPROTO, "fkd's time `%.64s' is not RFC 3339", s);
  *ret = (int64_t)timegm (&tm) - off;
  return 0;
}

int
fk_remote_token_ok (const char *t)
{
  size_t n = strlen (t);
  if (n == 0 || n > 512)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
      return 0;
  return 1;
}

static int
sandbox_of (const json_t *j, fk_sandbox_info_t **ret_info, char **ret_token, fk_error_t *err)
{
  if (!json_is_object (j))
    return fk_error_set (err, EPROTO, "fkd's sandbox is not a JSON object");
  const char *id, *tmpl, *started, *end, *state, *token;
  long long cpus = 0, mem = 0, disk = 0;
  if (str_field (j, "sandboxID", 1, &id, err) < 0 || str_field (j, "templateID", 0, &tmpl, err) < 0
      || str_field (j, "startedAt", 1, &started, err) < 0
      || str_field (j, "endAt", 0, &end, err) < 0 || str_field (j, "state", 0, &state, err) < 0
      || str_field (j, "envdAccessToken", 0, &token, err) < 0
      || int_field (j, "cpuCount", 0, 1 << 20, &cpus, err) < 0
      || int_field (j, "memoryMB", 0, 1LL << 40, &mem, err) < 0
      || int_field (j, "diskSizeMB", 0, 1LL << 40, &disk, err) < 0)
    return -1;
  if (id[0] == '\0')
    return fk_error_set (err, EPROTO, "fkd's sandbox has an empty `sandboxID'");
  if (token && token[0] && !fk_remote_token_ok (token))
    return fk_error_set (err, EPROTO, "fkd's sandbox has a bad `envdAccessToken'");
  fk_sandbox_status_t status = FK_SANDBOX_RUNNING;
  if (state && strcmp (state, "paused") == 0)
    status = FK_SANDBOX_PAUSED;
  else if (state && strcmp (state, "running") != 0)
    return fk_error_set (err, EPROTO, "fkd's sandbox has state `%s'", state);
  int64_t t0, t1 = 0;
  if (fk_remote_parse_time (started, &t0, err) < 0
      || (end && fk_remote_parse_time (end, &t1, err) < 0))
    return -1;
  json_t *meta = json_object_get (j, "metadata");
  if (meta && !json_is_null (meta)
      && (!json_is_object (meta) || json_object_size (meta) > META_MAX))
    return fk_error_set (err, EPROTO, "fkd's sandbox has a bad `metadata'");
  size_t nm = json_is_object (meta) ? json_object_size (meta) : 0;
  cleanup_strv char **kv = xcalloc (nm + 1, sizeof *kv);
  size_t k = 0;
  const char *key;
  json_t *val;
  if (nm)
    json_object_foreach (meta, key, val)
    {
      if (!json_is_string (val) || strchr (key, '=') || key[0] == '\0' || strlen (key) > FIELD_MAX
          || json_string_length (val) > FIELD_MAX
          || strlen (json_string_value (val)) != json_string_length (val))
        return fk_error_set (err, EPROTO, "fkd's sandbox has a bad `metadata' entry");
      kv[k++] = xasprintf ("%s=%s", key, json_string_value (val));
    }
  fk_sandbox_info_t *info = xcalloc (1, sizeof *info);
  info->id = xstrdup (id);
  info->template_id = tmpl && tmpl[0] ? xstrdup (tmpl) : NULL;
  info->status = status;
  info->resources.vcpus = (double)cpus;
  info->resources.memory_bytes = (uint64_t)mem << 20;
  info->resources.disk_bytes = (uint64_t)disk << 20;
  info->created = t0;
  /* fkd gives a sandbox without a deadline the end it started with */
  info->expires = t1 > t0 ? t1 : 0;
  info->metadata = steal_pointer (&kv);
  if (ret_token)
    *ret_token = token && token[0] ? xstrdup (token) : NULL;
  *ret_info = info;
  return 0;
}

int
fk_remote_parse_sandbox (const char *text, size_t len, fk_sandbox_info_t **ret_info,
                         char **ret_token, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_json (text, len, &j, "sandbox", err) < 0)
    return -1;
  return sandbox_of (j, ret_info, ret_token, err);
}

int
fk_remote_parse_sandbox_list (const char *text, size_t len, fk_sandbox_info_t ***ret_infos,
                              size_t *ret_n, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_json (text, len, &j, "list", err) < 0)
    return -1;
  if (!json_is_array (j) || json_array_size (j) > LIST_MAX)
    return fk_error_set (err, EPROTO, "fkd's list is not a JSON array of sandboxes");
  size_t n = json_array_size (j);
  fk_sandbox_info_t **infos = xcalloc (n + 1, sizeof *infos);
  for (size_t i = 0; i < n; i++)
    if (sandbox_of (json_array_get (j, i), &infos[i], NULL, err) < 0)
      {
        fk_sandbox_info_list_free (infos, i);
        return -1;
      }
  *ret_infos = infos;
  *ret_n = n;
  return 0;
}

static char *
clean_message (const char *m)
{
  size_t n = strnlen (m, MESSAGE_MAX);
  char *out = xstrndup (m, n);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
      out[i] = '?';
  return out;
}

char *
fk_remote_parse_error (const char *text, size_t len, char **ret_code)
{
  if (ret_code)
    *ret_code = NULL;
  cleanup_json json_t *j = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_json_parse (text, len, &j, &err) < 0)
    {
      fk_error_clear (&err);
      return NULL;
    }
  json_t *m = json_is_object (j) ? json_object_get (j, "message") : NULL;
  if (!json_is_string (m))
    return NULL;
  json_t *c = json_object_get (j, "code");
  if (ret_code && json_is_string (c))
    *ret_code = clean_message (json_string_value (c));
  return clean_message (json_string_value (m));
}

int
fk_remote_envelope_take (const unsigned char *buf, size_t len, size_t max, unsigned *ret_flags,
                         const char **ret_body, size_t *ret_body_len, size_t *ret_used,
                         fk_error_t *err)
{
  if (len < 5)
    return 0;
  size_t n = (size_t)buf[1] << 24 | (size_t)buf[2] << 16 | (size_t)buf[3] << 8 | buf[4];
  if (n > max)
    return fk_error_set (err, EPROTO, "fkd sent an envelope of %zu bytes (at most %zu)", n, max);
  if (len - 5 < n)
    return 0;
  *ret_flags = buf[0];
  *ret_body = (const char *)buf + 5;
  *ret_body_len = n;
  *ret_used = 5 + n;
  return 1;
}

char *
fk_remote_envelope_build (const char *body, size_t len, size_t *ret_len)
{
  char *out = xmalloc (len + 5);
  out[0] = 0;
  out[1] = (char)(len >> 24);
  out[2] = (char)(len >> 16);
  out[3] = (char)(len >> 8);
  out[4] = (char)len;
  memcpy (out + 5, body, len);
  *ret_len = len + 5;
  return out;
}

/* Standard base64 (padding optional) of at most FK_REMOTE_MAX_ENVELOPE bytes. */
static int
b64_decode (const char *s, size_t n, char **ret, size_t *ret_len, fk_error_t *err)
{
  size_t pad = 0;
  while (n > 0 && s[n - 1] == '=' && pad < 2)
    n--, pad++;
  for (size_t i = 0; i < n; i++)
    {
      char c = s[i];
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
            || c == '/'))
        return fk_error_set (err, EPROTO, "fkd sent output that is not base64");
    }
  if (n % 4 == 1)
    return fk_error_set (err, EPROTO, "fkd sent output that is not base64");
  /* EVP_DecodeBlock wants whole quads: pad back with 'A' (zero bits) and drop what they add. */
  size_t quads = (n + 3) / 4, extra = quads * 4 - n;
  cleanup_free char *in = xmalloc (quads * 4 + 1);
  memcpy (in, s, n);
  memset (in + n, 'A', extra);
  char *out = xmalloc (quads * 3 + 1);
  int got
      = quads ? EVP_DecodeBlock ((unsigned char *)out, (unsigned char *)in, (int)(quads * 4)) : 0;
  if (got < 0)
    {
      free (out);
      return fk_error_set (err, EPROTO, "fkd sent output that is not base64");
    }
  *ret = out;
  *ret_len = quads * 3 - extra;
  return 0;
}

int
fk_remote_signal_of (const char *w)
{
  static const struct
  {
    const char *word;
    int sig;
  } words[] = {
    { "hangup", SIGHUP },
    { "interrupt", SIGINT },
    { "quit", SIGQUIT },
    { "illegal instruction", SIGILL },
    { "trace/breakpoint trap", SIGTRAP },
    { "aborted", SIGABRT },
    { "bus error", SIGBUS },
    { "floating point exception", SIGFPE },
    { "killed", SIGKILL },
    { "user defined signal 1", SIGUSR1 },
    { "segmentation fault", SIGSEGV },
    { "user defined signal 2", SIGUSR2 },
    { "broken pipe", SIGPIPE },
    { "alarm clock", SIGALRM },
    { "terminated", SIGTERM },
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp (w, words[i].word) == 0)
      return words[i].sig;
  char *end;
  long v = strtol (w, &end, 10);
  if (end != w && *end == '\0' && v > 0 && v < 65)
    return (int)v;
  return 0;
}

int
fk_remote_parse_event (const char *text, size_t len, fk_remote_event_t *ret, fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  cleanup_json json_t *j = NULL;
  if (parse_json (text, len, &j, "process event", err) < 0)
    return -1;
  json_t *ev = json_is_object (j) ? json_object_get (j, "event") : NULL;
  if (!json_is_object (ev))
    return fk_error_set (err, EPROTO, "fkd's process event has no `event' object");
  json_t *v;
  if ((v = json_object_get (ev, "start")) && json_is_object (v))
    {
      long long pid = 0;
      if (int_field (v, "pid", 0, 1 << 30, &pid, err) < 0)
        return -1;
      ret->kind = FK_REMOTE_EVENT_START;
      ret->pid = (int)pid;
      return 0;
    }
  if ((v = json_object_get (ev, "data")) && json_is_object (v))
    {
      const char *which = "stdout";
      json_t *d = json_object_get (v, which);
      if (d == NULL)
        d = json_object_get (v, which = "stderr");
      if (d == NULL)
        d = json_object_get (v, which = "pty");
      if (!json_is_string (d))
        return fk_error_set (err, EPROTO, "fkd's data event holds no output");
      if (b64_decode (json_string_value (d), json_string_length (d), &ret->data, &ret->len, err)
          < 0)
        return -1;
      ret->kind = strcmp (which, "stderr") == 0 ? FK_REMOTE_EVENT_STDERR : FK_REMOTE_EVENT_STDOUT;
      return 0;
    }
  if ((v = json_object_get (ev, "keepalive")))
    {
      ret->kind = FK_REMOTE_EVENT_KEEPALIVE;
      return 0;
    }
  if ((v = json_object_get (ev, "end")) && json_is_object (v))
    {
      long long code = 0;
      const char *status;
      if (int_field (v, "exitCode", -1, 255, &code, err) < 0
          || str_field (v, "status", 0, &status, err) < 0)
        return -1;
      json_t *exited = json_object_get (v, "exited");
      ret->kind = FK_REMOTE_EVENT_END;
      int sig = 0;
      if (status && strncmp (status, "signal: ", 8) == 0)
        sig = fk_remote_signal_of (status + 8);
      if (sig || (exited && json_is_false (exited)) || code < 0)
        {
          if (sig == 0)
            sig = SIGKILL; /* killed by a signal envd could not name */
          ret->status.signal = sig;
          ret->status.exit_code = 128 + sig;
        }
      else
        ret->status.exit_code = (int)code;
      return 0;
    }
  return fk_error_set (err, EPROTO, "fkd sent an unknown process event");
}

int
fk_remote_parse_end (const char *text, size_t len, char **ret_code, char **ret_message,
                     fk_error_t *err)
{
  *ret_code = *ret_message = NULL;
  cleanup_json json_t *j = NULL;
  if (parse_json (text, len, &j, "end of stream", err) < 0)
    return -1;
  if (!json_is_object (j))
    return fk_error_set (err, EPROTO, "fkd's end of stream is not a JSON object");
  json_t *e = json_object_get (j, "error");
  if (e == NULL || json_is_null (e))
    return 0;
  if (!json_is_object (e))
    return fk_error_set (err, EPROTO, "fkd's end of stream has a bad `error'");
  json_t *c = json_object_get (e, "code"), *m = json_object_get (e, "message");
  *ret_code = clean_message (json_is_string (c) ? json_string_value (c) : "unknown");
  *ret_message = clean_message (json_is_string (m) ? json_string_value (m) : "(no message)");
  return 1;
}

int
fk_remote_parse_entry (const char *text, size_t len, fk_file_stat_t *ret, fk_error_t *err)
{
  cleanup_json json_t *j = NULL;
  if (parse_json (text, len, &j, "Stat answer", err) < 0)
    return -1;
  json_t *e = json_is_object (j) ? json_object_get (j, "entry") : NULL;
  if (!json_is_object (e))
    return fk_error_set (err, EPROTO, "fkd's Stat answer has no `entry'");
  const char *type, *mtime;
  long long size = 0, mode = 0;
  if (str_field (e, "type", 0, &type, err) < 0 || str_field (e, "modifiedTime", 0, &mtime, err) < 0
      || int_field (e, "size", 0, INT64_MAX, &size, err) < 0
      || int_field (e, "mode", 0, 0xffffffffLL, &mode, err) < 0)
    return -1;
  fk_file_stat_t st = { .type = FK_FILE_TYPE_OTHER };
  if (type && strcmp (type, "FILE_TYPE_FILE") == 0)
    st.type = FK_FILE_TYPE_FILE;
  else if (type && strcmp (type, "FILE_TYPE_DIRECTORY") == 0)
    st.type = FK_FILE_TYPE_DIR;
  else if (type && strcmp (type, "FILE_TYPE_SYMLINK") == 0)
    st.type = FK_FILE_TYPE_SYMLINK;
  st.size = (uint64_t)size;
  st.mode = (unsigned)mode & 07777;
  int64_t t;
  if (mtime && fk_remote_parse_time (mtime, &t, err) < 0)
    return -1;
  if (mtime && (t > INT64_MAX / 1000000000LL || t < INT64_MIN / 1000000000LL))
    return fk_error_set (err, EPROTO, "fkd's `modifiedTime' is out of range");
  st.mtime_ns = mtime ? t * 1000000000LL : 0;
  *ret = st;
  return 0;
}
