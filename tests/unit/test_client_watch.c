/* Unit tests of file watches (inotify in the agent), symlink targets and the file user, through
   the client library against a real fk-agent (--listen, --root): the events, recursive watches
   that pick up directories made later, containment in the root, the caps (128 watches use one
   inotify instance, not 128 of the user's), a flood of changes (bounded: the loss is reported,
   the agent stays small and answers), ownership by user, and a lying agent's events. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "agentutil.h"
#include "base/cleanup.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "wire/frame.h"
#include "wire/msg.h"
#include "wire/watchmsg.h"

#define assert_ok(call)                                                                            \
  do                                                                                               \
    {                                                                                              \
      if ((call) < 0)                                                                              \
        fail_msg ("%s: %s", #call, fk_error_message (&err));                                       \
    }                                                                                              \
  while (0)

typedef struct fixture
{
  test_agent_t a;
  fk_client_t *c;
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  if (test_agent_start (&f->a, NULL) < 0)
    return -1;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_client_connect (f->a.sock, &f->c, &err) < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      return -1;
    }
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  fk_client_close (f->c);
  int rc = test_agent_stop (&f->a);
  free (f);
  return rc == 0 ? 0 : -1;
}

/* A host path inside the agent's root. */
static char *
host (fixture_t *f, const char *rel)
{
  return xasprintf ("%s/%s", f->a.root, rel);
}

static void
host_mkdir (fixture_t *f, const char *rel)
{
  cleanup_free char *p = host (f, rel);
  assert_int_equal (mkdir (p, 0755), 0);
}

static void
host_write (fixture_t *f, const char *rel, const char *text)
{
  cleanup_free char *p = host (f, rel);
  int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
  close (fd);
}

typedef struct seen
{
  char names[64][64];
  unsigned kinds[64];
  int n;
  uint64_t dropped;
  int ended;
} seen_t;

/* Reads batches for up to ms, or until (name, kind) was seen. */
static int
wait_event (fk_watch_t *w, seen_t *s, const char *name, unsigned kind, int ms)
{
  for (int i = 0; i < s->n; i++)
    if (strcmp (s->names[i], name) == 0 && (s->kinds[i] & kind))
      return 1;
  for (int waited = 0; waited < ms; waited += 50)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_watch_batch_t b;
      int r = fk_watch_next (w, 50, &b, &err);
      if (r < 0)
        fail_msg ("fk_watch_next: %s", fk_error_message (&err));
      if (r == 0)
        continue;
      s->dropped += b.dropped;
      s->ended |= b.ended;
      int hit = 0;
      for (size_t i = 0; i < b.n; i++)
        {
          if (s->n < 64)
            {
              snprintf (s->names[s->n], sizeof s->names[0], "%s", b.events[i].name);
              s->kinds[s->n++] = b.events[i].kind;
            }
          if (strcmp (b.events[i].name, name) == 0 && (b.events[i].kind & kind))
            hit = 1;
        }
      if (hit || (b.ended && kind == 0))
        return 1;
    }
  return 0;
}

static void
watch_reports_changes (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "w");
  fk_watch_t *w = NULL;
  assert_ok (fk_client_watch (f->c, "/w", 0, &w, &err));
  seen_t s = { 0 };
  host_write (f, "w/a", "hello");
  assert_true (wait_event (w, &s, "a", FK_WATCH_CREATE, 5000));
  assert_true (wait_event (w, &s, "a", FK_WATCH_WRITE, 5000));
  cleanup_free char *pa = host (f, "w/a");
  cleanup_free char *pb = host (f, "w/b");
  assert_int_equal (chmod (pa, 0600), 0);
  assert_true (wait_event (w, &s, "a", FK_WATCH_CHMOD, 5000));
  assert_int_equal (rename (pa, pb), 0);
  assert_true (wait_event (w, &s, "a", FK_WATCH_RENAME, 5000));
  assert_true (wait_event (w, &s, "b", FK_WATCH_CREATE, 5000));
  assert_int_equal (unlink (pb), 0);
  assert_true (wait_event (w, &s, "b", FK_WATCH_REMOVE, 5000));
  /* A file made through the agent is seen too (the write lands by a rename). */
  assert_ok (fk_client_file_write (f->c, "/w/c", "x", 1, 0, 0, &err));
  assert_true (wait_event (w, &s, "c", FK_WATCH_CREATE, 5000));
  /* Not recursive: a subdirectory's content is not watched. */
  host_mkdir (f, "w/sub");
  assert_true (wait_event (w, &s, "sub", FK_WATCH_CREATE, 5000));
  host_write (f, "w/sub/x", "x");
  assert_false (wait_event (w, &s, "sub/x", FK_WATCH_CREATE, 300));
  /* The directory itself removed: the watch ends. */
  assert_ok (fk_client_file_remove (f->c, "/w", FK_FILE_RECURSIVE, &err));
  assert_true (wait_event (w, &s, "", 0, 5000));
  assert_true (s.ended);
  fk_watch_batch_t b;
  assert_int_equal (fk_watch_next (w, 0, &b, &err), -1);
  assert_int_equal (err.code, EPIPE);
  fk_error_clear (&err);
  fk_watch_free (w);
}

