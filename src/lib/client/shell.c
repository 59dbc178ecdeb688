/* client/shell.c: see firkin/client.h (shells). */
#include "client/shell.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "wire/frame.h"
#include "wire/msg.h"

struct fk_shell
{
  fk_client_t *c;
  char id[32];
  pthread_mutex_t run_lock; /* one run at a time */
  pthread_mutex_t lock;     /* cur_run */
  uint32_t cur_run;         /* the request id of the run in progress, 0 when idle */
};

struct fk_shell_pool
{
  fk_shell_t **slots;
  int *busy;
  unsigned n;
  pthread_mutex_t lock;
  pthread_cond_t cond;
};

static unsigned shell_counter;

int
fk_client_shell_open (fk_client_t *c, const fk_shell_opts_t *opts, fk_shell_t **ret_shell,
                      fk_error_t *err)
{
  fk_shell_t *s = xcalloc (1, sizeof *s);
  s->c = c;
  snprintf (s->id, sizeof s->id, "sh%u", __atomic_add_fetch (&shell_counter, 1, __ATOMIC_RELAXED));
  pthread_mutex_init (&s->run_lock, NULL);
  pthread_mutex_init (&s->lock, NULL);
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SHELL_OPEN, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_SHELL_ID, s->id);
  for (char *const *e = opts ? opts->env : NULL; e && *e; e++)
    fk_wire_put_str (&b, FK_TAG_ENV, *e);
  if (opts && opts->cwd)
    fk_wire_put_str (&b, FK_TAG_CWD, opts->cwd);
  if (opts && opts->user)
    fk_wire_put_str (&b, FK_TAG_USER, opts->user);
  int ret = fk_wire_end (&b, err);
  if (ret == 0)
    ret = fk_client_call (c, r, &b, NULL, NULL, NULL, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  if (ret < 0)
    {
      pthread_mutex_destroy (&s->run_lock);
      pthread_mutex_destroy (&s->lock);
      free (s);
      return fk_error_wrap (err, "open a shell");
    }
  *ret_shell = s;
  return 0;
}

static void
add (char **buf, size_t *len, size_t *cap, size_t max, int *truncated, const void *d, size_t n)
{
  size_t room = max > *len ? max - *len : 0;
  if (n > room)
    {
      *truncated = 1;
      n = room;
    }
  xgrow ((void **) buf, cap, *len + n + 1, 1);
  memcpy (*buf + *len, d, n);
  *len += n;
  (*buf)[*len] = '\0';
}

int
fk_client_shell_run (fk_shell_t *s, const fk_shell_run_opts_t *o, size_t max_output,
                     fk_exec_result_t *ret_result, fk_error_t *err)
{
  if (o == NULL || o->command == NULL)
    return fk_error_set (err, EINVAL, "shell run: no command");
  pthread_mutex_lock (&s->run_lock);
  fk_creq_t *r = fk_creq_new (s->c);
  uint32_t id = fk_creq_id (r);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SHELL_RUN, 0, id);
  fk_wire_put_str (&b, FK_TAG_SHELL_ID, s->id);
  fk_wire_put_str (&b, FK_TAG_SHELL, o->command);
  for (char *const *e = o->env; e && *e; e++)
    fk_wire_put_str (&b, FK_TAG_ENV, *e);
  if (o->cwd)
    fk_wire_put_str (&b, FK_TAG_CWD, o->cwd);
  if (o->stdin_data)
    fk_wire_put_bytes (&b, FK_TAG_STDIN_DATA, o->stdin_data, o->stdin_len);
  if (o->timeout_ms)
    fk_wire_put_int (&b, FK_TAG_TIMEOUT_MS, o->timeout_ms);
  int ret = fk_wire_end (&b, err);
  pthread_mutex_lock (&s->lock);
  s->cur_run = id;
  pthread_mutex_unlock (&s->lock);
  if (ret == 0)
    ret = fk_client_send (s->c, &b, err);
  fk_wire_buf_free (&b);
  char *out = NULL, *er = NULL;
  size_t out_len = 0, out_cap = 0, err_len = 0, err_cap = 0;
  int truncated = 0;
  fk_exit_status_t st = {0, 0, 0};
  while (ret == 0)
    {
      fk_cframe_t *f;
      if (fk_creq_next (s->c, r, -1, &f, err) < 0)
        {
          ret = -1;
          break;
        }
      if (f->type == FK_WIRE_R_STDOUT)
        add (&out, &out_len, &out_cap, max_output, &truncated, f->data, f->len);
      else if (f->type == FK_WIRE_R_STDERR)
        add (&er, &err_len, &err_cap, max_output, &truncated, f->data, f->len);
      else if (f->type == FK_WIRE_R_ERROR)
        ret = fk_cframe_error (f, err);
      else if (f->type == FK_WIRE_R_EXIT)
        {
          fk_wire_frame_t wf = {.type = f->type, .flags = f->flags, .len = f->len, .payload = f->data};
          fk_wire_msg_t m;
          if (fk_wire_frame_decode (&wf, &m, err) < 0)
            ret = -1;
          else
            {
              if (fk_wire_msg_has (&m, FK_TAG_SIGNAL))
                {
                  st.signal = (int) m.num[FK_TAG_SIGNAL];
                  st.exit_code = 128 + st.signal;
                }
              else
                st.exit_code = (int) m.num[FK_TAG_EXIT_CODE];
              st.timed_out = m.num[FK_TAG_TIMED_OUT] != 0;
              fk_wire_msg_clear (&m);
            }
          free (f);
          break;
        }
      else
        ret = fk_error_set (err, EPROTO, "unexpected %s frame in a shell run",
                            fk_wire_type_name (f->type));
      free (f);
    }
  pthread_mutex_lock (&s->lock);
  s->cur_run = 0;
  pthread_mutex_unlock (&s->lock);
  fk_creq_free (s->c, r);
  pthread_mutex_unlock (&s->run_lock);
  if (ret < 0)
    {
      free (out);
      free (er);
      return -1;
    }
  memset (ret_result, 0, sizeof *ret_result);
  ret_result->status = st;
  ret_result->out = out ? out : xcalloc (1, 1);
  ret_result->out_len = out_len;
  ret_result->err = er ? er : xcalloc (1, 1);
  ret_result->err_len = err_len;
  ret_result->truncated = truncated;
  return 0;
}

