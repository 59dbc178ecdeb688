/* pool/warm.c: see firkin/pool.h. */
#include "pool/warm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "firkin/template.h"
#include "sandbox/sandbox.h"
#include "sandbox/spec.h"
#include "sandbox/state.h"

/* The longest timeout a sandbox can have: what the pool's sandboxes wait with, so that one
   kept ready longer than the spec's timeout does not expire before it is leased. */
#define MEMBER_TIMEOUT_SEC (366u * 24 * 3600)

static int
strv_empty (const char *const *v)
{
  return v == NULL || v[0] == NULL;
}

/* What a lease sets on a pooled sandbox rather than the pool at creation: its metadata and
   environment when the pool's spec has none, its timeout (restarted at the lease) when both
   have one, and its egress rules when the pool's sandboxes are egress ones without rules (their
   interfaces are made: the lease replaces the rules, fk_sandbox_set_network). Every other field
   must be equal. */
int
fk_warm_pool_matches (const fk_warm_pool_t *pool, const fk_sandbox_spec_t *spec)
{
  const fk_sandbox_spec_t *ps = pool->spec;
  fk_sandbox_spec_t s = *spec;
  if (ps->metadata == NULL || ps->metadata[0] == NULL)
    s.metadata = ps->metadata;
  if (ps->env == NULL || ps->env[0] == NULL)
    s.env = ps->env;
  if ((ps->timeout_sec > 0) == (spec->timeout_sec > 0))
    s.timeout_sec = ps->timeout_sec;
  if (ps->data_plane.kind == FK_DATA_PLANE_EGRESS && spec->data_plane.kind == FK_DATA_PLANE_EGRESS
      && strv_empty (ps->data_plane.allow_out) && strv_empty (ps->data_plane.deny_out))
    {
      s.data_plane.allow_out = ps->data_plane.allow_out;
      s.data_plane.deny_out = ps->data_plane.deny_out;
    }
  return fk_sandbox_spec_equal (ps, &s);
}

/* Gives a leased sandbox what its creator asked for beyond the pool's spec (see
   fk_warm_pool_matches). */
static int
lease_apply (const fk_warm_pool_t *p, const item_t *it, const fk_sandbox_spec_t *spec,
             fk_error_t *err)
{
  static const char *const none[] = { NULL };
  /* The rules first: nothing of the lease's runs before they hold. */
  if (spec->data_plane.kind == FK_DATA_PLANE_EGRESS
      && (!strv_empty (spec->data_plane.allow_out) || !strv_empty (spec->data_plane.deny_out))
      && fk_sandbox_set_network (it->sb, spec->data_plane.allow_out, spec->data_plane.deny_out, err)
             < 0)
    return -1;
  if (spec->timeout_sec > 0 && fk_sandbox_extend (it->sb, spec->timeout_sec, err) < 0)
    return -1;
  if (((spec->metadata != NULL && spec->metadata[0] != NULL) || p->member_label != NULL)
      && fk_sandbox_set_metadata (it->sb, spec->metadata ? spec->metadata : none, err) < 0)
    return -1;
  if (spec->env != NULL && spec->env[0] != NULL
      && fk_client_set_env (it->client, spec->env, err) < 0)
    return -1;
  return 0;
}

/* ---- the helper process: one line per request, "+ID" or "-MESSAGE" ---- */

/* The helper is the parent of the sandboxes it makes (their PID 1 and watchdog): once the pool's
   owner deletes one, it is the helper's to reap. Between creations nothing of its own runs, so
   every exited child is one of those. */
static void
reap_children (void)
{
  while (waitpid (-1, NULL, WNOHANG) > 0)
    ;
}

