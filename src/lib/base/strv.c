/* base/strv.c: NULL-terminated string vectors (firkin/strv.h). */
#include <stdlib.h>

#include "base/cleanup.h"
#include "firkin/strv.h"

void
fk_strv_free (char **v)
{
  if (v == NULL)
    return;
  for (char **p = v; *p; p++)
    free (*p);
  free (v);
}

size_t
fk_strv_len (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}
