/* tests/fuzz/fuzz_tar.c: applies the input as a layer blob into a fresh directory, then removes
   it. Whatever the input, the apply returns (0 or an error) and the tree it leaves is removable;
   writes outside the directory are what the sanitizers and test_layer's canaries look for. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "image/layer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fk_log_set_level (FK_LOG_ERROR);
  const char *base = getenv ("TMPDIR");
  char dir[4096];
  snprintf (dir, sizeof dir, "%s/firkin-fuzz-tar.XXXXXX", base ? base : "/tmp");
  if (mkdtemp (dir) == NULL)
    abort ();
  int rootfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int blobfd = memfd_create ("fuzz", MFD_CLOEXEC);
  if (rootfd < 0 || blobfd < 0)
    abort ();
  if (size > 0 && write (blobfd, data, size) != (ssize_t) size)
    abort ();
  lseek (blobfd, 0, SEEK_SET);
  /* A small cap: a fuzzed size field must not make the run write gigabytes. */
  fk_layer_opts_t opts = {.max_size = 64 << 20};
  fk_error_t err = FK_ERROR_INIT;
  fk_layer_stats_t st;
  if (fk_layer_apply (rootfd, blobfd, &opts, &st, &err) < 0 && !fk_error_is_set (&err))
    abort ();
  fk_error_clear (&err);
  close (blobfd);
  close (rootfd);
  if (fk_rm_rf_at (AT_FDCWD, dir, &err) < 0)
    {
      fprintf (stderr, "fuzz_tar: cannot remove %s: %s\n", dir, fk_error_message (&err));
      abort ();
    }
  return 0;
}
