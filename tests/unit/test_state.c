/* Unit tests for sandbox/state: /proc/PID/stat parsing, save/load, liveness by start time. */
#include "testutil.h"

#include <errno.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "sandbox/state.h"

static void
parse_stat (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  unsigned long long start;
  char st;
  /* A command name with spaces and a ')' must not shift the fields. */
  const char *text = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 "
                     "1000 200 18446744073709551615\n";
  assert_int_equal (fk_state_parse_stat (text, &st, &start, &err), 0);
  assert_int_equal (st, 'S');
  assert_int_equal (start, 98765);
  assert_int_equal (fk_state_parse_stat ("42 (x", &st, &start, &err), -1);
  assert_error_contains (&err, "no `)'");
  assert_int_equal (fk_state_parse_stat ("42 (x) S 1 2", &st, &start, &err), -1);
  assert_error_contains (&err, "only");
}

static void
save_load_roundtrip (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  fk_sandbox_state_t st = { 0 };
  char *layers[] = { "/a", "/b", NULL };
  char *meta[] = { "owner=me", "purpose=a=b", NULL };
  st.id = "abc123";
  st.template_id = NULL;
  st.layers = layers;
  st.pid = 1234;
  st.start_time = 5678;
  st.boot_id = "boot";
  st.socket = "/x/agent.sock";
  st.cgroup = "firkin/abc123";
  st.cgroup_version = 1;
  st.cgroup_root = "/sys/fs/cgroup";
  st.resources.vcpus = 1.5;
  st.resources.memory_bytes = 1 << 20;
  st.resources.disk_bytes = 2 << 20;
  st.resources.pids = 9;
  st.created = 100;
  st.expires = 200;
  st.metadata = meta;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  fk_sandbox_state_t *back = NULL;
  assert_int_equal (fk_state_load (dfd, &back, &err), 0);
  assert_string_equal (back->id, "abc123");
  assert_null (back->template_id);
  assert_string_equal (back->layers[1], "/b");
  assert_int_equal (back->pid, 1234);
  assert_int_equal (back->start_time, 5678);
  assert_string_equal (back->socket, "/x/agent.sock");
  assert_int_equal (back->cgroup_version, 1);
  assert_true (back->resources.vcpus == 1.5);
  assert_int_equal (back->resources.pids, 9);
  assert_int_equal (back->expires, 200);
  assert_string_equal (back->metadata[1], "purpose=a=b");
  assert_false (fk_state_alive (back)); /* another boot id */
  fk_state_free (back);

  /* A malformed file is an error naming the field. */
  const char *bad = "{\"id\": \"x\", \"pid\": \"nope\"}";
  assert_int_equal (fk_write_file_atomic_at (dfd, "state.json", bad, strlen (bad), 0644, &err), 0);
  assert_int_equal (fk_state_load (dfd, &back, &err), -1);
  assert_error_contains (&err, "pid");
  close (dfd);
  test_tmpdir_free (dir);
}

static void
alive_follows_the_process (void **state)
{
  pid_t child = fork ();
  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  fk_sandbox_state_t st = { 0 };
  st.pid = child;
  st.boot_id = fk_state_boot_id ();
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_state_start_time (child, 0, &st.start_time, &err), 0);
  assert_true (fk_state_alive (&st));
  /* Same pid, another start time: a reused pid is not the sandbox. */
  st.start_time++;
  assert_false (fk_state_alive (&st));
  st.start_time--;
  kill (child, SIGKILL);
  /* Once dead (a zombie until collected) it is not alive any more. */
  unsigned long long t;
  for (int i = 0; i < 1000 && fk_state_start_time (child, 0, &t, &err) == 0; i++)
    usleep (1000);
  fk_error_clear (&err);
  assert_false (fk_state_alive (&st));
  waitpid (child, NULL, 0);
  assert_int_equal (fk_state_start_time (child, 1, &t, &err), -1);
  assert_int_equal (err.code, ESRCH);
  fk_error_clear (&err);
  free (st.boot_id);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parse_stat),
    cmocka_unit_test (save_load_roundtrip),
    cmocka_unit_test (alive_follows_the_process),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
