/* base/xalloc.c: see xalloc.h. */
#include "base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fk_oom (size_t size)
{
  char buf[96];
  int n = snprintf (buf, sizeof buf, "firkin: out of memory (allocating %zu bytes)\n", size);
  if (n > 0 && write (2, buf, (size_t)n) < 0)
    abort ();
  abort ();
}

void *
xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    fk_oom (size);
  return p;
}

void *
xcalloc (size_t nmemb, size_t size)
{
  void *p = calloc (nmemb ? nmemb : 1, size ? size : 1);
  if (p == NULL)
    fk_oom (nmemb * size);
  return p;
}

void *
xrealloc (void *ptr, size_t size)
{
  void *p = realloc (ptr, size ? size : 1);
  if (p == NULL)
    fk_oom (size);
  return p;
}

void
xgrow (void **ptr, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return;
  size_t n = *cap ? *cap : 8;
  while (n < need)
    {
      if (n > ((size_t)-1) / 2)
        fk_oom ((size_t)-1);
      n *= 2;
    }
  if (elem != 0 && n > ((size_t)-1) / elem)
    fk_oom ((size_t)-1);
  *ptr = xrealloc (*ptr, n * elem);
  *cap = n;
}

char *
xstrdup (const char *s)
{
  char *p = strdup (s);
  if (p == NULL)
    fk_oom (strlen (s) + 1);
  return p;
}

char *
xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (p == NULL)
    fk_oom (n + 1);
  return p;
}

void *
xmemdup (const void *p, size_t n)
{
  void *q = xmalloc (n);
  if (n)
    memcpy (q, p, n);
  return q;
}

char *
xasprintf (const char *fmt, ...)
{
  char *s = NULL;
  va_list ap;
  va_start (ap, fmt);
  int r = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (r < 0)
    fk_oom (0);
  return s;
}

char **
xstrvdup (const char *const *v)
{
  if (v == NULL)
    return NULL;
  size_t n = 0;
  while (v[n])
    n++;
  char **r = xcalloc (n + 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  return r;
}