static void
watch_recursive_picks_up_new_directories (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "r");
  host_mkdir (f, "r/old");
  fk_watch_t *w = NULL;
  assert_ok (fk_client_watch (f->c, "r", FK_FILE_RECURSIVE, &w, &err));
  seen_t s = { 0 };
  host_write (f, "r/old/f", "1");
  assert_true (wait_event (w, &s, "old/f", FK_WATCH_CREATE, 5000));
  /* Made after the watch started. */
  host_mkdir (f, "r/new");
  assert_true (wait_event (w, &s, "new", FK_WATCH_CREATE, 5000));
  host_mkdir (f, "r/new/deeper");
  assert_true (wait_event (w, &s, "new/deeper", FK_WATCH_CREATE, 5000));
  host_write (f, "r/new/deeper/g", "2");
  assert_true (wait_event (w, &s, "new/deeper/g", FK_WATCH_CREATE, 5000));
  /* A directory moved within the tree is watched under its new name. */
  cleanup_free char *from = host (f, "r/new");
  cleanup_free char *to = host (f, "r/moved");
  assert_int_equal (rename (from, to), 0);
  assert_true (wait_event (w, &s, "moved", FK_WATCH_CREATE, 5000));
  host_write (f, "r/moved/deeper/h", "3");
  assert_true (wait_event (w, &s, "moved/deeper/h", FK_WATCH_CREATE, 5000));
  fk_watch_free (w);
}

