/* Unit tests for sandbox/ocistate: fk-oci's state.json written and read back, the status it
   gives, and a container's agent socket found by its id. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "firkin/sandbox.h"
#include "sandbox/ocistate.h"

static void
save_load_roundtrip (void **state)
{
  (void)state;
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fk_oci_state_t st = {
    .pid = 1234,
    .pid_start = 5678,
    .bundle = "/b",
    .rootfs = "/b/rootfs",
    .created = "2026-01-01T00:00:00.000000000Z",
    .cgroup = "fk-oci/x",
    .oci_version = "1.2.0",
    .annotations = json_pack ("{s:s}", "a", "b"),
    .agent_socket = "/run/fk-oci/x/agent.sock",
    .started = 1,
  };
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (fk_oci_state_save (dfd, "x", &st, &err), 0);
  fk_oci_state_t back;
  assert_int_equal (fk_oci_state_load (dfd, &back, &err), 0);
  assert_int_equal (back.pid, 1234);
  assert_int_equal (back.pid_start, 5678);
  assert_string_equal (back.bundle, "/b");
  assert_string_equal (back.rootfs, "/b/rootfs");
  assert_string_equal (back.created, st.created);
  assert_string_equal (back.cgroup, "fk-oci/x");
  assert_string_equal (back.oci_version, "1.2.0");
  assert_string_equal (json_string_value (json_object_get (back.annotations, "a")), "b");
  assert_string_equal (back.agent_socket, st.agent_socket);
  assert_int_equal (back.started, 1);
  fk_oci_state_clear (&back);
  /* What is not set is written as null and reads back as not set. */
  fk_oci_state_t bare = { .pid = 1 };
  assert_int_equal (fk_oci_state_save (dfd, "x", &bare, &err), 0);
  assert_int_equal (fk_oci_state_load (dfd, &back, &err), 0);
  assert_null (back.bundle);
  assert_null (back.agent_socket);
  assert_true (back.annotations == NULL || json_is_null (back.annotations));
  assert_int_equal (back.started, 0);
  fk_oci_state_clear (&back);
  json_decref (st.annotations);
  close (dfd);
  test_tmpdir_free (dir);
}

static void
broken_state (void **state)
{
  (void)state;
  char *dir = test_tmpdir ();
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fk_error_t err = FK_ERROR_INIT;
  fk_oci_state_t st;
  assert_int_equal (fk_oci_state_load (dfd, &st, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  assert_int_equal (fk_write_file_atomic_at (dfd, "state.json", "[1]", 3, 0600, &err), 0);
  assert_int_equal (fk_oci_state_load (dfd, &st, &err), -1);
  assert_error_contains (&err, "broken state");
  close (dfd);
  test_tmpdir_free (dir);
}

static void
status_follows_the_process (void **state)
{
  (void)state;
  fk_oci_state_t st = { .pid = getpid (), .pid_start = fk_oci_pid_start (getpid ()) };
  assert_true (st.pid_start > 0);
  assert_int_equal (fk_oci_state_status (&st, NULL), FK_OCI_CREATED);
  st.started = 1;
  assert_int_equal (fk_oci_state_status (&st, NULL), FK_OCI_RUNNING);
  assert_string_equal (fk_oci_status_name (FK_OCI_RUNNING), "running");
  /* Another process behind the same pid. */
  st.pid_start++;
  assert_int_equal (fk_oci_state_status (&st, NULL), FK_OCI_STOPPED);
  st.pid = 0;
  assert_int_equal (fk_oci_state_status (&st, NULL), FK_OCI_STOPPED);
  assert_int_equal (fk_oci_pid_start (0), 0);
}

static void
agent_socket_by_id (void **state)
{
  (void)state;
  char *root = test_tmpdir ();
  char *cdir = NULL;
  assert_true (asprintf (&cdir, "%s/c1", root) > 0);
  assert_int_equal (mkdir (cdir, 0700), 0);
  int dfd = open (cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  fk_error_t err = FK_ERROR_INIT;
  char *path = NULL;
  assert_int_equal (fk_oci_agent_socket (root, "nope", &path, &err), -1);
  assert_int_equal (err.code, ENOENT);
  fk_error_clear (&err);
  fk_oci_state_t st = { .pid = getpid (), .pid_start = fk_oci_pid_start (getpid ()) };
  assert_int_equal (fk_oci_state_save (dfd, "c1", &st, &err), 0);
  assert_int_equal (fk_oci_agent_socket (root, "c1", &path, &err), -1);
  assert_int_equal (err.code, ENOTSUP);
  fk_error_clear (&err);
  st.agent_socket = "/s.sock";
  assert_int_equal (fk_oci_state_save (dfd, "c1", &st, &err), 0);
  assert_int_equal (fk_oci_agent_socket (root, "c1", &path, &err), -1);
  assert_int_equal (err.code, EAGAIN);
  assert_error_contains (&err, "created, not started");
  st.started = 1;
  assert_int_equal (fk_oci_state_save (dfd, "c1", &st, &err), 0);
  assert_int_equal (fk_oci_agent_socket (root, "c1", &path, &err), 0);
  assert_string_equal (path, "/s.sock");
  free (path);
  st.pid_start++;
  assert_int_equal (fk_oci_state_save (dfd, "c1", &st, &err), 0);
  assert_int_equal (fk_oci_agent_socket (root, "c1", &path, &err), -1);
  assert_int_equal (err.code, ESRCH);
  fk_error_clear (&err);
  close (dfd);
  free (cdir);
  test_tmpdir_free (root);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (save_load_roundtrip),
    cmocka_unit_test (broken_state),
    cmocka_unit_test (status_follows_the_process),
    cmocka_unit_test (agent_socket_by_id),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
