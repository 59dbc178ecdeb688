/* Fuzz target: the client library fed by a hostile agent. The input is what the "agent" says:
   chunks of a u16 little-endian length and that many bytes. A thread plays the agent on a
   socketpair, writing the next chunk each time the client sends it a frame (or once the client
   has been silent for 20 ms: it may be waiting for more of a stream; 25 times at most, so a
   command without a timeout is not fed a drop at a time for ever), and hangs up after the
   last. The client meanwhile connects (hello), runs a command,
   reads a file, stats one, lists a directory and lists its processes, with a short deadline:
   whatever the bytes, it must end in errors or results, never a crash, a leak or a hang. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "firkin/client.h"
#include "wire/frame.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct agent
{
  int fd;
  const uint8_t *data;
  size_t size, off;
} agent_t;

/* Writes the next chunk; 0 when there was none left. */
static int
next_chunk (agent_t *a)
{
  if (a->off >= a->size)
    return 0;
  size_t len = a->data[a->off];
  if (a->off + 1 < a->size)
    len |= (size_t)a->data[a->off + 1] << 8;
  a->off += 2;
  if (a->off > a->size)
    a->off = a->size;
  if (len > a->size - a->off)
    len = a->size - a->off;
  const uint8_t *p = a->data + a->off;
  a->off += len;
  while (len > 0)
    {
      ssize_t n = send (a->fd, p, len, MSG_NOSIGNAL);
      if (n <= 0)
        return 1; /* the client is gone: its reads end */
      p += n;
      len -= (size_t)n;
    }
  return 1;
}

static void *
agent_main (void *arg)
{
  agent_t *a = arg;
  uint8_t buf[65536];
  size_t have = 0;
  int more = 1, heard = 0, idle = 0;
  for (;;)
    {
      struct pollfd p = { .fd = a->fd, .events = POLLIN };
      /* Silence counts only once the client has spoken (hello): before, it is starting. */
      int pr = poll (&p, 1, more && heard ? 20 : 5000);
      if (pr < 0)
        break;
      if (pr == 0)
        {
          if (!more || !heard)
            break; /* the client hangs on to a closed stream: it will see EOF */
          if (++idle > 25 || !(more = next_chunk (a)))
            {
              more = 0;
              shutdown (a->fd, SHUT_WR);
            }
          continue;
        }
      ssize_t n = recv (a->fd, buf + have, sizeof buf - have, 0);
      if (n <= 0)
        break;
      have += (size_t)n;
      /* One chunk per whole frame from the client. */
      for (;;)
        {
          fk_error_t err = FK_ERROR_INIT;
          fk_wire_frame_t f;
          long used = fk_wire_frame_parse (buf, have, &f, &err);
          fk_error_clear (&err);
          if (used < 0)
            used = (long)have;
          if (used == 0)
            {
              if (have == sizeof buf)
                have = 0; /* a frame too big to hold: drop it */
              break;
            }
          memmove (buf, buf + used, have - (size_t)used);
          have -= (size_t)used;
          heard = 1;
          if (more && !(more = next_chunk (a)))
            shutdown (a->fd, SHUT_WR);
        }
    }
  return NULL;
}

static void
client_session (int fd)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_client_opts_t opts = FK_CLIENT_OPTIONS_INIT;
  opts.deadline_ms = 100;
  fk_client_t *c = NULL;
  if (fk_client_connect_fd_opts (fd, &opts, &c, &err) < 0)
    {
      fk_error_clear (&err);
      return;
    }
  char *argv[] = { (char *)"true", NULL };
  fk_exec_opts_t eo = { .version = FK_EXEC_OPTIONS_VERSION, .argv = argv };
  fk_exec_result_t res;
  if (fk_client_exec (c, &eo, 1024, &res, &err) == 0)
    fk_exec_result_free (&res);
  fk_error_clear (&err);
  char *buf = NULL;
  size_t len;
  if (fk_client_file_read (c, "/f", 4096, &buf, &len, &err) == 0)
    free (buf);
  fk_error_clear (&err);
  fk_file_stat_t st;
  fk_client_file_stat (c, "/f", &st, &err);
  fk_error_clear (&err);
  fk_file_entry_t *ents;
  size_t n;
  if (fk_client_file_list (c, "/", FK_FILE_RECURSIVE, &ents, &n, &err) == 0)
    fk_file_entries_free (ents, n);
  fk_error_clear (&err);
  fk_proc_info_t *procs;
  if (fk_client_ps (c, &procs, &n, &err) == 0)
    fk_proc_info_free (procs, n);
  fk_error_clear (&err);
  fk_client_close (c);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  signal (SIGPIPE, SIG_IGN);
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort ();
  agent_t a = { .fd = sv[1], .data = data, .size = size };
  pthread_t t;
  if (pthread_create (&t, NULL, agent_main, &a) != 0)
    abort ();
  client_session (sv[0]); /* closes sv[0] */
  pthread_join (t, NULL);
  close (sv[1]);
  return 0;
}
