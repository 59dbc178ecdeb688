/* Unit tests for trace/report: the per-metric table. */
#include "testutil.h"

#include "base/cleanup.h"
#include "trace/report.h"

static char *
report_of (const char *json)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_artifact_t *a = NULL;
  assert_int_equal (fk_trace_artifact_parse (json, strlen (json), &a, &err), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream (&text, &len);
  assert_int_equal (fk_trace_report_print (out, "x.json", a, &err), 0);
  fclose (out);
  fk_trace_artifact_free (a);
  return text;
}

static void
table_per_metric (void **state)
{
  cleanup_free char *text = report_of (
      "{\"kind\":\"demo\",\"samples\":["
      "{\"metric\":\"lat_ms\",\"kind\":\"LifecycleLatency\",\"unit\":\"Milliseconds\",\"value\":0."
      "5,"
      "\"tags\":{\"b\":\"x\",\"repeat_index\":\"0\",\"level\":\"1\"}},"
      "{\"metric\":\"bp\",\"kind\":\"WorkloadResource\",\"unit\":\"Count\",\"value\":2,"
      "\"tags\":{\"b\":\"x\",\"baseline_p95_ms\":\"0.600000\",\"confidence\":\"smoke_only\"}},"
      "{\"metric\":\"lat_ms\",\"kind\":\"LifecycleLatency\",\"unit\":\"Milliseconds\",\"value\":0."
      "7,"
      "\"tags\":{\"b\":\"x\",\"repeat_index\":\"1\",\"level\":\"1\"}},"
      "{\"metric\":\"lat_ms\",\"kind\":\"LifecycleLatency\",\"unit\":\"Milliseconds\",\"value\":0."
      "6,"
      "\"tags\":{\"b\":\"x\",\"repeat_index\":\"2\",\"level\":\"1\"}}"
      "],\"traces\":[]}");
  const char *want
      = "artifact x.json\n"
        "kind demo: 4 samples, 2 metrics, 0 traces\n"
        "tags of every sample:\n"
        "  b: x\n"
        "\n"
        "lat_ms  (LifecycleLatency, Milliseconds)\n"
        "       n          min          p50          p95          p99          max  confidence\n"
        "       3        0.500        0.600        0.700        0.700        0.700  "
        "superfast_iteration\n"
        "    level: 1\n"
        "\n"
        "bp  (WorkloadResource, Count)\n"
        "       n          min          p50          p95          p99          max  confidence\n"
        "       1        2.000        2.000        2.000        2.000        2.000  smoke_only\n"
        "    baseline_p95_ms: 0.600000\n";
  assert_string_equal (text, want);
}

static void
empty_artifact (void **state)
{
  cleanup_free char *text = report_of ("{\"kind\":\"demo\",\"samples\":[],\"traces\":[]}");
  assert_non_null (strstr (text, "0 samples, 0 metrics"));
  assert_non_null (strstr (text, "(no samples)"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (table_per_metric),
    cmocka_unit_test (empty_artifact),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
