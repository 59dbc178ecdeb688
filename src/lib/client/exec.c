/* client/exec.c: see firkin/client.h (exec). */
#include "client/exec.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "client/conn.h"
#include "client/reply.h"
#include "wire/frame.h"
#include "wire/msg.h"

/* Stdin given as bytes larger than this is streamed in data frames instead of riding in the
   exec frame. */
#define INLINE_STDIN_MAX (256u * 1024u)

struct fk_proc
{
  fk_client_t *c;
  fk_creq_t *r;
  pid_t pid;
  int done;
  int stdin_closed;
  fk_cframe_t *last;   /* the frame the last event's data points into */
  uint64_t timeout_ms; /* the command's timeout, 0: none */
  int64_t give_up_at;  /* monotonic ms: no exit by then is the agent's fault; -1: never */
  int failed;          /* the stream broke (protocol, deadline): every later call fails */
  int fail_code;
};

pid_t
fk_proc_pid (const fk_proc_t *p)
{
  return p->pid;
}

/* Waits (within the connection's deadline) for the first reply of an exec or attach: STARTED
   (pid) or ERROR. */
static int
wait_started (fk_proc_t *p, const char *what, fk_error_t *err)
{
  cleanup_free fk_cframe_t *f = NULL;
  if (fk_creq_wait (p->c, p->r, what, &f, err) < 0)
    return -1;
  if (f->type == FK_WIRE_R_ERROR)
    return fk_cframe_error (f, err);
  if (f->type != FK_WIRE_R_STARTED)
    return fk_error_set (err, EPROTO, "the agent sent %s before started",
                         fk_wire_type_name (f->type));
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  int r = fk_client_check_pid (&m, "started", &p->pid, err);
  fk_wire_msg_clear (&m);
  return r;
}

/* The wait for sending what belongs to the command (its stdin): until the client's own
   deadline for a command with a timeout, else forever (a command may not read its stdin for as
   long as it likes, and the agent then stops reading). */
static int
stdin_send_timeout (const fk_proc_t *p)
{
  if (p->give_up_at < 0)
    return -1;
  int64_t left = p->give_up_at - (int64_t)fk_now_ms ();
  return left < 1 ? 1 : left > INT_MAX ? INT_MAX : (int)left;
}

