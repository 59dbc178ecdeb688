/* Unit tests for sandbox/state: /proc/PID/stat parsing, save/load, liveness by start time. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "base/cleanup.h"
#include "base/json.h"
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

/* A state.json as the version before the spec codec wrote it: the spec's parts at the top,
   "limits" and a metadata object. It still loads, and saves in the new form. */
static void
previous_version_state_loads (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  const char *old
      = "{\n  \"id\": \"old1\",\n  \"template\": \"base\",\n  \"layers\": [\n    \"/a\",\n"
        "    \"/b\"\n  ],\n  \"pid\": 1234,\n  \"start_time\": 5678,\n  \"boot_id\": \"boot\",\n"
        "  \"socket\": \"/x/agent.sock\",\n  \"cgroup\": \"firkin/old1\",\n  \"cgroup_version\": "
        "2,\n"
        "  \"cgroup_root\": \"/sys/fs/cgroup\",\n  \"limits\": {\n    \"vcpus\": 1.5,\n"
        "    \"memory\": 1048576,\n    \"disk\": 2097152,\n    \"pids\": 9\n  },\n"
        "  \"created\": 100,\n  \"expires\": 200,\n  \"metadata\": {\n    \"owner\": \"me\",\n"
        "    \"purpose\": \"a=b\"\n  },\n  \"stopped\": true,\n  \"id_base\": 1000065536\n}\n";
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_write_file_atomic_at (dfd, "state.json", old, strlen (old), 0644, &err), 0);
  for (int round = 0; round < 2; round++)
    {
      fk_sandbox_state_t *st = NULL;
      assert_int_equal (fk_state_load (dfd, &st, &err), 0);
      assert_string_equal (st->id, "old1");
      assert_string_equal (st->template_id, "base");
      assert_string_equal (st->layers[0], "/a");
      assert_string_equal (st->layers[1], "/b");
      assert_null (st->layers[2]);
      assert_int_equal (st->pid, 1234);
      assert_string_equal (st->socket, "/x/agent.sock");
      assert_int_equal (st->cgroup_version, 2);
      assert_true (st->resources.vcpus == 1.5);
      assert_int_equal (st->resources.memory_bytes, 1048576);
      assert_int_equal (st->resources.disk_bytes, 2097152);
      assert_int_equal (st->resources.pids, 9);
      assert_int_equal (st->created, 100);
      assert_int_equal (st->expires, 200);
      assert_string_equal (st->metadata[0], "owner=me");
      assert_string_equal (st->metadata[1], "purpose=a=b");
      assert_null (st->metadata[2]);
      assert_true (st->stopped);
      assert_int_equal (st->id_base, 1000065536u);
      /* Saved again (as a stop or an extend does), it is in the new form, and loads the same. */
      if (round == 0)
        assert_int_equal (fk_state_save (dfd, st, &err), 0);
      fk_state_free (st);
    }
  char *text = NULL;
  size_t len;
  assert_int_equal (fk_read_file_at (dfd, "state.json", 1 << 20, &text, &len, &err), 0);
  assert_non_null (strstr (text, "\"spec\""));
  assert_null (strstr (text, "\"limits\""));
  free (text);
  close (dfd);
  test_tmpdir_free (dir);
}

