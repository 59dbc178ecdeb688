/* client/shell.c: see firkin/shell.h. */
#include "client/shell.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "client/reply.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/shellmsg.h"

struct fk_shell
{
  fk_client_t *c;
  char id[32];
  char *path;
  pid_t pid;
  pthread_mutex_t lock; /* busy, cur_id */
  pthread_cond_t idle;  /* signalled when a run ends */
  int busy;             /* a run is in progress */
  int begun;            /* ... started by fk_shell_run_begin, not finished yet */
  int close_on_finish;  /* closed with a begun run: its finish frees the shell */
  uint32_t cur_id;      /* the request id of the run in progress, 0 when none */
  int open;
};

struct fk_shell_pool
{
  fk_shell_t **slots;
  size_t n;
  int *busy;
  pthread_mutex_t lock;
  pthread_cond_t cond;
};

static unsigned long shell_counter;

static void
destroy (fk_shell_t *sh)
{
  pthread_mutex_destroy (&sh->lock);
  pthread_cond_destroy (&sh->idle);
  free (sh->path);
  free (sh);
}

int
fk_shell_open (fk_client_t *c, const fk_shell_opts_t *opts, fk_shell_t **ret_shell, fk_error_t *err)
{
  if (opts
      && fk_options_check_version (opts->version, FK_SHELL_OPTIONS_VERSION, "fk_shell_opts_t",
                                   "FK_SHELL_OPTIONS_INIT", err)
             < 0)
    return -1;
  fk_shell_t *sh = xcalloc (1, sizeof *sh);
  sh->c = c;
  snprintf (sh->id, sizeof sh->id, "s%lu",
            __atomic_add_fetch (&shell_counter, 1, __ATOMIC_RELAXED));
  pthread_mutex_init (&sh->lock, NULL);
  pthread_cond_init (&sh->idle, NULL);
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SHELL_OPEN, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_SHELL_ID, sh->id);
  if (opts != NULL)
    {
      for (char *const *e = opts->env; e && *e; e++)
        fk_wire_put_str (&b, FK_TAG_ENV, *e);
      if (opts->cwd)
        fk_wire_put_str (&b, FK_TAG_CWD, opts->cwd);
      if (opts->user)
        fk_wire_put_str (&b, FK_TAG_USER, opts->user);
      if (opts->program)
        fk_wire_put_str (&b, FK_TAG_PATH, opts->program);
    }
  int ret = fk_wire_end (&b, err);
  fk_cframe_t *f = NULL;
  if (ret == 0)
    ret = fk_client_call (c, r, &b, NULL, NULL, &f, err);
  fk_wire_buf_free (&b);
  fk_creq_free (c, r);
  if (ret == 0)
    {
      fk_wire_msg_t m;
      if (fk_cframe_decode (f, &m, err) < 0)
        ret = -1;
      else
        {
          const char *path = m.str[FK_TAG_PATH] ? m.str[FK_TAG_PATH] : "";
          ret = fk_client_check_pid (&m, "shell-open", &sh->pid, err);
          if (ret == 0 && strlen (path) >= PATH_MAX)
            ret = fk_error_set (err, EPROTO, "shell-open: the shell's path is over %d bytes",
                                PATH_MAX);
          if (ret == 0)
            sh->path = xstrdup (path);
          fk_wire_msg_clear (&m);
        }
    }
  free (f);
  if (ret < 0)
    {
      destroy (sh);
      return fk_error_wrap (err, "open a shell");
    }
  sh->open = 1;
  *ret_shell = sh;
  return 0;
}

pid_t
fk_shell_pid (const fk_shell_t *sh)
{
  return sh->pid;
}

const char *
fk_shell_path (const fk_shell_t *sh)
{
  return sh->path;
}