int
fk_client_exec_start (fk_client_t *c, const fk_exec_opts_t *o, fk_proc_t **ret_proc,
                      fk_error_t *err)
{
  if (o == NULL)
    return fk_error_set (err, EINVAL,
                         "exec: no options (FK_EXEC_OPTIONS_INIT, then argv or shell)");
  if (fk_options_check_version (o->version, FK_EXEC_OPTIONS_VERSION, "fk_exec_opts_t",
                                "FK_EXEC_OPTIONS_INIT", err)
      < 0)
    return -1;
  if ((o->argv == NULL || o->argv[0] == NULL) == (o->shell == NULL))
    return fk_error_set (err, EINVAL, "exec: give either argv or a shell command");
  fk_proc_t *p = xcalloc (1, sizeof *p);
  p->c = c;
  p->r = fk_creq_new (c);
  p->timeout_ms = o->timeout_ms;
  p->give_up_at = -1;
  /* Ten years: beyond that the client's own deadline means nothing. */
  if (o->timeout_ms > 0 && o->timeout_ms < 315360000000ull)
    p->give_up_at = (int64_t)fk_now_ms () + (int64_t)o->timeout_ms + FK_CLIENT_TIMEOUT_GRACE_MS;
  uint32_t id = fk_creq_id (p->r);
  int stream_bytes = o->stdin_mode == FK_STDIN_BYTES && o->stdin_len > INLINE_STDIN_MAX;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_EXEC, 0, id);
  if (o->shell)
    fk_wire_put_str (&b, FK_TAG_SHELL, o->shell);
  else
    for (char *const *a = o->argv; *a; a++)
      fk_wire_put_str (&b, FK_TAG_ARG, *a);
  for (char *const *e = o->env; e && *e; e++)
    fk_wire_put_str (&b, FK_TAG_ENV, *e);
  if (o->cwd)
    fk_wire_put_str (&b, FK_TAG_CWD, o->cwd);
  if (o->user)
    fk_wire_put_str (&b, FK_TAG_USER, o->user);
  fk_wire_put_int (&b, FK_TAG_STDIN_MODE,
                   stream_bytes ? FK_WIRE_STDIN_STREAM : (uint64_t)o->stdin_mode);
  if (o->stdin_mode == FK_STDIN_BYTES && !stream_bytes && o->stdin_len > 0)
    fk_wire_put_bytes (&b, FK_TAG_STDIN_DATA, o->stdin_data, o->stdin_len);
  if (o->timeout_ms)
    fk_wire_put_int (&b, FK_TAG_TIMEOUT_MS, o->timeout_ms);
  if (o->tag)
    fk_wire_put_str (&b, FK_TAG_TAG, o->tag);
  if (o->keep)
    fk_wire_put_int (&b, FK_TAG_KEEP, 1);
  if (o->pty)
    {
      fk_wire_put_int (&b, FK_TAG_PTY, 1);
      fk_wire_put_int (&b, FK_TAG_ROWS, o->rows);
      fk_wire_put_int (&b, FK_TAG_COLS, o->cols);
    }
  int r = fk_wire_end (&b, err);
  if (r == 0 && stream_bytes)
    {
      /* Queued behind the exec frame in one send: the agent finds the process when the
         stdin frames arrive. */
      const uint8_t *d = o->stdin_data;
      size_t left = o->stdin_len;
      while (left > 0 && r == 0)
        {
          size_t n = left < FK_WIRE_CHUNK ? left : FK_WIRE_CHUNK;
          fk_wire_put_data_frame (&b, FK_WIRE_STDIN, left == n ? FK_WIRE_F_EOF : 0, id, d, n);
          d += n;
          left -= n;
          if (b.len >= (1u << 20) || left == 0)
            {
              /* Send in pieces so a huge stdin is not held in memory twice. */
              r = fk_client_send_timeout (c, &b, stdin_send_timeout (p), err);
              fk_wire_buf_reset (&b);
            }
        }
    }
  else if (r == 0)
    r = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  if (r == 0)
    r = wait_started (p, "exec", err);
  if (r < 0)
    {
      fk_creq_free (c, p->r);
      free (p);
      return -1;
    }
  *ret_proc = p;
  return 0;
}

int
fk_client_attach (fk_client_t *c, pid_t pid, const char *tag, fk_proc_t **ret_proc, fk_error_t *err)
{
  fk_proc_t *p = xcalloc (1, sizeof *p);
  p->c = c;
  p->r = fk_creq_new (c);
  p->give_up_at = -1;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_ATTACH, 0, fk_creq_id (p->r));
  if (tag)
    fk_wire_put_str (&b, FK_TAG_TAG, tag);
  else
    fk_wire_put_int (&b, FK_TAG_PID, (uint64_t)pid);
  fk_wire_end (&b, NULL);
  int r = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  if (r == 0)
    r = wait_started (p, "attach", err);
  if (r < 0)
    {
      fk_creq_free (c, p->r);
      free (p);
      return -1;
    }
  *ret_proc = p;
  return 0;
}

/* The stream is broken: this call fails, and so does every later one. */
static int
proc_fail (fk_proc_t *p, fk_error_t *err)
{
  p->failed = 1;
  p->fail_code = err != NULL && err->code ? err->code : EPROTO;
  return -1;
}

