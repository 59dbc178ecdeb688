/* agent/fswatch.c: file watches (wire/watchmsg.h) by inotify. Each watch has its own inotify
   instance, read from the loop while its connection keeps up: when the connection's send queue
   is over the high mark the instance is no longer read, the kernel's bounded queue fills and
   overflows, and the client is told how many events it lost (DROPPED) instead of the agent
   growing a queue of its own. Directories are opened in the root (RESOLVE_IN_ROOT, the last
   component not followed) and watched through their /proc/self/fd link, so a path or a
   symlink planted by the sandbox's code never leads a watch out of the root. A recursive watch
   adds the directories made (or moved in) later as their events arrive. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"

#define WATCH_MASK                                                                                 \
  (IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF    \
   | IN_MOVE_SELF | IN_ONLYDIR)
/* Directories every watch of the agent covers together (each is an inotify watch, which the
   kernel counts against the sandbox's user). */
#define DIRS_TOTAL_MAX (4 * FK_WIRE_WATCH_DIRS_MAX)
#define DEPTH_MAX 256

typedef struct wdir
{
  int wd;
  char *rel; /* "" for the watched directory itself */
} wdir_t;

typedef struct fswatch
{
  struct fswatch *next;
  conn_t *conn;
  uint32_t id;
  watch_t w;
  int recursive;
  char *root; /* the watched path in the agent's root */
  wdir_t *dirs;
  size_t n_dirs, cap;
  uint64_t dropped; /* not yet reported */
  int dead;         /* stopped: freed by fswatch_gc after this loop turn */
} fswatch_t;

static fswatch_t *watches;
static fswatch_t *graveyard; /* stopped, an event of this loop turn may still point at them */
static int n_watches;
static size_t dirs_total;

static wdir_t *
find_wd (fswatch_t *w, int wd)
{
  for (size_t i = 0; i < w->n_dirs; i++)
    if (w->dirs[i].wd == wd)
      return &w->dirs[i];
  return NULL;
}

static void
forget_dir (fswatch_t *w, size_t i)
{
  free (w->dirs[i].rel);
  w->dirs[i] = w->dirs[--w->n_dirs];
  dirs_total--;
}

static char *
join_rel (const char *rel, const char *name)
{
  return rel[0] ? xasprintf ("%s/%s", rel, name) : xstrdup (name);
}

/* Watches the directory rel (below w->root), and with recursive every directory under it.
   Over a cap: initial (the tree at the start) fails with ENOSPC; later ones count as dropped. */
