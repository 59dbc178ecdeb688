/* Unit tests for remote/parse: fkd's answers as the remote client reads them (the HTTP side is
   tested against a real fkd by tests/integration/fk_remote.sh). */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "base/cleanup.h"
#include "remote/parse.h"

static void
sandbox_detail (void **state)
{
  const char *j = "{\"templateID\":\"base\",\"sandboxID\":\"ab12\",\"clientID\":\"fkd\","
                  "\"startedAt\":\"2026-01-02T03:04:05Z\",\"endAt\":\"2026-01-02T03:09:05Z\","
                  "\"cpuCount\":2,\"memoryMB\":2048,\"diskSizeMB\":1024,\"state\":\"paused\","
                  "\"metadata\":{\"team\":\"a\"},\"envdAccessToken\":\"00ff\"}";
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_info_t *info = NULL;
  cleanup_free char *token = NULL;
  assert_int_equal (fk_remote_parse_sandbox (j, strlen (j), &info, &token, &err), 0);
  assert_string_equal (info->id, "ab12");
  assert_string_equal (info->template_id, "base");
  assert_int_equal (info->status, FK_SANDBOX_PAUSED);
  assert_int_equal (info->expires - info->created, 300);
  assert_int_equal (info->resources.memory_bytes, 2048ULL << 20);
  assert_string_equal (info->metadata[0], "team=a");
  assert_null (info->metadata[1]);
  assert_string_equal (token, "00ff");
  assert_int_equal (info->pid, 0);
  assert_null (info->cgroup);
  fk_sandbox_info_free (info);
}

static void
sandbox_bad (void **state)
{
  const char *bad[] = {
    "[]",
    "{\"startedAt\":\"2026-01-02T03:04:05Z\"}",
    "{\"sandboxID\":\"a\",\"startedAt\":\"yesterday\"}",
    "{\"sandboxID\":\"a\",\"startedAt\":\"2026-01-02T03:04:05Z\",\"state\":\"gone\"}",
    "{\"sandboxID\":\"a\",\"startedAt\":\"2026-01-02T03:04:05Z\",\"metadata\":{\"k\":1}}",
    ("{\"sandboxID\":\"a\",\"startedAt\":\"2026-01-02T03:04:05Z\",\"envdAccessToken\":"
     "\"a\\r\\nX: y\"}"),
    "{\"sandboxID\":\"a\",\"startedAt\":\"2026-01-02T03:04:05Z\",\"memoryMB\":-1}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_sandbox_info_t *info = NULL;
      char *token = NULL;
      if (fk_remote_parse_sandbox (bad[i], strlen (bad[i]), &info, &token, &err) == 0)
        fail_msg ("accepted `%s'", bad[i]);
      assert_int_equal (err.code, EPROTO);
      fk_error_clear (&err);
    }
}

static void
no_timeout_is_zero (void **state)
{
  const char *j = "[{\"sandboxID\":\"a\",\"startedAt\":\"2026-01-02T03:04:05Z\","
                  "\"endAt\":\"2026-01-02T03:04:05Z\"},{\"sandboxID\":\"b\","
                  "\"startedAt\":\"2026-01-02T03:04:05.25+01:00\"}]";
  fk_error_t err = FK_ERROR_INIT;
  fk_sandbox_info_t **infos = NULL;
  size_t n = 0;
  assert_int_equal (fk_remote_parse_sandbox_list (j, strlen (j), &infos, &n, &err), 0);
  assert_int_equal (n, 2);
  assert_int_equal (infos[0]->expires, 0);
  assert_int_equal (infos[0]->created - infos[1]->created, 3600);
  fk_sandbox_info_list_free (infos, n);
}

static void
envelopes (void **state)
{
  size_t n;
  cleanup_free char *e = fk_remote_envelope_build ("{}", 2, &n);
  assert_int_equal (n, 7);
  unsigned flags;
  const char *body;
  size_t blen, used;
  fk_error_t err = FK_ERROR_INIT;
  assert_int_equal (
      fk_remote_envelope_take ((unsigned char *)e, 6, 100, &flags, &body, &blen, &used, &err), 0);
  assert_int_equal (
      fk_remote_envelope_take ((unsigned char *)e, 7, 100, &flags, &body, &blen, &used, &err), 1);
  assert_int_equal (used, 7);
  assert_memory_equal (body, "{}", 2);
  const unsigned char liar[] = { 0, 0x7f, 0xff, 0xff, 0xff };
  assert_int_equal (fk_remote_envelope_take (liar, 5, 100, &flags, &body, &blen, &used, &err), -1);
  assert_int_equal (err.code, EPROTO);
  fk_error_clear (&err);
}

static void
events (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_remote_event_t ev;
  const char *d = "{\"event\":{\"data\":{\"stderr\":\"aGk\"}}}";
  assert_int_equal (fk_remote_parse_event (d, strlen (d), &ev, &err), 0);
  assert_int_equal (ev.kind, FK_REMOTE_EVENT_STDERR);
  assert_int_equal (ev.len, 2);
  assert_memory_equal (ev.data, "hi", 2);
  free (ev.data);
  const char *k = "{\"event\":{\"end\":{\"exitCode\":-1,\"exited\":false,\"status\":\"signal: "
                  "terminated\"}}}";
  assert_int_equal (fk_remote_parse_event (k, strlen (k), &ev, &err), 0);
  assert_int_equal (ev.status.signal, SIGTERM);
  assert_int_equal (ev.status.exit_code, 128 + SIGTERM);
  const char *x
      = "{\"event\":{\"end\":{\"exitCode\":3,\"exited\":true,\"status\":\"exit status 3\"}}}";
  assert_int_equal (fk_remote_parse_event (x, strlen (x), &ev, &err), 0);
  assert_int_equal (ev.status.exit_code, 3);
  assert_int_equal (ev.status.signal, 0);
  const char *b = "{\"event\":{\"data\":{\"stdout\":\"!!\"}}}";
  assert_int_equal (fk_remote_parse_event (b, strlen (b), &ev, &err), -1);
  fk_error_clear (&err);
  char *code, *msg;
  const char *end = "{\"error\":{\"code\":\"deadline_exceeded\",\"message\":\"late\\u0001\"}}";
  assert_int_equal (fk_remote_parse_end (end, strlen (end), &code, &msg, &err), 1);
  assert_string_equal (code, "deadline_exceeded");
  assert_string_equal (msg, "late?");
  free (code);
  free (msg);
  assert_int_equal (fk_remote_parse_end ("{}", 2, &code, &msg, &err), 0);
}

static void
entries (void **state)
{
  const char *j = "{\"entry\":{\"type\":\"FILE_TYPE_DIRECTORY\",\"size\":\"4096\",\"mode\":493,"
                  "\"modifiedTime\":\"1970-01-01T00:00:10Z\"}}";
  fk_error_t err = FK_ERROR_INIT;
  fk_file_stat_t st;
  assert_int_equal (fk_remote_parse_entry (j, strlen (j), &st, &err), 0);
  assert_int_equal (st.type, FK_FILE_TYPE_DIR);
  assert_int_equal (st.size, 4096);
  assert_int_equal (st.mode, 0755);
  assert_int_equal (st.mtime_ns, 10000000000LL);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (sandbox_detail),
    cmocka_unit_test (sandbox_bad),
    cmocka_unit_test (no_timeout_is_zero),
    cmocka_unit_test (envelopes),
    cmocka_unit_test (events),
    cmocka_unit_test (entries),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