int
fk_proc_next (fk_proc_t *p, int timeout_ms, fk_proc_event_t *ret_event, fk_error_t *err)
{
  free (p->last);
  p->last = NULL;
  if (p->failed)
    return fk_error_set (err, p->fail_code, "the process's stream from the agent failed before");
  if (p->done)
    return fk_error_set (err, EPIPE, "the process has already exited");
  fk_cframe_t *f;
  for (;;)
    {
      /* A command with a timeout: the wait ends at the client's own deadline for its exit. */
      int wait = timeout_ms, capped = 0;
      if (p->give_up_at >= 0)
        {
          int64_t left = p->give_up_at - (int64_t)fk_now_ms ();
          if (left < 0)
            left = 0;
          if (left <= INT_MAX && (timeout_ms < 0 || left <= timeout_ms))
            {
              wait = (int)left;
              capped = 1;
            }
          else if (timeout_ms < 0)
            wait = INT_MAX;
        }
      int r = fk_creq_next (p->c, p->r, wait, &f, err);
      if (r < 0)
        return proc_fail (p, err);
      if (r > 0)
        break;
      if (capped)
        {
          char t[32], g[32];
          fk_error_set (err, ETIMEDOUT,
                        "the agent did not enforce the command's timeout of %s: no exit %s after "
                        "the start",
                        fk_client_fmt_secs (t, sizeof t, (int64_t)p->timeout_ms),
                        fk_client_fmt_secs (g, sizeof g,
                                            (int64_t)p->timeout_ms + FK_CLIENT_TIMEOUT_GRACE_MS));
          return proc_fail (p, err);
        }
      if (timeout_ms >= 0)
        return 0;
    }
  memset (ret_event, 0, sizeof *ret_event);
  switch (f->type)
    {
    case FK_WIRE_R_STDOUT:
    case FK_WIRE_R_STDERR:
      ret_event->kind = f->type == FK_WIRE_R_STDOUT ? FK_PROC_STDOUT : FK_PROC_STDERR;
      ret_event->data = f->data;
      ret_event->len = f->len;
      p->last = f;
      return 1;
    case FK_WIRE_R_EXIT:
      {
        int r = fk_cframe_exit (f, &ret_event->status, NULL, err);
        free (f);
        if (r < 0)
          return proc_fail (p, err);
        p->done = 1;
        ret_event->kind = FK_PROC_EXIT;
        return 1;
      }
    case FK_WIRE_R_ERROR:
      p->done = 1;
      fk_cframe_error (f, err);
      free (f);
      return -1;
    default:
      {
        int t = f->type;
        free (f);
        fk_error_set (err, EPROTO, "the agent sent %s in a process's stream%s",
                      fk_wire_type_name ((uint16_t)t),
                      t == FK_WIRE_R_STARTED ? " (started twice)" : "");
        return proc_fail (p, err);
      }
    }
}

int
fk_proc_write_stdin (fk_proc_t *p, const void *data, size_t len, fk_error_t *err)
{
  if (p->stdin_closed)
    return fk_error_set (err, EPIPE, "stdin is closed");
  uint32_t id = fk_creq_id (p->r);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  const uint8_t *d = data;
  int r = 0;
  while (len > 0 && r == 0)
    {
      size_t n = len < FK_WIRE_CHUNK ? len : FK_WIRE_CHUNK;
      fk_wire_put_data_frame (&b, FK_WIRE_STDIN, 0, id, d, n);
      d += n;
      len -= n;
      if (b.len >= (1u << 20) || len == 0)
        {
          r = fk_client_send_timeout (p->c, &b, stdin_send_timeout (p), err);
          fk_wire_buf_reset (&b);
        }
    }
  fk_wire_buf_free (&b);
  return r;
}

int
fk_proc_close_stdin (fk_proc_t *p, fk_error_t *err)
{
  if (p->stdin_closed)
    return 0;
  p->stdin_closed = 1;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_put_data_frame (&b, FK_WIRE_STDIN, FK_WIRE_F_EOF, fk_creq_id (p->r), NULL, 0);
  int r = fk_client_send_timeout (p->c, &b, stdin_send_timeout (p), err);
  fk_wire_buf_free (&b);
  return r;
}