int
fk_client_shell_cancel (fk_shell_t *s, fk_error_t *err)
{
  pthread_mutex_lock (&s->lock);
  uint32_t target = s->cur_run;
  pthread_mutex_unlock (&s->lock);
  if (target == 0)
    return 0;
  fk_creq_t *r = fk_creq_new (s->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, fk_creq_id (r));
  fk_wire_put_int (&b, FK_TAG_TARGET, target);
  fk_wire_put_int (&b, FK_TAG_SIGNAL, SIGINT);
  fk_wire_end (&b, NULL);
  int ret = fk_client_call (s->c, r, &b, NULL, NULL, NULL, err);
  fk_creq_free (s->c, r);
  fk_wire_buf_free (&b);
  /* The run may have ended meanwhile: nothing to cancel is not an error. */
  if (ret < 0 && (err->code == ENOENT || err->code == ESRCH))
    {
      fk_error_clear (err);
      ret = 0;
    }
  return ret;
}

void
fk_client_shell_close (fk_shell_t *s)
{
  if (s == NULL)
    return;
  fk_creq_t *r = fk_creq_new (s->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SHELL_CLOSE, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_SHELL_ID, s->id);
  fk_wire_end (&b, NULL);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_call (s->c, r, &b, NULL, NULL, NULL, &err);
  fk_error_clear (&err);
  fk_creq_free (s->c, r);
  fk_wire_buf_free (&b);
  pthread_mutex_destroy (&s->run_lock);
  pthread_mutex_destroy (&s->lock);
  free (s);
}

int
fk_client_shell_pool_open (fk_client_t *c, unsigned n, const fk_shell_opts_t *opts,
                           fk_shell_pool_t **ret_pool, fk_error_t *err)
{
  if (n == 0)
    return fk_error_set (err, EINVAL, "a shell pool needs at least one slot");
  fk_shell_pool_t *p = xcalloc (1, sizeof *p);
  p->slots = xcalloc (n, sizeof *p->slots);
  p->busy = xcalloc (n, sizeof *p->busy);
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->cond, NULL);
  for (unsigned i = 0; i < n; i++)
    {
      if (fk_client_shell_open (c, opts, &p->slots[i], err) < 0)
        {
          fk_shell_pool_close (p);
          return fk_error_wrap (err, "shell pool slot %u", i);
        }
      p->n = i + 1;
    }
  *ret_pool = p;
  return 0;
}

unsigned
fk_shell_pool_slots (const fk_shell_pool_t *p)
{
  return p->n;
}

fk_shell_t *
fk_shell_pool_slot (fk_shell_pool_t *p, unsigned i)
{
  return i < p->n ? p->slots[i] : NULL;
}

int
fk_shell_pool_run (fk_shell_pool_t *p, const fk_shell_run_opts_t *opts, size_t max_output,
                   fk_exec_result_t *ret_result, fk_error_t *err)
{
  pthread_mutex_lock (&p->lock);
  unsigned slot;
  for (;;)
    {
      for (slot = 0; slot < p->n && p->busy[slot]; slot++)
        ;
      if (slot < p->n)
        break;
      pthread_cond_wait (&p->cond, &p->lock);
    }
  p->busy[slot] = 1;
  pthread_mutex_unlock (&p->lock);
  int r = fk_client_shell_run (p->slots[slot], opts, max_output, ret_result, err);
  pthread_mutex_lock (&p->lock);
  p->busy[slot] = 0;
  pthread_cond_signal (&p->cond);
  pthread_mutex_unlock (&p->lock);
  return r;
}

void
fk_shell_pool_close (fk_shell_pool_t *p)
{
  if (p == NULL)
    return;
  for (unsigned i = 0; i < p->n; i++)
    fk_client_shell_close (p->slots[i]);
  pthread_mutex_destroy (&p->lock);
  pthread_cond_destroy (&p->cond);
  free (p->slots);
  free (p->busy);
  free (p);
}
