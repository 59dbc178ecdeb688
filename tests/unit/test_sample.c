/* Unit tests for trace/sample: names, the ordered tag map and its limits, JSON form. */
#include "testutil.h"

#include "base/cleanup.h"
#include "trace/sample.h"

static void
kind_and_unit_names (void **state)
{
  static const char *const kinds[] = { "LifecycleLatency", "FirkinOverhead", "WorkloadResource" };
  static const char *const units[] = { "Milliseconds",
                                       "Microseconds",
                                       "Percent",
                                       "Mebibytes",
                                       "Hertz",
                                       "Bytes",
                                       "Count",
                                       "CountPerSecond",
                                       "OperationsPerSecond",
                                       "BytesPerSecond",
                                       "MebibytesPerSecond",
                                       "Iops",
                                       "Ratio" };
  assert_int_equal (FK_TRACE_KIND_COUNT_, 3);
  assert_int_equal (FK_TRACE_UNIT_COUNT_, 13);
  for (int i = 0; i < 3; i++)
    {
      fk_trace_kind_t k;
      assert_string_equal (fk_trace_kind_name ((fk_trace_kind_t)i), kinds[i]);
      assert_int_equal (fk_trace_kind_parse (kinds[i], &k), 0);
      assert_int_equal (k, i);
    }
  for (int i = 0; i < 13; i++)
    {
      fk_trace_unit_t u;
      assert_string_equal (fk_trace_unit_name ((fk_trace_unit_t)i), units[i]);
      assert_int_equal (fk_trace_unit_parse (units[i], &u), 0);
      assert_int_equal (u, i);
    }
  fk_trace_kind_t k;
  fk_trace_unit_t u;
  assert_int_equal (fk_trace_kind_parse ("lifecyclelatency", &k), -1);
  assert_int_equal (fk_trace_unit_parse ("Seconds", &u), -1);
}

static void
tags_keep_insertion_order_and_replace_in_place (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_sample_t *s
      = fk_trace_sample_new ("m", FK_TRACE_KIND_LIFECYCLE_LATENCY, FK_TRACE_UNIT_MILLISECONDS, 1.5);
  assert_int_equal (fk_trace_sample_set_tag (s, "b", "1", &err), 0);
  assert_int_equal (fk_trace_sample_set_tag (s, "a", "2", &err), 0);
  assert_int_equal (fk_trace_sample_set_tagf (s, &err, "c", "%d", 3), 0);
  assert_int_equal (fk_trace_sample_set_tag (s, "a", "two", &err), 0);
  assert_int_equal (s->n_tags, 3);
  assert_string_equal (s->tags[0].key, "b");
  assert_string_equal (s->tags[1].key, "a");
  assert_string_equal (s->tags[1].value, "two");
  assert_string_equal (s->tags[2].key, "c");
  assert_string_equal (fk_trace_sample_tag (s, "c"), "3");
  assert_null (fk_trace_sample_tag (s, "d"));
  fk_trace_sample_t *c = fk_trace_sample_copy (s);
  fk_trace_sample_free (s);
  assert_string_equal (c->metric, "m");
  assert_string_equal (fk_trace_sample_tag (c, "a"), "two");
  fk_trace_sample_free (c);
}

static void
tag_limits_are_errors (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_sample_t *s
      = fk_trace_sample_new ("m", FK_TRACE_KIND_WORKLOAD_RESOURCE, FK_TRACE_UNIT_COUNT, 1);
  char key[FK_TRACE_MAX_TAG_KEY + 2], value[FK_TRACE_MAX_TAG_VALUE + 2];
  memset (key, 'k', sizeof key);
  memset (value, 'v', sizeof value);
  key[FK_TRACE_MAX_TAG_KEY] = '\0';
  value[FK_TRACE_MAX_TAG_VALUE] = '\0';
  /* exactly at the limits: accepted */
  assert_int_equal (fk_trace_sample_set_tag (s, key, value, &err), 0);
  assert_int_equal (strlen (fk_trace_sample_tag (s, key)), FK_TRACE_MAX_TAG_VALUE);
  /* one byte over: refused, nothing truncated */
  key[FK_TRACE_MAX_TAG_KEY] = 'k';
  key[FK_TRACE_MAX_TAG_KEY + 1] = '\0';
  assert_true (fk_trace_sample_set_tag (s, key, "x", &err) < 0);
  assert_error_contains (&err, "is 65 bytes (at most 64)");
  value[FK_TRACE_MAX_TAG_VALUE] = 'v';
  value[FK_TRACE_MAX_TAG_VALUE + 1] = '\0';
  assert_true (fk_trace_sample_set_tag (s, "k", value, &err) < 0);
  assert_error_contains (&err, "257 bytes (at most 256)");
  assert_true (fk_trace_sample_set_tag (s, "", "x", &err) < 0);
  assert_error_contains (&err, "empty tag key");
  assert_int_equal (s->n_tags, 1);
  /* 16 tags fit; the 17th is an error, replacing one of the 16 is not */
  for (int i = 1; i < FK_TRACE_MAX_TAGS; i++)
    {
      char k[8];
      snprintf (k, sizeof k, "t%d", i);
      assert_int_equal (fk_trace_sample_set_tagf (s, &err, k, "%d", i), 0);
    }
  assert_int_equal (s->n_tags, 16);
  assert_true (fk_trace_sample_set_tag (s, "seventeenth", "x", &err) < 0);
  assert_error_contains (&err, "too many tags");
  assert_int_equal (s->n_tags, 16);
  assert_int_equal (fk_trace_sample_set_tag (s, "t1", "replaced", &err), 0);
  assert_string_equal (fk_trace_sample_tag (s, "t1"), "replaced");
  fk_trace_sample_free (s);
}

