/* pool/fork.c: fk_warm_pool_fork (firkin/pool.h): a fork whose sandboxes are ready ones of the
   pool moved onto the snapshot (sandbox/reroot.h). Apart from warm.c so that a program using
   the pool without forks does not link the snapshot's layer writer. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "client/exec.h"
#include "firkin/template.h"
#include "pool/warm.h"
#include "sandbox/reroot.h"
#include "sandbox/state.h"
#include "template/snapshot.h"

typedef struct pool_fork
{
  fk_warm_pool_t *p;
  int usable;                    /* the pool's sandboxes can become forks (prepare) */
  fk_sandbox_spec_t resolved;    /* the forks' spec, resolved (layers, env, workdir, user) */
  fk_template_resolved_t *owner; /* what resolved's strings belong to */
  pthread_mutex_t lock;
  unsigned pooled; /* under lock */
} pool_fork_t;

static int
strv_empty (const char *const *v)
{
  return v == NULL || v[0] == NULL;
}

static int
same_str (const char *a, const char *b)
{
  return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0') : b != NULL && strcmp (a, b) == 0;
}

/* Whether the pool's sandboxes can become forks of source: the pool is of source's template,
   which has no start or ready command (its process would be left in the old root), and but for
   the template a create of the fork matches the pool, its user too (the agent's, fixed at its
   start). */
static int
fork_prepare (void *data, const fk_sandbox_state_t *source, const fk_sandbox_spec_t *spec,
              fk_error_t *err)
{
  pool_fork_t *f = data;
  const fk_sandbox_spec_t *ps = f->p->spec;
  if (ps->template_id == NULL || source->template_id == NULL
      || strcmp (ps->template_id, source->template_id) != 0)
    return 0;
  fk_sandbox_spec_t m = *spec;
  m.template_id = source->template_id;
  if (!fk_warm_pool_matches (f->p, &m))
    return 0;
  fk_template_t *t = NULL;
  if (fk_template_load (f->p->rt, spec->template_id, &t, err) < 0)
    return -1;
  int plain = t->start_cmd == NULL && t->ready_cmd == NULL;
  fk_template_free (t);
  if (!plain)
    return 0;
  if (fk_template_resolve (f->p->rt, spec, &f->resolved, &f->owner, err) < 0)
    return -1;
  /* The pool's user: what its sandboxes' agents run commands as. */
  fk_sandbox_spec_t pr;
  fk_template_resolved_t *powner = NULL;
  if (fk_template_resolve (f->p->rt, ps, &pr, &powner, err) < 0)
    return -1;
  f->usable = same_str (pr.user, f->resolved.user);
  fk_template_resolved_free (powner);
  return 0;
}

/* A leased sandbox made the fork of spec: its egress rules first (once it carries the fork's
   labels a caller listing by them may reach it: nothing of the pool's rules may be left by
   then), then moved onto the snapshot's root with the fork's labels and deadline, its agent
   told (with the snapshot's environment). */
static int
fork_from_item (pool_fork_t *f, item_t *it, const fk_sandbox_spec_t *spec, fk_error_t *err)
{
  cleanup_close int upper = -1, log = -1;
  const char *cwd = f->resolved.workdir ? f->resolved.workdir : "/";
  fk_sandbox_spec_t s = f->resolved;
  s.metadata = spec->metadata;
  s.timeout_sec = spec->timeout_sec;
  /* The state the move records keeps the rules set here. */
  s.data_plane.allow_out = spec->data_plane.allow_out;
  s.data_plane.deny_out = spec->data_plane.deny_out;
  if (spec->data_plane.kind == FK_DATA_PLANE_EGRESS
      && (!strv_empty (spec->data_plane.allow_out) || !strv_empty (spec->data_plane.deny_out))
      && fk_sandbox_set_network (it->sb, spec->data_plane.allow_out, spec->data_plane.deny_out, err)
             < 0)
    return -1;
  if (fk_sandbox_reroot (it->sb, &s, &upper, &log, err) < 0
      || fk_client_reroot (it->client, upper, log, cwd, f->resolved.env, err) < 0)
    return -1;
  return 0;
}

static int
fork_make (void *data, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb, fk_error_t *err)
{
  pool_fork_t *f = data;
  item_t it;
  while (f->usable && fk_pool_lease (f->p, &it))
    {
      fk_error_t local = FK_ERROR_INIT;
      if (fork_from_item (f, &it, spec, &local) == 0)
        {
          fk_client_close (it.client);
          *ret_sb = it.sb;
          pthread_mutex_lock (&f->lock);
          f->pooled++;
          pthread_mutex_unlock (&f->lock);
          return 0;
        }
      /* This one is spent: it goes, and the next one (or a create) stands in for it. */
      log_warning ("warm pool: fork from `%s': %s", fk_sandbox_id (it.sb),
                   fk_error_message (&local));
      fk_error_clear (&local);
      fk_pool_drop (&it);
    }
  fk_pool_count_cold (f->p);
  return fk_template_sandbox_create (f->p->rt, spec, ret_sb, err);
}

int
fk_warm_pool_fork (fk_warm_pool_t *p, fk_sandbox_t *sb, unsigned count, char ***ret_ids,
                   unsigned *ret_pooled, fk_error_t *err)
{
  pool_fork_t f = { .p = p };
  pthread_mutex_init (&f.lock, NULL);
  fk_fork_maker_t maker = { .prepare = fork_prepare, .make = fork_make, .data = &f };
  int r = fk_sandbox_fork_with (sb, count, &maker, ret_ids, err);
  fk_template_resolved_free (f.owner);
  pthread_mutex_destroy (&f.lock);
  if (r == 0 && ret_pooled)
    *ret_pooled = f.pooled;
  return r;
}
