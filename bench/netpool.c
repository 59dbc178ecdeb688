/* bench/netpool.c: pooled creates with the data plane `none' against `egress', in process
   (bench/net.py runs it in its HOST namespace). For each plane, a warm pool holding N ready
   sandboxes of the layers given (egress ones without rules), then N fk_warm_pool_create, each
   timed alone (an egress lease sets its rules: one allow rule, as a caller would), no refill
   while timed. Everything made is deleted, untimed.
   usage: netpool N LAYER...  -> lines "none|egress MILLISECONDS", one per create
   env: FIRKIN_STATE_DIR, FIRKIN_AGENT, FIRKIN_TIMEOUT (unset: the defaults) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firkin/client.h"
#include "firkin/pool.h"
#include "firkin/sandbox.h"

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
  fprintf (stderr, "netpool: %s: %s\n", what, fk_error_message (err));
  fk_error_clear (err);
  return -1;
}

static int
run_plane (fk_runtime_t *rt, const char *const *layers, fk_data_plane_kind_t kind, size_t n)
{
  static const char *const allow[] = { "203.0.113.0/24", NULL };
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_spec_t spec;
  fk_sandbox_spec_init (&spec);
  spec.layers = layers;
  spec.timeout_sec = 600; /* a killed benchmark's sandboxes end by themselves */
  spec.data_plane.kind = kind;
  fk_warm_pool_opts_t po = FK_WARM_POOL_OPTIONS_INIT;
  po.depth = n;
  po.min_ready = n;
  po.timeout_ms = 300000;
  po.refill_delay_ms = 3600000; /* no refill while the creates are timed */
  fk_warm_pool_t *pool = NULL;
  if (fk_warm_pool_open (rt, &spec, &po, &pool, &err) < 0)
    return fail ("open the warm pool", &err);
  fk_sandbox_spec_t lease = spec;
  if (kind == FK_DATA_PLANE_EGRESS)
    lease.data_plane.allow_out = allow;
  fk_sandbox_t **sbs = calloc (n, sizeof *sbs);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    {
      fk_client_t *c = NULL;
      int pooled = 0;
      double t0 = now_ms ();
      if (fk_warm_pool_create (pool, &lease, &sbs[i], &c, &pooled, &err) < 0)
        rc = fail ("pooled create", &err);
      double ms = now_ms () - t0;
      fk_client_close (c);
      if (rc == 0 && !pooled)
        fprintf (stderr, "netpool: a create found no ready sandbox\n");
      else if (rc == 0)
        printf ("%s %.3f\n", kind == FK_DATA_PLANE_EGRESS ? "egress" : "none", ms);
    }
  for (size_t i = 0; i < n; i++)
    if (sbs[i])
      {
        if (fk_sandbox_delete (sbs[i], 1, &err) < 0)
          fail ("delete", &err);
        fk_sandbox_free (sbs[i]);
      }
  free (sbs);
  if (fk_warm_pool_close (pool, &err) < 0)
    fail ("close the warm pool", &err);
  fflush (stdout);
  return rc;
}

int
main (int argc, char **argv)
{
  size_t n = argc >= 3 ? strtoul (argv[1], NULL, 10) : 0;
  if (n < 1 || n > 64)
    {
      fprintf (stderr, "usage: netpool N(1-64) LAYER...\n");
      return 2;
    }
  fk_runtime_opts_t ro = FK_RUNTIME_OPTIONS_INIT;
  ro.state_dir = getenv ("FIRKIN_STATE_DIR");
  ro.agent_path = getenv ("FIRKIN_AGENT");
  ro.timeout_path = getenv ("FIRKIN_TIMEOUT");
  fk_runtime_t *rt = NULL;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_runtime_open (&ro, &rt, &err) < 0)
    return fail ("open the runtime", &err) < 0 ? 1 : 1;
  int rc = run_plane (rt, (const char *const *)argv + 2, FK_DATA_PLANE_NONE, n);
  if (rc == 0)
    rc = run_plane (rt, (const char *const *)argv + 2, FK_DATA_PLANE_EGRESS, n);
  fk_runtime_close (rt);
  return rc == 0 ? 0 : 1;
}
