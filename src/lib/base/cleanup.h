/* base/cleanup.h: scope-bound cleanup; ownership leaves a scope only through
 * steal_pointer/steal_fd. */
#ifndef FK_BASE_CLEANUP_H
#define FK_BASE_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "firkin/strv.h"

void fk_cleanup_freep (void *p);
void fk_cleanup_closep (int *fd);
void fk_cleanup_closedirp (DIR **d);
void fk_cleanup_fclosep (FILE **f);
void fk_cleanup_jsonp (void *j); /* json_t ** (jansson), in json.c; kept opaque here */

#define cleanup_free __attribute__ ((cleanup (fk_cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (fk_cleanup_closep)))
#define cleanup_dir __attribute__ ((cleanup (fk_cleanup_closedirp)))
#define cleanup_file __attribute__ ((cleanup (fk_cleanup_fclosep)))
#define cleanup_json __attribute__ ((cleanup (fk_cleanup_jsonp)))

/* A type's cleanup helper, declared beside its free function: free_fn##p (type *p) calls
   free_fn (*p) unless *p is NULL. FK_CLEANUP (free_fn) marks a variable with it; a header names
   that for its type beside the declaration, as cleanup_strv below:

     void fk_thing_free (fk_thing_t *t);
     FK_DEFINE_CLEANUP (fk_thing_t *, fk_thing_free)
     #define cleanup_thing FK_CLEANUP (fk_thing_free) */
#define FK_DEFINE_CLEANUP(type, free_fn)                                                           \
  static inline void free_fn##p (type *p)                                                          \
  {                                                                                                \
    if (*p != NULL)                                                                                \
      free_fn (*p);                                                                                \
  }
#define FK_CLEANUP(free_fn) __attribute__ ((cleanup (free_fn##p)))

static inline void *
fk_steal_pointer (void *pp)
{
  void **p = (void **)pp;
  void *r = *p;
  *p = NULL;
  return r;
}
#define steal_pointer(pp) ((__typeof__ (*(pp)))fk_steal_pointer (pp))

static inline int
steal_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

/* Closes fd keeping errno; returns -1 so `fd = close_and_reset (fd)` reads well. */
static inline int
close_and_reset (int fd)
{
  if (fd >= 0)
    {
      int saved = errno;
      close (fd);
      errno = saved;
    }
  return -1;
}

/* fk_strv_free (firkin/strv.h) frees a NULL-terminated vector of strings. */
FK_DEFINE_CLEANUP (char **, fk_strv_free)
#define cleanup_strv FK_CLEANUP (fk_strv_free)
/* Number of entries of a NULL-terminated vector (0 for NULL). */
size_t fk_strv_len (char *const *v);

#endif
