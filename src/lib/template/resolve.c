/* template/resolve.c: a template id becomes what the sandbox area takes: layers, and the image's
   env, workdir and user under the spec's own. */
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "firkin/runtime.h"
#include "firkin/template.h"

struct fk_template_resolved
{
  char **layers, **env;
  char *workdir, *user;
};

void
fk_template_resolved_free (fk_template_resolved_t *r)
{
  if (r == NULL)
    return;
  fk_strv_free (r->layers);
  fk_strv_free (r->env);
  free (r->workdir);
  free (r->user);
  free (r);
}

int
fk_template_resolve (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_spec_t *ret_spec,
                     fk_template_resolved_t **ret_owner, fk_error_t *err)
{
  if (spec->template_id == NULL)
    {
      *ret_spec = *spec;
      *ret_owner = NULL;
      return 0;
    }
  fk_template_t *t;
  if (fk_template_load (rt, spec->template_id, &t, err) < 0)
    return -1;
  fk_template_resolved_t *r = xcalloc (1, sizeof *r);
  r->layers = t->layers;
  t->layers = NULL;
  /* The image's env first, the spec's after it: a later K= replaces an earlier one. */
  size_t nt = fk_strv_len (t->env), ns = fk_strv_len ((char *const *)spec->env);
  r->env = xcalloc (nt + ns + 1, sizeof (char *));
  for (size_t i = 0; i < nt; i++)
    r->env[i] = xstrdup (t->env[i]);
  for (size_t i = 0; i < ns; i++)
    r->env[nt + i] = xstrdup (spec->env[i]);
  if (t->workdir && t->workdir[0])
    r->workdir = xstrdup (t->workdir);
  if (t->user && t->user[0])
    r->user = xstrdup (t->user);
  fk_template_free (t);

  fk_sandbox_spec_t out = *spec;
  out.layers = (const char *const *)r->layers;
  out.env = (const char *const *)r->env;
  if (out.workdir == NULL)
    out.workdir = r->workdir;
  if (out.user == NULL)
    out.user = r->user;
  *ret_spec = out;
  *ret_owner = r;
  return 0;
}

int
fk_template_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                            fk_error_t *err)
{
  fk_sandbox_spec_t resolved;
  fk_template_resolved_t *owner;
  if (fk_template_resolve (rt, spec, &resolved, &owner, err) < 0)
    return -1;
  int r = fk_sandbox_create (rt, &resolved, ret_sb, err);
  fk_template_resolved_free (owner);
  return r;
}
