/* template/resolve.c: a template id becomes what the sandbox area takes: layers, and the image's
   env, workdir and user under the spec's own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "firkin/runtime.h"
#include "firkin/template.h"

#define READY_POLL_MS 100
#define READY_ERR_MAX 512 /* bytes of the ready command's stderr quoted in the error */

struct fk_template_resolved
{
  char **layers, **env;
  char *workdir, *user;
  char *start_cmd, *ready_cmd;
  uint64_t ready_timeout_sec;
  char *template_id;
};

void
fk_template_resolved_free (fk_template_resolved_t *r)
{
  if (r == NULL)
    return;
  fk_strv_free (r->layers);
  fk_strv_free (r->env);
  free (r->workdir);
  free (r->user);
  free (r->start_cmd);
  free (r->ready_cmd);
  free (r->template_id);
  free (r);
}

int
fk_template_resolve (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_spec_t *ret_spec,
                     fk_template_resolved_t **ret_owner, fk_error_t *err)
{
  if (spec->template_id == NULL)
    {
      *ret_spec = *spec;
      *ret_owner = NULL;
      return 0;
    }
  fk_template_t *t;
  if (fk_template_load (rt, spec->template_id, &t, err) < 0)
    return -1;
  fk_template_resolved_t *r = xcalloc (1, sizeof *r);
  r->layers = t->layers;
  t->layers = NULL;
  /* The image's env first, the spec's after it: a later K= replaces an earlier one. */
  size_t nt = fk_strv_len (t->env), ns = fk_strv_len ((char *const *)spec->env);
  r->env = xcalloc (nt + ns + 1, sizeof (char *));
  for (size_t i = 0; i < nt; i++)
    r->env[i] = xstrdup (t->env[i]);
  for (size_t i = 0; i < ns; i++)
    r->env[nt + i] = xstrdup (spec->env[i]);
  if (t->workdir && t->workdir[0])
    r->workdir = xstrdup (t->workdir);
  if (t->user && t->user[0])
    r->user = xstrdup (t->user);
  r->start_cmd = steal_pointer (&t->start_cmd);
  r->ready_cmd = steal_pointer (&t->ready_cmd);
  r->ready_timeout_sec = t->ready_timeout_sec ? t->ready_timeout_sec : FK_TEMPLATE_READY_TIMEOUT;
  r->template_id = xstrdup (spec->template_id);
  fk_template_free (t);

  fk_sandbox_spec_t out = *spec;
  out.layers = (const char *const *)r->layers;
  out.env = (const char *const *)r->env;
  if (out.workdir == NULL)
    out.workdir = r->workdir;
  if (out.user == NULL)
    out.user = r->user;
  *ret_spec = out;
  *ret_owner = r;
  return 0;
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* The start command runs on (tag `start', kept when the connection closes, its output
   discarded so that a chatty server never fills the agent's buffer and stops); the ready
   command is run until it exits 0, the start command exits non-zero or the timeout passes. */
static int
start_and_wait (fk_sandbox_t *sb, const fk_sandbox_spec_t *spec, const fk_template_resolved_t *r,
                fk_error_t *err)
{
  uint64_t deadline = fk_now_ms () + r->ready_timeout_sec * 1000;
  fk_client_t *sc = NULL, *rc = NULL;
  fk_proc_t *proc = NULL;
  cleanup_free char *line = NULL;
  int ret = -1;
  if (r->start_cmd)
    {
      if (fk_client_connect (fk_sandbox_socket_path (sb), &sc, err) < 0)
        goto out;
      /* exec's redirections apply to the shell that then runs the line, whatever it is. */
      line = xasprintf ("exec </dev/null >/dev/null 2>&1\n%s", r->start_cmd);
      fk_exec_opts_t eo = FK_EXEC_OPTIONS_INIT;
      eo.shell = line;
      eo.cwd = spec->workdir;
      eo.user = spec->user;
      eo.tag = "start";
      eo.keep = 1;
      if (fk_client_exec_start (sc, &eo, &proc, err) < 0)
        {
          fk_error_wrap (err, "template `%s': start command", r->template_id);
          goto out;
        }
    }
  if (r->ready_cmd && fk_client_connect (fk_sandbox_socket_path (sb), &rc, err) < 0)
    goto out;
  int last_code = -1;
  fk_exec_result_t res = { 0 };
  for (;;)
    {
      if (proc)
        {
          fk_proc_event_t ev;
          int n;
          while ((n = fk_proc_next (proc, 0, &ev, err)) > 0 && ev.kind != FK_PROC_EXIT)
            ;
          if (n < 0)
            {
              fk_error_wrap (err, "template `%s': start command", r->template_id);
              goto out;
            }
          if (n > 0)
            {
              fk_proc_free (proc);
              proc = NULL;
              /* A start command that forks its server and exits 0 is fine. */
              if (ev.status.exit_code != 0)
                {
                  fk_error_set (err, ECANCELED,
                                "template `%s': start command `%s' exited with code %d before "
                                "the sandbox was ready",
                                r->template_id, r->start_cmd, ev.status.exit_code);
                  goto out;
                }
            }
        }
      if (r->ready_cmd == NULL)
        break;
      uint64_t now = fk_now_ms ();
      if (now >= deadline)
        {
          size_t n = res.err_len > READY_ERR_MAX ? READY_ERR_MAX : res.err_len;
          fk_error_set (err, ETIMEDOUT,
                        "template `%s': ready command `%s' did not succeed within %llu s (last "
                        "exit code %d%s%.*s)",
                        r->template_id, r->ready_cmd, (unsigned long long)r->ready_timeout_sec,
                        last_code, n ? ": " : "", (int)n,
                        res.err_len > n ? res.err + res.err_len - n
                        : res.err       ? res.err
                                        : "");
          fk_exec_result_free (&res);
          goto out;
        }
      fk_exec_result_free (&res);
      memset (&res, 0, sizeof res);
      fk_exec_opts_t eo = FK_EXEC_OPTIONS_INIT;
      eo.shell = r->ready_cmd;
      eo.cwd = spec->workdir;
      eo.user = spec->user;
      eo.timeout_ms = deadline - now;
      if (fk_client_exec (rc, &eo, 64u << 10, &res, err) < 0)
        {
          fk_exec_result_free (&res);
          fk_error_wrap (err, "template `%s': ready command", r->template_id);
          goto out;
        }
      last_code = res.status.exit_code;
      if (last_code == 0 && !res.status.timed_out)
        {
          fk_exec_result_free (&res);
          break;
        }
      now = fk_now_ms ();
      if (now < deadline)
        sleep_ms (deadline - now < READY_POLL_MS ? (unsigned)(deadline - now) : READY_POLL_MS);
    }
  ret = 0;
out:
  fk_proc_free (proc);
  if (sc)
    fk_client_close (sc);
  if (rc)
    fk_client_close (rc);
  return ret;
}

int
fk_template_sandbox_create (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                            fk_error_t *err)
{
  fk_sandbox_spec_t resolved;
  fk_template_resolved_t *owner;
  if (fk_template_resolve (rt, spec, &resolved, &owner, err) < 0)
    return -1;
  fk_sandbox_t *sb = NULL;
  int r = fk_sandbox_create (rt, &resolved, &sb, err);
  if (r == 0 && owner && (owner->start_cmd || owner->ready_cmd)
      && start_and_wait (sb, &resolved, owner, err) < 0)
    {
      /* A half-made sandbox is not left behind. */
      fk_error_wrap (err, "sandbox %s deleted", fk_sandbox_id (sb));
      fk_error_t ignored = FK_ERROR_INIT;
      fk_sandbox_delete (sb, 1, &ignored);
      fk_error_clear (&ignored);
      fk_sandbox_free (sb);
      sb = NULL;
      r = -1;
    }
  fk_template_resolved_free (owner);
  if (r == 0)
    *ret_sb = sb;
  return r;
}