static void
helper_main (fk_warm_pool_t *p, int req, int resp)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  char c;
  for (;;)
    {
      reap_children ();
      /* Wake now and then to reap what was deleted while no request came. */
      struct pollfd pf = { .fd = req, .events = POLLIN };
      if (poll (&pf, 1, 1000) == 0)
        continue;
      ssize_t n = read (req, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      fk_error_t err = FK_ERROR_INIT;
      fk_sandbox_t *sb = NULL;
      char *line;
      if (fk_template_sandbox_create (p->rt, p->member_spec, &sb, &err) < 0)
        {
          line = xasprintf ("-%s\n", fk_error_message (&err));
          for (char *q = line + 1; q[1]; q++)
            if (*q == '\n')
              *q = ' ';
          fk_error_clear (&err);
        }
      else
        {
          line = xasprintf ("+%s\n", fk_sandbox_id (sb));
          fk_sandbox_free (sb);
        }
      if (fk_write_all (resp, line, strlen (line), &err) < 0)
        {
          free (line);
          break;
        }
      free (line);
    }
  _exit (0);
}

/* ---- the filler thread ---- */

static void
set_error_locked (fk_warm_pool_t *p, const char *msg)
{
  free (p->last_error);
  p->last_error = msg ? xstrdup (msg) : NULL;
}

/* A pooled sandbox whose delete failed (one a fork left half moved, say) must not go on
   running, under a fork's labels perhaps: its PID 1 (and with it its pid namespace) is killed
   through a pidfd, once the pid is seen to be still the sandbox's. 0 when it is dead or gone. */
static int
kill_pid1 (const fk_sandbox_t *sb)
{
  const fk_sandbox_state_t *st = sb->state;
  if (st == NULL || st->pid <= 0)
    return -1;
  cleanup_close int pidfd = (int)syscall (SYS_pidfd_open, st->pid, 0);
  if (pidfd < 0)
    return errno == ESRCH ? 0 : -1;
  /* Checked with the pidfd held: a pid reused after this cannot be the one signalled. */
  if (!fk_state_alive (st))
    return 0;
  return syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 ? -1 : 0;
}

void
fk_pool_drop (item_t *it)
{
  fk_client_close (it->client);
  fk_error_t err = FK_ERROR_INIT;
  if (fk_sandbox_delete (it->sb, 1, &err) < 0)
    {
      /* The delete kills PID 1 first thing, but not when it failed before (its lock, its
         state): killed here, what the delete did not reach is left for a later `fk rm'. */
      const char *left = kill_pid1 (it->sb) == 0
                             ? "its PID 1 is killed; its state, cgroup or disk may be left"
                             : "its PID 1 could not be killed: it is left running";
      log_warning ("warm pool: delete `%s': %s; %s", fk_sandbox_id (it->sb),
                   fk_error_message (&err), left);
      fk_error_clear (&err);
    }
  fk_sandbox_free (it->sb);
}

/* One creation through the helper; *ret filled on success. */
static int
create_one (fk_warm_pool_t *p, item_t *ret, fk_error_t *err)
{
  if (fk_write_all (p->req_fd, "c", 1, err) < 0)
    return fk_error_wrap (err, "warm pool helper");
  char line[4200];
  if (fgets (line, sizeof line, p->resp) == NULL)
    return fk_error_set (err, EPIPE, "the warm pool helper exited");
  line[strcspn (line, "\n")] = '\0';
  if (line[0] != '+')
    return fk_error_set (err, EIO, "%s", line + 1);
  item_t it = { 0 };
  if (fk_sandbox_open (p->rt, line + 1, &it.sb, err) < 0)
    return -1;
  /* Ready means a command round trip worked (whatever its status: an image may lack `true');
     the first one also warms what every later one needs (the agent's first fork, the
     overlay's lookups). */
  char *argv[] = { (char *)"true", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t r = { 0 };
  if (fk_client_connect (fk_sandbox_socket_path (it.sb), &it.client, err) < 0
      || fk_client_exec (it.client, &eo, 4096, &r, err) < 0)
    {
      fk_exec_result_free (&r);
      fk_client_close (it.client);
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_sandbox_delete (it.sb, 1, &e2) < 0)
        fk_error_clear (&e2);
      fk_sandbox_free (it.sb);
      return -1;
    }
  fk_exec_result_free (&r);
  *ret = it;
  return 0;
}