/* A request answered by OK or ERROR. */
static int
simple_call (fk_client_t *c, fk_wire_buf_t *b, fk_creq_t *r, fk_error_t *err)
{
  int ret = fk_client_call (c, r, b, NULL, NULL, NULL, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (b);
  return ret;
}

int
fk_proc_signal (fk_proc_t *p, int sig, int group, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (p->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, fk_creq_id (r));
  fk_wire_put_int (&b, FK_TAG_TARGET, fk_creq_id (p->r));
  fk_wire_put_int (&b, FK_TAG_SIGNAL, (uint64_t)sig);
  fk_wire_put_int (&b, FK_TAG_FLAGS, group ? FK_WIRE_SIG_GROUP : 0);
  fk_wire_end (&b, NULL);
  return simple_call (p->c, &b, r, err);
}

int
fk_proc_resize (fk_proc_t *p, unsigned rows, unsigned cols, fk_error_t *err)
{
  if (rows > 65535 || cols > 65535)
    return fk_error_set (err, EINVAL, "terminal size %ux%u out of range", rows, cols);
  fk_creq_t *r = fk_creq_new (p->c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_RESIZE, 0, fk_creq_id (r));
  fk_wire_put_int (&b, FK_TAG_TARGET, fk_creq_id (p->r));
  fk_wire_put_int (&b, FK_TAG_ROWS, rows);
  fk_wire_put_int (&b, FK_TAG_COLS, cols);
  fk_wire_end (&b, NULL);
  return simple_call (p->c, &b, r, err);
}

int
fk_client_resize (fk_client_t *c, pid_t pid, const char *tag, unsigned rows, unsigned cols,
                  fk_error_t *err)
{
  if (rows > 65535 || cols > 65535)
    return fk_error_set (err, EINVAL, "terminal size %ux%u out of range", rows, cols);
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_RESIZE, 0, fk_creq_id (r));
  if (tag)
    fk_wire_put_str (&b, FK_TAG_TAG, tag);
  else
    fk_wire_put_int (&b, FK_TAG_PID, (uint64_t)pid);
  fk_wire_put_int (&b, FK_TAG_ROWS, rows);
  fk_wire_put_int (&b, FK_TAG_COLS, cols);
  fk_wire_end (&b, NULL);
  return simple_call (c, &b, r, err);
}

int
fk_client_input (fk_client_t *c, pid_t pid, const char *tag, const void *data, size_t len,
                 unsigned flags, fk_error_t *err)
{
  if (flags & ~(FK_INPUT_EOF | FK_INPUT_PTY))
    return fk_error_set (err, EINVAL, "unknown input flags %#x", flags);
  const uint8_t *d = data ? data : (const uint8_t *)"";
  /* One request a chunk (a frame holds at most FK_WIRE_MAX_PAYLOAD), each answered before the
     next: the bytes arrive in order, and a process that does not read stops the sender. */
  do
    {
      size_t n = len < FK_WIRE_CHUNK ? len : FK_WIRE_CHUNK;
      fk_creq_t *r = fk_creq_new (c);
      fk_wire_buf_t b = FK_WIRE_BUF_INIT;
      fk_wire_begin (&b, FK_WIRE_PROC_INPUT, 0, fk_creq_id (r));
      if (tag)
        fk_wire_put_str (&b, FK_TAG_TAG, tag);
      else
        fk_wire_put_int (&b, FK_TAG_PID, (uint64_t)pid);
      fk_wire_put_bytes (&b, FK_TAG_STDIN_DATA, d, n);
      unsigned wf = (flags & FK_INPUT_PTY ? FK_WIRE_INPUT_PTY : 0)
                    | (n == len && (flags & FK_INPUT_EOF) ? FK_WIRE_INPUT_EOF : 0);
      fk_wire_put_int (&b, FK_TAG_FLAGS, wf);
      fk_wire_end (&b, NULL);
      if (simple_call (c, &b, r, err) < 0)
        return -1;
      d += n;
      len -= n;
    }
  while (len > 0);
  return 0;
}