static int
add_tree (fswatch_t *w, const char *rel, int depth, int initial, fk_error_t *err)
{
  if (w->n_dirs >= FK_WIRE_WATCH_DIRS_MAX || dirs_total >= DIRS_TOTAL_MAX)
    {
      if (initial)
        return fk_error_set (err, ENOSPC,
                             "`%s' holds more directories than a watch covers (%d; %d in all)",
                             w->root, FK_WIRE_WATCH_DIRS_MAX, DIRS_TOTAL_MAX);
      w->dropped++;
      return 0;
    }
  cleanup_free char *path
      = rel[0] ? xasprintf ("%s/%s", strcmp (w->root, "/") == 0 ? "" : w->root, rel)
               : xstrdup (w->root);
  fk_error_t lerr = FK_ERROR_INIT;
  /* The watched path may be a symlink (resolved in the root); what is found under it later is
     watched only if it is a directory itself. */
  int nofollow = rel[0] ? O_NOFOLLOW : 0;
  cleanup_close int fd
      = fk_open_in_root (agent->rootfd, path, O_RDONLY | O_DIRECTORY | nofollow, 0, &lerr);
  if (fd < 0)
    {
      if (initial && rel[0] == '\0')
        {
          *err = lerr;
          return -1;
        }
      fk_error_clear (&lerr); /* gone or replaced meanwhile: nothing to watch */
      return 0;
    }
  /* The directory opened in the root is what gets watched: its magic link, checked to be it. */
  char proc[64];
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  struct stat a, b;
  if (fstat (fd, &a) < 0 || stat (proc, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
    return fk_error_set (err, EIO, "watch `%s': /proc/self/fd does not lead to it", path);
  int wd = inotify_add_watch (w->w.fd, proc, WATCH_MASK);
  if (wd < 0)
    {
      if (!initial && (errno == ENOENT || errno == ENOTDIR))
        return 0;
      if (!initial && errno == ENOSPC)
        {
          w->dropped++;
          return 0;
        }
      return fk_error_set_errno (err, "watch `%s'", path);
    }
  wdir_t *d = find_wd (w, wd);
  if (d != NULL)
    {
      /* Already watched (moved back in under another name): the new name holds. */
      free (d->rel);
      d->rel = xstrdup (rel);
    }
  else
    {
      xgrow ((void **)&w->dirs, &w->cap, w->n_dirs + 1, sizeof *w->dirs);
      w->dirs[w->n_dirs].wd = wd;
      w->dirs[w->n_dirs].rel = xstrdup (rel);
      w->n_dirs++;
      dirs_total++;
    }
  if (!w->recursive || depth >= DEPTH_MAX)
    return 0;
  int fd2 = dup (fd);
  if (fd2 < 0)
    return fk_error_set_errno (err, "dup");
  cleanup_dir DIR *dir = fdopendir (fd2);
  if (dir == NULL)
    {
      close (fd2);
      return fk_error_set_errno (err, "opendir `%s'", path);
    }
  struct dirent *de;
  while ((de = readdir (dir)) != NULL)
    {
      if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
        continue;
      if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
        continue;
      struct stat st;
      if (de->d_type == DT_UNKNOWN
          && (fstatat (fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (st.st_mode)))
        continue;
      cleanup_free char *sub = join_rel (rel, de->d_name);
      if (add_tree (w, sub, depth + 1, initial, err) < 0)
        return -1;
    }
  return 0;
}

/* Stops watching rel and everything under it (a directory moved away). */
static void
drop_tree (fswatch_t *w, const char *rel)
{
  size_t n = strlen (rel);
  for (size_t i = 0; i < w->n_dirs;)
    {
      const char *r = w->dirs[i].rel;
      if (r[0] && strncmp (r, rel, n) == 0 && (r[n] == '\0' || r[n] == '/'))
        {
          inotify_rm_watch (w->w.fd, w->dirs[i].wd);
          forget_dir (w, i);
        }
      else
        i++;
    }
}

/* Stops w now; the memory goes in fswatch_gc (an event of this loop turn may point at it). */
static void
fswatch_free (fswatch_t *w)
{
  for (fswatch_t **pp = &watches; *pp; pp = &(*pp)->next)
    if (*pp == w)
      {
        *pp = w->next;
        break;
      }
  agent_watch (&w->w, 0);
  if (w->w.fd >= 0)
    close (w->w.fd);
  w->w.fd = -1;
  while (w->n_dirs)
    forget_dir (w, 0);
  w->dead = 1;
  w->next = graveyard;
  graveyard = w;
  n_watches--;
}

void
fswatch_gc (void)
{
  while (graveyard)
    {
      fswatch_t *w = graveyard;
      graveyard = w->next;
      free (w->dirs);
      free (w->root);
      free (w);
    }
}

void
fswatch_start (conn_t *c, uint32_t id, const fk_wire_msg_t *m)
{
  fk_error_t err = FK_ERROR_INIT;
  for (fswatch_t *o = watches; o; o = o->next)
    if (o->conn == c && o->id == id)
      {
        conn_send_error (c, id, EEXIST, "request id already in use");
        return;
      }
  if (n_watches >= FK_WIRE_WATCH_MAX)
    {
      char msg[128];
      snprintf (msg, sizeof msg, "too many file watches (at most %d in a sandbox)",
                FK_WIRE_WATCH_MAX);
      conn_send_error (c, id, ENOSPC, msg);
      return;
    }
  char *path;
  if (fk_wire_msg_has (m, FK_TAG_USER))
    {
      const char *spec = m->str[FK_TAG_USER];
      if (spec[0] == '\0')
        spec = agent->default_user && agent->default_user[0] ? agent->default_user : "0";
      agent_user_t u;
      if (agent_user_resolve (agent->rootfd, spec, &u, &err) < 0)
        {
          conn_send_fk_error (c, id, &err);
          return;
        }
      path = files_expand (&u, m->str[FK_TAG_PATH]);
      agent_user_clear (&u);
    }
  else
    path = xstrdup (m->str[FK_TAG_PATH]);
  fswatch_t *w = xcalloc (1, sizeof *w);
  w->conn = c;
  w->id = id;
  w->root = path;
  w->recursive = (m->num[FK_TAG_FLAGS] & FK_WIRE_FILE_RECURSIVE) != 0;
  w->w.kind = W_FSWATCH;
  w->w.owner = w;
  w->w.fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  w->next = watches;
  watches = w;
  n_watches++;
  if (w->w.fd < 0)
    {
      fk_error_set_errno (&err, "inotify_init1");
      goto fail;
    }
  if (add_tree (w, "", 0, 1, &err) < 0)
    goto fail;
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_WATCHING, 0, id);
  fk_wire_put_int (b, FK_TAG_SIZE, w->n_dirs);
  fk_wire_end (b, NULL);
  conn_flush (c);
  if (!c->closed)
    agent_watch (&w->w, EPOLLIN);
  return;
fail:
  conn_send_fk_error (c, id, &err);
  fswatch_free (w);
}

void
fswatch_stop (conn_t *c, uint32_t target)
{
  for (fswatch_t *w = watches; w; w = w->next)
    if (w->conn == c && w->id == target)
      {
        uint32_t id = w->id;
        fswatch_free (w);
        conn_send_ok (c, id);
        return;
      }
}

/* Adds one event to the open R_EVENTS frame (opened on first use, split at the frame limit). */
static void
put_event (fswatch_t *w, unsigned bits, const char *rel, int *open)
{
  fk_wire_buf_t *b = conn_outbuf (w->conn);
  fk_wire_buf_t e = FK_WIRE_BUF_INIT;
  fk_wire_put_int (&e, FK_TAG_FLAGS, bits);
  fk_wire_put_str (&e, FK_TAG_PATH, rel[0] ? rel : ".");
  if (*open && b->len - b->frame_start + e.len + 64 > FK_WIRE_MAX_PAYLOAD)
    {
      fk_wire_end (b, NULL);
      *open = 0;
    }
  if (!*open)
    {
      fk_wire_begin (b, FK_WIRE_R_EVENTS, 0, w->id);
      if (w->dropped)
        fk_wire_put_int (b, FK_TAG_DROPPED, w->dropped);
      w->dropped = 0;
      *open = 1;
    }
  fk_wire_put_bytes (b, FK_TAG_ENTRY, e.data, e.len);
  fk_wire_buf_free (&e);
}

/* Translates one inotify event. Returns 1 when the watched directory itself is gone. */
static int
one_event (fswatch_t *w, const struct inotify_event *ev, int *open)
{
  if (ev->mask & IN_Q_OVERFLOW)
    {
      w->dropped++;
      return 0;
    }
  wdir_t *d = find_wd (w, ev->wd);
  if (d == NULL)
    return 0; /* a directory no longer watched */
  int is_root = d->rel[0] == '\0';
  if (ev->mask & IN_IGNORED)
    {
      forget_dir (w, (size_t)(d - w->dirs));
      return is_root;
    }
  cleanup_free char *rel = ev->len && ev->name[0] ? join_rel (d->rel, ev->name) : xstrdup (d->rel);
  unsigned bits = 0;
  if (ev->mask & (IN_CREATE | IN_MOVED_TO))
    bits |= FK_WIRE_EV_CREATE;
  if (ev->mask & IN_MODIFY)
    bits |= FK_WIRE_EV_WRITE;
  if (ev->mask & IN_DELETE)
    bits |= FK_WIRE_EV_REMOVE;
  if (ev->mask & IN_MOVED_FROM)
    bits |= FK_WIRE_EV_RENAME;
  if (ev->mask & IN_ATTRIB)
    bits |= FK_WIRE_EV_CHMOD;
  /* A subdirectory's own removal or move is reported by its parent already. */
  if (is_root && (ev->mask & IN_DELETE_SELF))
    bits |= FK_WIRE_EV_REMOVE;
  if (is_root && (ev->mask & IN_MOVE_SELF))
    bits |= FK_WIRE_EV_RENAME;
  if (w->recursive && (ev->mask & IN_ISDIR))
    {
      if (ev->mask & IN_MOVED_FROM)
        drop_tree (w, rel);
      if (ev->mask & (IN_CREATE | IN_MOVED_TO))
        {
          fk_error_t err = FK_ERROR_INIT;
          if (add_tree (w, rel, 1, 0, &err) < 0)
            {
              log_debug ("watch `%s': %s", w->root, fk_error_message (&err));
              fk_error_clear (&err);
              w->dropped++;
            }
        }
    }
  if (bits)
    put_event (w, bits, rel, open);
  return 0;
}

void
fswatch_on_event (void *owner, uint32_t events)
{
  (void)events;
  fswatch_t *w = owner;
  if (w->dead)
    return;
  conn_t *c = w->conn;
  static char buf[64 * 1024] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  int open = 0, gone = 0;
  while (!gone && !c->closed && conn_queued (c) < AGENT_SENDQ_HIGH)
    {
      ssize_t n = read (w->w.fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (ssize_t off = 0; off < n && !gone;)
        {
          const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
          off += (ssize_t)(sizeof *ev + ev->len);
          gone = one_event (w, ev, &open);
        }
      /* Losses noticed after the last event still reach the client. */
      if (w->dropped && !open)
        {
          fk_wire_buf_t *b = conn_outbuf (c);
          fk_wire_begin (b, FK_WIRE_R_EVENTS, 0, w->id);
          fk_wire_put_int (b, FK_TAG_DROPPED, w->dropped);
          w->dropped = 0;
          open = 1;
        }
      if (open)
        {
          fk_wire_end (conn_outbuf (c), NULL);
          open = 0;
          conn_flush (c);
          if (c->closed || w->dead)
            return; /* the close stopped w */
        }
    }
  if (gone)
    {
      uint32_t id = w->id;
      fswatch_free (w);
      conn_send_ok (c, id);
      return;
    }
  /* Behind: the kernel queues (and overflows) until the connection drains. */
  if (!c->closed)
    agent_watch (&w->w, conn_queued (c) < AGENT_SENDQ_HIGH ? EPOLLIN : 0);
}

void
fswatch_conn_drained (conn_t *c)
{
  for (fswatch_t *w = watches; w; w = w->next)
    if (w->conn == c && w->w.events == 0)
      agent_watch (&w->w, EPOLLIN);
}

void
fswatch_conn_closed (conn_t *c)
{
  for (fswatch_t *w = watches, *next; w; w = next)
    {
      next = w->next;
      if (w->conn == c)
        fswatch_free (w);
    }
}
