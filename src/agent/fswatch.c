/* agent/fswatch.c: file watches (wire/watchmsg.h) by inotify.

   One inotify instance serves every watch of the agent: the kernel caps instances per user
   (fs.inotify.max_user_instances, 128 by default, counted for the host user that owns the
   sandbox's user namespace too), so an instance per watch would let a few sandboxes use them all
   up. Directories are inotify watch descriptors, shared by the watches that cover them (the
   kernel gives one descriptor per inode and instance) and counted, so one watch's removal does
   not blind another. The agent queues no events: it reads the instance as they come, and a
   watch whose connection is behind (its send queue over the high mark) loses its events, as the
   kernel's bounded queue loses them on an overflow; either way the client is told how many it
   lost (DROPPED), once the connection drains.

   Directories are opened in the root (RESOLVE_IN_ROOT; below the watched one, the last component
   not followed) and watched through their /proc/self/fd link, checked to be the same inode, so a
   path or a symlink planted by the sandbox's code never leads a watch out of the root. A
   recursive watch adds the directories made (or moved in) later as their events arrive and drops
   those moved away. */
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
/* Directories every watch of the agent covers together (inotify watch descriptors count against
   fs.inotify.max_user_watches of the sandbox's user and of the host's). */
#define DIRS_TOTAL_MAX (2 * FK_WIRE_WATCH_DIRS_MAX)
#define DEPTH_MAX 256
#define BUCKETS 4096

typedef struct fswatch fswatch_t;

/* A directory a watch covers: its descriptor, its path below the watched directory. */
typedef struct wdir
{
  struct wdir *next_in_bucket; /* every wdir of a descriptor is in the same bucket */
  int wd;
  char *rel; /* "" for the watched directory itself */
  fswatch_t *w;
} wdir_t;

struct fswatch
{
  fswatch_t *next;
  conn_t *conn;
  uint32_t id;
  int recursive;
  char *root; /* the watched path in the agent's root */
  wdir_t **dirs;
  size_t n_dirs, cap;
  uint64_t dropped; /* lost and not yet reported */
  int open;         /* an R_EVENTS frame of it is being filled in the connection's queue */
};

static int ifd = -1;
static watch_t iwatch = { .kind = W_FSWATCH, .fd = -1 };
static wdir_t *buckets[BUCKETS];
static fswatch_t *watches;
static int n_watches;
static size_t dirs_total;

static wdir_t **
bucket (int wd)
{
  return &buckets[(unsigned)wd % BUCKETS];
}

static wdir_t *
find_dir (fswatch_t *w, int wd)
{
  for (wdir_t *d = *bucket (wd); d; d = d->next_in_bucket)
    if (d->wd == wd && d->w == w)
      return d;
  return NULL;
}

/* Forgets w's directory i; rm: the descriptor is dropped from the instance when no other watch
   has it (not after IN_IGNORED, when the kernel dropped it already). */
static void
forget_dir (fswatch_t *w, size_t i, int rm)
{
  wdir_t *d = w->dirs[i];
  int others = 0;
  for (wdir_t **pp = bucket (d->wd); *pp;)
    {
      if (*pp == d)
        *pp = d->next_in_bucket;
      else
        {
          others += (*pp)->wd == d->wd;
          pp = &(*pp)->next_in_bucket;
        }
    }
  if (rm && !others)
    inotify_rm_watch (ifd, d->wd);
  free (d->rel);
  free (d);
  w->dirs[i] = w->dirs[--w->n_dirs];
  dirs_total--;
}

static char *
join_rel (const char *rel, const char *name)
{
  return rel[0] ? xasprintf ("%s/%s", rel, name) : xstrdup (name);
}

/* Watches the directory rel (below w->root), and with recursive every directory under it.
   Over a cap: initial (the tree at the start) fails with ENOSPC; later ones count as lost. */
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
  /* The watched path may be a symlink (resolved in the root); what is found under it later is
     watched only if it is a directory itself. */
  int nofollow = rel[0] ? O_NOFOLLOW : 0;
  fk_error_t lerr = FK_ERROR_INIT;
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
  int wd = inotify_add_watch (ifd, proc, WATCH_MASK);
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
  wdir_t *d = find_dir (w, wd);
  if (d != NULL)
    {
      /* Already watched (moved back in under another name): the new name holds. */
      free (d->rel);
      d->rel = xstrdup (rel);
    }
  else
    {
      d = xcalloc (1, sizeof *d);
      d->wd = wd;
      d->rel = xstrdup (rel);
      d->w = w;
      d->next_in_bucket = *bucket (wd);
      *bucket (wd) = d;
      xgrow ((void **)&w->dirs, &w->cap, w->n_dirs + 1, sizeof *w->dirs);
      w->dirs[w->n_dirs++] = d;
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
      const char *r = w->dirs[i]->rel;
      if (r[0] && strncmp (r, rel, n) == 0 && (r[n] == '\0' || r[n] == '/'))
        forget_dir (w, i, 1);
      else
        i++;
    }
}