/* The spec's parts are written by the spec's codec: its names, its checks on the way back. */
static void
spec_parts_through_the_codec (void **state)
{
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY);
  fk_sandbox_state_t st = { 0 };
  char *layers[] = { "/a", NULL };
  st.id = "new1";
  st.template_id = "base";
  st.layers = layers;
  st.pid = 1;
  st.boot_id = "boot";
  st.cgroup = "firkin/new1";
  st.cgroup_version = 2;
  st.cgroup_root = "/sys/fs/cgroup";
  st.resources.vcpus = 0.5;
  st.resources.memory_bytes = 64 << 20;
  st.resources.pids = 100;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  json_t *j = NULL;
  assert_int_equal (fk_json_load_file_at (dfd, "state.json", 1 << 20, &j, &err), 0);
  json_t *spec = json_object_get (j, "spec");
  assert_non_null (spec);
  assert_string_equal (json_string_value (json_object_get (spec, "template_id")), "base");
  assert_int_equal (
      json_integer_value (json_object_get (json_object_get (spec, "resources"), "memory_bytes")),
      64 << 20);
  /* Only the parts a state keeps: env, workdir, user for snapshots and a resume from disk;
     never the init command. */
  assert_non_null (json_object_get (spec, "env"));
  assert_null (json_object_get (spec, "init"));
  assert_null (json_object_get (spec, "timeout_sec"));
  assert_null (json_object_get (j, "paused_to_disk"));
  json_decref (j);
  /* No metadata given: an empty list back, as readers expect. */
  fk_sandbox_state_t *back = NULL;
  assert_int_equal (fk_state_load (dfd, &back, &err), 0);
  assert_non_null (back->metadata);
  assert_null (back->metadata[0]);
  assert_int_equal (back->resources.pids, 100);
  assert_null (back->disk_snapshot);
  /* Paused to disk: the snapshot and the timeout left come back. */
  back->disk_snapshot = strdup ("disk-new1");
  back->disk_remaining = 42;
  assert_int_equal (fk_state_save (dfd, back, &err), 0);
  fk_state_free (back);
  back = NULL;
  assert_int_equal (fk_state_load (dfd, &back, &err), 0);
  assert_string_equal (back->disk_snapshot, "disk-new1");
  assert_int_equal (back->disk_remaining, 42);
  fk_state_free (back);

  /* A bad spec part is named. */
  const char *bad = "{\"id\": \"x\", \"spec\": {\"resources\": {\"pids\": -3}}, \"pid\": 1,"
                    " \"start_time\": 1, \"boot_id\": \"b\", \"cgroup\": \"c\","
                    " \"cgroup_root\": \"/\", \"cgroup_version\": 2, \"created\": 1}";
  assert_int_equal (fk_write_file_atomic_at (dfd, "state.json", bad, strlen (bad), 0644, &err), 0);
  assert_int_equal (fk_state_load (dfd, &back, &err), -1);
  assert_error_contains (&err, "`resources.pids' is negative");
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

/* The alive mark the sweep reads instead of the state: kept with every save, for a live PID 1
   of this boot not past a deadline that deletes; anything else sends the sweep to the state. */
static void
quick_alive_mark (void **state)
{
  char *dir = test_tmpdir ();
  cleanup_free char *sbdir = xasprintf ("%s/abc123", dir);
  assert_int_equal (mkdir (sbdir, 0700), 0);
  int dfd = open (sbdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int top = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true (dfd >= 0 && top >= 0);
  pid_t child = fork ();
  if (child == 0)
    {
      pause ();
      _exit (0);
    }
  cleanup_free char *boot = fk_state_boot_id ();
  fk_sandbox_state_t st = { 0 };
  st.id = (char *)"abc123";
  st.pid = child;
  st.boot_id = boot;
  st.cgroup = (char *)"firkin/abc123";
  st.cgroup_root = (char *)"/sys/fs/cgroup";
  fk_error_t err = FK_ERROR_INIT;
  time_t now = time (NULL);
  assert_false (fk_state_quick_alive (top, "abc123", boot, now)); /* no mark yet */
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  assert_true (fk_state_quick_alive (top, "abc123", boot, now));
  assert_false (fk_state_quick_alive (top, "abc123", "another-boot", now));
  assert_false (fk_state_quick_alive (top, "nosuch", boot, now));
  /* Past a deadline that deletes: the state decides; one that pauses: still alive. */
  st.expires = now - 1;
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  assert_false (fk_state_quick_alive (top, "abc123", boot, now));
  st.timeout_action = FK_TIMEOUT_PAUSE;
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  assert_true (fk_state_quick_alive (top, "abc123", boot, now));
  st.expires = 0;
  /* Its PID 1 dead, a zombie not yet collected included. */
  kill (child, SIGKILL);
  for (int i = 0; i < 1000 && fk_state_quick_alive (top, "abc123", boot, now); i++)
    usleep (1000);
  assert_false (fk_state_quick_alive (top, "abc123", boot, now));
  waitpid (child, NULL, 0);
  /* Stopped on purpose: no mark. */
  st.pid = getpid ();
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  assert_true (fk_state_quick_alive (top, "abc123", boot, now));
  st.stopped = 1;
  assert_int_equal (fk_state_save (dfd, &st, &err), 0);
  assert_false (fk_state_quick_alive (top, "abc123", boot, now));
  close (dfd);
  close (top);
  test_tmpdir_free (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (parse_stat),
    cmocka_unit_test (save_load_roundtrip),
    cmocka_unit_test (previous_version_state_loads),
    cmocka_unit_test (spec_parts_through_the_codec),
    cmocka_unit_test (alive_follows_the_process),
    cmocka_unit_test (quick_alive_mark),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
