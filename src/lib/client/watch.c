/* client/watch.c: see firkin/client.h (file watches) and wire/watchmsg.h. Every event the agent
   sends is checked before it is handed out: known kinds only, names that stay inside the watched
   directory, bounded counts. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "client/conn.h"
#include "client/reply.h"
#include "firkin/client.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/watchmsg.h"

_Static_assert(FK_WATCH_CREATE == FK_WIRE_EV_CREATE && FK_WATCH_WRITE == FK_WIRE_EV_WRITE
                   && FK_WATCH_REMOVE == FK_WIRE_EV_REMOVE && FK_WATCH_RENAME == FK_WIRE_EV_RENAME
                   && FK_WATCH_CHMOD == FK_WIRE_EV_CHMOD,
               "the public event bits are the wire's");
_Static_assert(FK_WATCH_MAX == FK_WIRE_WATCH_MAX && FK_WATCH_DIRS_MAX == FK_WIRE_WATCH_DIRS_MAX,
               "the public limits are the wire's");

struct fk_watch
{
  fk_client_t *c;
  fk_creq_t *r;
  int ended, failed;
  fk_watch_event_t *events;
  size_t n, cap;
  char *names; /* the events' names, one after another */
};

/* A name inside the watched directory: "." or a relative path without empty, `.' or `..'
   components. */
static int
name_ok (const char *p)
{
  if (strcmp (p, ".") == 0)
    return 1;
  if (*p == '\0' || *p == '/' || strlen (p) >= PATH_MAX)
    return 0;
  for (const char *c = p; *c;)
    {
      size_t n = strcspn (c, "/");
      if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
        return 0;
      c += n;
      if (*c == '/')
        {
          c++;
          if (*c == '\0')
            return 0;
        }
    }
  return 1;
}

int
fk_client_watch (fk_client_t *c, const char *path, unsigned flags, fk_watch_t **ret_watch,
                 fk_error_t *err)
{
  if (path == NULL || path[0] == '\0')
    return fk_error_set (err, EINVAL, "watch: empty path");
  fk_creq_t *r = fk_creq_new (c);
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  fk_wire_begin (&b, FK_WIRE_WATCH, 0, fk_creq_id (r));
  fk_wire_put_str (&b, FK_TAG_PATH, path);
  fk_wire_put_int (&b, FK_TAG_FLAGS, flags & FK_FILE_RECURSIVE);
  const char *user = fk_client_file_user (c);
  if (user)
    fk_wire_put_str (&b, FK_TAG_USER, user);
  int ret = fk_wire_end (&b, err);
  if (ret == 0)
    ret = fk_client_send (c, &b, err);
  fk_wire_buf_free (&b);
  fk_cframe_t *f = NULL;
  if (ret == 0)
    ret = fk_creq_wait (c, r, "the watch", &f, err) < 0 ? -1 : 0;
  if (ret == 0)
    {
      if (f->type == FK_WIRE_R_ERROR)
        ret = fk_cframe_error (f, err);
      else if (f->type != FK_WIRE_R_WATCHING || (f->flags & FK_WIRE_F_END))
        ret = fk_error_set (err, EPROTO, "the agent answered a watch with %s",
                            fk_wire_type_name (f->type));
    }
  free (f);
  if (ret < 0)
    {
      fk_creq_free (c, r);
      return -1;
    }
  fk_watch_t *w = xcalloc (1, sizeof *w);
  w->c = c;
  w->r = r;
  *ret_watch = w;
  return 0;
}

/* Takes the events of an R_EVENTS frame into w. */
static int
take_events (fk_watch_t *w, const fk_cframe_t *f, fk_watch_batch_t *ret, fk_error_t *err)
{
  fk_wire_msg_t m;
  if (fk_cframe_decode (f, &m, err) < 0)
    return -1;
  int r = 0;
  size_t bytes = 0;
  w->n = 0;
  for (size_t i = 0; i < m.n_entries && r == 0; i++)
    {
      fk_wire_msg_t e;
      if (fk_wire_msg_decode (m.entries[i].data, m.entries[i].len, &e, err) < 0)
        {
          r = -1;
          break;
        }
      const char *name = e.str[FK_TAG_PATH];
      uint64_t kind = e.num[FK_TAG_FLAGS];
      if (name == NULL || !name_ok (name) || kind == 0 || (kind & ~(uint64_t)FK_WIRE_EV_ALL))
        r = fk_error_set (err, EPROTO, "the agent sent a watch event that is not one");
      else
        bytes += strlen (name) + 1;
      fk_wire_msg_clear (&e);
    }
  if (r == 0)
    {
      /* Names copied into one buffer; the events point into it. */
      free (w->names);
      w->names = xmalloc (bytes ? bytes : 1);
      xgrow ((void **)&w->events, &w->cap, m.n_entries ? m.n_entries : 1, sizeof *w->events);
      char *p = w->names;
      for (size_t i = 0; i < m.n_entries; i++)
        {
          fk_wire_msg_t e;
          fk_wire_msg_decode (m.entries[i].data, m.entries[i].len, &e, NULL);
          size_t len = strlen (e.str[FK_TAG_PATH]) + 1;
          memcpy (p, e.str[FK_TAG_PATH], len);
          w->events[w->n].kind = (unsigned)e.num[FK_TAG_FLAGS];
          w->events[w->n].name = p;
          w->n++;
          p += len;
          fk_wire_msg_clear (&e);
        }
      memset (ret, 0, sizeof *ret);
      ret->events = w->events;
      ret->n = w->n;
      ret->dropped = m.num[FK_TAG_DROPPED];
      if (ret->n == 0 && ret->dropped == 0)
        r = fk_error_set (err, EPROTO, "the agent sent an empty batch of watch events");
    }
  fk_wire_msg_clear (&m);
  return r;
}

int
fk_watch_next (fk_watch_t *w, int timeout_ms, fk_watch_batch_t *ret_batch, fk_error_t *err)
{
  if (w->ended || w->failed)
    return fk_error_set (err, EPIPE, "the watch is over");
  fk_cframe_t *f = NULL;
  int n = fk_creq_next (w->c, w->r, timeout_ms, &f, err);
  if (n <= 0)
    {
      if (n < 0)
        w->failed = 1;
      return n;
    }
  int r;
  if (f->type == FK_WIRE_R_EVENTS && !(f->flags & FK_WIRE_F_END))
    r = take_events (w, f, ret_batch, err);
  else if (f->type == FK_WIRE_R_OK && (f->flags & FK_WIRE_F_END))
    {
      w->ended = 1;
      memset (ret_batch, 0, sizeof *ret_batch);
      ret_batch->ended = 1;
      r = 0;
    }
  else if (f->type == FK_WIRE_R_ERROR)
    r = fk_cframe_error (f, err);
  else
    r = fk_error_set (err, EPROTO, "the agent sent %s in a watch", fk_wire_type_name (f->type));
  free (f);
  if (r < 0)
    {
      w->failed = 1;
      return -1;
    }
  return 1;
}

void
fk_watch_free (fk_watch_t *w)
{
  if (w == NULL)
    return;
  if (!w->ended)
    {
      fk_wire_buf_t b = FK_WIRE_BUF_INIT;
      fk_wire_begin (&b, FK_WIRE_WATCH_STOP, 0, 0);
      fk_wire_put_int (&b, FK_TAG_TARGET, fk_creq_id (w->r));
      fk_wire_end (&b, NULL);
      fk_client_send (w->c, &b, NULL);
      fk_wire_buf_free (&b);
    }
  fk_creq_free (w->c, w->r);
  free (w->events);
  free (w->names);
  free (w);
}
