/* template/record.c: reading template records (templates/<id>.json) into fk_template_t. It needs
   only JSON, so front ends that start sandboxes link it without the registry client. */
#include "template/record.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "template/template.h"

int
fk_template_id_validate (const char *id, fk_error_t *err)
{
  size_t n = id ? strlen (id) : 0;
  if (n == 0 || n > 128)
    return fk_error_set (err, EINVAL, "invalid template id `%s': it must have 1 to 128 characters",
                         id ? id : "");
  if (id[0] == '.' || id[0] == '-')
    return fk_error_set (err, EINVAL, "invalid template id `%s': it must not start with `.' or `-'",
                         id);
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char)id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
      return fk_error_set (err, EINVAL,
                           "invalid template id `%s': `%c' is not one of "
                           "[A-Za-z0-9_.-]",
                           id, id[i]);
  return 0;
}

char *
fk_template_record_name (const char *id)
{
  return xasprintf ("templates/%s.json", id);
}

void
fk_template_free (fk_template_t *t)
{
  if (t == NULL)
    return;
  free (t->id);
  free (t->source);
  free (t->manifest_digest);
  fk_strv_free (t->layers);
  fk_strv_free (t->env);
  fk_strv_free (t->entrypoint);
  fk_strv_free (t->cmd);
  free (t->workdir);
  free (t->user);
  free (t->start_cmd);
  free (t->ready_cmd);
  free (t);
}

static int
strv_from_json (const json_t *obj, const char *key, char ***ret, fk_error_t *err)
{
  json_t *a = json_object_get (obj, key);
  if (a == NULL || json_is_null (a))
    return 0;
  if (!json_is_array (a))
    return fk_error_set (err, EINVAL, "`%s' is not an array", key);
  cleanup_strv char **v = xcalloc (json_array_size (a) + 1, sizeof *v);
  for (size_t i = 0; i < json_array_size (a); i++)
    {
      json_t *s = json_array_get (a, i);
      if (!json_is_string (s))
        return fk_error_set (err, EINVAL, "`%s'[%zu] is not a string", key, i);
      v[i] = xstrdup (json_string_value (s));
    }
  *ret = steal_pointer (&v);
  return 0;
}

int
fk_template_record_load (const char *state_dir, const char *id, json_t **ret, fk_error_t *err)
{
  if (fk_template_id_validate (id, err) < 0)
    return -1;
  cleanup_close int dfd = open (state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fk_error_set_errno (err, "open state dir `%s'", state_dir);
  cleanup_free char *name = fk_template_record_name (id);
  fk_error_t lerr = FK_ERROR_INIT;
  if (fk_json_load_file_at (dfd, name, FK_TEMPLATE_RECORD_MAX, ret, &lerr) < 0)
    {
      if (lerr.code == ENOENT)
        {
          fk_error_clear (&lerr);
          return fk_error_set (err, ENOENT, "no template `%s' (see `fk template ls')", id);
        }
      fk_error_set (err, lerr.code, "template `%s': %s", id, fk_error_message (&lerr));
      fk_error_clear (&lerr);
      return -1;
    }
  return 0;
}

int
fk_template_load (fk_runtime_t *rt, const char *id, fk_template_t **ret, fk_error_t *err)
{
  const char *state_dir = fk_runtime_state_dir (rt);
  cleanup_json json_t *rec = NULL;
  if (fk_template_record_load (state_dir, id, &rec, err) < 0)
    return -1;
  cleanup_template fk_template_t *t = xcalloc (1, sizeof *t);
  const char *source = NULL, *md = NULL;
  json_t *layers = NULL, *cfg = NULL;
  if (fk_json_get_string (rec, "source", 1, &source, err) < 0
      || fk_json_get_string (rec, "manifestDigest", 1, &md, err) < 0
      || fk_json_get_array (rec, "layers", 1, &layers, err) < 0
      || fk_json_get_object (rec, "config", 1, &cfg, err) < 0)
    return fk_error_wrap (err, "template `%s'", id);
  t->id = xstrdup (id);
  t->source = xstrdup (source);
  t->manifest_digest = xstrdup (md);
  t->layers = xcalloc (json_array_size (layers) + 1, sizeof *t->layers);
  for (size_t i = 0; i < json_array_size (layers); i++)
    {
      const char *diff = NULL;
      if (fk_json_get_string (json_array_get (layers, i), "diffID", 1, &diff, err) < 0
          || fk_digest_validate (diff, err) < 0)
        return fk_error_wrap (err, "template `%s': layers[%zu]", id, i);
      /* The runtime's state dir is absolute (resolved at open). */
      t->layers[i] = xasprintf ("%s/layers/sha256/%s/fs", state_dir, fk_digest_hex (diff));
      struct stat st;
      if (stat (t->layers[i], &st) < 0 || !S_ISDIR (st.st_mode))
        return fk_error_set (err, ENOENT,
                             "template `%s': layer `%s' is missing from the store "
                             "(prepare the template again)",
                             id, diff);
    }
  const char *wd = NULL, *user = NULL;
  if (strv_from_json (cfg, "Env", &t->env, err) < 0
      || strv_from_json (cfg, "Entrypoint", &t->entrypoint, err) < 0
      || strv_from_json (cfg, "Cmd", &t->cmd, err) < 0
      || fk_json_get_string (cfg, "WorkingDir", 0, &wd, err) < 0
      || fk_json_get_string (cfg, "User", 0, &user, err) < 0)
    return fk_error_wrap (err, "template `%s': config", id);
  if (t->env == NULL)
    t->env = xcalloc (1, sizeof *t->env);
  t->workdir = wd && *wd ? xstrdup (wd) : NULL;
  t->user = xstrdup (user ? user : "");
  const char *start = NULL, *ready = NULL;
  json_t *rt_json = json_object_get (rec, "readyTimeout");
  if (fk_json_get_string (rec, "startCmd", 0, &start, err) < 0
      || fk_json_get_string (rec, "readyCmd", 0, &ready, err) < 0)
    return fk_error_wrap (err, "template `%s'", id);
  if (rt_json && (!json_is_integer (rt_json) || json_integer_value (rt_json) < 0))
    return fk_error_set (err, EINVAL, "template `%s': readyTimeout is not a number of seconds", id);
  t->start_cmd = start && *start ? xstrdup (start) : NULL;
  t->ready_cmd = ready && *ready ? xstrdup (ready) : NULL;
  t->ready_timeout_sec = rt_json ? (uint64_t)json_integer_value (rt_json) : 0;
  *ret = steal_pointer (&t);
  return 0;
}