void
fk_proc_free (fk_proc_t *p)
{
  if (p == NULL)
    return;
  if (!p->done)
    {
      /* Detach: the agent kills it unless it is tagged or kept. */
      fk_wire_buf_t b = FK_WIRE_BUF_INIT;
      fk_wire_begin (&b, FK_WIRE_CANCEL, 0, 0);
      fk_wire_put_int (&b, FK_TAG_TARGET, fk_creq_id (p->r));
      fk_wire_end (&b, NULL);
      fk_client_send (p->c, &b, NULL);
      fk_wire_buf_free (&b);
    }
  fk_creq_free (p->c, p->r);
  free (p->last);
  free (p);
}

int
fk_client_signal (fk_client_t *c, pid_t pid, const char *tag, int sig, int group, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SIGNAL, 0, fk_creq_id (r));
  if (tag)
    fk_wire_put_str (&b, FK_TAG_TAG, tag);
  else
    fk_wire_put_int (&b, FK_TAG_PID, (uint64_t)pid);
  fk_wire_put_int (&b, FK_TAG_SIGNAL, (uint64_t)sig);
  fk_wire_put_int (&b, FK_TAG_FLAGS, group ? FK_WIRE_SIG_GROUP : 0);
  fk_wire_end (&b, NULL);
  return simple_call (c, &b, r, err);
}

int
fk_client_set_env (fk_client_t *c, const char *const *env, fk_error_t *err)
{
  if (env == NULL || env[0] == NULL)
    return 0;
  for (const char *const *e = env; *e; e++)
    if (strchr (*e, '=') == NULL || **e == '=')
      return fk_error_set (err, EINVAL, "set-env: environment entry `%s' is not K=V", *e);
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_SET_ENV, 0, fk_creq_id (r));
  for (const char *const *e = env; *e; e++)
    fk_wire_put_str (&b, FK_TAG_ENV, *e);
  if (fk_wire_end (&b, err) < 0)
    {
      fk_creq_free (c, r);
      fk_wire_buf_free (&b);
      return -1;
    }
  return simple_call (c, &b, r, err);
}

int
fk_client_reroot (fk_client_t *c, int upper_fd, int log_fd, const char *cwd, const char *const *env,
                  fk_error_t *err)
{
  if (cwd == NULL || cwd[0] != '/')
    return fk_error_set (err, EINVAL, "reroot: the cwd must be absolute");
  for (const char *const *e = env; e && *e; e++)
    if (strchr (*e, '=') == NULL || **e == '=')
      return fk_error_set (err, EINVAL, "reroot: environment entry `%s' is not K=V", *e);
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_REROOT, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_CWD, cwd);
  for (const char *const *e = env; e && *e; e++)
    fk_wire_put_str (&b, FK_TAG_ENV, *e);
  int fds[2] = { upper_fd, log_fd };
  int ret = fk_wire_end (&b, err);
  if (ret == 0)
    ret = fk_client_send_fds (c, &b, fds, 2, err);
  if (ret == 0)
    ret = fk_client_call (c, r, NULL, NULL, NULL, NULL, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  return ret;
}

int
fk_client_get_env (fk_client_t *c, char ***ret_env, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_GET_ENV, 0, fk_creq_id (r));
  fk_wire_end (&b, NULL);
  fk_cframe_t *f = NULL;
  int ret = fk_client_call (c, r, &b, NULL, NULL, &f, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  if (ret < 0)
    return -1;
  fk_wire_msg_t m;
  /* m's strings point into f's payload: f lives until they are copied. */
  ret = fk_cframe_decode (f, &m, err);
  if (ret < 0)
    {
      free (f);
      return -1;
    }
  /* Untrusted: each entry K=V with a non-empty K (what the agent sends is the sandbox's). */
  size_t n = 0;
  for (char **e = m.env; e && *e; e++)
    n++;
  char **env = xcalloc (n + 1, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strchr (m.env[i], '=') != NULL && m.env[i][0] != '=')
      env[k++] = xstrdup (m.env[i]);
  fk_wire_msg_clear (&m);
  free (f);
  *ret_env = env;
  return 0;
}