static int
send_signal (fk_shell_t *sh, uint32_t target, int sig, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (sh->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, fk_creq_id (r));
  fk_wire_put_int (&b, FK_TAG_TARGET, target);
  fk_wire_put_int (&b, FK_TAG_SIGNAL, (uint64_t)sig);
  fk_wire_end (&b, NULL);
  int ret = fk_client_call (sh->c, r, &b, NULL, NULL, NULL, err);
  fk_wire_buf_free (&b);
  fk_creq_free (sh->c, r);
  /* The run may have ended in between: nothing left to signal is not an error. */
  if (ret < 0 && (err->code == ENOENT || err->code == ESRCH))
    {
      fk_error_clear (err);
      ret = 0;
    }
  return ret;
}

int
fk_shell_cancel (fk_shell_t *sh, fk_error_t *err)
{
  pthread_mutex_lock (&sh->lock);
  uint32_t id = sh->cur_id;
  pthread_mutex_unlock (&sh->lock);
  if (id == 0)
    return 0;
  return send_signal (sh, id, SIGINT, err);
}

struct fk_shell_pending
{
  fk_shell_t *sh;
  fk_creq_t *r;        /* the run's request (its id is the run's) */
  uint64_t timeout_ms; /* the run's timeout, 0: none */
  int64_t give_up_at;  /* monotonic ms: no exit by then is the agent's fault; -1: never */
};

/* Marks sh busy (and begun, for fk_shell_run_begin): waits for a run another thread is running
   to end, unless begin; a run begun and not finished is EBUSY at once (this very thread may be
   the one to finish it). */
static int
take (fk_shell_t *sh, int begin, fk_error_t *err)
{
  pthread_mutex_lock (&sh->lock);
  while (sh->busy && !sh->begun && !begin)
    pthread_cond_wait (&sh->idle, &sh->lock);
  int busy = sh->busy, begun = sh->begun;
  if (!busy)
    {
      sh->busy = 1;
      sh->begun = begin;
    }
  pthread_mutex_unlock (&sh->lock);
  if (busy)
    return fk_error_set (err, EBUSY,
                         begun ? "shell run: the shell has a run begun and not finished"
                               : "shell run: the shell has a run in progress");
  return 0;
}

static void
give_back (fk_shell_t *sh)
{
  pthread_mutex_lock (&sh->lock);
  sh->busy = 0;
  sh->begun = 0;
  sh->cur_id = 0;
  pthread_cond_signal (&sh->idle);
  pthread_mutex_unlock (&sh->lock);
}

/* Sends the run request (sh taken). */
static int
send_run (fk_shell_t *sh, const fk_shell_run_opts_t *o, fk_shell_pending_t **ret_pending,
          fk_error_t *err)
{
  if (o->command == NULL)
    return fk_error_set (err, EINVAL, "shell run: no command");
  fk_creq_t *r = fk_creq_new (sh->c);
  uint32_t id = fk_creq_id (r);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SHELL_RUN, 0, id);
  fk_wire_put_str (&b, FK_TAG_SHELL_ID, sh->id);
  fk_wire_put_str (&b, FK_TAG_SHELL, o->command);
  for (char *const *e = o->env; e && *e; e++)
    {
      if (strchr (*e, '=') == NULL || **e == '=')
        {
          fk_wire_buf_free (&b);
          fk_creq_free (sh->c, r);
          return fk_error_set (err, EINVAL, "shell run: environment entry `%s' is not K=V", *e);
        }
      fk_wire_put_str (&b, FK_TAG_ENV, *e);
    }
  if (o->cwd)
    fk_wire_put_str (&b, FK_TAG_CWD, o->cwd);
  if (o->has_stdin)
    {
      fk_wire_put_int (&b, FK_TAG_STDIN_MODE, FK_WIRE_STDIN_BYTES);
      fk_wire_put_bytes (&b, FK_TAG_STDIN_DATA, o->stdin_data, o->stdin_len);
    }
  if (o->timeout_ms)
    fk_wire_put_int (&b, FK_TAG_TIMEOUT_MS, o->timeout_ms);
  if (fk_wire_end (&b, err) < 0)
    {
      fk_wire_buf_free (&b);
      fk_creq_free (sh->c, r);
      return fk_error_wrap (err, "shell run: command and stdin are too large for one request");
    }
  pthread_mutex_lock (&sh->lock);
  sh->cur_id = id;
  pthread_mutex_unlock (&sh->lock);
  /* The client's own deadline for the exit counts from the start (ten years and more: none). */
  int64_t give_up_at = -1;
  if (o->timeout_ms > 0 && o->timeout_ms < 315360000000ull)
    give_up_at = (int64_t)fk_now_ms () + (int64_t)o->timeout_ms + FK_CLIENT_TIMEOUT_GRACE_MS;
  int ret = fk_client_send (sh->c, &b, err);
  fk_wire_buf_free (&b);
  if (ret < 0)
    {
      fk_creq_free (sh->c, r);
      return -1;
    }
  fk_shell_pending_t *p = xcalloc (1, sizeof *p);
  p->sh = sh;
  p->r = r;
  p->timeout_ms = o->timeout_ms;
  p->give_up_at = give_up_at;
  *ret_pending = p;
  return 0;
}

