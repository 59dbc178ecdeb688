/* firkin/pool.h: the warm pool: sandboxes of one spec created ahead of time, each with its agent
   connection open, handed out by fk_warm_pool_create when the caller's spec matches, and
   replenished in the background.

   Creation runs in a helper process the pool forks at open (single-threaded, so cloning
   sandboxes never races the caller's threads); a filler thread asks it for a sandbox whenever
   ready + in progress < depth. Closing the pool drains it: the helper stops, and every sandbox
   still in the pool is deleted (leased ones belong to the caller). */
#ifndef FIRKIN_POOL_H
#define FIRKIN_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <firkin/client.h>
#include <firkin/error.h>
#include <firkin/runtime.h>
#include <firkin/sandbox.h>

typedef struct fk_warm_pool fk_warm_pool_t;

typedef struct fk_warm_pool_opts
{
  unsigned version; /* FK_WARM_POOL_OPTIONS_VERSION */
  size_t depth;     /* sandboxes kept ready (>= 1) */
  size_t min_ready; /* fk_warm_pool_open returns once this many are ready (<= depth) */
  int timeout_ms;   /* how long open waits for min_ready (<= 0: 60 s) */
  /* A refill starts this long after the lease that made room (0: at once; < 0: the default,
     20 ms), so creating the next sandbox does not compete for the CPU with the first commands
     of the one just handed out, the latency the pool is there for. */
  int refill_delay_ms;
  /* A "K=V" label the pool's sandboxes carry while they wait (a lease replaces their labels
     with the creator's, even none), so that whoever lists sandboxes can tell them apart; NULL:
     none. */
  const char *member_label;
} fk_warm_pool_opts_t;

#define FK_WARM_POOL_OPTIONS_VERSION 1
/* One ready sandbox, open waits for it (60 s at most), the default refill delay. */
#define FK_WARM_POOL_OPTIONS_INIT                                                                  \
  {                                                                                                \
    .version = FK_WARM_POOL_OPTIONS_VERSION, .depth = 1, .min_ready = 1, .refill_delay_ms = -1     \
  }

typedef struct fk_warm_pool_stats
{
  size_t ready;       /* in the pool now */
  size_t in_progress; /* being created */
  uint64_t created;   /* by the pool since open */
  uint64_t leased;    /* handed out */
  uint64_t cold;      /* creates and forks that had to create (no match or empty) */
} fk_warm_pool_stats_t;

/* Opens a pool of sandboxes of spec (copied) in rt (which must outlive the pool), and waits
   until opts->min_ready are ready (opts is required: depth has no default). A failure to create is
   reported (with the sandbox runtime's error) when min_ready cannot be reached. */
int fk_warm_pool_open (fk_runtime_t *rt, const fk_sandbox_spec_t *spec,
                       const fk_warm_pool_opts_t *opts, fk_warm_pool_t **ret_pool, fk_error_t *err);

/* True when spec asks for what the pool's sandboxes are: every field equal (`init' sandboxes
   are never pooled), except what a lease sets: the metadata and the environment when the
   pool's spec has none (the sandbox's labels are replaced, its agent's environment takes the
   variables: fk_sandbox_set_metadata, fk_client_set_env), and the timeout when both have one
   (restarted at the lease; the pool's sandboxes wait with the longest timeout there is). */
int fk_warm_pool_matches (const fk_warm_pool_t *pool, const fk_sandbox_spec_t *spec);

/* Creates a sandbox of spec: a ready one from the pool when spec matches and one is ready
   (its timeout, if any, restarts now, and it takes spec's metadata and environment), else through
   fk_sandbox_create. ret_client (may be NULL) gets a connection to its agent: already open for a
   pooled sandbox. The caller owns both (fk_client_close, fk_sandbox_delete, fk_sandbox_free).
   *ret_pooled (may be NULL) says which way it went. */
int fk_warm_pool_create (fk_warm_pool_t *pool, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                         fk_client_t **ret_client, int *ret_pooled, fk_error_t *err);

/* Forks sb as fk_sandbox_fork does (a snapshot of sb, then count sandboxes of it, all of them or
   none), each fork a ready sandbox of the pool moved onto the snapshot's root when the pool's
   sandboxes are what a create of the fork would be but for their root: sb's template, with
   neither a start nor a ready command, the same limits, user, hostname, data plane and seccomp
   (fk_warm_pool_matches), else, and when the pool runs out, a create. A pooled fork keeps its
   pooled id, namespaces and agent, on a fresh disk of its own; its state says it is made of the
   snapshot, as a created fork's does. *ret_pooled (may be NULL): how many came from the pool. */
int fk_warm_pool_fork (fk_warm_pool_t *pool, fk_sandbox_t *sb, unsigned count, char ***ret_ids,
                       unsigned *ret_pooled, fk_error_t *err);

/* Waits until at least n sandboxes are ready (n <= depth); ETIMEDOUT after timeout_ms, or
   the helper's last error when creating fails. */
int fk_warm_pool_wait_ready (fk_warm_pool_t *pool, size_t n, int timeout_ms, fk_error_t *err);

void fk_warm_pool_stats (fk_warm_pool_t *pool, fk_warm_pool_stats_t *ret_stats);

/* Stops replenishing and deletes every sandbox still in the pool. Returns < 0 when one could
   not be deleted (the others still are); the pool is freed either way. NULL is fine. */
int fk_warm_pool_close (fk_warm_pool_t *pool, fk_error_t *err);

#endif
