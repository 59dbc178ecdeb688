/* Unit tests for sandbox/idrange: distinct aligned ranges that fit in 32 bits, free and reuse,
   ownership on free, the sweep of orphans, a full table, processes allocating at once, and
   what alloc + free cost. */
#include "testutil.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "sandbox/idrange.h"

typedef struct
{
  char *dir;
  int state_fd;
  int table_fd; /* the table, once made */
} fixture_t;

static int
setup (void **state)
{
  fixture_t *f = xcalloc (1, sizeof *f);
  f->dir = test_tmpdir ();
  f->state_fd = open (f->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  f->table_fd = -1;
  assert_true (f->state_fd >= 0);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  fixture_t *f = *state;
  close (f->state_fd);
  if (f->table_fd >= 0)
    close (f->table_fd);
  test_tmpdir_free (f->dir);
  free (f);
  return 0;
}

static uint32_t
slot_of (uint32_t base)
{
  return (base - FK_USERNS_HOST_BASE) / FK_USERNS_SIZE;
}

static int
table (fixture_t *f)
{
  if (f->table_fd < 0)
    {
      cleanup_free char *p = xasprintf ("%s/idranges", f->dir);
      if (mkdir (p, 0700) < 0 && errno != EEXIST)
        fail_msg ("mkdir %s", p);
      f->table_fd = open (p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      assert_true (f->table_fd >= 0);
    }
  return f->table_fd;
}

/* The owner written in slot, or NULL when the slot is free (caller frees). */
static char *
owner (fixture_t *f, uint32_t slot)
{
  char name[16];
  snprintf (name, sizeof name, "%u", slot);
  char *buf = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (table (f), name, 256, &buf, &len, &err) < 0)
    {
      assert_int_equal (err.code, ENOENT);
      fk_error_clear (&err);
      return NULL;
    }
  return buf;
}

/* Takes slot by hand, as another sandbox would have. */
static void
take (fixture_t *f, uint32_t slot, const char *id)
{
  char name[16];
  snprintf (name, sizeof name, "%u", slot);
  int fd = openat (table (f), name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, id, strlen (id)), (ssize_t)strlen (id));
  close (fd);
}

/* Every slot alloc hands out taken by hand, but those for which keep_free says so. */
static void
fill (fixture_t *f, int (*keep_free) (uint32_t slot))
{
  for (uint32_t s = FK_IDRANGE_FIRST_SLOT; s < FK_IDRANGE_SLOTS; s++)
    if (keep_free == NULL || !keep_free (s))
      take (f, s, "filler");
}

static void
geometry (void **state)
{
  (void)state;
  /* As many ranges as fit below 2^32-1, and the last one does. */
  assert_int_equal (FK_IDRANGE_SLOTS, 50277);
  uint64_t last_end = (uint64_t)fk_idrange_slot_base (FK_IDRANGE_SLOTS - 1) + FK_USERNS_SIZE - 1;
  assert_true (last_end < 0xffffffffull);
  assert_true ((uint64_t)FK_USERNS_HOST_BASE + (uint64_t)FK_IDRANGE_SLOTS * FK_USERNS_SIZE
                   + FK_USERNS_SIZE - 1
               >= 0xffffffffull);
}

static void
alloc_gives_distinct_aligned_ranges (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  uint32_t bases[100];
  for (int i = 0; i < 100; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "sb-%d", i);
      if (fk_idrange_alloc (f->state_fd, id, &bases[i], &err) < 0)
        fail_msg ("alloc %s: %s", id, fk_error_message (&err));
      assert_true (bases[i] >= FK_USERNS_HOST_BASE + FK_USERNS_SIZE); /* never slot 0 */
      assert_int_equal ((bases[i] - FK_USERNS_HOST_BASE) % FK_USERNS_SIZE, 0);
      assert_true ((uint64_t)bases[i] + FK_USERNS_SIZE - 1 < 0xffffffffull);
      for (int j = 0; j < i; j++)
        assert_true (bases[i] != bases[j]);
      cleanup_free char *o = owner (f, slot_of (bases[i]));
      assert_non_null (o);
      assert_string_equal (o, id);
      uint32_t found = 0;
      assert_int_equal (fk_idrange_find (f->state_fd, id, &found, &err), 0);
      assert_int_equal (found, bases[i]);
    }
  uint32_t none;
  assert_int_equal (fk_idrange_find (f->state_fd, "nosuch", &none, &err), -1);
  assert_int_equal (err.code, ENOENT);
  assert_error_contains (&err, "no id range for sandbox `nosuch'");
  assert_int_equal (fk_idrange_alloc (f->state_fd, "../x", &none, &err), -1);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "is not a sandbox id");
}

