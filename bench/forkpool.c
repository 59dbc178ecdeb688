/* bench/forkpool.c: fork of N sandboxes beside N creates from a warm pool and N plain creates
   of the same template, in process (bench/snapshot.sh runs it), round-robin so that load hits
   every subject alike. fork: fk_sandbox_fork of a running sandbox of the template (the
   snapshot of its changes included); pooled: N fk_warm_pool_create from a pool that holds N
   ready sandboxes (no refill while timed); plain: N fk_template_sandbox_create. Everything made
   is deleted after each timing, untimed.
   poolfork: fk_warm_pool_fork of the same source from a pool of N ready sandboxes (each fork a
   pooled sandbox moved onto the snapshot's root).
   usage: forkpool STATE_DIR TEMPLATE N ROUNDS  -> lines "fork|pooled|plain|poolfork MILLISECONDS"
   env: FIRKIN_AGENT, FIRKIN_TIMEOUT (the programs, as fk takes them; unset: the installed ones),
        FIRKIN_BENCH_FORK_SUBJECTS ("poolfork,pooled": those alone; unset: all four) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firkin/client.h"
#include "firkin/pool.h"
#include "firkin/template.h"

static double
now_ms (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int
fail (const char *what, fk_error_t *err)
{
  fprintf (stderr, "forkpool: %s: %s\n", what, fk_error_message (err));
  fk_error_clear (err);
  return -1;
}

static void
delete_all (fk_sandbox_t **sbs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (sbs[i])
      {
        fk_error_t err = FK_ERROR_INIT;
        if (fk_sandbox_delete (sbs[i], 1, &err) < 0)
          fail ("delete", &err);
        fk_sandbox_free (sbs[i]);
        sbs[i] = NULL;
      }
}

static int
run_fork (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, double *ret_ms)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t *src = NULL;
  if (fk_template_sandbox_create (rt, spec, &src, &err) < 0)
    return fail ("create the fork's source", &err);
  char **ids = NULL;
  double t0 = now_ms ();
  int r = fk_sandbox_fork (src, (unsigned)n, &ids, &err);
  *ret_ms = now_ms () - t0;
  if (r < 0)
    fail ("fork", &err);
  for (size_t i = 0; ids && ids[i]; i++)
    {
      fk_sandbox_t *sb = NULL;
      if (fk_sandbox_open (rt, ids[i], &sb, &err) == 0)
        delete_all (&sb, 1);
      else
        fail ("open a fork", &err);
    }
  fk_strv_free (ids);
  delete_all (&src, 1);
  return r;
}

/* fk_warm_pool_fork of a source from a pool of N ready sandboxes of its template (no refill
   while timed): every fork a pooled sandbox moved onto the snapshot's root. */
static int
run_poolfork (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, double *ret_ms)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_warm_pool_opts_t po = FK_WARM_POOL_OPTIONS_INIT;
  po.depth = n;
  po.min_ready = n;
  po.timeout_ms = 300000;
  po.refill_delay_ms = 3600000;
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, spec, &po, &pool, &err) < 0)
    return fail ("open the warm pool", &err);
  fk_sandbox_t *src = NULL;
  int r = -1;
  if (fk_template_sandbox_create (rt, spec, &src, &err) < 0)
    fail ("create the fork's source", &err);
  else
    {
      char **ids = NULL;
      unsigned pooled = 0;
      double t0 = now_ms ();
      r = fk_warm_pool_fork (pool, src, (unsigned)n, &ids, &pooled, &err);
      *ret_ms = now_ms () - t0;
      if (r < 0)
        fail ("pool fork", &err);
      else if (pooled < n)
        fprintf (stderr, "forkpool: %u of %zu forks came from the pool\n", pooled, n);
      for (size_t i = 0; ids && ids[i]; i++)
        {
          fk_sandbox_t *sb = NULL;
          if (fk_sandbox_open (rt, ids[i], &sb, &err) == 0)
            delete_all (&sb, 1);
          else
            fail ("open a fork", &err);
        }
      fk_strv_free (ids);
      delete_all (&src, 1);
    }
  if (fk_warm_pool_close (pool, &err) < 0)
    fail ("close the warm pool", &err);
  return r;
}

