/* firkin/progress.h: progress reports the library gives through a callback (it never prints). */
#ifndef FIRKIN_PROGRESS_H
#define FIRKIN_PROGRESS_H

#include <stdint.h>

/* Progress of one layer blob of a pull: reported when its download starts, as bytes arrive (at
   most every 100 ms a pull) and last when it is downloaded and verified. */
typedef struct fk_pull_progress
{
  const char *digest; /* "sha256:<hex>"; valid during the call */
  uint64_t bytes;     /* received so far */
  uint64_t total;     /* the blob's size */
  int done;           /* downloaded and verified: the blob's last report */
} fk_pull_progress_t;
typedef void (*fk_pull_progress_fn) (const fk_pull_progress_t *p, void *user_data);

#endif
