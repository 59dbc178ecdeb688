/* Unit tests for bench/crun: finding crun, the peer's mount namespace (the cgroup2 mount
   detached there only, the root mounted there only, layers stacked), the work directory's
   reach, and with a real crun: a container run, exec'd into and deleted. */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <jansson.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "bench/crun.h"
#include "bench/rootfs.h"

static int
host_has_unified (void)
{
  cleanup_free char *text = NULL;
  size_t len;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_read_file_at (AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &text, &len, &err) < 0)
    {
      fk_error_clear (&err);
      return 0;
    }
  return strstr (text, " /sys/fs/cgroup/unified ") != NULL;
}

static char *
make_layer (const char *dir, const char *name, const char *marker)
{
  char *layer = NULL;
  assert_true (asprintf (&layer, "%s/%s", dir, name) > 0);
  assert_int_equal (mkdir (layer, 0755), 0);
  fk_error_t err = FK_ERROR_INIT;
  cleanup_close int fd = open (layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal (fk_write_file_atomic_at (fd, "marker", marker, strlen (marker), 0644, &err), 0);
  assert_int_equal (fk_write_file_atomic_at (fd, name, "x", 1, 0644, &err), 0);
  return layer;
}

/* The containers' root, from a bundle's config.json. */
static char *
root_of (fk_bench_crun_t *c)
{
  static const char *const args[] = { "true", NULL };
  fk_error_t err = FK_ERROR_INIT;
  char *bundle = NULL;
  assert_int_equal (fk_bench_crun_bundle (c, "b", args, &bundle, &err), 0);
  char *cfg = NULL;
  assert_true (asprintf (&cfg, "%s/config.json", bundle) > 0);
  json_error_t jerr;
  json_t *j = json_load_file (cfg, 0, &jerr);
  assert_non_null (j);
  char *root = strdup (json_string_value (json_object_get (json_object_get (j, "root"), "path")));
  json_decref (j);
  free (cfg);
  free (bundle);
  return root;
}

/* Runs `sh -c script' in the peer's namespace: 0 when it exits 0. */
static int
in_namespace (fk_bench_crun_t *c, const char *script)
{
  char *const argv[] = { (char *)"sh", (char *)"-c", (char *)script, NULL };
  fk_error_t err = FK_ERROR_INIT;
  int r = fk_bench_spawn (argv, fk_bench_crun_mntns (c), NULL, &err);
  if (r < 0)
    {
      fprintf (stderr, "# %s\n", fk_error_message (&err));
      fk_error_clear (&err);
    }
  return r;
}

static int
dir_is_empty (const char *path)
{
  DIR *d = opendir (path);
  assert_non_null (d);
  int n = 0;
  for (struct dirent *e; (e = readdir (d)) != NULL;)
    n += strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0;
  closedir (d);
  return n == 0;
}

static void
finds_crun (void **state)
{
  const char *saved = getenv ("FIRKIN_CRUN");
  char *keep = saved ? strdup (saved) : NULL;
  setenv ("FIRKIN_CRUN", "/bin/true", 1);
  char *p = fk_bench_crun_find ();
  assert_string_equal (p, "/bin/true");
  free (p);
  setenv ("FIRKIN_CRUN", "sh", 1);
  p = fk_bench_crun_find ();
  assert_non_null (p);
  assert_true (p[0] == '/');
  free (p);
  setenv ("FIRKIN_CRUN", "/nonexistent/crun", 1);
  assert_null (fk_bench_crun_find ());
  unsetenv ("FIRKIN_CRUN");
  p = fk_bench_crun_find ();
  char *q = fk_bench_which ("crun");
  assert_true ((p == NULL && q == NULL) || (p && q && strcmp (p, q) == 0));
  free (p);
  free (q);
  if (keep)
    setenv ("FIRKIN_CRUN", keep, 1);
  free (keep);
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_bench_crun_close (NULL, &err), 0);
}

/* One layer: bind-mounted in the namespace only, where the cgroup2 mount is gone; the host
   keeps its mounts, and close leaves nothing. */