/* Takes sh (see take) and sends the run; sh is given back when that fails. */
static int
start_run (fk_shell_t *sh, int begin, const fk_shell_run_opts_t *o,
           fk_shell_pending_t **ret_pending, fk_error_t *err)
{
  if (o == NULL)
    return fk_error_set (err, EINVAL, "shell run: no options (FK_SHELL_RUN_OPTIONS_INIT)");
  if (fk_options_check_version (o->version, FK_SHELL_RUN_OPTIONS_VERSION, "fk_shell_run_opts_t",
                                "FK_SHELL_RUN_OPTIONS_INIT", err)
      < 0)
    return -1;
  if (take (sh, begin, err) < 0)
    return -1;
  if (send_run (sh, o, ret_pending, err) < 0)
    {
      give_back (sh);
      return -1;
    }
  return 0;
}

/* Hands the run's frames to the callbacks until its exit; frees p and gives sh back. */
static int
collect_run (fk_shell_pending_t *p, const fk_shell_callbacks_t *cbs, fk_exit_status_t *ret_status,
             int *ret_respawned, fk_error_t *err)
{
  fk_shell_t *sh = p->sh;
  int ret = 0, stopped = 0;
  for (;;)
    {
      cleanup_free fk_cframe_t *f = NULL;
      int wait = -1;
      if (p->give_up_at >= 0)
        {
          int64_t left = p->give_up_at - (int64_t)fk_now_ms ();
          wait = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
      int n = fk_creq_next (sh->c, p->r, wait, &f, err);
      if (n == 0 && p->give_up_at >= 0 && (int64_t)fk_now_ms () >= p->give_up_at)
        {
          char t[32], g[32];
          ret = fk_error_set (
              err, ETIMEDOUT,
              "the agent did not enforce the shell run's timeout of %s: no exit %s after the start",
              fk_client_fmt_secs (t, sizeof t, (int64_t)p->timeout_ms),
              fk_client_fmt_secs (g, sizeof g,
                                  (int64_t)p->timeout_ms + FK_CLIENT_TIMEOUT_GRACE_MS));
          break;
        }
      if (n == 0)
        continue;
      if (n < 0)
        {
          ret = -1;
          break;
        }
      if (f->type == FK_WIRE_R_STDOUT || f->type == FK_WIRE_R_STDERR)
        {
          if (stopped)
            continue;
          int (*cb) (void *, const void *, size_t)
              = f->type == FK_WIRE_R_STDOUT ? cbs->on_stdout : cbs->on_stderr;
          if (cb != NULL && cb (cbs->userdata, f->data, f->len) != 0)
            {
              stopped = 1;
              fk_error_t e2 = FK_ERROR_INIT;
              if (send_signal (sh, fk_creq_id (p->r), SIGKILL, &e2) < 0)
                fk_error_clear (&e2);
            }
          continue;
        }
      if (f->type == FK_WIRE_R_ERROR)
        {
          ret = fk_cframe_error (f, err);
          break;
        }
      if (f->type != FK_WIRE_R_EXIT)
        {
          ret = fk_error_set (err, EPROTO, "the agent sent %s in a shell run",
                              fk_wire_type_name (f->type));
          break;
        }
      fk_exit_status_t st;
      uint64_t flags;
      if (fk_cframe_exit (f, &st, &flags, err) < 0)
        {
          ret = -1;
          break;
        }
      int respawned = (flags & FK_WIRE_SHELL_RESPAWNED) != 0;
      if (respawned)
        sh->pid = 0;
      if (ret_status)
        *ret_status = st;
      if (ret_respawned)
        *ret_respawned = respawned;
      break;
    }
  fk_creq_free (sh->c, p->r);
  free (p);
  give_back (sh);
  return ret;
}

int
fk_shell_run_stream (fk_shell_t *sh, const fk_shell_run_opts_t *opts,
                     const fk_shell_callbacks_t *cbs, fk_exit_status_t *ret_status,
                     int *ret_respawned, fk_error_t *err)
{
  fk_shell_pending_t *p = NULL;
  if (start_run (sh, 0, opts, &p, err) < 0)
    return -1;
  return collect_run (p, cbs, ret_status, ret_respawned, err);
}

typedef struct collect
{
  char *out, *err;
  size_t out_len, out_cap, err_len, err_cap;
  int over; /* 1: stdout, 2: stderr went over FK_SHELL_MAX_OUTPUT */
} collect_t;

/* Appends, or returns -1 (the run is then killed) past FK_SHELL_MAX_OUTPUT. */
static int
append (char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
  if (n > FK_SHELL_MAX_OUTPUT - *len)
    return -1;
  xgrow ((void **)buf, cap, *len + n + 1, 1);
  memcpy (*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static int
on_out (void *ud, const void *data, size_t len)
{
  collect_t *c = ud;
  if (append (&c->out, &c->out_len, &c->out_cap, data, len) < 0)
    c->over = 1;
  return c->over;
}

static int
on_err (void *ud, const void *data, size_t len)
{
  collect_t *c = ud;
  if (append (&c->err, &c->err_len, &c->err_cap, data, len) < 0)
    c->over = 2;
  return c->over;
}

/* Collects the run p into a result. */
static int
finish_collect (fk_shell_pending_t *p, fk_shell_result_t *ret_result, fk_error_t *err)
{
  collect_t col = { 0 };
  fk_shell_callbacks_t cbs = { .on_stdout = on_out, .on_stderr = on_err, .userdata = &col };
  fk_exit_status_t st;
  int respawned = 0;
  if (collect_run (p, &cbs, &st, &respawned, err) < 0 || col.over)
    {
      free (col.out);
      free (col.err);
      if (col.over)
        return fk_error_set (err, EFBIG, "shell run: the command wrote more than %u MiB to %s",
                             FK_SHELL_MAX_OUTPUT >> 20, col.over == 1 ? "stdout" : "stderr");
      return -1;
    }
  memset (ret_result, 0, sizeof *ret_result);
  ret_result->status = st;
  ret_result->respawned = respawned;
  ret_result->out = col.out ? col.out : xstrdup ("");
  ret_result->out_len = col.out_len;
  ret_result->err = col.err ? col.err : xstrdup ("");
  ret_result->err_len = col.err_len;
  return 0;
}

int
fk_shell_run (fk_shell_t *sh, const fk_shell_run_opts_t *opts, fk_shell_result_t *ret_result,
              fk_error_t *err)
{
  fk_shell_pending_t *p = NULL;
  if (start_run (sh, 0, opts, &p, err) < 0)
    return -1;
  return finish_collect (p, ret_result, err);
}

int
fk_shell_run_begin (fk_shell_t *sh, const fk_shell_run_opts_t *opts,
                    fk_shell_pending_t **ret_pending, fk_error_t *err)
{
  return start_run (sh, 1, opts, ret_pending, err);
}

int
fk_shell_run_finish (fk_shell_pending_t *pending, fk_shell_result_t *ret_result, fk_error_t *err)
{
  fk_shell_t *sh = pending->sh;
  int r = finish_collect (pending, ret_result, err);
  pthread_mutex_lock (&sh->lock);
  int doomed = sh->close_on_finish;
  pthread_mutex_unlock (&sh->lock);
  if (doomed)
    destroy (sh);
  return r;
}

void
fk_shell_result_free (fk_shell_result_t *r)
{
  if (r == NULL)
    return;
  free (r->out);
  free (r->err);
  r->out = r->err = NULL;
}

void
fk_shell_close (fk_shell_t *sh)
{
  if (sh == NULL)
    return;
  pthread_mutex_lock (&sh->lock);
  /* Another thread's run ends first; a begun run is ended by the agent (SIGKILL) and its
     finish frees the shell. */
  while (sh->busy && !sh->begun)
    pthread_cond_wait (&sh->idle, &sh->lock);
  int begun = sh->begun;
  sh->close_on_finish = begun;
  pthread_mutex_unlock (&sh->lock);
  if (sh->open)
    {
      fk_creq_t *r = fk_creq_new (sh->c);
      fk_wire_buf_t b = FK_WIRE_BUF_INIT;
      fk_wire_begin (&b, FK_WIRE_SHELL_CLOSE, 0, fk_creq_id (r));
      fk_wire_put_str (&b, FK_TAG_SHELL_ID, sh->id);
      fk_wire_end (&b, NULL);
      fk_error_t err = FK_ERROR_INIT;
      /* A connection already gone took the shell with it: nothing to report. */
      if (fk_client_call (sh->c, r, &b, NULL, NULL, NULL, &err) < 0)
        fk_error_clear (&err);
      fk_wire_buf_free (&b);
      fk_creq_free (sh->c, r);
      sh->open = 0;
    }
  if (!begun)
    destroy (sh);
}

int
fk_shell_pool_open (fk_client_t *c, size_t n, const fk_shell_opts_t *opts,
                    fk_shell_pool_t **ret_pool, fk_error_t *err)
{
  if (n == 0)
    return fk_error_set (err, EINVAL, "a shell pool needs at least one slot");
  fk_shell_pool_t *p = xcalloc (1, sizeof *p);
  p->slots = xcalloc (n, sizeof *p->slots);
  p->busy = xcalloc (n, sizeof *p->busy);
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->cond, NULL);
  for (; p->n < n; p->n++)
    if (fk_shell_open (c, opts, &p->slots[p->n], err) < 0)
      {
        size_t failed = p->n + 1;
        fk_shell_pool_close (p);
        return fk_error_wrap (err, "shell pool slot %zu of %zu", failed, n);
      }
  *ret_pool = p;
  return 0;
}

size_t
fk_shell_pool_slots (const fk_shell_pool_t *pool)
{
  return pool->n;
}

fk_shell_t *
fk_shell_pool_slot (fk_shell_pool_t *pool, size_t i)
{
  return i < pool->n ? pool->slots[i] : NULL;
}

int
fk_shell_pool_run (fk_shell_pool_t *pool, const fk_shell_run_opts_t *opts,
                   fk_shell_result_t *ret_result, fk_error_t *err)
{
  size_t i;
  pthread_mutex_lock (&pool->lock);
  for (;;)
    {
      for (i = 0; i < pool->n; i++)
        if (!pool->busy[i])
          break;
      if (i < pool->n)
        break;
      pthread_cond_wait (&pool->cond, &pool->lock);
    }
  pool->busy[i] = 1;
  pthread_mutex_unlock (&pool->lock);
  int r = fk_shell_run (pool->slots[i], opts, ret_result, err);
  pthread_mutex_lock (&pool->lock);
  pool->busy[i] = 0;
  pthread_cond_signal (&pool->cond);
  pthread_mutex_unlock (&pool->lock);
  return r;
}

void
fk_shell_pool_close (fk_shell_pool_t *pool)
{
  if (pool == NULL)
    return;
  for (size_t i = 0; i < pool->n; i++)
    fk_shell_close (pool->slots[i]);
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->cond);
  free (pool->slots);
  free (pool->busy);
  free (pool);
}