static void
timedwait_ms (fk_warm_pool_t *p, uint64_t ms)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000)
    {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
  pthread_cond_timedwait (&p->cond, &p->lock, &ts);
}

static void *
filler_main (void *arg)
{
  fk_warm_pool_t *p = arg;
  pthread_mutex_lock (&p->lock);
  while (!p->stopping)
    {
      if (p->n_ready + p->in_progress >= p->depth)
        {
          pthread_cond_wait (&p->cond, &p->lock);
          continue;
        }
      uint64_t now = fk_now_ms ();
      if (p->last_lease_ms != 0 && now < p->last_lease_ms + (uint64_t)p->refill_delay_ms)
        {
          timedwait_ms (p, p->last_lease_ms + (uint64_t)p->refill_delay_ms - now);
          continue;
        }
      p->in_progress++;
      pthread_mutex_unlock (&p->lock);
      item_t it;
      fk_error_t err = FK_ERROR_INIT;
      int r = create_one (p, &it, &err);
      pthread_mutex_lock (&p->lock);
      p->in_progress--;
      if (r == 0 && p->stopping)
        {
          pthread_mutex_unlock (&p->lock);
          fk_pool_drop (&it);
          pthread_mutex_lock (&p->lock);
        }
      else if (r == 0)
        {
          p->ready[p->n_ready++] = it;
          p->created++;
          set_error_locked (p, NULL);
        }
      else
        {
          set_error_locked (p, fk_error_message (&err));
          int gone = err.code == EPIPE;
          fk_error_clear (&err);
          pthread_cond_broadcast (&p->cond);
          if (gone)
            break;
          /* Do not spin on a spec that cannot be created: try again in a second. */
          if (!p->stopping)
            timedwait_ms (p, 1000);
        }
      pthread_cond_broadcast (&p->cond);
    }
  pthread_mutex_unlock (&p->lock);
  return NULL;
}

/* ---- the API ---- */

int
fk_warm_pool_open (fk_runtime_t *rt, const fk_sandbox_spec_t *spec, const fk_warm_pool_opts_t *opts,
                   fk_warm_pool_t **ret_pool, fk_error_t *err)
{
  if (opts == NULL)
    return fk_error_set (err, EINVAL, "warm pool: no options (FK_WARM_POOL_OPTIONS_INIT)");
  if (fk_options_check_version (opts->version, FK_WARM_POOL_OPTIONS_VERSION, "fk_warm_pool_opts_t",
                                "FK_WARM_POOL_OPTIONS_INIT", err)
      < 0)
    return -1;
  if (opts->depth == 0 || opts->min_ready > opts->depth)
    return fk_error_set (err, EINVAL,
                         "warm pool: depth %zu, min ready %zu (need 1 <= depth, "
                         "min ready <= depth)",
                         opts->depth, opts->min_ready);
  if (spec->init != NULL)
    return fk_error_set (err, EINVAL, "warm pool: sandboxes with an init command are not pooled");
  if (opts->member_label != NULL)
    {
      if (fk_spec_check_kv (opts->member_label, "warm pool member label", err) < 0)
        return -1;
      if (spec->metadata != NULL && spec->metadata[0] != NULL)
        return fk_error_set (err, EINVAL, "warm pool: a member label or metadata, not both");
    }
  fk_warm_pool_t *p = xcalloc (1, sizeof *p);
  p->rt = rt;
  fk_sandbox_spec_dup (spec, &p->spec);
  fk_sandbox_spec_dup (spec, &p->member_spec);
  if (spec->timeout_sec > 0)
    p->member_spec->timeout_sec = MEMBER_TIMEOUT_SEC;
  if (opts->member_label != NULL)
    {
      p->member_label = xstrdup (opts->member_label);
      p->member_labels[0] = p->member_label;
      p->member_spec->metadata = p->member_labels;
    }
  p->depth = opts->depth;
  p->refill_delay_ms = opts->refill_delay_ms < 0 ? 20 : opts->refill_delay_ms;
  p->ready = xcalloc (p->depth, sizeof *p->ready);
  p->req_fd = p->resp_fd = -1;
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->cond, NULL);
  int req[2], resp[2];
  if (pipe2 (req, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "pipe");
      goto fail;
    }
  if (pipe2 (resp, O_CLOEXEC) < 0)
    {
      fk_error_set_errno (err, "pipe");
      close (req[0]);
      close (req[1]);
      goto fail;
    }
  fflush (NULL);
  p->helper = fork ();
  if (p->helper < 0)
    {
      fk_error_set_errno (err, "fork the warm pool helper");
      close (req[0]);
      close (req[1]);
      close (resp[0]);
      close (resp[1]);
      goto fail;
    }
  if (p->helper == 0)
    {
      close (req[1]);
      close (resp[0]);
      helper_main (p, req[0], resp[1]);
    }
  close (req[0]);
  close (resp[1]);
  p->req_fd = req[1];
  p->resp_fd = resp[0];
  p->resp = fdopen (p->resp_fd, "r");
  if (pthread_create (&p->filler, NULL, filler_main, p) != 0)
    {
      fk_error_set (err, EAGAIN, "warm pool: start the filler thread");
      goto fail;
    }
  p->filler_started = 1;
  if (opts->min_ready > 0
      && fk_warm_pool_wait_ready (p, opts->min_ready,
                                  opts->timeout_ms > 0 ? opts->timeout_ms : 60000, err)
             < 0)
    {
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_warm_pool_close (p, &e2) < 0)
        fk_error_clear (&e2);
      return fk_error_wrap (err, "warm pool");
    }
  *ret_pool = p;
  return 0;