static void
one_layer_in_its_own_namespace (void **state)
{
  if (getuid () != 0)
    skip ();
  char *dir = test_tmpdir ();
  chmod (dir, 0755);
  char *layer = make_layer (dir, "bottom", "bottom");
  char *work = NULL;
  assert_true (asprintf (&work, "%s/work", dir) > 0);
  assert_int_equal (mkdir (work, 0755), 0);
  int unified = host_has_unified ();
  const char *layers[] = { layer, NULL };
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_crun_t *c = NULL;
  assert_int_equal (fk_bench_crun_open ("crun", layers, work, &c, &err), 0);
  char *root = root_of (c);
  assert_true (strncmp (root, work, strlen (work)) == 0);
  char *script = NULL;
  assert_true (asprintf (&script,
                         "! grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo && "
                         "[ \"$(cat %s/marker)\" = bottom ]",
                         root)
               > 0);
  assert_int_equal (in_namespace (c, script), 0);
  /* the host sees neither change */
  assert_int_equal (host_has_unified (), unified);
  char *marker = NULL;
  assert_true (asprintf (&marker, "%s/marker", root) > 0);
  assert_int_equal (access (marker, F_OK), -1);
  assert_int_equal (fk_bench_crun_close (c, &err), 0);
  assert_true (dir_is_empty (work));
  free (marker);
  free (script);
  free (root);
  free (work);
  free (layer);
  test_tmpdir_free (dir);
}

/* Several layers: stacked read-only with overlayfs, the top one winning. */
static void
layers_stacked_read_only (void **state)
{
  if (getuid () != 0)
    skip ();
  char *dir = test_tmpdir ();
  chmod (dir, 0755);
  char *bottom = make_layer (dir, "bottom", "bottom");
  char *top = make_layer (dir, "top", "top");
  const char *layers[] = { bottom, top, NULL };
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_crun_t *c = NULL;
  assert_int_equal (fk_bench_crun_open ("crun", layers, dir, &c, &err), 0);
  char *root = root_of (c);
  char *script = NULL;
  assert_true (asprintf (&script,
                         "[ \"$(cat %1$s/marker)\" = top ] && [ -e %1$s/bottom ] && "
                         "[ -e %1$s/top ] && ! touch %1$s/new 2>/dev/null",
                         root)
               > 0);
  assert_int_equal (in_namespace (c, script), 0);
  assert_int_equal (fk_bench_crun_close (c, &err), 0);
  free (script);
  free (root);
  free (top);
  free (bottom);
  test_tmpdir_free (dir);
}

/* crun's user namespace root is nobody on the host: a work directory it cannot reach is named
   before anything is made. */
static void
names_a_parent_crun_cannot_reach (void **state)
{
  char *dir = test_tmpdir ();
  char *priv = NULL;
  assert_true (asprintf (&priv, "%s/private", dir) > 0);
  assert_int_equal (mkdir (priv, 0700), 0);
  const char *layers[] = { "/", NULL };
  fk_error_t err = FK_ERROR_INIT;
  fk_bench_crun_t *c = NULL;
  assert_int_equal (fk_bench_crun_open ("crun", layers, priv, &c, &err), -1);
  assert_error_contains (&err, "is not searchable by others");
  assert_true (dir_is_empty (priv));
  const char *relative[] = { "rootfs", NULL };
  assert_int_equal (fk_bench_crun_open ("crun", relative, dir, &c, &err), -1);
  assert_error_contains (&err, "not an absolute path");
  free (priv);
  test_tmpdir_free (dir);
}

static int
sleep_is_running (const char *arg)
{
  DIR *d = opendir ("/proc");
  int found = 0;
  for (struct dirent *e; d && (e = readdir (d)) != NULL && !found;)
    {
      char path[300], buf[256] = { 0 };
      snprintf (path, sizeof path, "/proc/%s/cmdline", e->d_name);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      ssize_t n = read (fd, buf, sizeof buf - 1);
      close (fd);
      found = n > 6 && strcmp (buf, "sleep") == 0 && strcmp (buf + 6, arg) == 0;
    }
  if (d)
    closedir (d);
  return found;
}

/* The real-crun test's state: torn down whatever the test's asserts did, so a failure leaves
   no container running. */