static int
run_pooled (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, double *ret_ms)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_warm_pool_opts_t po = FK_WARM_POOL_OPTIONS_INIT;
  po.depth = n;
  po.min_ready = n;
  po.timeout_ms = 300000;
  po.refill_delay_ms = 3600000; /* no refill while the creates are timed */
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, spec, &po, &pool, &err) < 0)
    return fail ("open the warm pool", &err);
  fk_sandbox_t **sbs = calloc (n, sizeof *sbs);
  int rc = 0;
  size_t cold = 0;
  double t0 = now_ms ();
  for (size_t i = 0; i < n && rc == 0; i++)
    {
      fk_client_t *c = NULL;
      int pooled = 0;
      if (fk_warm_pool_create (pool, spec, &sbs[i], &c, &pooled, &err) < 0)
        rc = fail ("pooled create", &err);
      cold += !pooled;
      fk_client_close (c);
    }
  *ret_ms = now_ms () - t0;
  if (cold)
    fprintf (stderr, "forkpool: %zu of %zu pooled creates found no ready sandbox\n", cold, n);
  delete_all (sbs, n);
  free (sbs);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail ("close the warm pool", &err);
  return rc;
}

static int
run_plain (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, size_t n, double *ret_ms)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_t **sbs = calloc (n, sizeof *sbs);
  int rc = 0;
  double t0 = now_ms ();
  for (size_t i = 0; i < n && rc == 0; i++)
    if (fk_template_sandbox_create (rt, spec, &sbs[i], &err) < 0)
      rc = fail ("create", &err);
  *ret_ms = now_ms () - t0;
  delete_all (sbs, n);
  free (sbs);
  return rc;
}

#ifdef __SANITIZE_ADDRESS__
/* Under the address sanitizer only: fk fork creates its sandboxes from threads, and the
   sandbox's child is forked from the threaded process; the sanitizer's allocator (in the
   compilers Debian 12 ships) has no fork handler, and its store of allocation stacks takes a
   spin lock that another thread may hold at the fork (the child then spins forever). Without
   allocation stacks that lock is never taken (fkd does the same). */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "malloc_context_size=0";
}
#endif

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: forkpool STATE_DIR TEMPLATE N ROUNDS\n");
      return 2;
    }
  size_t n = strtoul (argv[3], NULL, 10), rounds = strtoul (argv[4], NULL, 10);
  if (n < 1 || n > FK_FORK_MAX || rounds < 1)
    {
      fprintf (stderr, "forkpool: N is 1 to %d, ROUNDS at least 1\n", FK_FORK_MAX);
      return 2;
    }
  fk_runtime_opts_t ro = FK_RUNTIME_OPTIONS_INIT;
  ro.state_dir = argv[1];
  ro.agent_path = getenv ("FIRKIN_AGENT"); /* NULL: the installed one */
  ro.timeout_path = getenv ("FIRKIN_TIMEOUT");
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_runtime_open (&ro, &rt, &err) < 0)
    return fail ("open the runtime", &err) < 0 ? 1 : 1;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.template_id = argv[2];
  spec.timeout_sec = 600; /* a killed benchmark's sandboxes end by themselves */
  static const char *const names[] = { "fork", "pooled", "plain", "poolfork" };
  /* FIRKIN_BENCH_FORK_SUBJECTS: some of them, by name (default: all four). */
  const char *only = getenv ("FIRKIN_BENCH_FORK_SUBJECTS");
  char subjects[256];
  snprintf (subjects, sizeof subjects, ",%s,", only ? only : "");
  int rc = 0;
  for (size_t r = 0; r < rounds && rc == 0; r++)
    for (size_t k = 0; k < 4 && rc == 0; k++)
      {
        size_t which = (k + r) % 4;
        char want[64];
        snprintf (want, sizeof want, ",%s,", names[which]);
        if (only && only[0] && !strstr (subjects, want))
          continue;
        double ms = 0;
        rc = which == 0   ? run_fork (rt, &spec, n, &ms)
             : which == 1 ? run_pooled (rt, &spec, n, &ms)
             : which == 2 ? run_plain (rt, &spec, n, &ms)
                          : run_poolfork (rt, &spec, n, &ms);
        if (rc == 0)
          {
            printf ("%s %.3f\n", names[which], ms);
            fflush (stdout);
          }
      }
  fk_runtime_close (rt);
  return rc == 0 ? 0 : 1;
}