fail:
  {
    fk_error_t e2 = FK_ERROR_INIT;
    if (fk_warm_pool_close (p, &e2) < 0)
      fk_error_clear (&e2);
  }
  return -1;
}

int
fk_warm_pool_wait_ready (fk_warm_pool_t *p, size_t n, int timeout_ms, fk_error_t *err)
{
  if (n > p->depth)
    return fk_error_set (err, EINVAL, "warm pool: %zu ready asked of a pool of depth %zu", n,
                         p->depth);
  struct timespec deadline;
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000)
    {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000;
    }
  int ret = 0;
  pthread_mutex_lock (&p->lock);
  while (p->n_ready < n)
    {
      if (p->last_error != NULL)
        {
          ret = fk_error_set (err, EIO, "creating a sandbox: %s", p->last_error);
          break;
        }
      if (pthread_cond_timedwait (&p->cond, &p->lock, &deadline) == ETIMEDOUT)
        {
          ret = fk_error_set (err, ETIMEDOUT, "%zu of %zu sandboxes ready after %d ms", p->n_ready,
                              n, timeout_ms);
          break;
        }
    }
  pthread_mutex_unlock (&p->lock);
  return ret;
}

int
fk_warm_pool_create (fk_warm_pool_t *p, const fk_sandbox_spec_t *spec, fk_sandbox_t **ret_sb,
                     fk_client_t **ret_client, int *ret_pooled, fk_error_t *err)
{
  item_t it = { 0 };
  int pooled = 0;
  /* Bad input fails before a ready sandbox is spent on it. */
  if (fk_spec_check_values (spec, err) < 0)
    return -1;
  if (fk_warm_pool_matches (p, spec))
    {
      pthread_mutex_lock (&p->lock);
      if (p->n_ready > 0)
        {
          it = p->ready[0];
          memmove (p->ready, p->ready + 1, (p->n_ready - 1) * sizeof *p->ready);
          p->n_ready--;
          p->leased++;
          p->last_lease_ms = fk_now_ms ();
          pooled = 1;
          pthread_cond_broadcast (&p->cond);
        }
      pthread_mutex_unlock (&p->lock);
    }
  if (pooled)
    {
      if (lease_apply (p, &it, spec, err) < 0)
        {
          fk_pool_drop (&it);
          return -1;
        }
    }
  else
    {
      pthread_mutex_lock (&p->lock);
      p->cold++;
      pthread_mutex_unlock (&p->lock);
      if (fk_template_sandbox_create (p->rt, spec, &it.sb, err) < 0)
        return -1;
      if (ret_client != NULL
          && fk_client_connect (fk_sandbox_socket_path (it.sb), &it.client, err) < 0)
        {
          fk_error_t e2 = FK_ERROR_INIT;
          if (fk_sandbox_delete (it.sb, 1, &e2) < 0)
            fk_error_clear (&e2);
          fk_sandbox_free (it.sb);
          return -1;
        }
    }
  if (ret_client != NULL)
    *ret_client = it.client;
  else
    fk_client_close (it.client);
  *ret_sb = it.sb;
  if (ret_pooled != NULL)
    *ret_pooled = pooled;
  return 0;
}