typedef struct real
{
  char *dir;
  char *crun;
  fk_bench_crun_t *c;
} real_t;

static int
real_teardown (void **state)
{
  real_t *r = *state;
  if (r == NULL)
    return 0;
  fk_error_t err = FK_ERROR_INIT;
  if (fk_bench_crun_close (r->c, &err) < 0)
    fprintf (stderr, "# %s\n", fk_error_message (&err));
  fk_error_clear (&err);
  test_tmpdir_free (r->dir);
  free (r->crun);
  free (r);
  *state = NULL;
  return 0;
}

/* The configuration runs under the real crun: `run' to the end, a detached container exec'd
   into (stdout checked), deleted by close. */
static void
real_crun_runs_execs_and_deletes (void **state)
{
  char *crun = fk_bench_crun_find ();
  if (getuid () != 0 || crun == NULL || access (FK_BENCH_BUSYBOX, X_OK) != 0)
    {
      free (crun);
      skip ();
    }
  real_t *r = calloc (1, sizeof *r);
  *state = r;
  r->crun = crun;
  r->dir = test_tmpdir ();
  chmod (r->dir, 0755);
  char rootfs[PATH_MAX];
  snprintf (rootfs, sizeof rootfs, "%s/rootfs", r->dir);
  fk_error_t err = FK_ERROR_INIT;
  if (fk_bench_busybox_rootfs (rootfs, FK_BENCH_BUSYBOX, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  const char *layers[] = { rootfs, NULL };
  if (fk_bench_crun_open (crun, layers, r->dir, &r->c, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  fk_bench_crun_t *c = r->c;
  static const char *const true_args[] = { "true", NULL };
  static const char *const sleep_args[] = { "sleep", "4242424", NULL };
  cleanup_free char *b_true = NULL, *b_sleep = NULL;
  assert_int_equal (fk_bench_crun_bundle (c, "bundle-true", true_args, &b_true, &err), 0);
  assert_int_equal (fk_bench_crun_bundle (c, "bundle-sleep", sleep_args, &b_sleep, &err), 0);
  char name[64];
  snprintf (name, sizeof name, "fk-test-crun-%d", (int)getpid ());
  const char *run[] = { "run", "--bundle", b_true, name, NULL };
  uint64_t ns = 0;
  if (fk_bench_crun_run (c, run, &ns, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  assert_true (ns > 0);
  if (fk_bench_crun_container_start (c, name, b_sleep, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  /* crun start returns once the container's init is told to go: its exec of sleep follows. */
  for (int i = 0; i < 500 && !sleep_is_running ("4242424"); i++)
    usleep (10000);
  assert_true (sleep_is_running ("4242424"));
  int pp[2];
  assert_int_equal (pipe2 (pp, O_CLOEXEC), 0);
  const char *exec[] = { "exec", name, "printf", "from-crun", NULL };
  fk_bench_proc_t p;
  assert_int_equal (fk_bench_crun_start (c, exec, pp[1], &p, &err), 0);
  close (pp[1]);
  if (fk_bench_procs_wait (&p, 1, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  char buf[32] = { 0 };
  assert_int_equal (read (pp[0], buf, sizeof buf - 1), 9);
  assert_string_equal (buf, "from-crun");
  close (pp[0]);
  /* inside: the root of its user namespace, a read-only root (busybox's test -w says yes to
     root whatever the mount, so write) */
  const char *id[]
      = { "exec", name, "sh", "-c", "[ \"$(id -u)\" = 0 ] && ! touch /bin/x 2>/dev/null", NULL };
  if (fk_bench_crun_run (c, id, NULL, &err) < 0)
    fail_msg ("%s", fk_error_message (&err));
  r->c = NULL;
  assert_int_equal (fk_bench_crun_close (c, &err), 0);
  assert_false (sleep_is_running ("4242424"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (finds_crun),
    cmocka_unit_test (one_layer_in_its_own_namespace),
    cmocka_unit_test (layers_stacked_read_only),
    cmocka_unit_test (names_a_parent_crun_cannot_reach),
    cmocka_unit_test_teardown (real_crun_runs_execs_and_deletes, real_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
