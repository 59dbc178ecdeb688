/* Unit tests for the client library against a hostile agent: a fake agent (a thread on a
   socketpair, speaking the wire protocol) that stalls, floods and lies, and the real `fk cp' and
   `fk exec --timeout' against a fake agent process. Every lie must end in a clear error
   (EPROTO, ETIMEDOUT, EFBIG, ENOBUFS), never a hang, a crash or an unbounded allocation. */
#include "testutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "firkin/client.h"
#include "firkin/shell.h"
#include "wire/frame.h"
#include "wire/msg.h"

extern char **environ;

/* ---- the fake agent ---- */

typedef struct fake fake_t;
typedef void (*script_fn) (fake_t *fa);

struct fake
{
  int fd;        /* the agent's end */
  int client_fd; /* the client's end */
  int stop[2];   /* written by fake_stop: a script waiting on it ends */
  uint8_t *buf;
  size_t len, cap;
  pthread_t thread;
  script_fn script;
  int variant;
  /* what the script saw, for the test to check */
  uint64_t seen_size;
  uint64_t data_bytes;
  int seen_cancel, seen_eof, seen_signal;
};

typedef struct req
{
  uint16_t type, flags;
  uint32_t id;
  uint8_t *payload;
  uint32_t len;
  fk_wire_msg_t m;
  int has_m;
} req_t;

static void
req_clear (req_t *r)
{
  if (r->has_m)
    fk_wire_msg_clear (&r->m);
  free (r->payload);
  memset (r, 0, sizeof *r);
}

/* The next frame from the client: 1, 0 when timeout_ms passed, -1 at EOF (or garbage). */
static int
fa_next (fake_t *fa, req_t *r, int timeout_ms)
{
  memset (r, 0, sizeof *r);
  for (;;)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_wire_frame_t f;
      long used = fk_wire_frame_parse (fa->buf, fa->len, &f, &err);
      fk_error_clear (&err);
      if (used < 0)
        return -1;
      if (used > 0)
        {
          r->type = f.type;
          r->flags = f.flags;
          r->id = f.id;
          r->len = f.len;
          r->payload = xmalloc (f.len + 1);
          memcpy (r->payload, f.payload, f.len);
          if (!fk_wire_type_is_data (f.type))
            {
              fk_wire_frame_t f2 = f;
              f2.payload = r->payload;
              r->has_m = fk_wire_frame_decode (&f2, &r->m, &err) == 0;
              fk_error_clear (&err);
            }
          memmove (fa->buf, fa->buf + used, fa->len - (size_t)used);
          fa->len -= (size_t)used;
          if (r->type == FK_WIRE_CANCEL)
            fa->seen_cancel = 1;
          return 1;
        }
      struct pollfd p = { .fd = fa->fd, .events = POLLIN };
      int pr = poll (&p, 1, timeout_ms);
      if (pr == 0)
        return 0;
      if (pr < 0)
        return -1;
      xgrow ((void **)&fa->buf, &fa->cap, fa->len + 65536, 1);
      ssize_t n = recv (fa->fd, fa->buf + fa->len, fa->cap - fa->len, 0);
      if (n <= 0)
        return -1;
      fa->len += (size_t)n;
    }
}

/* The next request of this type (others are dropped); 0 at EOF or after 20 s. */
static int
fa_expect (fake_t *fa, uint16_t type, req_t *r)
{
  for (;;)
    {
      if (fa_next (fa, r, 20000) <= 0)
        return 0;
      if (r->type == type)
        return 1;
      req_clear (r);
    }
}

