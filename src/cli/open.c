/* cli/open.c: see open.h. */
#include "cli/open.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "cli/remote.h"

static int
executable (const char *path)
{
  return access (path, X_OK) == 0;
}

/* The first of dir/<rel> that is an executable file (resolved), else NULL. Caller frees. */
static char *
first_executable (const char *dir, const char *const *rels)
{
  for (size_t i = 0; rels[i]; i++)
    {
      cleanup_free char *path = xasprintf ("%s/%s", dir, rels[i]);
      if (executable (path))
        {
          char real[PATH_MAX];
          return xstrdup (realpath (path, real) ? real : path);
        }
    }
  return NULL;
}

/* The directory of the running fk, or NULL. Caller frees. */
static char *
self_dir (void)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n < 0)
    return NULL;
  self[n] = '\0';
  return xstrdup (dirname (self));
}

static int
find_agent (const char *explicit_path, const char *self, char **ret_path, fk_error_t *err)
{
  *ret_path = NULL;
  if (explicit_path && explicit_path[0])
    {
      if (!executable (explicit_path))
        return fk_error_set (err, ENOENT, "fk-agent `%s' is not an executable file", explicit_path);
      *ret_path = xstrdup (explicit_path);
      return 0;
    }
  const char *env = getenv ("FIRKIN_AGENT");
  if (env && env[0])
    {
      if (!executable (env))
        return fk_error_set (err, ENOENT, "FIRKIN_AGENT `%s' is not an executable file", env);
      *ret_path = xstrdup (env);
      return 0;
    }
  /* Installed side by side, or the build tree (src/cli/fk -> src/agent/fk-agent). */
  static const char *const beside_fk[] = { "fk-agent", "../agent/fk-agent", "../src/agent/fk-agent",
                                           "../../src/agent/fk-agent", NULL };
  if (self)
    *ret_path = first_executable (self, beside_fk);
  return 0;
}

static char *
find_timeout (const char *agent, const char *self)
{
  const char *env = getenv ("FIRKIN_TIMEOUT");
  if (env && env[0])
    return executable (env) ? xstrdup (env) : NULL;
  char *found = NULL;
  if (agent)
    {
      static const char *const beside_agent[] = { "fk-timeout", "../lib/sandbox/fk-timeout", NULL };
      cleanup_free char *copy = xstrdup (agent);
      if ((found = first_executable (dirname (copy), beside_agent)))
        return found;
    }
  static const char *const beside_fk[]
      = { "fk-timeout", "../lib/sandbox/fk-timeout", "../src/lib/sandbox/fk-timeout", NULL };
  return self ? first_executable (self, beside_fk) : NULL;
}

int
fk_cli_runtime_open (const fk_cli_globals_t *g, unsigned flags, const char *agent_path,
                     fk_runtime_t **ret_rt, fk_error_t *err)
{
  *ret_rt = NULL;
  fk_runtime_opts_t o = FK_RUNTIME_OPTIONS_INIT;
  o.state_dir = g->state_dir;
  o.skip_sweep = (flags & FK_CLI_RUNTIME_NO_SWEEP) != 0;
  cleanup_free char *agent = NULL, *timeout = NULL, *self = NULL;
  if (flags & FK_CLI_RUNTIME_PROGRAMS)
    {
      self = self_dir ();
      if (find_agent (agent_path, self, &agent, err) < 0)
        return -1;
      timeout = find_timeout (agent, self);
      o.agent_path = agent;
      o.timeout_path = timeout;
    }
  return fk_runtime_open (&o, ret_rt, err);
}

int
fk_cli_remote_open (const fk_cli_globals_t *g, fk_remote_t **ret, fk_error_t *err)
{
  fk_remote_opts_t o = FK_REMOTE_OPTIONS_INIT;
  o.url = g->remote_url;
  o.envd_url = g->remote_envd;
  o.api_key = getenv ("FIRKIN_API_KEY");
  return g->remote->open (&o, ret, err);
}