int
fk_pool_lease (fk_warm_pool_t *p, item_t *ret)
{
  int got = 0;
  pthread_mutex_lock (&p->lock);
  if (p->n_ready > 0)
    {
      *ret = p->ready[0];
      memmove (p->ready, p->ready + 1, (p->n_ready - 1) * sizeof *p->ready);
      p->n_ready--;
      p->leased++;
      p->last_lease_ms = fk_now_ms ();
      got = 1;
      pthread_cond_broadcast (&p->cond);
    }
  pthread_mutex_unlock (&p->lock);
  return got;
}

void
fk_pool_count_cold (fk_warm_pool_t *p)
{
  pthread_mutex_lock (&p->lock);
  p->cold++;
  pthread_mutex_unlock (&p->lock);
}

void
fk_warm_pool_stats (fk_warm_pool_t *p, fk_warm_pool_stats_t *ret)
{
  pthread_mutex_lock (&p->lock);
  ret->ready = p->n_ready;
  ret->in_progress = p->in_progress;
  ret->created = p->created;
  ret->leased = p->leased;
  ret->cold = p->cold;
  pthread_mutex_unlock (&p->lock);
}

int
fk_warm_pool_close (fk_warm_pool_t *p, fk_error_t *err)
{
  if (p == NULL)
    return 0;
  pthread_mutex_lock (&p->lock);
  p->stopping = 1;
  pthread_cond_broadcast (&p->cond);
  pthread_mutex_unlock (&p->lock);
  /* The filler ends after the creation in progress (whose sandbox it deletes); then EOF on
     its request pipe ends the helper. */
  if (p->filler_started)
    pthread_join (p->filler, NULL);
  p->req_fd = close_and_reset (p->req_fd);
  if (p->helper > 0)
    {
      int st;
      while (waitpid (p->helper, &st, 0) < 0 && errno == EINTR)
        ;
    }
  if (p->resp != NULL)
    fclose (p->resp);
  else
    close_and_reset (p->resp_fd);
  int ret = 0;
  for (size_t i = 0; i < p->n_ready; i++)
    {
      fk_client_close (p->ready[i].client);
      fk_error_t e2 = FK_ERROR_INIT;
      if (fk_sandbox_delete (p->ready[i].sb, 1, &e2) < 0)
        {
          if (ret == 0)
            ret = fk_error_set (err, e2.code, "warm pool drain: %s", fk_error_message (&e2));
          fk_error_clear (&e2);
        }
      fk_sandbox_free (p->ready[i].sb);
    }
  free (p->ready);
  free (p->last_error);
  fk_sandbox_spec_free (p->spec);
  /* With a member label, member_spec's metadata is the pool's own array: not the spec's to
     free. */
  if (p->member_label != NULL)
    p->member_spec->metadata = NULL;
  fk_sandbox_spec_free (p->member_spec);
  free (p->member_label);
  pthread_mutex_destroy (&p->lock);
  pthread_cond_destroy (&p->cond);
  free (p);
  return ret;
}
