/* base/env.c: see env.h. */
#include "base/env.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

char **
fk_env_merge (char *const *const *lists, size_t n)
{
  size_t cap = 1;
  for (size_t l = 0; l < n; l++)
    cap += fk_strv_len (lists[l]);
  char **env = xcalloc (cap, sizeof *env);
  size_t len = 0;
  for (size_t l = 0; l < n; l++)
    for (char *const *e = lists[l]; e && *e; e++)
      {
        /* The name and what ends it (`=' or the NUL): "K=1" never matches "KEY=2". */
        size_t kl = (size_t)(strchrnul (*e, '=') - *e) + 1;
        size_t j;
        for (j = 0; j < len; j++)
          if (strncmp (env[j], *e, kl) == 0)
            break;
        env[j] = *e;
        if (j == len)
          len++;
      }
  return env;
}

const char *
fk_env_get (char *const *env, const char *name)
{
  size_t kl = strlen (name);
  for (; env && *env; env++)
    if (strncmp (*env, name, kl) == 0 && (*env)[kl] == '=')
      return *env + kl + 1;
  return NULL;
}
