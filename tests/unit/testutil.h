/* tests/unit/testutil.h: what every unit test needs: cmocka and a scratch directory. */
#ifndef FK_TESTUTIL_H
#define FK_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"

/* A fresh directory under $TMPDIR; removed by test_tmpdir_free. */
static inline char *
test_tmpdir (void)
{
  const char *base = getenv ("TMPDIR");
  char *t = NULL;
  if (asprintf (&t, "%s/firkin-test.XXXXXX", base ? base : "/tmp") < 0)
    abort ();
  if (mkdtemp (t) == NULL)
    abort ();
  return t;
}

static inline void
test_tmpdir_free (char *dir)
{
  fk_error_t err = FK_ERROR_INIT;
  if (dir != NULL && fk_rm_rf_at (AT_FDCWD, dir, &err) < 0)
    fprintf (stderr, "# cleanup %s: %s\n", dir, fk_error_message (&err));
  fk_error_clear (&err);
  free (dir);
}

/* Asserts that err is set and its message contains needle; then clears it. */
#define assert_error_contains(err, needle)                                                         \
  do                                                                                               \
    {                                                                                              \
      assert_true (fk_error_is_set (err));                                                         \
      if (strstr (fk_error_message (err), (needle)) == NULL)                                       \
        fail_msg ("error `%s' does not mention `%s'", fk_error_message (err), (needle));           \
      fk_error_clear (err);                                                                        \
    }                                                                                              \
  while (0)

#endif
