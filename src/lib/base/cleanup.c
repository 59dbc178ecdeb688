/* base/cleanup.c: see cleanup.h. */
#include "base/cleanup.h"

void
fk_cleanup_freep (void *p)
{
  void **pp = (void **)p;
  free (*pp);
  *pp = NULL;
}

void
fk_cleanup_closep (int *fd)
{
  if (*fd >= 0)
    *fd = close_and_reset (*fd);
}

void
fk_cleanup_closedirp (DIR **d)
{
  if (*d != NULL)
    {
      int saved = errno;
      closedir (*d);
      errno = saved;
      *d = NULL;
    }
}

void
fk_cleanup_fclosep (FILE **f)
{
  if (*f != NULL)
    {
      int saved = errno;
      fclose (*f);
      errno = saved;
      *f = NULL;
    }
}