static void
fswatch_free (fswatch_t *w)
{
  for (fswatch_t **pp = &watches; *pp; pp = &(*pp)->next)
    if (*pp == w)
      {
        *pp = w->next;
        break;
      }
  while (w->n_dirs)
    forget_dir (w, 0, 1);
  free (w->dirs);
  free (w->root);
  free (w);
  n_watches--;
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
  if (ifd < 0)
    {
      ifd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
      if (ifd < 0)
        {
          fk_error_set_errno (&err, "inotify_init1");
          conn_send_fk_error (c, id, &err);
          return;
        }
      iwatch.fd = ifd;
      agent_watch (&iwatch, EPOLLIN);
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
  w->next = watches;
  watches = w;
  n_watches++;
  if (add_tree (w, "", 0, 1, &err) < 0)
    {
      conn_send_fk_error (c, id, &err);
      fswatch_free (w);
      return;
    }
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_begin (b, FK_WIRE_R_WATCHING, 0, id);
  fk_wire_put_int (b, FK_TAG_SIZE, w->n_dirs);
  fk_wire_end (b, NULL);
  conn_flush (c);
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

/* Opens w's R_EVENTS frame (with what it lost so far) unless it is open. */
static void
open_frame (fswatch_t *w)
{
  if (w->open)
    return;
  fk_wire_buf_t *b = conn_outbuf (w->conn);
  fk_wire_begin (b, FK_WIRE_R_EVENTS, 0, w->id);
  if (w->dropped)
    fk_wire_put_int (b, FK_TAG_DROPPED, w->dropped);
  w->dropped = 0;
  w->open = 1;
}

static void
close_frame (fswatch_t *w)
{
  if (!w->open)
    return;
  fk_wire_end (conn_outbuf (w->conn), NULL);
  w->open = 0;
}

/* One event for w: into its open frame, or lost while its connection is behind. Frames of
   several watches of one connection never interleave: another's open frame is closed first. */
static void
put_event (fswatch_t *w, unsigned bits, const char *rel)
{
  conn_t *c = w->conn;
  if (conn_queued (c) >= AGENT_SENDQ_HIGH)
    {
      w->dropped++;
      return;
    }
  for (fswatch_t *o = watches; o; o = o->next)
    if (o != w && o->conn == c)
      close_frame (o);
  fk_wire_buf_t *b = conn_outbuf (c);
  fk_wire_buf_t e = FK_WIRE_BUF_INIT;
  fk_wire_put_int (&e, FK_TAG_FLAGS, bits);
  fk_wire_put_str (&e, FK_TAG_PATH, rel[0] ? rel : ".");
  if (w->open && b->len - b->frame_start + e.len + 64 > FK_WIRE_MAX_PAYLOAD)
    close_frame (w);
  open_frame (w);
  fk_wire_put_bytes (b, FK_TAG_ENTRY, e.data, e.len);
  fk_wire_buf_free (&e);
}

/* One inotify event for the directory d of its watch. Returns 1 when the watched directory
   itself is gone (d is freed then). */
static int
one_event (wdir_t *d, const struct inotify_event *ev)
{
  fswatch_t *w = d->w;
  int is_root = d->rel[0] == '\0';
  if (ev->mask & IN_IGNORED)
    {
      for (size_t i = 0; i < w->n_dirs; i++)
        if (w->dirs[i] == d)
          {
            forget_dir (w, i, 0);
            break;
          }
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
    put_event (w, bits, rel);
  return 0;
}

/* Closes the open frames of c's watches: before anything else writes to c (a reply, or
   conn_flush, whose drained hook lets the other parts write). */
static void
close_frames (conn_t *c)
{
  for (fswatch_t *w = watches; w; w = w->next)
    if (w->conn == c)
      close_frame (w);
}

/* Ends watch w (its directory is gone): what it had is sent, then R_OK. */
static void
end_watch (fswatch_t *w)
{
  conn_t *c = w->conn;
  uint32_t id = w->id;
  if (w->dropped)
    open_frame (w);
  close_frames (c);
  fswatch_free (w);
  conn_send_ok (c, id);
}

static int
alive (const fswatch_t *w)
{
  for (fswatch_t *o = watches; o; o = o->next)
    if (o == w)
      return 1;
  return 0;
}

void
fswatch_on_event (void *owner, uint32_t events)
{
  (void)owner;
  (void)events;
  static char buf[64 * 1024] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  /* A bounded amount per loop turn: the rest waits for the next (epoll is level-triggered). */
  for (int rounds = 0; rounds < 16; rounds++)
    {
      ssize_t n = read (ifd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      for (ssize_t off = 0; off < n;)
        {
          const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
          off += (ssize_t)(sizeof *ev + ev->len);
          if (ev->mask & IN_Q_OVERFLOW)
            {
              for (fswatch_t *w = watches; w; w = w->next)
                w->dropped++;
              continue;
            }
          /* Every watch that covers the directory (a descriptor is shared). Handling one may
             change the bucket and end watches: the watches are taken first, and each is looked
             up again before its turn. */
          fswatch_t *hit[FK_WIRE_WATCH_MAX];
          int n_hit = 0;
          for (wdir_t *d = *bucket (ev->wd); d && n_hit < FK_WIRE_WATCH_MAX; d = d->next_in_bucket)
            if (d->wd == ev->wd)
              hit[n_hit++] = d->w;
          for (int i = 0; i < n_hit; i++)
            {
              if (!alive (hit[i]))
                continue;
              wdir_t *d = find_dir (hit[i], ev->wd);
              if (d && one_event (d, ev))
                end_watch (hit[i]);
            }
        }
      /* Losses noticed after the last event still reach the client, when it keeps up. */
      for (fswatch_t *w = watches; w; w = w->next)
        {
          if (w->dropped && !w->open && conn_queued (w->conn) < AGENT_SENDQ_HIGH)
            {
              close_frames (w->conn);
              open_frame (w);
            }
          close_frame (w);
        }
      for (conn_t *c = agent->conns; c; c = c->next)
        if (!c->closed && conn_queued (c) > 0)
          conn_flush (c);
    }
}

void
fswatch_conn_drained (conn_t *c)
{
  /* Caught up: the loss is reported now rather than with the next event. */
  for (fswatch_t *w = watches; w; w = w->next)
    if (w->conn == c && w->dropped)
      {
        open_frame (w);
        close_frame (w);
      }
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
