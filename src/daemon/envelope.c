/* daemon/envelope.c: see envelope.h. */
#include "daemon/envelope.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "daemon/envdreq.h"

/* Bounds on one Start request; the envelope's size bounds it too. */
#define MAX_ARGS 4096
#define MAX_ENVS 4096

int
fkd_envelope_parse (const void *body, size_t len, size_t max, unsigned *ret_flags,
                    const char **ret_msg, size_t *ret_len, fk_error_t *err)
{
  const unsigned char *b = body;
  if (len < 5)
    return fk_error_set (err, EPROTO, "envelope: %zu bytes, a header needs 5", len);
  uint32_t n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
  if (n > max)
    return fk_error_set (err, EPROTO, "envelope: a message of %u bytes is over %zu", n, max);
  if (n > len - 5)
    return fk_error_set (err, EPROTO, "envelope: the length says %u bytes, the body has %zu", n,
                         len - 5);
  if (b[0] & FKD_ENVELOPE_COMPRESSED)
    return fk_error_set (err, EPROTO, "envelope: compressed messages are not supported");
  *ret_flags = b[0];
  *ret_msg = (const char *)b + 5;
  *ret_len = n;
  return 0;
}

char *
fkd_envelope_build (unsigned flags, const char *msg, size_t len, size_t *ret_len)
{
  unsigned char *e = xmalloc (len + 5);
  e[0] = (unsigned char)flags;
  e[1] = (unsigned char)(len >> 24);
  e[2] = (unsigned char)(len >> 16);
  e[3] = (unsigned char)(len >> 8);
  e[4] = (unsigned char)len;
  if (len)
    memcpy (e + 5, msg, len);
  *ret_len = len + 5;
  return (char *)e;
}

int
fkd_envelope_feed (fkd_envelope_reader_t *rd, const void *data, size_t len, fkd_envelope_fn on_msg,
                   void *ud, fk_error_t *err)
{
  const unsigned char *b = data;
  if (len > rd->total_max - rd->total)
    return fk_error_set (err, EFBIG, "the request stream is over %zu bytes", rd->total_max);
  rd->total += len;
  while (len > 0)
    {
      if (rd->head_len < 5)
        {
          size_t k = 5 - rd->head_len < len ? 5 - rd->head_len : len;
          memcpy (rd->head + rd->head_len, b, k);
          rd->head_len += k;
          b += k;
          len -= k;
          if (rd->head_len < 5)
            break;
          /* The header is checked before any of its message is held. */
          uint32_t n = (uint32_t)rd->head[1] << 24 | (uint32_t)rd->head[2] << 16
                       | (uint32_t)rd->head[3] << 8 | rd->head[4];
          if (rd->head[0] & FKD_ENVELOPE_COMPRESSED)
            return fk_error_set (err, EPROTO, "envelope: compressed messages are not supported");
          if (rd->head[0] & FKD_ENVELOPE_END)
            return fk_error_set (err, EPROTO, "envelope: a request sends no end-of-stream");
          if (n > rd->max)
            return fk_error_set (err, EMSGSIZE, "envelope: a message of %u bytes is over %zu", n,
                                 rd->max);
          rd->flags = rd->head[0];
          rd->need = n;
          rd->have = 0;
          rd->msg = xrealloc (rd->msg, n + 1);
        }
      size_t k = rd->need - rd->have < len ? rd->need - rd->have : len;
      memcpy (rd->msg + rd->have, b, k);
      rd->have += k;
      b += k;
      len -= k;
      if (rd->have < rd->need)
        break;
      rd->msg[rd->need] = '\0';
      rd->head_len = 0;
      int r = on_msg (ud, rd->flags, rd->msg, rd->need, err);
      /* A big message's buffer is not kept for the small ones that follow. */
      if (rd->need > 4096)
        rd->msg = (free (rd->msg), NULL);
      if (r < 0)
        return -1;
    }
  return 0;
}

int
fkd_envelope_finish (const fkd_envelope_reader_t *rd, fk_error_t *err)
{
  if (rd->head_len == 0)
    return 0;
  if (rd->head_len < 5)
    return fk_error_set (err, EPROTO, "envelope: the body ends inside a header");
  return fk_error_set (err, EPROTO, "envelope: the length says %zu bytes, the body has %zu",
                       rd->need, rd->have);
}

void
fkd_envelope_reader_clear (fkd_envelope_reader_t *rd)
{
  free (rd->msg);
  rd->msg = NULL;
  rd->head_len = rd->need = rd->have = 0;
}

void
fkd_start_req_free (fkd_start_req_t *r)
{
  if (r == NULL)
    return;
  fk_strv_free (r->argv);
  fk_strv_free (r->env);
  free (r->cwd);
  free (r->tag);
  free (r);
}

