/* base/env.h: environment vectors ("K=V", NULL-terminated), libc only: the library (a sandbox's
   environment) and the static fk-agent (a command's, a shell's) merge them the same way. */
#ifndef FK_BASE_ENV_H
#define FK_BASE_ENV_H

#include <stddef.h>

/* Merges n environment lists into one NULL-terminated vector: lists[0]'s entries, then each
   later list's, an entry replacing in place the earlier entry of the same name (entries agree up
   to and including their first `='; one without `=' matches only itself) and appending
   otherwise; later lists win. A NULL list is skipped. Defaults that apply only when nothing sets a
   name go first, overrides last. The strings are borrowed, not copied: the caller frees the vector
   alone (free(), not fk_strv_free) and keeps the lists alive while it is in use. Never NULL. */
char **fk_env_merge (char *const *const *lists, size_t n);

/* The value of name in env (NULL-terminated; NULL is empty), or NULL. Async-signal-safe. */
const char *fk_env_get (char *const *env, const char *name);

#endif