static int
keep_one (uint32_t slot)
{
  return slot == 4242;
}

/* A full table is ENOSPC; a freed slot is the one handed out next; the last slot's range ends
   below 2^32-1. */
static void
full_table_free_and_reuse (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  fill (f, keep_one);
  uint32_t base;
  assert_int_equal (fk_idrange_alloc (f->state_fd, "only", &base, &err), 0);
  assert_int_equal (slot_of (base), 4242);
  uint32_t more;
  assert_int_equal (fk_idrange_alloc (f->state_fd, "toomany", &more, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  assert_error_contains (&err, "no free host id range: all 50276 ranges of 65536 ids are taken");
  assert_int_equal (fk_idrange_free (f->state_fd, base, "only", &err), 0);
  cleanup_free char *gone = owner (f, 4242);
  assert_null (gone);
  assert_int_equal (fk_idrange_alloc (f->state_fd, "again", &more, &err), 0);
  assert_int_equal (more, base);
  cleanup_free char *o = owner (f, 4242);
  assert_string_equal (o, "again");

  /* The last slot: handed out, and its range fits. */
  char name[16];
  snprintf (name, sizeof name, "%u", FK_IDRANGE_SLOTS - 1);
  assert_int_equal (unlinkat (table (f), name, 0), 0);
  assert_int_equal (fk_idrange_alloc (f->state_fd, "last", &base, &err), 0);
  assert_int_equal (slot_of (base), FK_IDRANGE_SLOTS - 1);
  assert_int_equal (base, 4294887936u);
  assert_true ((uint64_t)base + FK_USERNS_SIZE - 1 == 4294953471ull);
}

static void
free_checks_the_owner (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  uint32_t base;
  assert_int_equal (fk_idrange_alloc (f->state_fd, "alice", &base, &err), 0);
  assert_int_equal (fk_idrange_free (f->state_fd, base, "bob", &err), -1);
  assert_int_equal (err.code, EPERM);
  assert_error_contains (&err, "belongs to sandbox `alice', not `bob'");
  cleanup_free char *o = owner (f, slot_of (base));
  assert_string_equal (o, "alice");
  assert_int_equal (fk_idrange_free (f->state_fd, base, "alice", &err), 0);
  cleanup_free char *gone = owner (f, slot_of (base));
  assert_null (gone);
  /* Freeing again (a retried delete) is fine; a base that is no slot's is not. */
  assert_int_equal (fk_idrange_free (f->state_fd, base, "alice", &err), 0);
  assert_int_equal (fk_idrange_free (f->state_fd, base + 1, "alice", &err), -1);
  assert_int_equal (err.code, EINVAL);
  assert_error_contains (&err, "is not the base of a sandbox's range");
  assert_int_equal (fk_idrange_free (f->state_fd, FK_USERNS_HOST_BASE, "alice", &err), -1);
  assert_error_contains (&err, "is not the base");
  assert_int_equal (fk_idrange_free (f->state_fd, 123, "alice", &err), -1);
  assert_error_contains (&err, "is not the base");
}

static void
age (fixture_t *f, uint32_t slot)
{
  char name[16];
  snprintf (name, sizeof name, "%u", slot);
  struct timespec ts[2] = { { .tv_sec = time (NULL) - 120 }, { .tv_sec = time (NULL) - 120 } };
  assert_int_equal (utimensat (table (f), name, ts, 0), 0);
}

static void
sweep_frees_orphans_only (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  /* No table yet: nothing to do. */
  cleanup_free char *sbdir = xasprintf ("%s/sandboxes", f->dir);
  assert_int_equal (mkdir (sbdir, 0700), 0);
  cleanup_close int sbfd = open (sbdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (fk_idrange_sweep (f->state_fd, sbfd, &err), 0);

  cleanup_free char *live_dir = xasprintf ("%s/live", sbdir);
  assert_int_equal (mkdir (live_dir, 0700), 0);
  uint32_t live, gone, young;
  assert_int_equal (fk_idrange_alloc (f->state_fd, "live", &live, &err), 0);
  assert_int_equal (fk_idrange_alloc (f->state_fd, "gone", &gone, &err), 0);
  assert_int_equal (fk_idrange_alloc (f->state_fd, "young", &young, &err), 0);
  /* A create that died between taking a slot and writing its id, long ago; and one now. */
  uint32_t empty_old = 0, empty_new = 0;
  for (uint32_t s = 10; empty_new == 0; s++)
    if (s != slot_of (live) && s != slot_of (gone) && s != slot_of (young))
      {
        if (empty_old == 0)
          empty_old = s;
        else
          empty_new = s;
        take (f, s, "");
      }
  age (f, slot_of (live));
  age (f, slot_of (gone));
  age (f, empty_old);
  /* A stray file is not a slot and stays. */
  int stray = openat (table (f), "notes", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true (stray >= 0);
  close (stray);

  assert_int_equal (fk_idrange_sweep (f->state_fd, sbfd, &err), 2);
  cleanup_free char *o_live = owner (f, slot_of (live));
  cleanup_free char *o_gone = owner (f, slot_of (gone));
  cleanup_free char *o_young = owner (f, slot_of (young));
  cleanup_free char *o_eo = owner (f, empty_old);
  cleanup_free char *o_en = owner (f, empty_new);
  assert_string_equal (o_live, "live");
  assert_null (o_gone);
  assert_string_equal (o_young, "young"); /* no directory, but its create may still run */
  assert_null (o_eo);
  assert_non_null (o_en);
  assert_int_equal (faccessat (table (f), "notes", F_OK, 0), 0);
  /* Once old, the young one without a directory goes too; live stays. */
  age (f, slot_of (young));
  assert_int_equal (fk_idrange_sweep (f->state_fd, sbfd, &err), 1);
  cleanup_free char *o_live2 = owner (f, slot_of (live));
  assert_string_equal (o_live2, "live");
}

/* n children each take per ranges at once (started together); the parent gets every base. */
static void
allocate_in_children (fixture_t *f, int n, int per, uint32_t *ret_bases)
{
  int results[2], go[2];
  assert_int_equal (pipe (results), 0);
  assert_int_equal (pipe (go), 0);
  pid_t kids[16];
  for (int k = 0; k < n; k++)
    {
      kids[k] = fork ();
      assert_true (kids[k] >= 0);
      if (kids[k] == 0)
        {
          close (results[0]);
          close (go[1]);
          char c;
          if (read (go[0], &c, 1) < 0)
            _exit (3);
          for (int j = 0; j < per; j++)
            {
              char id[32];
              snprintf (id, sizeof id, "c%d-%d", k, j);
              fk_error_t err = FK_ERROR_INIT;
              uint32_t base;
              if (fk_idrange_alloc (f->state_fd, id, &base, &err) < 0)
                {
                  fprintf (stderr, "# child %d: %s\n", k, fk_error_message (&err));
                  _exit (1);
                }
              if (write (results[1], &base, sizeof base) != sizeof base)
                _exit (2);
            }
          _exit (0);
        }
    }
  close (results[1]);
  close (go[0]);
  close (go[1]); /* every child starts now */
  size_t got = 0;
  ssize_t r;
  while ((r = read (results[0], (char *)ret_bases + got, (size_t)n * per * sizeof *ret_bases - got))
         > 0)
    got += (size_t)r;
  close (results[0]);
  for (int k = 0; k < n; k++)
    {
      int status;
      assert_int_equal (waitpid (kids[k], &status, 0), kids[k]);
      assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
  assert_int_equal (got, (size_t)n * per * sizeof *ret_bases);
}

static int
cmp_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void
assert_distinct (uint32_t *bases, size_t n)
{
  qsort (bases, n, sizeof *bases, cmp_u32);
  for (size_t i = 1; i < n; i++)
    if (bases[i] == bases[i - 1])
      fail_msg ("range %u handed out twice", bases[i]);
}

static void
concurrent_allocs_never_share (void **state)
{
  fixture_t *f = *state;
  uint32_t bases[400];
  allocate_in_children (f, 8, 50, bases);
  assert_distinct (bases, 400);
  /* Each slot file names one child's id, and there are exactly 400. */
  cleanup_dir DIR *d = fdopendir (dup (table (f)));
  assert_non_null (d);
  int files = 0;
  struct dirent *e;
  while ((e = readdir (d)))
    if (e->d_name[0] != '.')
      files++;
  assert_int_equal (files, 400);
  for (size_t i = 0; i < 400; i++)
    {
      cleanup_free char *o = owner (f, slot_of (bases[i]));
      assert_non_null (o);
      assert_true (o[0] == 'c');
    }
}

static int
keep_400 (uint32_t slot)
{
  /* 400 free slots spread over the table, so the children's probes run into each other. */
  return slot % 125 == 7 && slot / 125 < 400;
}

static void
concurrent_allocs_on_a_nearly_full_table (void **state)
{
  fixture_t *f = *state;
  fill (f, keep_400);
  uint32_t bases[400];
  allocate_in_children (f, 8, 50, bases);
  assert_distinct (bases, 400);
  for (size_t i = 0; i < 400; i++)
    assert_true (keep_400 (slot_of (bases[i])));
  fk_error_t err = FK_ERROR_INIT;
  uint32_t more;
  assert_int_equal (fk_idrange_alloc (f->state_fd, "late", &more, &err), -1);
  assert_int_equal (err.code, ENOSPC);
  fk_error_clear (&err);
}

static void
alloc_and_free_are_fast (void **state)
{
  fixture_t *f = *state;
  fk_error_t err = FK_ERROR_INIT;
  for (int i = 0; i < 100; i++)
    {
      char id[32];
      snprintf (id, sizeof id, "held-%d", i);
      uint32_t b;
      assert_int_equal (fk_idrange_alloc (f->state_fd, id, &b, &err), 0);
    }
  enum
  {
    ROUNDS = 2000
  };
  uint64_t t0 = fk_now_ns (), alloc_ns = 0;
  for (int i = 0; i < ROUNDS; i++)
    {
      uint32_t b;
      uint64_t a = fk_now_ns ();
      assert_int_equal (fk_idrange_alloc (f->state_fd, "timed", &b, &err), 0);
      alloc_ns += fk_now_ns () - a;
      assert_int_equal (fk_idrange_free (f->state_fd, b, "timed", &err), 0);
    }
  double total_us = (double)(fk_now_ns () - t0) / ROUNDS / 1000.0;
  double alloc_us = (double)alloc_ns / ROUNDS / 1000.0;
  print_message ("# with 100 slots taken: alloc %.1f us, free %.1f us, alloc+free %.1f us\n",
                 alloc_us, total_us - alloc_us, total_us);
  /* Creating a sandbox takes ~7 ms; the allocator must stay far below that (sanitizers too). */
  assert_true (total_us < 1000.0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (geometry),
    cmocka_unit_test_setup_teardown (alloc_gives_distinct_aligned_ranges, setup, teardown),
    cmocka_unit_test_setup_teardown (full_table_free_and_reuse, setup, teardown),
    cmocka_unit_test_setup_teardown (free_checks_the_owner, setup, teardown),
    cmocka_unit_test_setup_teardown (sweep_frees_orphans_only, setup, teardown),
    cmocka_unit_test_setup_teardown (concurrent_allocs_never_share, setup, teardown),
    cmocka_unit_test_setup_teardown (concurrent_allocs_on_a_nearly_full_table, setup, teardown),
    cmocka_unit_test_setup_teardown (alloc_and_free_are_fast, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
