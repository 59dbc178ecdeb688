/* pool/warm.h: the warm pool of ready sandboxes (the API is firkin/pool.h). */
#ifndef FK_POOL_WARM_H
#define FK_POOL_WARM_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "firkin/pool.h"
#include "firkin/sandbox.h"

/* A ready sandbox and its agent connection. */
typedef struct item
{
  fk_sandbox_t *sb;
  fk_client_t *client;
} item_t;

struct fk_warm_pool
{
  fk_runtime_t *rt;
  fk_sandbox_spec_t *spec;        /* the pool's own copy */
  fk_sandbox_spec_t *member_spec; /* what its sandboxes are made of: spec with a timeout that
                                     cannot run out while they wait (MEMBER_TIMEOUT_SEC) */
  char *member_label;             /* opts->member_label, or NULL */
  const char *member_labels[2];   /* member_spec's metadata when there is a label */
  size_t depth;
  int refill_delay_ms;
  uint64_t last_lease_ms; /* CLOCK_MONOTONIC */
  pid_t helper;
  int req_fd, resp_fd;
  FILE *resp;
  pthread_t filler;
  int filler_started;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  item_t *ready; /* FIFO: ready[0] is the oldest */
  size_t n_ready;
  size_t in_progress;
  int stopping;
  char *last_error; /* the last creation failure, until one succeeds */
  uint64_t created, leased, cold;
};

/* Takes the oldest ready sandbox of p into *ret: 1, or 0 when there is none. */
int fk_pool_lease (fk_warm_pool_t *p, item_t *ret);
/* Closes the connection and deletes the sandbox (what a failed lease leaves). */
void fk_pool_drop (item_t *it);
/* Counts a create or fork that found no ready sandbox to use. */
void fk_pool_count_cold (fk_warm_pool_t *p);

#endif