FK_DEFINE_CLEANUP (fkd_start_req_t *, fkd_start_req_free)

/* The member named camel, else snake (proto3 JSON accepts both); NULL for absent or null. */
static json_t *
member (const json_t *obj, const char *camel, const char *snake)
{
  json_t *v = json_object_get (obj, camel);
  if (v == NULL && snake)
    v = json_object_get (obj, snake);
  return json_is_null (v) ? NULL : v;
}

static int
opt_string (const json_t *obj, const char *name, char **ret, fk_error_t *err)
{
  json_t *v = member (obj, name, NULL);
  if (v == NULL)
    return 0;
  if (!json_is_string (v))
    return fk_error_set (err, EINVAL, "start request: `%s' is not a string", name);
  if (json_string_length (v) != strlen (json_string_value (v)))
    return fk_error_set (err, EINVAL, "start request: `%s' holds a NUL", name);
  *ret = xstrdup (json_string_value (v));
  return 0;
}

int
fkd_start_req_parse (const char *text, size_t len, fkd_start_req_t **ret_req, fk_error_t *err)
{
  cleanup_json json_t *root = NULL;
  if (fk_json_parse (text, len, &root, err) < 0)
    return fk_error_wrap (err, "start request");
  if (!json_is_object (root))
    return fk_error_set (err, EINVAL, "start request: not a JSON object");
  json_t *proc = member (root, "process", NULL);
  if (!json_is_object (proc))
    return fk_error_set (err, EINVAL, "start request: `process' is missing or not an object");

  __attribute__ ((cleanup (fkd_start_req_freep))) fkd_start_req_t *r = xcalloc (1, sizeof *r);
  json_t *cmd = member (proc, "cmd", NULL);
  if (!json_is_string (cmd) || json_string_length (cmd) == 0
      || json_string_length (cmd) != strlen (json_string_value (cmd)))
    return fk_error_set (err, EINVAL, "start request: `process.cmd' is missing or not a command");
  json_t *args = member (proc, "args", NULL);
  if (args && !json_is_array (args))
    return fk_error_set (err, EINVAL, "start request: `process.args' is not an array");
  size_t nargs = args ? json_array_size (args) : 0;
  if (nargs > MAX_ARGS)
    return fk_error_set (err, EINVAL, "start request: more than %d args", MAX_ARGS);
  r->argv = xcalloc (nargs + 2, sizeof *r->argv);
  r->argv[0] = xstrdup (json_string_value (cmd));
  for (size_t i = 0; i < nargs; i++)
    {
      json_t *a = json_array_get (args, i);
      if (!json_is_string (a) || json_string_length (a) != strlen (json_string_value (a)))
        return fk_error_set (err, EINVAL, "start request: `process.args[%zu]' is not a string", i);
      r->argv[i + 1] = xstrdup (json_string_value (a));
    }

  json_t *envs = member (proc, "envs", NULL);
  if (envs && !json_is_object (envs))
    return fk_error_set (err, EINVAL, "start request: `process.envs' is not an object");
  size_t nenv = envs ? json_object_size (envs) : 0;
  if (nenv > MAX_ENVS)
    return fk_error_set (err, EINVAL, "start request: more than %d envs", MAX_ENVS);
  r->env = xcalloc (nenv + 1, sizeof *r->env);
  size_t k = 0;
  const char *key;
  json_t *val;
  json_object_foreach (envs, key, val)
  {
    if (!json_is_string (val) || json_string_length (val) != strlen (json_string_value (val)))
      return fk_error_set (err, EINVAL, "start request: env `%s' is not a string", key);
    if (key[0] == '\0' || strchr (key, '='))
      return fk_error_set (err, EINVAL, "start request: env name `%s' is not a name", key);
    r->env[k++] = xasprintf ("%s=%s", key, json_string_value (val));
  }
  if (opt_string (proc, "cwd", &r->cwd, err) < 0 || opt_string (root, "tag", &r->tag, err) < 0)
    return -1;
  if (r->cwd && r->cwd[0] == '\0')
    r->cwd = (free (r->cwd), NULL);
  json_t *in = member (root, "stdin", NULL);
  if (in && !json_is_boolean (in))
    return fk_error_set (err, EINVAL, "start request: `stdin' is not a boolean");
  r->stdin_open = json_is_true (in);
  json_t *pty = member (root, "pty", NULL);
  if (pty && fkd_pty_size_parse (pty, &r->rows, &r->cols, err) < 0)
    return fk_error_wrap (err, "start request");
  r->pty = pty != NULL;
  *ret_req = steal_pointer (&r);
  return 0;
}