static void
json_round_trip (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_sample_t *s = fk_trace_sample_new ("lat", FK_TRACE_KIND_FIRKIN_OVERHEAD,
                                              FK_TRACE_UNIT_MICROSECONDS, 0.25);
  assert_int_equal (fk_trace_sample_set_tag (s, "z", "1", &err), 0);
  assert_int_equal (fk_trace_sample_set_tag (s, "a", "2", &err), 0);
  cleanup_json json_t *j = NULL;
  assert_int_equal (fk_trace_sample_to_json (s, &j, &err), 0);
  cleanup_free char *text = json_dumps (j, JSON_COMPACT);
  assert_string_equal (text, "{\"metric\":\"lat\",\"kind\":\"FirkinOverhead\",\"unit\":"
                             "\"Microseconds\",\"value\":0.25,\"tags\":{\"z\":\"1\",\"a\":\"2\"}}");
  fk_trace_sample_t *back = NULL;
  assert_int_equal (fk_trace_sample_from_json (j, &back, &err), 0);
  assert_string_equal (back->metric, "lat");
  assert_int_equal (back->kind, FK_TRACE_KIND_FIRKIN_OVERHEAD);
  assert_int_equal (back->unit, FK_TRACE_UNIT_MICROSECONDS);
  assert_true (back->value == 0.25);
  assert_int_equal (back->n_tags, 2);
  assert_string_equal (back->tags[0].key, "z");
  assert_string_equal (back->tags[1].key, "a");
  fk_trace_sample_free (back);
  s->value = 1.0 / 0.0;
  json_t *bad = NULL;
  assert_true (fk_trace_sample_to_json (s, &bad, &err) < 0);
  assert_error_contains (&err, "not a finite number");
  fk_trace_sample_free (s);
}

static void
from_json_says_what_is_wrong (void **state)
{
  static const struct
  {
    const char *json, *error;
  } cases[] = {
    { "[]", "must be an object" },
    { "{\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":1}", "missing `metric'" },
    { "{\"metric\":3,\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":1}",
      "`metric' must be a string" },
    { "{\"metric\":\"\",\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":1}", "empty" },
    { "{\"metric\":\"m\",\"unit\":\"Count\",\"value\":1}", "`m': missing `kind'" },
    { "{\"metric\":\"m\",\"kind\":\"Latency\",\"unit\":\"Count\",\"value\":1}",
      "unknown kind `Latency' (expected one of LifecycleLatency" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"value\":1}", "missing `unit'" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":\"Seconds\",\"value\":1}",
      "unknown unit `Seconds'" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":1,\"value\":1}",
      "`unit' must be a string" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":\"Count\"}", "missing `value'" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":\"1\"}",
      "`value' must be a number" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":1,\"tags\":[]}",
      "`tags' must be an object" },
    { "{\"metric\":\"m\",\"kind\":\"FirkinOverhead\",\"unit\":\"Count\",\"value\":1,"
      "\"tags\":{\"a\":1}}",
      "tag `a' must be a string" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      cleanup_json json_t *j = json_loads (cases[i].json, 0, NULL);
      assert_non_null (j);
      fk_trace_sample_t *s = NULL;
      assert_true (fk_trace_sample_from_json (j, &s, &err) < 0);
      assert_null (s);
      assert_error_contains (&err, cases[i].error);
    }
  /* 17 tags */
  json_t *tags = json_object ();
  for (int i = 0; i < 17; i++)
    {
      char k[8];
      snprintf (k, sizeof k, "t%d", i);
      json_object_set_new (tags, k, json_string ("v"));
    }
  cleanup_json json_t *j
      = json_pack ("{s:s,s:s,s:s,s:f,s:o}", "metric", "m", "kind", "FirkinOverhead", "unit",
                   "Count", "value", 1.0, "tags", tags);
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_sample_t *s = NULL;
  assert_true (fk_trace_sample_from_json (j, &s, &err) < 0);
  assert_error_contains (&err, "too many tags: 17 (at most 16)");
}

static void
samples_list_owns_its_samples (void **state)
{
  fk_trace_samples_t list = FK_TRACE_SAMPLES_INIT;
  for (int i = 0; i < 100; i++)
    fk_trace_samples_push (&list, fk_trace_sample_new ("m", FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                                       FK_TRACE_UNIT_MILLISECONDS, i));
  assert_int_equal (list.len, 100);
  assert_true (list.items[99]->value == 99);
  fk_trace_samples_clear (&list);
  assert_int_equal (list.len, 0);
  assert_null (list.items);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (kind_and_unit_names),
    cmocka_unit_test (tags_keep_insertion_order_and_replace_in_place),
    cmocka_unit_test (tag_limits_are_errors),
    cmocka_unit_test (json_round_trip),
    cmocka_unit_test (from_json_says_what_is_wrong),
    cmocka_unit_test (samples_list_owns_its_samples),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
