/* image/blobsink.c: see image/blobsink.h. */
#include "image/blobsink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"

/* 1 MiB chunks, four in flight: every write but the last is whole and aligned for O_DIRECT
   (4096 covers the logical block size of any disk). */
#define CHUNK (1u << 20)
#define NBUF 4u
#define ALIGN 4096u

struct fk_blobsink
{
  int fd;
  int direct; /* O_DIRECT is set on fd */
  fk_sha256_t *sha;
  uint64_t size;
  char *bufs[NBUF];
  size_t lens[NBUF];
  size_t fill; /* bytes in bufs[head % NBUF], the chunk being filled (the caller's) */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned head, tail; /* under lock: chunks [tail, head) are queued for the thread */
  int closing;         /* under lock: no chunk comes after head */
  int failed;          /* under lock: the first write error's errno, then chunks are dropped */
  int threaded;
  int thread_tried; /* the first whole chunk asked for the thread (a smaller blob has none) */
  pthread_t thread;
};

static void
direct_off (fk_blobsink_t *s)
{
  int fl = fcntl (s->fd, F_GETFL);
  if (fl >= 0)
    fcntl (s->fd, F_SETFL, fl & ~O_DIRECT);
  s->direct = 0;
}

/* Hashes and writes one chunk; 0 or an errno. */
static int
put_chunk (fk_blobsink_t *s, const char *p, size_t len)
{
  fk_sha256_update (s->sha, p, len);
  s->size += len;
  while (len > 0)
    {
      size_t want = len;
      if (s->direct && len % ALIGN != 0)
        {
          /* The unaligned tail (the blob's last bytes) goes through the page cache. */
          want = len - len % ALIGN;
          if (want == 0)
            {
              direct_off (s);
              want = len;
            }
        }
      ssize_t n = write (s->fd, p, want);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EINVAL && s->direct)
        {
          /* The filesystem takes no O_DIRECT (tmpfs) or not this write: buffered it is. */
          direct_off (s);
          continue;
        }
      if (n < 0)
        return errno;
      if (n == 0)
        return EIO;
      p += n;
      len -= (size_t)n;
    }
  return 0;
}

static void *
worker (void *data)
{
  fk_blobsink_t *s = data;
  pthread_mutex_lock (&s->lock);
  for (;;)
    {
      while (s->tail == s->head && !s->closing)
        pthread_cond_wait (&s->cond, &s->lock);
      if (s->tail == s->head)
        break;
      unsigned slot = s->tail % NBUF;
      int failed = s->failed;
      pthread_mutex_unlock (&s->lock);
      int r = failed ? 0 : put_chunk (s, s->bufs[slot], s->lens[slot]);
      pthread_mutex_lock (&s->lock);
      if (r != 0 && !s->failed)
        s->failed = r;
      s->tail++;
      pthread_cond_broadcast (&s->cond);
    }
  pthread_mutex_unlock (&s->lock);
  return NULL;
}

fk_blobsink_t *
fk_blobsink_new (int fd, int direct)
{
  fk_blobsink_t *s = xcalloc (1, sizeof *s);
  s->fd = fd;
  s->sha = fk_sha256_new ();
  /* One buffer and no thread until the first chunk is whole: a blob under a chunk (a snapshot
     of a few changes) is written by the caller at the finish, without the thread's start, its
     hand-offs and its join (about 1 ms on a loaded machine), nor three more buffers. */
  if (posix_memalign ((void **)&s->bufs[0], ALIGN, CHUNK) != 0)
    abort (); /* as xmalloc: allocation cannot fail silently */
  if (direct && lseek (fd, 0, SEEK_CUR) == 0)
    {
      int fl = fcntl (fd, F_GETFL);
      s->direct = fl >= 0 && fcntl (fd, F_SETFL, fl | O_DIRECT) == 0;
    }
  pthread_mutex_init (&s->lock, NULL);
  pthread_cond_init (&s->cond, NULL);
  return s;
}

/* The thread and its buffers, for a blob of more than a chunk; bufs[0] (head 0) holds the
   first chunk already. */
static void
start_thread (fk_blobsink_t *s)
{
  s->thread_tried = 1;
  for (unsigned i = 1; i < NBUF; i++)
    if (posix_memalign ((void **)&s->bufs[i], ALIGN, CHUNK) != 0)
      abort (); /* as xmalloc: allocation cannot fail silently */
  s->threaded = pthread_create (&s->thread, NULL, worker, s) == 0;
}

/* Hands the chunk being filled to the thread (or writes it here without one). */
static int
queue_chunk (fk_blobsink_t *s, fk_error_t *err)
{
  int failed = 0;
  if (!s->threaded)
    {
      failed = put_chunk (s, s->bufs[0], s->fill);
      s->fill = 0;
    }
  else
    {
      pthread_mutex_lock (&s->lock);
      s->lens[s->head % NBUF] = s->fill;
      s->head++;
      s->fill = 0;
      pthread_cond_broadcast (&s->cond);
      /* The next chunk's buffer must be free of the thread. */
      while (s->head - s->tail >= NBUF && !s->failed)
        pthread_cond_wait (&s->cond, &s->lock);
      failed = s->failed;
      pthread_mutex_unlock (&s->lock);
    }
  if (failed)
    {
      errno = failed;
      return fk_error_set_errno (err, "write the blob");
    }
  return 0;
}

int
fk_blobsink_write (fk_blobsink_t *s, const void *buf, size_t len, fk_error_t *err)
{
  const char *p = buf;
  while (len > 0)
    {
      size_t n = CHUNK - s->fill < len ? CHUNK - s->fill : len;
      memcpy (s->bufs[s->threaded ? s->head % NBUF : 0] + s->fill, p, n);
      s->fill += n;
      p += n;
      len -= n;
      if (s->fill == CHUNK && !s->thread_tried)
        start_thread (s);
      if (s->fill == CHUNK && queue_chunk (s, err) < 0)
        return -1;
    }
  return 0;
}

static void
stop (fk_blobsink_t *s)
{
  if (!s->threaded)
    return;
  pthread_mutex_lock (&s->lock);
  s->closing = 1;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  pthread_join (s->thread, NULL);
  s->threaded = 0;
}

int
fk_blobsink_finish (fk_blobsink_t *s, char ret_digest[FK_DIGEST_STR_LEN], uint64_t *ret_size,
                    fk_error_t *err)
{
  if (s->fill > 0 && queue_chunk (s, err) < 0)
    return -1;
  stop (s);
  if (s->failed)
    {
      errno = s->failed;
      return fk_error_set_errno (err, "write the blob");
    }
  if (s->direct)
    direct_off (s);
  fk_sha256_final (s->sha, ret_digest);
  *ret_size = s->size;
  return 0;
}

void
fk_blobsink_free (fk_blobsink_t *s)
{
  if (s == NULL)
    return;
  /* Dropped, not written: the caller gave up on the blob. */
  if (s->threaded)
    {
      pthread_mutex_lock (&s->lock);
      s->failed = s->failed ? s->failed : ECANCELED;
      pthread_mutex_unlock (&s->lock);
    }
  stop (s);
  pthread_mutex_destroy (&s->lock);
  pthread_cond_destroy (&s->cond);
  for (unsigned i = 0; i < NBUF; i++)
    free (s->bufs[i]);
  fk_sha256_free (s->sha);
  free (s);
}