typedef struct ps_acc
{
  fk_proc_info_t *v;
  size_t n, cap;
  size_t bytes; /* of tags and argv */
} ps_acc_t;

/* One process of a ps chunk, checked and bounded (FK_CLIENT_MAX_ENTRIES, _ENTRY_BYTES). */
static int
ps_entry (ps_acc_t *acc, const fk_wire_msg_t *e, fk_error_t *err)
{
  pid_t pid;
  if (fk_client_check_pid (e, "ps entry", &pid, err) < 0)
    return -1;
  if (acc->n >= FK_CLIENT_MAX_ENTRIES)
    return fk_error_set (err, EPROTO, "the agent listed more than %u processes",
                         FK_CLIENT_MAX_ENTRIES);
  size_t argc = fk_strv_len (e->argv), envc = fk_strv_len (e->env);
  size_t bytes = e->str[FK_TAG_TAG] ? strlen (e->str[FK_TAG_TAG]) : 0;
  bytes += e->str[FK_TAG_CWD] ? strlen (e->str[FK_TAG_CWD]) : 0;
  for (size_t k = 0; k < argc; k++)
    bytes += strlen (e->argv[k]) + 1;
  for (size_t k = 0; k < envc; k++)
    bytes += strlen (e->env[k]) + 1;
  if (bytes > FK_CLIENT_MAX_ENTRY_BYTES - acc->bytes)
    return fk_error_set (err, EPROTO, "the agent's ps reply is over %u MiB",
                         FK_CLIENT_MAX_ENTRY_BYTES >> 20);
  acc->bytes += bytes;
  xgrow ((void **)&acc->v, &acc->cap, acc->n + 1, sizeof *acc->v);
  fk_proc_info_t *pi = &acc->v[acc->n++];
  memset (pi, 0, sizeof *pi);
  pi->pid = pid;
  pi->tag = e->str[FK_TAG_TAG] ? xstrdup (e->str[FK_TAG_TAG]) : NULL;
  pi->argv = xcalloc (argc + 1, sizeof (char *));
  for (size_t k = 0; k < argc; k++)
    pi->argv[k] = xstrdup (e->argv[k]);
  pi->env = xcalloc (envc + 1, sizeof (char *));
  for (size_t k = 0; k < envc; k++)
    pi->env[k] = xstrdup (e->env[k]);
  pi->cwd = e->str[FK_TAG_CWD] ? xstrdup (e->str[FK_TAG_CWD]) : NULL;
  pi->running = (e->num[FK_TAG_FLAGS] & FK_WIRE_PS_RUNNING) != 0;
  pi->attached = (e->num[FK_TAG_FLAGS] & FK_WIRE_PS_ATTACHED) != 0;
  pi->pty = (e->num[FK_TAG_FLAGS] & FK_WIRE_PS_PTY) != 0;
  return 0;
}

static int
ps_chunk (void *ud, const fk_cframe_t *f, fk_error_t *err)
{
  ps_acc_t *acc = ud;
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  /* Every chunk carries something: empty ones could go on forever. */
  int r = m.n_procs == 0 ? fk_error_set (err, EPROTO, "the agent sent an empty ps chunk") : 0;
  for (size_t i = 0; i < m.n_procs && r == 0; i++)
    {
      fk_wire_msg_t e;
      if (fk_wire_msg_decode (m.procs[i].data, m.procs[i].len, &e, err) < 0)
        r = -1;
      else
        {
          r = ps_entry (acc, &e, err);
          fk_wire_msg_clear (&e);
        }
    }
  fk_wire_msg_clear (&m);
  return r;
}

int
fk_client_ps (fk_client_t *c, fk_proc_info_t **ret_procs, size_t *ret_n, fk_error_t *err)
{
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_PS, 0, fk_creq_id (r));
  fk_wire_end (&b, NULL);
  ps_acc_t acc = { NULL, 0, 0, 0 };
  int ret = fk_client_call (c, r, &b, ps_chunk, &acc, NULL, err);
  fk_creq_free (c, r);
  fk_wire_buf_free (&b);
  if (ret < 0)
    {
      fk_proc_info_free (acc.v, acc.n);
      return -1;
    }
  *ret_procs = acc.v;
  *ret_n = acc.n;
  return 0;
}