static void
watch_stays_in_the_root (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fk_watch_t *w = NULL;
  /* An absolute symlink leads to the root's /etc, which is not there: not the host's. */
  cleanup_free char *l = host (f, "out");
  assert_int_equal (symlink ("/etc", l), 0);
  assert_int_equal (fk_client_watch (f->c, "/out", 0, &w, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  /* `..' stops at the root: the watch is on the root itself. */
  assert_ok (fk_client_watch (f->c, "/../../..", 0, &w, &err));
  seen_t s = { 0 };
  host_write (f, "top", "x");
  assert_true (wait_event (w, &s, "top", FK_WATCH_CREATE, 5000));
  fk_watch_free (w);
  /* A file is not a directory to watch; a missing path is missing. */
  assert_int_equal (fk_client_watch (f->c, "/top", 0, &w, &err), -1);
  assert_int_equal (err.code, ENOTDIR);
  fk_error_clear (&err);
  assert_int_equal (fk_client_watch (f->c, "/nope", 0, &w, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
}

static void
watch_cap (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "cap");
  fk_watch_t *ws[FK_WATCH_MAX];
  for (int i = 0; i < FK_WATCH_MAX; i++)
    assert_ok (fk_client_watch (f->c, "/cap", 0, &ws[i], &err));
  /* One inotify instance for all of them. */
  char fdir[64], link[256];
  snprintf (fdir, sizeof fdir, "/proc/%d/fd", (int)f->a.pid);
  DIR *d = opendir (fdir);
  assert_non_null (d);
  int instances = 0;
  for (struct dirent *de; (de = readdir (d)) != NULL;)
    {
      char p[320];
      snprintf (p, sizeof p, "%s/%s", fdir, de->d_name);
      ssize_t n = readlink (p, link, sizeof link - 1);
      if (n > 0)
        {
          link[n] = '\0';
          instances += strcmp (link, "anon_inode:inotify") == 0;
        }
    }
  closedir (d);
  assert_int_equal (instances, 1);
  fk_watch_t *extra = NULL;
  assert_int_equal (fk_client_watch (f->c, "/cap", 0, &extra, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  assert_non_null (strstr (fk_error_message (&err), "too many file watches"));
  fk_error_clear (&err);
  fk_watch_free (ws[0]);
  /* The stop is asynchronous: the slot comes back once the agent has read it. */
  int ok = 0;
  for (int i = 0; i < 100 && !ok; i++)
    {
      ok = fk_client_watch (f->c, "/cap", 0, &ws[0], &err) == 0;
      if (!ok)
        {
          fk_error_clear (&err);
          test_sleep_ms (10);
        }
    }
  assert_true (ok);
  for (int i = 0; i < FK_WATCH_MAX; i++)
    fk_watch_free (ws[i]);
  /* A connection that closes takes its watches with it. */
  fk_client_t *c2 = NULL;
  assert_ok (fk_client_connect (f->a.sock, &c2, &err));
  for (int i = 0; i < FK_WATCH_MAX; i++)
    assert_ok (fk_client_watch (c2, "/cap", 0, &ws[i], &err));
  for (int i = 0; i < FK_WATCH_MAX; i++)
    fk_watch_free (ws[i]);
  fk_client_close (c2);
}

static void
watch_shared_directory (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "s");
  host_mkdir (f, "s/sub");
  fk_watch_t *a = NULL, *b = NULL;
  assert_ok (fk_client_watch (f->c, "/s", FK_FILE_RECURSIVE, &a, &err));
  assert_ok (fk_client_watch (f->c, "/s/sub", 0, &b, &err));
  /* Both see what happens in the directory they share. */
  seen_t sa = { 0 }, sb = { 0 };
  host_write (f, "s/sub/one", "1");
  assert_true (wait_event (a, &sa, "sub/one", FK_WATCH_CREATE, 5000));
  assert_true (wait_event (b, &sb, "one", FK_WATCH_CREATE, 5000));
  /* One stopped, the other still sees it. */
  fk_watch_free (a);
  host_write (f, "s/sub/two", "2");
  assert_true (wait_event (b, &sb, "two", FK_WATCH_CREATE, 5000));
  fk_watch_free (b);
}

static long
rss_kib (pid_t pid)
{
  char path[64], line[256];
  snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *fp = fopen (path, "r");
  long v = -1;
  while (fp && fgets (line, sizeof line, fp))
    if (sscanf (line, "VmRSS: %ld", &v) == 1)
      break;
  if (fp)
    fclose (fp);
  return v;
}

static void
watch_flood_is_bounded (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "flood");
  fk_watch_t *w = NULL;
  assert_ok (fk_client_watch (f->c, "/flood", 0, &w, &err));
  /* 100,000 files while nobody reads the events. */
  cleanup_free char *dir = host (f, "flood");
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0);
  for (int i = 0; i < 100000; i++)
    {
      char name[32];
      snprintf (name, sizeof name, "f%d", i);
      int fd = openat (dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      assert_true (fd >= 0);
      close (fd);
    }
  close (dfd);
  long rss = rss_kib (f->a.pid);
  assert_true (rss > 0 && rss < 64 * 1024);
  /* Read on: the loss is reported, the events that come are real names. */
  uint64_t dropped = 0, events = 0;
  for (int i = 0; i < 100000 && dropped == 0; i++)
    {
      fk_watch_batch_t b;
      int r = fk_watch_next (w, 2000, &b, &err);
      if (r < 0)
        fail_msg ("fk_watch_next: %s", fk_error_message (&err));
      if (r == 0)
        break;
      dropped += b.dropped;
      events += b.n;
      for (size_t k = 0; k < b.n; k++)
        assert_true (b.events[k].name[0] == 'f');
    }
  print_message ("# %llu events read, loss reported: %llu\n", (unsigned long long)events,
                 (unsigned long long)dropped);
  assert_true (dropped > 0);
  assert_true (events < 200000);
  /* The agent still answers, and is still small. */
  fk_file_stat_t st;
  assert_ok (fk_client_file_stat (f->c, "/flood/f99999", &st, &err));
  rss = rss_kib (f->a.pid);
  assert_true (rss > 0 && rss < 64 * 1024);
  fk_watch_free (w);
}

static void
symlink_targets (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "l");
  cleanup_free char *p = host (f, "l/to-etc");
  assert_int_equal (symlink ("/etc/passwd", p), 0);
  host_write (f, "l/plain", "x");
  fk_file_stat_t st;
  char *link = (char *)"unset";
  assert_ok (fk_client_file_stat_link (f->c, "/l/to-etc", &st, &link, &err));
  assert_int_equal (st.type, FK_FILE_TYPE_SYMLINK);
  assert_string_equal (link, "/etc/passwd");
  free (link);
  assert_ok (fk_client_file_stat_link (f->c, "/l/plain", &st, &link, &err));
  assert_null (link);
  fk_file_entry_t *ents;
  size_t n;
  assert_ok (fk_client_file_list (f->c, "/l", 0, &ents, &n, &err));
  assert_int_equal (n, 2);
  assert_string_equal (ents[0].path, "plain");
  assert_null (ents[0].link);
  assert_string_equal (ents[1].path, "to-etc");
  assert_string_equal (ents[1].link, "/etc/passwd");
  fk_file_entries_free (ents, n);
}

static void
file_user_home_and_ownership (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  host_mkdir (f, "etc");
  host_mkdir (f, "home");
  host_write (f, "etc/passwd",
              "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1001:u:/home/u:/bin/sh\n"
              "nohome:x:1002:1002::/:/bin/sh\n");
  host_write (f, "etc/group", "root:x:0:\nu:x:1001:\n");
  uid_t uid;
  gid_t gid;
  char *home;
  assert_ok (fk_client_user_lookup (f->c, "u", &uid, &gid, &home, &err));
  assert_int_equal (uid, 1000);
  assert_int_equal (gid, 1001);
  assert_string_equal (home, "/home/u");
  free (home);
  /* "": the agent's default user, root here. */
  assert_ok (fk_client_user_lookup (f->c, "", &uid, &gid, &home, &err));
  assert_int_equal (uid, 0);
  assert_string_equal (home, "/root");
  free (home);
  assert_int_equal (fk_client_user_lookup (f->c, "ghost", &uid, &gid, &home, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);

  fk_client_set_file_user (f->c, "u");
  /* Relative: from the home, which is made (owned by u) with its parents. */
  assert_ok (fk_client_file_write (f->c, "docs/a.txt", "hi", 2, 0, FK_FILE_PARENTS, &err));
  assert_ok (fk_client_file_mkdir (f->c, "~/made", 0, 0, &err));
  fk_client_set_file_user (f->c, NULL);
  struct stat st;
  cleanup_free char *pa = host (f, "home/u/docs/a.txt");
  cleanup_free char *pd = host (f, "home/u/docs");
  cleanup_free char *pm = host (f, "home/u/made");
  assert_int_equal (stat (pa, &st), 0);
  assert_int_equal (st.st_uid, 1000);
  assert_int_equal (st.st_gid, 1001);
  assert_int_equal (stat (pd, &st), 0);
  assert_int_equal (st.st_uid, 1000);
  assert_int_equal (stat (pm, &st), 0);
  assert_int_equal (st.st_uid, 1000);
  /* Without a user: root-relative and root-owned, as before. */
  assert_ok (fk_client_file_write (f->c, "rootfile", "r", 1, 0, 0, &err));
  cleanup_free char *pr = host (f, "rootfile");
  assert_int_equal (stat (pr, &st), 0);
  assert_int_equal (st.st_uid, 0);
  /* An unknown user fails the call and writes nothing. */
  fk_client_set_file_user (f->c, "ghost");
  assert_int_equal (fk_client_file_write (f->c, "/ghostfile", "g", 1, 0, 0, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  fk_watch_t *w = NULL;
  assert_int_equal (fk_client_watch (f->c, "/", 0, &w, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  fk_client_set_file_user (f->c, NULL);
  cleanup_free char *pg = host (f, "ghostfile");
  assert_int_equal (stat (pg, &st), -1);
  /* A watch of a relative path is of the user's home. */
  fk_client_set_file_user (f->c, "u");
  assert_ok (fk_client_watch (f->c, ".", 0, &w, &err));
  fk_client_set_file_user (f->c, NULL);
  seen_t s = { 0 };
  host_write (f, "home/u/new", "n");
  assert_true (wait_event (w, &s, "new", FK_WATCH_CREATE, 5000));
  fk_watch_free (w);
}

/* ---- a lying agent: what it sends about a watch is checked ---- */

typedef struct liar
{
  int fd;
  int variant;
} liar_t;

static void
liar_send (int fd, fk_wire_buf_t *b)
{
  size_t off = 0;
  while (off < b->len)
    {
      ssize_t n = send (fd, b->data + off, b->len - off, MSG_NOSIGNAL);
      if (n <= 0)
        return;
      off += (size_t)n;
    }
  fk_wire_buf_reset (b);
}

/* Answers hello, then the watch with R_WATCHING and one R_EVENTS frame of its variant. */
static void *
liar_run (void *arg)
{
  liar_t *l = arg;
  uint8_t buf[65536];
  size_t len = 0;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  for (int answered = 0; answered < 2;)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_wire_frame_t f;
      long used = fk_wire_frame_parse (buf, len, &f, &err);
      fk_error_clear (&err);
      if (used < 0)
        break;
      if (used == 0)
        {
          struct pollfd p = { .fd = l->fd, .events = POLLIN };
          if (poll (&p, 1, 10000) <= 0)
            break;
          ssize_t n = recv (l->fd, buf + len, sizeof buf - len, 0);
          if (n <= 0)
            break;
          len += (size_t)n;
          continue;
        }
      if (f.type == FK_WIRE_HELLO)
        {
          fk_wire_begin (&b, FK_WIRE_R_HELLO, FK_WIRE_F_END, f.id);
          fk_wire_put_str (&b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
          fk_wire_put_int (&b, FK_TAG_VERSION, FK_WIRE_VERSION);
          fk_wire_put_int (&b, FK_TAG_PID, 1);
          fk_wire_end (&b, NULL);
          answered++;
        }
      else if (f.type == FK_WIRE_WATCH)
        {
          fk_wire_begin (&b, FK_WIRE_R_WATCHING, 0, f.id);
          fk_wire_put_int (&b, FK_TAG_SIZE, 1);
          fk_wire_end (&b, NULL);
          static const char *const names[]
              = { "../escape", "/etc/passwd", "a/../b", "", "ok", "ok" };
          static const unsigned kinds[] = { 1, 1, 1, 1, 0x80, 0 };
          fk_wire_begin (&b, FK_WIRE_R_EVENTS, 0, f.id);
          if (l->variant < 6)
            {
              fk_wire_buf_t e = FK_WIRE_BUF_INIT;
              fk_wire_put_int (&e, FK_TAG_FLAGS, kinds[l->variant]);
              fk_wire_put_str (&e, FK_TAG_PATH, names[l->variant]);
              fk_wire_put_bytes (&b, FK_TAG_ENTRY, e.data, e.len);
              fk_wire_buf_free (&e);
            }
          /* variant 6: an empty batch (no events, nothing lost) */
          fk_wire_end (&b, NULL);
          answered++;
        }
      liar_send (l->fd, &b);
      memmove (buf, buf + used, len - (size_t)used);
      len -= (size_t)used;
    }
  fk_wire_buf_free (&b);
  return NULL;
}

static void
watch_lies_are_errors (void **state)
{
  (void)state;
  for (int v = 0; v <= 6; v++)
    {
      int sv[2];
      assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
      liar_t l = { .fd = sv[0], .variant = v };
      pthread_t th;
      assert_int_equal (pthread_create (&th, NULL, liar_run, &l), 0);
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = NULL;
      assert_ok (fk_client_connect_fd (sv[1], &c, &err));
      fk_watch_t *w = NULL;
      assert_ok (fk_client_watch (c, "/x", 0, &w, &err));
      fk_watch_batch_t b;
      assert_int_equal (fk_watch_next (w, 5000, &b, &err), -1);
      assert_int_equal (err.code, EPROTO);
      fk_error_clear (&err);
      /* After an error the watch stays failed. */
      assert_int_equal (fk_watch_next (w, 0, &b, &err), -1);
      fk_error_clear (&err);
      fk_watch_free (w);
      fk_client_close (c);
      pthread_join (th, NULL);
      close (sv[0]);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (watch_reports_changes, setup, teardown),
    cmocka_unit_test_setup_teardown (watch_recursive_picks_up_new_directories, setup, teardown),
    cmocka_unit_test_setup_teardown (watch_stays_in_the_root, setup, teardown),
    cmocka_unit_test_setup_teardown (watch_cap, setup, teardown),
    cmocka_unit_test_setup_teardown (watch_shared_directory, setup, teardown),
    cmocka_unit_test_setup_teardown (watch_flood_is_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown (symlink_targets, setup, teardown),
    cmocka_unit_test_setup_teardown (file_user_home_and_ownership, setup, teardown),
    cmocka_unit_test (watch_lies_are_errors),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
