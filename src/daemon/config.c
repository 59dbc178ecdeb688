/* daemon/config.c: see config.h. */
#include "daemon/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

void
fkd_config_clear (fkd_config_t *c)
{
  for (size_t i = 0; i < c->n_listen; i++)
    free (c->listen[i]);
  for (size_t i = 0; i < c->n_envd_listen; i++)
    free (c->envd_listen[i]);
  free (c->api_key);
  free (c->domain);
  free (c->state_dir);
  free (c->oci_root);
  free (c->agent);
  free (c->log_level);
  free (c->warm_pool);
  free (c->warm_template);
  free (c->network);
  memset (c, 0, sizeof *c);
}

static int
is_space (char ch)
{
  return ch == ' ' || ch == '\t';
}

int
fkd_config_parse (const char *text, size_t len, const char *name, fkd_config_t *ret,
                  fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  if (len > FKD_CONFIG_MAX)
    return fk_error_set (err, EFBIG, "%s: over %u bytes", name, FKD_CONFIG_MAX);
  const char *p = text, *end = text + len;
  for (unsigned line = 1; p < end; line++)
    {
      const char *le = memchr (p, '\n', (size_t)(end - p));
      if (le == NULL)
        le = end;
      const char *s = p, *e = le;
      p = le + 1;
      if (e > s && e[-1] == '\r')
        e--;
      for (const char *q = s; q < e; q++)
        if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
          return fk_error_set (err, EINVAL, "%s:%u: a control character", name, line);
      while (s < e && is_space (*s))
        s++;
      while (e > s && is_space (e[-1]))
        e--;
      if (s == e || *s == '#')
        continue;
      const char *eq = memchr (s, '=', (size_t)(e - s));
      if (eq == NULL)
        return fk_error_set (err, EINVAL, "%s:%u: not `key = value'", name, line);
      const char *ke = eq, *vs = eq + 1;
      while (ke > s && is_space (ke[-1]))
        ke--;
      while (vs < e && is_space (*vs))
        vs++;
      cleanup_free char *key = xstrndup (s, (size_t)(ke - s));
      if (vs == e)
        return fk_error_set (err, EINVAL, "%s:%u: `%s' has no value", name, line, key);
      char *value = xstrndup (vs, (size_t)(e - vs));
      char **slot = NULL;
      if (strcmp (key, "listen") == 0 || strcmp (key, "envd-listen") == 0)
        {
          int envd = key[0] == 'e';
          size_t *n = envd ? &ret->n_envd_listen : &ret->n_listen;
          if (*n >= FKD_MAX_LISTEN)
            {
              free (value);
              return fk_error_set (err, EINVAL, "%s:%u: more than %d `%s'", name, line,
                                   FKD_MAX_LISTEN, key);
            }
          (envd ? ret->envd_listen : ret->listen)[(*n)++] = value;
          continue;
        }
      else if (strcmp (key, "api-key") == 0)
        slot = &ret->api_key;
      else if (strcmp (key, "domain") == 0)
        slot = &ret->domain;
      else if (strcmp (key, "state-dir") == 0)
        slot = &ret->state_dir;
      else if (strcmp (key, "agent") == 0)
        slot = &ret->agent;
      else if (strcmp (key, "log-level") == 0)
        slot = &ret->log_level;
      else if (strcmp (key, "warm-pool") == 0)
        slot = &ret->warm_pool;
      else if (strcmp (key, "warm-template") == 0)
        slot = &ret->warm_template;
      else if (strcmp (key, "network") == 0)
        slot = &ret->network;
      else if (strcmp (key, "oci-root") == 0)
        slot = &ret->oci_root;
      else
        {
          free (value);
          return fk_error_set (err, EINVAL,
                               "%s:%u: unknown key `%s' (listen, envd-listen, api-key, domain, "
                               "state-dir, agent, log-level, warm-pool, warm-template, oci-root)",
                               name, line, key);
        }
      if (*slot)
        {
          free (value);
          return fk_error_set (err, EINVAL, "%s:%u: `%s' given twice", name, line, key);
        }
      *slot = value;
    }
  return 0;
}

int
fkd_config_load (const char *path, fkd_config_t *ret, fk_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fk_error_set_errno (err, "open `%s'", path);
  cleanup_free char *buf = xmalloc (FKD_CONFIG_MAX + 1);
  size_t len = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf + len, FKD_CONFIG_MAX + 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fk_error_set_errno (err, "read `%s'", path);
      if (n == 0)
        break;
      len += (size_t)n;
      if (len > FKD_CONFIG_MAX)
        return fk_error_set (err, EFBIG, "%s: over %u bytes", path, FKD_CONFIG_MAX);
    }
  return fkd_config_parse (buf, len, path, ret, err);
}
