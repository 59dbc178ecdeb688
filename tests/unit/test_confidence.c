/* Unit tests for trace/confidence: the reference's bands, at every edge. */
#include "testutil.h"

#include "trace/confidence.h"

static void
bands (void **state)
{
  static const struct
  {
    size_t n;
    const char *band;
  } cases[] = {
    { 0, "missing" },
    { 1, "smoke_only" },
    { 2, "smoke_only" },
    { 3, "superfast_iteration" },
    { 4, "superfast_iteration" },
    { 5, "fast_iteration" },
    { 9, "fast_iteration" },
    { 10, "baseline_checkpoint" },
    { 29, "baseline_checkpoint" },
    { 30, "p50_p90_decision_grade" },
    { 99, "p50_p90_decision_grade" },
    { 100, "p95_decision_grade" },
    { 499, "p95_decision_grade" },
    { 500, "p99_decision_grade" },
    { (size_t)-1, "p99_decision_grade" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_string_equal (fk_trace_confidence_for_count (cases[i].n), cases[i].band);
}

static void
tagging_counts_per_metric (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t list = FK_TRACE_SAMPLES_INIT;
  for (int i = 0; i < 5; i++)
    fk_trace_samples_push (&list, fk_trace_sample_new ("a", FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                                       FK_TRACE_UNIT_MILLISECONDS, i));
  fk_trace_samples_push (
      &list, fk_trace_sample_new ("b", FK_TRACE_KIND_WORKLOAD_RESOURCE, FK_TRACE_UNIT_COUNT, 1));
  assert_int_equal (fk_trace_sample_set_tag (list.items[5], "confidence", "old", &err), 0);
  assert_int_equal (fk_trace_sample_set_tag (list.items[5], "after", "x", &err), 0);
  assert_int_equal (fk_trace_confidence_tag_samples (&list, &err), 0);
  for (int i = 0; i < 5; i++)
    assert_string_equal (fk_trace_sample_tag (list.items[i], "confidence"), "fast_iteration");
  /* replaced in place */
  assert_string_equal (list.items[5]->tags[0].key, "confidence");
  assert_string_equal (list.items[5]->tags[0].value, "smoke_only");
  assert_int_equal (list.items[5]->n_tags, 2);
  fk_trace_samples_clear (&list);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (bands),
    cmocka_unit_test (tagging_counts_per_metric),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