void
fk_proc_info_free (fk_proc_info_t *procs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (procs[i].tag);
      fk_strv_free (procs[i].argv);
      fk_strv_free (procs[i].env);
      free (procs[i].cwd);
    }
  free (procs);
}

/* ---- run to completion ---- */

typedef struct collect
{
  char *buf[2];
  size_t len[2], cap[2];
  size_t max;
  int truncated;
} collect_t;

static void
collect_add (collect_t *k, int which, const void *data, size_t len)
{
  size_t room = k->max > k->len[which] ? k->max - k->len[which] : 0;
  if (len > room)
    {
      k->truncated = 1;
      len = room;
    }
  xgrow ((void **)&k->buf[which], &k->cap[which], k->len[which] + len + 1, 1);
  memcpy (k->buf[which] + k->len[which], data, len);
  k->len[which] += len;
  k->buf[which][k->len[which]] = '\0';
}

static int
run_events (fk_proc_t *p, const fk_exec_callbacks_t *cbs, collect_t *k,
            fk_exit_status_t *ret_status, fk_error_t *err)
{
  for (;;)
    {
      fk_proc_event_t ev;
      if (fk_proc_next (p, -1, &ev, err) < 0)
        return -1;
      if (ev.kind == FK_PROC_EXIT)
        {
          *ret_status = ev.status;
          return 0;
        }
      int which = ev.kind == FK_PROC_STDOUT ? 0 : 1;
      if (k != NULL)
        collect_add (k, which, ev.data, ev.len);
      else if (cbs != NULL)
        {
          int (*cb) (void *, const void *, size_t) = which == 0 ? cbs->on_stdout : cbs->on_stderr;
          if (cb != NULL && cb (cbs->userdata, ev.data, ev.len) != 0)
            {
              fk_proc_signal (p, SIGKILL, 1, NULL);
              return fk_error_set (err, ECANCELED, "output callback stopped the command");
            }
        }
    }
}

int
fk_client_exec (fk_client_t *c, const fk_exec_opts_t *opts, size_t max_output,
                fk_exec_result_t *ret_result, fk_error_t *err)
{
  fk_proc_t *p;
  if (fk_client_exec_start (c, opts, &p, err) < 0)
    return -1;
  collect_t k;
  memset (&k, 0, sizeof k);
  k.max = max_output;
  fk_exit_status_t st;
  int r = run_events (p, NULL, &k, &st, err);
  pid_t pid = p->pid;
  fk_proc_free (p);
  if (r < 0)
    {
      free (k.buf[0]);
      free (k.buf[1]);
      return -1;
    }
  for (int i = 0; i < 2; i++)
    if (k.buf[i] == NULL)
      k.buf[i] = xcalloc (1, 1);
  memset (ret_result, 0, sizeof *ret_result);
  ret_result->status = st;
  ret_result->pid = pid;
  ret_result->out = k.buf[0];
  ret_result->out_len = k.len[0];
  ret_result->err = k.buf[1];
  ret_result->err_len = k.len[1];
  ret_result->truncated = k.truncated;
  return 0;
}

void
fk_exec_result_free (fk_exec_result_t *r)
{
  if (r == NULL)
    return;
  free (r->out);
  free (r->err);
  r->out = r->err = NULL;
}

int
fk_client_exec_stream (fk_client_t *c, const fk_exec_opts_t *opts, const fk_exec_callbacks_t *cbs,
                       fk_exit_status_t *ret_status, fk_error_t *err)
{
  fk_proc_t *p;
  if (fk_client_exec_start (c, opts, &p, err) < 0)
    return -1;
  fk_exit_status_t st;
  int r = run_events (p, cbs, NULL, &st, err);
  fk_proc_free (p);
  if (r < 0)
    return -1;
  *ret_status = st;
  return 0;
}
