/* base/xalloc.h: allocation that cannot fail silently; these abort on out-of-memory. */
#ifndef FK_BASE_XALLOC_H
#define FK_BASE_XALLOC_H

#include <stddef.h>

/* Aborts with a message naming the size. Never returns. */
void fk_oom (size_t size) __attribute__ ((noreturn));

void *xmalloc (size_t size);
void *xcalloc (size_t nmemb, size_t size);
void *xrealloc (void *ptr, size_t size);
/* Grows *ptr to hold at least need elements of size elem, doubling *cap. */
void xgrow (void **ptr, size_t *cap, size_t need, size_t elem);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
void *xmemdup (const void *p, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* A deep copy of a NULL-terminated string vector (NULL for NULL). */
char **xstrvdup (const char *const *v);

#endif
