/* template/resume.c: fk_template_sandbox_resume: a sandbox paused to disk made again from its
   snapshot under its own id (kept apart from snapshot.c, which needs the layer writer: `fk
   resume' links this one alone). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "sandbox/create.h"
#include "sandbox/sandbox.h"
#include "template/snapshot.h"
#include "template/template.h"

/* A spec for a new sandbox from the snapshot template of sb: sb's own spec, its env, workdir
   and user now in the template. */
void
fk_snapshot_spec_from (const fk_sandbox_state_t *st, const char *template_id, uint64_t timeout_sec,
                       fk_sandbox_spec_t *ret)
{
  if (st->spec)
    *ret = *st->spec;
  else
    fk_sandbox_spec_init (ret);
  ret->template_id = template_id;
  ret->layers = NULL;
  ret->env = NULL;
  ret->workdir = NULL;
  ret->user = NULL;
  ret->init = NULL;
  ret->resources = st->resources;
  ret->metadata = (const char *const *)st->metadata;
  ret->timeout_sec = timeout_sec;
}

int
fk_template_sandbox_resume (fk_sandbox_t *sb, fk_error_t *err)
{
  cleanup_close int lockfd = fk_sandbox_lock (sb, 1, err);
  if (lockfd < 0)
    return -1;
  const fk_sandbox_state_t *st = sb->state;
  cleanup_free char *id = xstrdup (st->id);
  if (st->disk_snapshot == NULL)
    {
      lockfd = close_and_reset (lockfd);
      return fk_sandbox_resume (sb, err);
    }
  fk_sandbox_spec_t spec;
  fk_snapshot_spec_from (st, st->disk_snapshot, (uint64_t)st->disk_remaining, &spec);
  fk_sandbox_spec_t resolved;
  fk_template_resolved_t *owner = NULL;
  if (fk_template_resolve (sb->rt, &spec, &resolved, &owner, err) < 0)
    return fk_error_wrap (err, "resume sandbox `%s'", id);
  fk_create_as_t as = { .id = id, .created = st->created };
  fk_sandbox_t *again = NULL;
  int r = fk_sandbox_create_as (sb->rt, &resolved, &as, &again, err);
  fk_template_resolved_free (owner);
  if (r < 0)
    return fk_error_wrap (err, "resume sandbox `%s' from disk", id);
  /* The handle follows the sandbox it names. */
  fk_state_free (sb->state);
  sb->state = steal_pointer (&again->state);
  fk_sandbox_free (again);
  return 0;
}