static void
fa_send (fake_t *fa, fk_wire_buf_t *b)
{
  size_t off = 0;
  while (off < b->len)
    {
      ssize_t n = send (fa->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      off += (size_t)n;
    }
  fk_wire_buf_reset (b);
}

static void
put_hello (fk_wire_buf_t *b, uint32_t id, uint64_t version, uint64_t pid)
{
  fk_wire_begin (b, FK_WIRE_R_HELLO, FK_WIRE_F_END, id);
  fk_wire_put_str (b, FK_TAG_MAGIC, FK_WIRE_MAGIC);
  fk_wire_put_int (b, FK_TAG_VERSION, version);
  fk_wire_put_int (b, FK_TAG_PID, pid);
  fk_wire_end (b, NULL);
}

static void
put_ok (fk_wire_buf_t *b, uint32_t id, uint16_t flags)
{
  fk_wire_begin (b, FK_WIRE_R_OK, flags, id);
  fk_wire_end (b, NULL);
}

static void
put_error (fk_wire_buf_t *b, uint32_t id, uint64_t code, const char *msg)
{
  fk_wire_begin (b, FK_WIRE_R_ERROR, FK_WIRE_F_END, id);
  fk_wire_put_int (b, FK_TAG_ERRNO, code);
  fk_wire_put_str (b, FK_TAG_MESSAGE, msg);
  fk_wire_end (b, NULL);
}

static void
put_started (fk_wire_buf_t *b, uint32_t id, uint64_t pid)
{
  fk_wire_begin (b, FK_WIRE_R_STARTED, 0, id);
  fk_wire_put_int (b, FK_TAG_PID, pid);
  fk_wire_end (b, NULL);
}

static void
put_exit (fk_wire_buf_t *b, uint32_t id, fk_wire_tag_t tag, uint64_t v)
{
  fk_wire_begin (b, FK_WIRE_R_EXIT, FK_WIRE_F_END, id);
  fk_wire_put_int (b, tag, v);
  fk_wire_end (b, NULL);
}

static void
put_stat (fk_wire_buf_t *b, uint32_t id, uint64_t ftype, uint64_t size)
{
  fk_wire_begin (b, FK_WIRE_R_OK, FK_WIRE_F_END, id);
  fk_wire_put_int (b, FK_TAG_FTYPE, ftype);
  fk_wire_put_int (b, FK_TAG_SIZE, size);
  fk_wire_put_int (b, FK_TAG_MODE, 0644);
  fk_wire_end (b, NULL);
}

/* Raw data frames of one byte value, len bytes in all. */
static void
put_fill (fk_wire_buf_t *b, uint16_t type, uint32_t id, int ch, size_t len)
{
  static uint8_t chunk[FK_WIRE_CHUNK];
  while (len > 0)
    {
      size_t n = len < sizeof chunk ? len : sizeof chunk;
      memset (chunk, ch, n);
      fk_wire_put_data_frame (b, type, 0, id, chunk, n);
      len -= n;
    }
}

static void
fa_hello (fake_t *fa)
{
  req_t r;
  if (!fa_expect (fa, FK_WIRE_HELLO, &r))
    return;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  put_hello (&b, r.id, FK_WIRE_VERSION, 1);
  fa_send (fa, &b);
  fk_wire_buf_free (&b);
  req_clear (&r);
}

/* Waits (reading nothing) until the test stops the fake. */
static void
fa_wait_stop (fake_t *fa)
{
  struct pollfd p = { .fd = fa->stop[0], .events = POLLIN };
  poll (&p, 1, 30000);
}

static void *
fa_main (void *arg)
{
  fake_t *fa = arg;
  fa->script (fa);
  /* Then read (and ignore) everything until the client goes. */
  req_t r;
  while (fa_next (fa, &r, 30000) > 0)
    req_clear (&r);
  return NULL;
}

static fake_t *
fake_start (script_fn script, int variant)
{
  fake_t *fa = xcalloc (1, sizeof *fa);
  int sv[2];
  assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  assert_int_equal (pipe2 (fa->stop, O_CLOEXEC), 0);
  fa->client_fd = sv[0];
  fa->fd = sv[1];
  fa->script = script;
  fa->variant = variant;
  assert_int_equal (pthread_create (&fa->thread, NULL, fa_main, fa), 0);
  return fa;
}

/* Connects a client to the fake (deadline_ms as fk_client_opts_t has it); NULL with err set on
   failure. */
static fk_client_t *
fake_connect (fake_t *fa, int deadline_ms, fk_error_t *err)
{
  fk_client_opts_t opts = FK_CLIENT_OPTIONS_INIT;
  opts.deadline_ms = deadline_ms;
  fk_client_t *c = NULL;
  int fd = fa->client_fd;
  fa->client_fd = -1; /* the client owns it now, even on failure */
  if (fk_client_connect_fd_opts (fd, &opts, &c, err) < 0)
    return NULL;
  return c;
}

/* What the last fake stopped saw (fake_stop frees it). */
static struct
{
  uint64_t data_bytes;
  int seen_eof;
} last_fake;

static void
fake_stop (fake_t *fa, fk_client_t *c)
{
  fk_client_close (c);
  if (fa->client_fd >= 0)
    close (fa->client_fd);
  if (write (fa->stop[1], "x", 1) < 0)
    abort ();
  shutdown (fa->fd, SHUT_RDWR);
  pthread_join (fa->thread, NULL);
  last_fake.data_bytes = fa->data_bytes;
  last_fake.seen_eof = fa->seen_eof;
  close (fa->fd);
  close (fa->stop[0]);
  close (fa->stop[1]);
  free (fa->buf);
  free (fa);
}

static double
since (const struct timespec *t0)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

#define assert_fails_with(call, want, needle)                                                      \
  do                                                                                               \
    {                                                                                              \
      fk_error_clear (&err);                                                                       \
      if ((call) >= 0)                                                                             \
        fail_msg ("%s succeeded", #call);                                                          \
      if (err.code != (want))                                                                      \
        fail_msg ("%s: code %d, not %d: %s", #call, err.code, (want), fk_error_message (&err));    \
      assert_error_contains (&err, needle);                                                        \
    }                                                                                              \
  while (0)

/* ---- hello ---- */

static void
script_hello_silent (fake_t *fa)
{
  req_t r;
  if (fa_expect (fa, FK_WIRE_HELLO, &r))
    req_clear (&r);
}

static void
hello_silent_times_out (void **state)
{
  fake_t *fa = fake_start (script_hello_silent, 0);
  fk_error_t err = FK_ERROR_INIT;
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_null (fake_connect (fa, 200, &err));
  assert_true (since (&t0) < 3.0);
  assert_int_equal (err.code, ETIMEDOUT);
  assert_error_contains (&err, "did not answer hello within 0.2 s");
  fake_stop (fa, NULL);
}

/* An agent that listens and never accepts: the first connection waits in its backlog (hello
   times out), the next ones find it full (connect times out). */
static void
connect_never_accepted_times_out (void **state)
{
  char *dir = test_tmpdir ();
  cleanup_free char *sock = xasprintf ("%s/sock", dir);
  int lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", sock);
  assert_int_equal (bind (lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal (listen (lfd, 0), 0);
  fk_client_opts_t opts = FK_CLIENT_OPTIONS_INIT;
  opts.deadline_ms = 200;
  int accept_timeouts = 0;
  for (int i = 0; i < 4; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = NULL;
      struct timespec t0;
      clock_gettime (CLOCK_MONOTONIC, &t0);
      assert_int_equal (fk_client_connect_opts (sock, &opts, &c, &err), -1);
      assert_true (since (&t0) < 3.0);
      assert_int_equal (err.code, ETIMEDOUT);
      accept_timeouts += strstr (fk_error_message (&err), "did not accept the connection") != NULL;
      fk_error_clear (&err);
    }
  assert_true (accept_timeouts > 0);
  close (lfd);
  test_tmpdir_free (dir);
}

static void
script_hello_lie (fake_t *fa)
{
  req_t r;
  if (!fa_expect (fa, FK_WIRE_HELLO, &r))
    return;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  switch (fa->variant)
    {
    case 0:
      put_hello (&b, r.id, FK_WIRE_VERSION, 0); /* pid 0 */
      break;
    case 1:
      put_hello (&b, r.id, FK_WIRE_VERSION, (uint64_t)-5); /* a negative pid */
      break;
    case 2:
      put_hello (&b, r.id, FK_WIRE_VERSION, 1ull << 40);
      break;
    case 3:
      put_hello (&b, r.id, 7, 1);
      break;
    case 4:
      put_ok (&b, r.id, FK_WIRE_F_END);
      break;
    case 5:
      fk_wire_put_raw (&b, "HTTP/1.1 200 OK\r\n\r\n", 19);
      break;
    case 6:
      put_hello (&b, r.id, FK_WIRE_VERSION, 1);
      put_hello (&b, r.id, FK_WIRE_VERSION, 1); /* twice */
      break;
    }
  fa_send (fa, &b);
  fk_wire_buf_free (&b);
  req_clear (&r);
}

static void
hello_lies_are_eproto (void **state)
{
  static const char *needles[]
      = { "pid 0 out of range", "out of range", "out of range", "version 7",
          "answered hello",     "frame",        "after the end" };
  for (int v = 0; v < 7; v++)
    {
      fake_t *fa = fake_start (script_hello_lie, v);
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = fake_connect (fa, 2000, &err);
      if (c != NULL)
        fail_msg ("hello lie %d: connected", v);
      if (err.code != EPROTO)
        fail_msg ("hello lie %d: code %d: %s", v, err.code, fk_error_message (&err));
      assert_error_contains (&err, needles[v]);
      fake_stop (fa, NULL);
    }
}

/* The second hello comes as the answer to a later request, and for the hello's own id. */
static void
script_second_hello (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  if (fa_expect (fa, FK_WIRE_FILE_STAT, &r))
    {
      put_hello (&b, fa->variant ? r.id : 1, FK_WIRE_VERSION, 1);
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
second_hello_is_eproto (void **state)
{
  for (int v = 0; v < 2; v++)
    {
      fake_t *fa = fake_start (script_second_hello, v);
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = fake_connect (fa, 2000, &err);
      assert_non_null (c);
      fk_file_stat_t st;
      assert_fails_with (fk_client_file_stat (c, "/x", &st, &err), EPROTO, "second hello");
      /* The connection is done for. */
      assert_fails_with (fk_client_file_stat (c, "/x", &st, &err), EPROTO, "second hello");
      fake_stop (fa, c);
    }
}

/* ---- deadlines on control requests ---- */

/* Answers only stats of "/ok" (size 2) and of "/late" (size 1, 400 ms late); the rest never. */
static void
script_silent (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      const char *path = r.has_m ? r.m.str[FK_TAG_PATH] : NULL;
      if (r.type == FK_WIRE_FILE_STAT && path && strcmp (path, "/ok") == 0)
        put_stat (&b, r.id, 1, 2);
      else if (r.type == FK_WIRE_FILE_STAT && path && strcmp (path, "/late") == 0)
        {
          /* Past the client's 0.2 s, and well before the deadline of the next request, which
             waits behind this answer (sent at ~0.2 s, it gives up at ~0.4 s). */
          struct timespec ts = { 0, 250 * 1000000L };
          nanosleep (&ts, NULL);
          put_stat (&b, r.id, 1, 1);
        }
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
control_requests_time_out (void **state)
{
  fake_t *fa = fake_start (script_silent, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 200, &err);
  assert_non_null (c);
  assert_int_equal (fk_client_deadline_ms (c), 200);
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  fk_file_stat_t st;
  assert_fails_with (fk_client_file_stat (c, "/x", &st, &err), ETIMEDOUT,
                     "did not answer file-stat within 0.2 s");
  fk_file_entry_t *ents;
  size_t n;
  assert_fails_with (fk_client_file_list (c, "/x", 0, &ents, &n, &err), ETIMEDOUT, "file-list");
  assert_fails_with (fk_client_file_mkdir (c, "/x", 0, 0, &err), ETIMEDOUT, "file-mkdir");
  assert_fails_with (fk_client_file_rename (c, "/x", "/y", &err), ETIMEDOUT, "file-rename");
  assert_fails_with (fk_client_file_remove (c, "/x", 0, &err), ETIMEDOUT, "file-remove");
  assert_fails_with (fk_client_file_chmod (c, "/x", 0600, &err), ETIMEDOUT, "file-chmod");
  assert_fails_with (fk_client_signal (c, 5, NULL, SIGTERM, 0, &err), ETIMEDOUT, "signal");
  fk_proc_info_t *procs;
  assert_fails_with (fk_client_ps (c, &procs, &n, &err), ETIMEDOUT, "ps");
  char *argv[] = { (char *)"true", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t res;
  assert_fails_with (fk_client_exec (c, &eo, 100, &res, &err), ETIMEDOUT, "did not answer exec");
  fk_proc_t *p;
  assert_fails_with (fk_client_attach (c, 5, NULL, &p, &err), ETIMEDOUT, "did not answer attach");
  fk_shell_t *sh;
  assert_fails_with (fk_shell_open (c, NULL, &sh, &err), ETIMEDOUT, "shell-open");
  char *data;
  assert_fails_with (fk_client_file_read (c, "/x", 10, &data, &n, &err), ETIMEDOUT,
                     "sent nothing of `/x' for 0.2 s");
  assert_fails_with (fk_client_file_read_fd (c, "/x", -1, &err), ETIMEDOUT, "file-stat");
  assert_fails_with (fk_client_file_write (c, "/x", "hi", 2, 0, 0, &err), ETIMEDOUT,
                     "did not answer file-write");
  /* 16 requests of 0.2 s each: no hang. */
  assert_true (since (&t0) < 10.0);

  /* The connection still works, and a late answer to a request given up on is dropped. */
  assert_int_equal (fk_client_file_stat (c, "/ok", &st, &err), 0);
  assert_int_equal (st.size, 2);
  assert_fails_with (fk_client_file_stat (c, "/late", &st, &err), ETIMEDOUT, "file-stat");
  assert_int_equal (fk_client_file_stat (c, "/ok", &st, &err), 0);
  assert_int_equal (st.size, 2);

  /* The setter: 0 is the default, < 0 none. */
  fk_client_set_deadline_ms (c, 0);
  assert_int_equal (fk_client_deadline_ms (c), FK_CLIENT_DEADLINE_MS);
  fk_client_set_deadline_ms (c, -1);
  assert_int_equal (fk_client_deadline_ms (c), -1);
  fk_client_set_deadline_ms (c, 150);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_fails_with (fk_client_file_stat (c, "/x", &st, &err), ETIMEDOUT, "0.15 s");
  assert_true (since (&t0) < 2.0);
  fake_stop (fa, c);
}

/* ---- file reads ---- */

/* A stat of "/ten" says a regular file of 10 bytes; reads are answered by path. */
static void
script_files (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      const char *path = r.has_m ? r.m.str[FK_TAG_PATH] : "";
      if (r.type == FK_WIRE_FILE_STAT)
        {
          if (strcmp (path, "/link") == 0)
            put_stat (&b, r.id, 3, 4);
          else
            put_stat (&b, r.id, 1, strcmp (path, "/empty") == 0 ? 0 : 10);
        }
      else if (r.type == FK_WIRE_FILE_READ)
        {
          fa->seen_size = r.m.num[FK_TAG_SIZE];
          if (strcmp (path, "/ten") == 0 || strcmp (path, "/empty") == 0
              || strcmp (path, "/flood") == 0 || strcmp (path, "/link") == 0)
            {
              /* The 10 bytes announced, then 300 KiB more (/flood: 5 MiB, /link: 65 MiB). */
              put_fill (&b, FK_WIRE_DATA, r.id, 'a', strcmp (path, "/empty") == 0 ? 0 : 10);
              fa_send (fa, &b);
              size_t more = strcmp (path, "/flood") == 0  ? 5u << 20
                            : strcmp (path, "/link") == 0 ? 65u << 20
                                                          : 300u << 10;
              for (size_t left = more; left > 0;)
                {
                  size_t n = left < (1u << 20) ? left : (1u << 20);
                  put_fill (&b, FK_WIRE_DATA, r.id, 'b', n);
                  fa_send (fa, &b);
                  left -= n;
                }
              fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, r.id);
              fk_wire_put_int (&b, FK_TAG_SIZE, 10 + more);
              fk_wire_end (&b, NULL);
            }
          else if (strcmp (path, "/sizelie") == 0)
            {
              put_fill (&b, FK_WIRE_DATA, r.id, 'a', 10);
              fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, r.id);
              fk_wire_put_int (&b, FK_TAG_SIZE, 20);
              fk_wire_end (&b, NULL);
            }
          else if (strcmp (path, "/started") == 0)
            put_started (&b, r.id, 7);
          else if (strcmp (path, "/big") == 0)
            {
              /* An honest agent: no more than asked for. */
              put_fill (&b, FK_WIRE_DATA, r.id, 'a', r.m.num[FK_TAG_SIZE]);
              put_ok (&b, r.id, FK_WIRE_F_END);
            }
          else if (strcmp (path, "/stall") == 0)
            put_fill (&b, FK_WIRE_DATA, r.id, 'a', 3);
          else if (strcmp (path, "/good") == 0)
            {
              put_fill (&b, FK_WIRE_DATA, r.id, 'g', 10);
              put_ok (&b, r.id, FK_WIRE_F_END);
            }
        }
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
file_reads_bounded (void **state)
{
  fake_t *fa = fake_start (script_files, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 500, &err);
  assert_non_null (c);
  char *dir = test_tmpdir ();
  cleanup_free char *host = xasprintf ("%s/out", dir);
  struct stat hst;

  /* A 10-byte file and 300 KiB more: EPROTO, and never more than 10 bytes written. */
  int fd = open (host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_fails_with (fk_client_file_read_fd (c, "/ten", fd, &err), EPROTO,
                     "the agent sent more than the file's 10 bytes");
  assert_int_equal (fa->seen_size, 10); /* and it asked for no more */
  assert_int_equal (fstat (fd, &hst), 0);
  assert_true (hst.st_size <= 10);
  close (fd);

  /* The same with the caller's stat, and for an empty file (which asks for 1 byte). */
  fk_file_stat_t st = { .type = FK_FILE_TYPE_FILE, .size = 4 };
  fd = open (host, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_fails_with (fk_client_file_read_fd_stat (c, "/ten", &st, fd, &err), EPROTO,
                     "more than the file's 4 bytes");
  assert_int_equal (fstat (fd, &hst), 0);
  assert_true (hst.st_size <= 4);
  /* One byte may come (the file may have grown since its stat) and is dropped; more is
     EPROTO, and the host file stays empty. */
  fd = open (host, O_WRONLY | O_TRUNC | O_CLOEXEC);
  assert_fails_with (fk_client_file_read_fd (c, "/empty", fd, &err), EPROTO,
                     "more than the 1 bytes asked for");
  assert_int_equal (fa->seen_size, 1);
  assert_int_equal (fstat (fd, &hst), 0);
  assert_int_equal (hst.st_size, 0);
  close (fd);
  fd = open (host, O_WRONLY | O_TRUNC | O_CLOEXEC);
  /* Not a regular file (a symlink): at most FK_CLIENT_MAX_UNSIZED_READ + 1 asked for. */
  assert_fails_with (fk_client_file_read_fd (c, "/link", fd, &err), EPROTO, "asked for");
  assert_int_equal (fa->seen_size, (uint64_t)FK_CLIENT_MAX_UNSIZED_READ + 1);
  assert_int_equal (fstat (fd, &hst), 0);
  assert_true (hst.st_size <= FK_CLIENT_MAX_UNSIZED_READ);
  close (fd);

  /* Into memory: max + 1 asked for, more is EPROTO; an honest big file is EFBIG. */
  char *data = NULL;
  size_t len;
  assert_fails_with (fk_client_file_read (c, "/flood", 100, &data, &len, &err), EPROTO,
                     "more than the 101 bytes asked for");
  assert_int_equal (fa->seen_size, 101);
  assert_fails_with (fk_client_file_read (c, "/big", 100, &data, &len, &err), EFBIG,
                     "larger than 100 bytes");
  assert_fails_with (fk_client_file_read (c, "/sizelie", 100, &data, &len, &err), EPROTO,
                     "said it sent 20 bytes");
  assert_fails_with (fk_client_file_read (c, "/started", 100, &data, &len, &err), EPROTO,
                     "started in a file read");
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_fails_with (fk_client_file_read (c, "/stall", 100, &data, &len, &err), ETIMEDOUT,
                     "sent nothing of `/stall' for 0.5 s");
  assert_true (since (&t0) < 3.0);
  /* After all that (the floods' late frames dropped), an honest read works. */
  assert_int_equal (fk_client_file_read (c, "/good", 100, &data, &len, &err), 0);
  assert_int_equal (len, 10);
  assert_memory_equal (data, "gggggggggg", 10);
  free (data);
  fake_stop (fa, c);
  test_tmpdir_free (dir);
}

/* ---- exec ---- */

static void
script_exec (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      if (r.type != FK_WIRE_EXEC || !r.has_m || r.m.argv == NULL)
        {
          if (r.type == FK_WIRE_SIGNAL || r.type == FK_WIRE_SHELL_OPEN)
            put_ok (&b, r.id, FK_WIRE_F_END);
          if (r.type == FK_WIRE_PS)
            {
              fk_wire_buf_t e = FK_WIRE_BUF_INIT;
              fk_wire_put_int (&e, FK_TAG_PID, 0);
              fk_wire_begin (&b, FK_WIRE_R_OK, 0, r.id);
              fk_wire_put_bytes (&b, FK_TAG_PROC, e.data, e.len);
              fk_wire_end (&b, NULL);
              put_ok (&b, r.id, FK_WIRE_F_END);
              fk_wire_buf_free (&e);
            }
          fa_send (fa, &b);
          req_clear (&r);
          continue;
        }
      const char *cmd = r.m.argv[0];
      uint32_t id = r.id;
      if (strcmp (cmd, "twice") == 0)
        {
          put_started (&b, id, 42);
          put_started (&b, id, 43);
        }
      else if (strcmp (cmd, "exit-first") == 0)
        put_exit (&b, id, FK_TAG_EXIT_CODE, 0);
      else if (strcmp (cmd, "ok-frame") == 0)
        put_ok (&b, id, FK_WIRE_F_END);
      else if (strcmp (cmd, "after-exit") == 0)
        {
          put_started (&b, id, 42);
          put_exit (&b, id, FK_TAG_EXIT_CODE, 0);
          fk_wire_put_data_frame (&b, FK_WIRE_R_STDOUT, 0, id, "forged\n", 7);
        }
      else if (strcmp (cmd, "pid0") == 0)
        put_started (&b, id, 0);
      else if (strcmp (cmd, "pidneg") == 0)
        put_started (&b, id, (uint64_t)-5);
      else if (strcmp (cmd, "pidhuge") == 0)
        put_started (&b, id, 1ull << 33);
      else if (strcmp (cmd, "sig0") == 0)
        {
          put_started (&b, id, 42);
          put_exit (&b, id, FK_TAG_SIGNAL, 0);
        }
      else if (strcmp (cmd, "code300") == 0)
        {
          put_started (&b, id, 42);
          put_exit (&b, id, FK_TAG_EXIT_CODE, 300);
        }
      else if (strcmp (cmd, "neg-code") == 0)
        {
          put_started (&b, id, 42);
          put_exit (&b, id, FK_TAG_EXIT_CODE, (uint64_t)-1);
        }
      else if (strcmp (cmd, "hello") == 0)
        {
          put_started (&b, id, 42);
          put_hello (&b, id, FK_WIRE_VERSION, 1);
        }
      else if (strcmp (cmd, "huge-out") == 0)
        {
          put_started (&b, id, 42);
          fa_send (fa, &b);
          for (int i = 0; i < 10; i++)
            {
              put_fill (&b, FK_WIRE_R_STDOUT, id, 'o', 1u << 20);
              fa_send (fa, &b);
            }
          put_exit (&b, id, FK_TAG_EXIT_CODE, 0);
        }
      else if (strcmp (cmd, "true") == 0)
        {
          put_started (&b, id, 42);
          put_exit (&b, id, FK_TAG_EXIT_CODE, 0);
        }
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
exec_lies_are_eproto (void **state)
{
  fake_t *fa = fake_start (script_exec, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  static const struct
  {
    const char *cmd, *needle;
  } lies[] = {
    { "twice", "started twice" },
    { "exit-first", "sent exit before started" },
    { "ok-frame", "sent ok before started" },
    { "after-exit", "after the end of the request" },
    { "pid0", "pid 0 out of range" },
    { "pidneg", "pid -5 out of range" },
    { "pidhuge", "out of range" },
    { "sig0", "signal 0 out of range" },
    { "code300", "status out of range" },
    { "neg-code", "status out of range" },
  };
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++)
    {
      char *argv[] = { (char *)lies[i].cmd, NULL };
      fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
      fk_exec_result_t res;
      fk_error_clear (&err);
      if (fk_client_exec (c, &eo, 100, &res, &err) == 0)
        fail_msg ("%s: exec succeeded", lies[i].cmd);
      if (err.code != EPROTO)
        fail_msg ("%s: code %d: %s", lies[i].cmd, err.code, fk_error_message (&err));
      assert_error_contains (&err, lies[i].needle);
    }

  /* A broken stream stays broken. */
  char *argv2[] = { (char *)"twice", NULL };
  fk_exec_opts_t eo2 = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv2 };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (c, &eo2, &p, &err), 0);
  assert_int_equal (fk_proc_pid (p), 42);
  fk_proc_event_t ev;
  assert_fails_with (fk_proc_next (p, -1, &ev, &err), EPROTO, "started twice");
  assert_fails_with (fk_proc_next (p, -1, &ev, &err), EPROTO, "failed before");
  fk_proc_free (p);

  /* Output beyond max_output is counted, not kept. */
  char *argv3[] = { (char *)"huge-out", NULL };
  fk_exec_opts_t eo3 = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv3 };
  fk_exec_result_t res;
  assert_int_equal (fk_client_exec (c, &eo3, 1000, &res, &err), 0);
  assert_int_equal (res.out_len, 1000);
  assert_true (res.truncated);
  fk_exec_result_free (&res);

  /* A ps entry with pid 0. */
  fk_proc_info_t *procs;
  size_t n;
  assert_fails_with (fk_client_ps (c, &procs, &n, &err), EPROTO, "pid 0 out of range");

  /* Lies are per request: an honest answer still works. */
  char *argv4[] = { (char *)"true", NULL };
  fk_exec_opts_t eo4 = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv4 };
  assert_int_equal (fk_client_exec (c, &eo4, 100, &res, &err), 0);
  assert_int_equal (res.status.exit_code, 0);
  assert_int_equal (res.pid, 42);
  fk_exec_result_free (&res);

  /* A hello in a command's stream breaks the whole connection. */
  char *argv5[] = { (char *)"hello", NULL };
  fk_exec_opts_t eo5 = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv5 };
  assert_fails_with (fk_client_exec (c, &eo5, 100, &res, &err), EPROTO, "second hello");
  assert_fails_with (fk_client_exec (c, &eo4, 100, &res, &err), EPROTO, "second hello");
  fake_stop (fa, c);
}

/* Starts the command, then streams output every 100 ms and never reports its exit. */
static void
script_ignores_timeout (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  uint32_t id = 0;
  for (;;)
    {
      int n = fa_next (fa, &r, 100);
      if (n < 0)
        break;
      if (n > 0)
        {
          if (r.type == FK_WIRE_EXEC)
            {
              id = r.id;
              put_started (&b, id, 42);
            }
          else if (r.type == FK_WIRE_SHELL_OPEN)
            {
              fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, r.id);
              fk_wire_put_int (&b, FK_TAG_PID, 43);
              fk_wire_put_str (&b, FK_TAG_PATH, "/bin/sh");
              fk_wire_end (&b, NULL);
            }
          else if (r.type == FK_WIRE_SHELL_RUN)
            id = r.id;
          else if (r.type == FK_WIRE_CANCEL || r.type == FK_WIRE_SHELL_CLOSE)
            {
              if (r.type == FK_WIRE_SHELL_CLOSE)
                put_ok (&b, r.id, FK_WIRE_F_END);
              id = 0;
            }
          req_clear (&r);
        }
      if (id != 0)
        fk_wire_put_data_frame (&b, FK_WIRE_R_STDOUT, 0, id, "tick\n", 5);
      fa_send (fa, &b);
    }
  fk_wire_buf_free (&b);
}

static void
exec_timeout_not_enforced (void **state)
{
  fake_t *fa = fake_start (script_ignores_timeout, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 0, &err);
  assert_non_null (c);
  char *argv[] = { (char *)"sleep", (char *)"100", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv, .timeout_ms = 300 };
  fk_exec_result_t res;
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_fails_with (fk_client_exec (c, &eo, 1 << 20, &res, &err), ETIMEDOUT,
                     "the agent did not enforce the command's timeout of 0.3 s: no exit 5.3 s "
                     "after the start");
  double took = since (&t0);
  assert_true (took >= 5.2 && took < 9.0);
  /* The client cancelled the command. */
  for (int i = 0; i < 200 && !fa->seen_cancel; i++)
    {
      struct timespec ts = { 0, 10 * 1000000L };
      nanosleep (&ts, NULL);
    }
  assert_true (fa->seen_cancel);

  /* A shell run likewise. */
  fk_shell_t *sh;
  assert_int_equal (fk_shell_open (c, NULL, &sh, &err), 0);
  fk_shell_run_opts_t ro
      = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "sleep 100", .timeout_ms = 100 };
  fk_shell_result_t sr;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_fails_with (fk_shell_run (sh, &ro, &sr, &err), ETIMEDOUT,
                     "did not enforce the shell run's timeout of 0.1 s");
  took = since (&t0);
  assert_true (took >= 5.0 && took < 9.0);
  fk_shell_close (sh);
  fake_stop (fa, c);
}

/* ---- the connection ---- */

static void
script_conn_lie (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  if (!fa_expect (fa, FK_WIRE_FILE_STAT, &r))
    return;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  switch (fa->variant)
    {
    case 0:
      put_stat (&b, 4242, 1, 1); /* a request never made */
      break;
    case 1:
      put_stat (&b, 0, 1, 1);
      break;
    case 2:
      fk_wire_begin (&b, FK_WIRE_EXEC, 0, r.id); /* a request, from the agent */
      fk_wire_put_str (&b, FK_TAG_SHELL, "x");
      fk_wire_end (&b, NULL);
      break;
    case 3:
      {
        uint8_t h[FK_WIRE_HEADER_LEN];
        fk_wire_header_write (h, FK_WIRE_R_STDOUT, 0, r.id, 2u << 20); /* over the limit */
        fk_wire_put_raw (&b, h, sizeof h);
        break;
      }
    case 4:
      {
        uint8_t junk[4096];
        for (size_t i = 0; i < sizeof junk; i++)
          junk[i] = (uint8_t)(i * 7 + 13);
        fk_wire_put_raw (&b, junk, sizeof junk);
        break;
      }
    }
  fa_send (fa, &b);
  fk_wire_buf_free (&b);
  req_clear (&r);
}

static void
connection_lies_are_eproto (void **state)
{
  static const char *needles[] = { "request 4242, which was never made", "request 0",
                                   "request frame", "over the limit", "agent connection" };
  for (int v = 0; v < 5; v++)
    {
      fake_t *fa = fake_start (script_conn_lie, v);
      fk_error_t err = FK_ERROR_INIT;
      fk_client_t *c = fake_connect (fa, 2000, &err);
      assert_non_null (c);
      fk_file_stat_t st;
      fk_error_clear (&err);
      assert_int_equal (fk_client_file_stat (c, "/x", &st, &err), -1);
      if (err.code != EPROTO)
        fail_msg ("lie %d: code %d: %s", v, err.code, fk_error_message (&err));
      assert_error_contains (&err, needles[v]);
      /* Failed for good, at once. */
      assert_int_equal (fk_client_file_stat (c, "/x", &st, &err), -1);
      assert_int_equal (err.code, EPROTO);
      fk_error_clear (&err);
      fake_stop (fa, c);
    }
}

/* ---- lists, errors ---- */

static void
put_entry (fk_wire_buf_t *b, const char *path)
{
  fk_wire_buf_t e = FK_WIRE_BUF_INIT;
  fk_wire_put_str (&e, FK_TAG_PATH, path);
  fk_wire_put_int (&e, FK_TAG_FTYPE, 1);
  fk_wire_put_bytes (b, FK_TAG_ENTRY, e.data, e.len);
  fk_wire_buf_free (&e);
}

static void
script_lists (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      const char *path = r.has_m && r.m.str[FK_TAG_PATH] ? r.m.str[FK_TAG_PATH] : "";
      if (r.type == FK_WIRE_FILE_LIST)
        {
          const char *bad = strcmp (path, "/dotdot") == 0  ? "a/../../etc"
                            : strcmp (path, "/abs") == 0   ? "/etc/passwd"
                            : strcmp (path, "/dot") == 0   ? "./x"
                            : strcmp (path, "/slash") == 0 ? "a//b"
                                                           : NULL;
          if (strcmp (path, "/empty-chunks") == 0)
            for (int i = 0; i < 1000; i++)
              put_ok (&b, r.id, 0);
          else
            {
              fk_wire_begin (&b, FK_WIRE_R_OK, 0, r.id);
              put_entry (&b, "a");
              put_entry (&b, bad ? bad : "b/c");
              fk_wire_end (&b, NULL);
            }
          put_ok (&b, r.id, FK_WIRE_F_END);
        }
      else if (r.type == FK_WIRE_FILE_STAT)
        {
          put_ok (&b, r.id, 0); /* a chunk, to a request that has none */
          put_stat (&b, r.id, 1, 1);
        }
      else if (r.type == FK_WIRE_FILE_MKDIR)
        {
          if (strcmp (path, "/esc") == 0)
            {
              size_t n = 5000;
              char *msg = xmalloc (n + 1);
              memset (msg, 'x', n);
              memcpy (msg, "\x1b]0;owned\x07\x1b[2J", 14);
              msg[n] = '\0';
              put_error (&b, r.id, EACCES, msg);
              free (msg);
            }
          else
            put_error (&b, r.id, strcmp (path, "/errno0") == 0 ? 0 : 1ull << 40, "nope");
        }
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
lists_and_errors_checked (void **state)
{
  fake_t *fa = fake_start (script_lists, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  fk_file_entry_t *ents;
  size_t n;
  assert_int_equal (fk_client_file_list (c, "/ok", 0, &ents, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_string_equal (ents[1].path, "b/c");
  fk_file_entries_free (ents, n);
  const char *bad[] = { "/dotdot", "/abs", "/dot", "/slash" };
  for (size_t i = 0; i < 4; i++)
    assert_fails_with (fk_client_file_list (c, bad[i], 0, &ents, &n, &err), EPROTO,
                       "not a path inside the directory");
  assert_fails_with (fk_client_file_list (c, "/empty-chunks", 0, &ents, &n, &err), EPROTO,
                     "empty list chunk");
  fk_file_stat_t st;
  assert_fails_with (fk_client_file_stat (c, "/x", &st, &err), EPROTO, "partial reply");

  /* The agent's error message: cut, no terminal escapes; a bad errno is EPROTO. */
  fk_error_clear (&err);
  assert_int_equal (fk_client_file_mkdir (c, "/esc", 0, 0, &err), -1);
  assert_int_equal (err.code, EACCES);
  assert_null (strchr (fk_error_message (&err), '\x1b'));
  assert_null (strchr (fk_error_message (&err), '\x07'));
  assert_true (strlen (fk_error_message (&err)) < 1100);
  fk_error_clear (&err);
  assert_fails_with (fk_client_file_mkdir (c, "/errno0", 0, 0, &err), EPROTO, "errno 0: nope");
  assert_fails_with (fk_client_file_mkdir (c, "/errnobig", 0, 0, &err), EPROTO, "errno");
  fake_stop (fa, c);
}

/* ---- floods ---- */

/* Starts a command and floods its stdout (70 MiB) before it reads anything else. */
static void
script_flood (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      if (r.type == FK_WIRE_EXEC)
        {
          put_started (&b, r.id, 42);
          fa_send (fa, &b);
          for (int i = 0; i < 70; i++)
            {
              put_fill (&b, FK_WIRE_R_STDOUT, r.id, 'f', 1u << 20);
              fa_send (fa, &b);
            }
        }
      else if (r.type == FK_WIRE_FILE_STAT)
        put_stat (&b, r.id, 1, 5);
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
unread_output_is_bounded (void **state)
{
  fake_t *fa = fake_start (script_flood, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 0, &err);
  assert_non_null (c);
  char *argv[] = { (char *)"yes", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_proc_t *p;
  assert_int_equal (fk_client_exec_start (c, &eo, &p, &err), 0);
  /* The stat's answer comes after 70 MiB for the process nobody reads. */
  fk_file_stat_t st;
  assert_int_equal (fk_client_file_stat (c, "/x", &st, &err), 0);
  assert_int_equal (st.size, 5);
  fk_proc_event_t ev;
  assert_fails_with (fk_proc_next (p, -1, &ev, &err), ENOBUFS, "queued unread");
  fk_proc_free (p);
  fake_stop (fa, c);
}

/* ---- uploads ---- */

static void
script_uploads (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  if (fa->variant == 0)
    {
      fa_wait_stop (fa); /* reads nothing */
      return;
    }
  uint32_t up = 0;
  while (fa_next (fa, &r, 30000) > 0)
    {
      if (r.type == FK_WIRE_FILE_WRITE)
        {
          up = r.id;
          if (fa->variant == 1)
            put_error (&b, r.id, EACCES, "permission denied");
          else if (fa->variant == 2)
            put_ok (&b, r.id, FK_WIRE_F_END);
        }
      else if (r.type == FK_WIRE_DATA && r.id == up)
        {
          fa->data_bytes += r.len;
          if (r.flags & FK_WIRE_F_EOF)
            {
              fa->seen_eof = 1;
              if (fa->variant == 3)
                {
                  fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, r.id);
                  fk_wire_put_int (&b, FK_TAG_SIZE, fa->data_bytes + 1);
                  fk_wire_end (&b, NULL);
                }
            }
        }
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
uploads_checked (void **state)
{
  size_t big = 64u << 20;
  char *data = xcalloc (1, big);

  /* An agent that reads nothing: ETIMEDOUT, not a hang. */
  fake_t *fa = fake_start (script_uploads, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 300, &err);
  assert_non_null (c);
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_fails_with (fk_client_file_write (c, "/x", data, big, 0, 0, &err), ETIMEDOUT,
                     "read nothing the client sent for 0.3 s");
  assert_true (since (&t0) < 3.0);
  fk_file_stat_t st;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  assert_int_equal (fk_client_file_stat (c, "/x", &st, &err), -1);
  fk_error_clear (&err);
  assert_true (since (&t0) < 3.0);
  fake_stop (fa, c);

  /* An early error ends the upload long before its 64 MiB are sent. */
  fa = fake_start (script_uploads, 1);
  c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  assert_fails_with (fk_client_file_write (c, "/x", data, big, 0, 0, &err), EACCES,
                     "permission denied");
  /* The fake has read everything once the client is gone: far less than 64 MiB came, and the
     EOF that lets an agent drop its temp file. */
  fake_stop (fa, c);
  if (last_fake.data_bytes >= (16u << 20))
    fail_msg ("%llu bytes uploaded after the agent's error",
              (unsigned long long)last_fake.data_bytes);
  assert_true (last_fake.seen_eof);

  /* An OK before the end, and a size that is not what was sent. */
  fa = fake_start (script_uploads, 2);
  c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  assert_fails_with (fk_client_file_write (c, "/x", data, big, 0, 0, &err), EPROTO,
                     "acknowledged the upload of `/x' before its end");
  fake_stop (fa, c);
  fa = fake_start (script_uploads, 3);
  c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  assert_fails_with (fk_client_file_write (c, "/x", "hello", 5, 0, 0, &err), EPROTO,
                     "wrote 6 bytes into `/x', not the 5 sent");
  fake_stop (fa, c);
  free (data);
}

/* ---- shells ---- */

static void
script_shells (fake_t *fa)
{
  fa_hello (fa);
  req_t r;
  fk_wire_buf_t b = FK_WIRE_BUF_INIT;
  while (fa_next (fa, &r, 30000) > 0)
    {
      if (r.type == FK_WIRE_SHELL_OPEN)
        {
          fk_wire_begin (&b, FK_WIRE_R_OK, FK_WIRE_F_END, r.id);
          fk_wire_put_int (&b, FK_TAG_PID, fa->variant == 0 ? 0 : 77);
          fk_wire_put_str (&b, FK_TAG_PATH, "/bin/sh");
          fk_wire_end (&b, NULL);
        }
      else if (r.type == FK_WIRE_SHELL_RUN)
        {
          /* 65 MiB of stdout, until the client kills the run. */
          for (int i = 0; i < 65 && !fa->seen_signal; i++)
            {
              put_fill (&b, FK_WIRE_R_STDOUT, r.id, 's', 1u << 20);
              fa_send (fa, &b);
            }
          req_t s;
          if (fa_expect (fa, FK_WIRE_SIGNAL, &s))
            {
              fa->seen_signal = 1;
              put_ok (&b, s.id, FK_WIRE_F_END);
              put_exit (&b, r.id, FK_TAG_SIGNAL, 9);
              req_clear (&s);
            }
        }
      else if (r.type == FK_WIRE_SHELL_CLOSE)
        put_ok (&b, r.id, FK_WIRE_F_END);
      fa_send (fa, &b);
      req_clear (&r);
    }
  fk_wire_buf_free (&b);
}

static void
shells_checked (void **state)
{
  fake_t *fa = fake_start (script_shells, 0);
  fk_error_t err = FK_ERROR_INIT;
  fk_client_t *c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  fk_shell_t *sh;
  assert_fails_with (fk_shell_open (c, NULL, &sh, &err), EPROTO, "pid 0 out of range");
  fake_stop (fa, c);

  fa = fake_start (script_shells, 1);
  c = fake_connect (fa, 2000, &err);
  assert_non_null (c);
  assert_int_equal (fk_shell_open (c, NULL, &sh, &err), 0);
  fk_shell_run_opts_t ro = { .version = FK_SHELL_RUN_OPTIONS_VERSION, .command = "cat /dev/zero" };
  fk_shell_result_t sr;
  assert_fails_with (fk_shell_run (sh, &ro, &sr, &err), EFBIG, "more than 64 MiB to stdout");
  assert_true (fa->seen_signal);
  fk_shell_close (sh);
  fake_stop (fa, c);
}

/* ---- the real fk binary against a fake agent process ---- */

/* The fake agent process: accepts connections on sock and runs script on each. */
static pid_t
fake_agent_process (const char *sock, script_fn script, int variant)
{
  int lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", sock);
  assert_int_equal (bind (lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal (listen (lfd, 16), 0);
  pid_t parent = getpid ();
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () != parent)
        _exit (1);
      for (;;)
        {
          int fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
          if (fd < 0)
            _exit (1);
          fake_t fa = { .fd = fd, .client_fd = -1, .stop = { -1, -1 }, .variant = variant };
          script (&fa);
          req_t r;
          while (fa_next (&fa, &r, 30000) > 0)
            req_clear (&r);
          close (fd);
          free (fa.buf);
        }
    }
  close (lfd);
  return pid;
}

/* A sandbox state for the fake agent, so the CLI finds it by id in state_dir. */
static void
write_fake_state (const char *state_dir, const char *id, pid_t pid, const char *sock)
{
  char path[4096], line[4096];
  snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen (path, "r");
  assert_non_null (f);
  assert_non_null (fgets (line, sizeof line, f));
  fclose (f);
  const char *p = strrchr (line, ')') + 2;
  for (int field = 3; field < 22; field++)
    p = strchr (p, ' ') + 1;
  unsigned long long start = strtoull (p, NULL, 10);
  char boot[64] = "";
  f = fopen ("/proc/sys/kernel/random/boot_id", "r");
  assert_non_null (f);
  assert_non_null (fgets (boot, sizeof boot, f));
  fclose (f);
  boot[strcspn (boot, "\n")] = '\0';
  snprintf (path, sizeof path, "%s/sandboxes/%s", state_dir, id);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_mkdir_p (path, 0700, &err), 0);
  snprintf (path, sizeof path, "%s/sandboxes/%s/state.json", state_dir, id);
  f = fopen (path, "w");
  assert_non_null (f);
  fprintf (
      f,
      "{\"id\": \"%s\", \"template\": null, \"layers\": [], \"pid\": %d, \"start_time\": %llu, "
      "\"boot_id\": \"%s\", \"socket\": \"%s\", \"cgroup\": \"firkin/%s-none\", "
      "\"cgroup_version\": 2, \"cgroup_root\": \"/sys/fs/cgroup\", \"limits\": {}, "
      "\"created\": %lld, \"expires\": 0, \"metadata\": {}, \"stopped\": false}\n",
      id, (int)pid, start, boot, sock, id, (long long)time (NULL));
  fclose (f);
}

/* $FK_AGENT is build/src/agent/fk-agent: fk is build/src/cli/fk. */
static char *
fk_binary (void)
{
  const char *agent = getenv ("FK_AGENT");
  if (agent == NULL)
    return NULL;
  char *fk = xasprintf ("%s", agent);
  char *slash = strrchr (fk, '/');
  if (slash == NULL || slash - fk < 6 || strncmp (slash - 6, "/agent", 6) != 0)
    {
      free (fk);
      return NULL;
    }
  slash[-6] = '\0';
  char *r = xasprintf ("%s/cli/fk", fk);
  free (fk);
  if (access (r, X_OK) != 0)
    {
      free (r);
      return NULL;
    }
  return r;
}

/* Runs fk with FIRKIN_STATE_DIR=state_dir; its stderr into *ret_err (stdout dropped); its exit
   code. */
static int
run_fk (const char *fk, const char *state_dir, char *const args[], char **ret_err)
{
  char errpath[4096];
  snprintf (errpath, sizeof errpath, "%s/fk.err", state_dir);
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    {
      int fd = open (errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);
      if (fd < 0 || dup2 (fd, 2) < 0 || null < 0 || dup2 (null, 1) < 0)
        _exit (126);
      setenv ("FIRKIN_STATE_DIR", state_dir, 1);
      char *argv[16] = { (char *)fk };
      for (int i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
      execve (fk, argv, environ);
      _exit (127);
    }
  int st = 0;
  assert_int_equal (waitpid (pid, &st, 0), pid);
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  int fd = open (errpath, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fk_read_all (fd, 1 << 20, ret_err, &len, &err) < 0)
    *ret_err = xstrdup ("");
  if (fd >= 0)
    close (fd);
  fk_error_clear (&err);
  return WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
}

static void
fk_cp_and_exec_against_a_liar (void **state)
{
  cleanup_free char *fk = fk_binary ();
  if (fk == NULL)
    {
      print_message ("# skip: no fk binary beside $FK_AGENT\n");
      skip ();
    }
  char *dir = test_tmpdir ();
  cleanup_free char *sock = xasprintf ("%s/agent.sock", dir);
  cleanup_free char *state_dir = xasprintf ("%s/state", dir);
  pid_t agent = fake_agent_process (sock, script_files, 0);
  write_fake_state (state_dir, "liar", agent, sock);

  /* fk cp of the 10-byte file that comes with 300 KiB more: a clear error, no file. */
  cleanup_free char *out = xasprintf ("%s/out.bin", dir);
  cleanup_free char *src = xstrdup ("liar:/ten");
  char *args[] = { (char *)"cp", src, out, NULL };
  char *errtext = NULL;
  int rc = run_fk (fk, state_dir, args, &errtext);
  if (rc == 0 || strstr (errtext, "the agent sent more than the file's 10 bytes") == NULL)
    fail_msg ("fk cp: exit %d: %s", rc, errtext);
  free (errtext);
  struct stat st;
  assert_int_equal (stat (out, &st), -1);
  /* No temp file left beside it either. */
  cleanup_dir DIR *d = opendir (dir);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    if (strstr (de->d_name, "out.bin") != NULL)
      fail_msg ("fk cp left `%s'", de->d_name);

  /* An honest file arrives whole. */
  char *args2[] = { (char *)"cp", (char *)"liar:/good", out, NULL };
  rc = run_fk (fk, state_dir, args2, &errtext);
  if (rc != 0)
    fail_msg ("fk cp /good: exit %d: %s", rc, errtext);
  free (errtext);
  assert_int_equal (stat (out, &st), 0);
  assert_int_equal (st.st_size, 10);
  kill (agent, SIGKILL);
  waitpid (agent, NULL, 0);

  /* fk exec --timeout against an agent that never reports the exit. */
  unlink (sock);
  agent = fake_agent_process (sock, script_ignores_timeout, 0);
  write_fake_state (state_dir, "liar", agent, sock);
  char *args3[] = { (char *)"exec", (char *)"--timeout", (char *)"0.5", (char *)"liar",
                    (char *)"--",   (char *)"sleep",     (char *)"100", NULL };
  struct timespec t0;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  rc = run_fk (fk, state_dir, args3, &errtext);
  double took = since (&t0);
  if (rc != 124 || strstr (errtext, "did not enforce the command's timeout of 0.5 s") == NULL)
    fail_msg ("fk exec --timeout: exit %d: %s", rc, errtext);
  free (errtext);
  assert_true (took >= 5.4 && took < 10.0);
  kill (agent, SIGKILL);
  waitpid (agent, NULL, 0);
  test_tmpdir_free (dir);
}

int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (hello_silent_times_out),
    cmocka_unit_test (connect_never_accepted_times_out),
    cmocka_unit_test (hello_lies_are_eproto),
    cmocka_unit_test (second_hello_is_eproto),
    cmocka_unit_test (control_requests_time_out),
    cmocka_unit_test (file_reads_bounded),
    cmocka_unit_test (exec_lies_are_eproto),
    cmocka_unit_test (exec_timeout_not_enforced),
    cmocka_unit_test (connection_lies_are_eproto),
    cmocka_unit_test (lists_and_errors_checked),
    cmocka_unit_test (unread_output_is_bounded),
    cmocka_unit_test (uploads_checked),
    cmocka_unit_test (shells_checked),
    cmocka_unit_test (fk_cp_and_exec_against_a_liar),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
