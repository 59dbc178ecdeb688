/* Unit tests for trace/artifact: the serde-shaped pretty writer, atomic writes into new
   directories, and a reader that says exactly what is wrong. */
#include "testutil.h"

#include <dirent.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "trace/artifact.h"

static fk_trace_samples_t
two_samples (void)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t list = FK_TRACE_SAMPLES_INIT;
  fk_trace_sample_t *s = fk_trace_sample_new ("a_ms", FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                              FK_TRACE_UNIT_MILLISECONDS, 0.6);
  assert_int_equal (fk_trace_sample_set_tag (s, "z", "\"quoted\"", &err), 0);
  assert_int_equal (fk_trace_sample_set_tag (s, "a", "1", &err), 0);
  fk_trace_samples_push (&list, s);
  fk_trace_samples_push (
      &list, fk_trace_sample_new ("b", FK_TRACE_KIND_WORKLOAD_RESOURCE, FK_TRACE_UNIT_COUNT, 2));
  return list;
}

static void
format_is_serde_pretty (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t list = two_samples ();
  cleanup_free char *text = NULL;
  assert_int_equal (fk_trace_artifact_format ("k", &list, &text, &err), 0);
  assert_string_equal (text, "{\n"
                             "  \"kind\": \"k\",\n"
                             "  \"samples\": [\n"
                             "    {\n"
                             "      \"metric\": \"a_ms\",\n"
                             "      \"kind\": \"LifecycleLatency\",\n"
                             "      \"unit\": \"Milliseconds\",\n"
                             "      \"value\": 0.6,\n"
                             "      \"tags\": {\n"
                             "        \"z\": \"\\\"quoted\\\"\",\n"
                             "        \"a\": \"1\"\n"
                             "      }\n"
                             "    },\n"
                             "    {\n"
                             "      \"metric\": \"b\",\n"
                             "      \"kind\": \"WorkloadResource\",\n"
                             "      \"unit\": \"Count\",\n"
                             "      \"value\": 2.0,\n"
                             "      \"tags\": {}\n"
                             "    }\n"
                             "  ],\n"
                             "  \"traces\": []\n"
                             "}\n");
  fk_trace_samples_clear (&list);
  cleanup_free char *empty = NULL;
  assert_int_equal (fk_trace_artifact_format ("k", &list, &empty, &err), 0);
  assert_string_equal (empty, "{\n  \"kind\": \"k\",\n  \"samples\": [],\n  \"traces\": []\n}\n");
}

static void
numbers_are_shortest_round_trip (void **state)
{
  static const struct
  {
    double v;
    const char *text;
  } cases[] = {
    { 0.5, "0.5" },
    { 100, "100.0" },
    { 0, "0.0" },
    { -1.25, "-1.25" },
    { 0.1 + 0.2, "0.30000000000000004" },
    { 1e-7, "1e-07" },
    { 1e20, "1e+20" },
    { 123456.789, "123456.789" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_trace_samples_t list = FK_TRACE_SAMPLES_INIT;
      fk_trace_samples_push (&list, fk_trace_sample_new ("m", FK_TRACE_KIND_LIFECYCLE_LATENCY,
                                                         FK_TRACE_UNIT_MILLISECONDS, cases[i].v));
      cleanup_free char *text = NULL;
      assert_int_equal (fk_trace_artifact_format ("k", &list, &text, &err), 0);
      cleanup_free char *want = xasprintf ("\"value\": %s,\n", cases[i].text);
      if (strstr (text, want) == NULL)
        fail_msg ("%.17g: no `%s' in %s", cases[i].v, cases[i].text, text);
      fk_trace_artifact_t *a = NULL;
      assert_int_equal (fk_trace_artifact_parse (text, strlen (text), &a, &err), 0);
      assert_true (a->samples.items[0]->value == cases[i].v);
      fk_trace_artifact_free (a);
      fk_trace_samples_clear (&list);
    }
}

static void
write_creates_parents_and_reads_back (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  cleanup_free char *dir = test_tmpdir ();
  cleanup_free char *path = xasprintf ("%s/a/b/c/art.json", dir);
  fk_trace_samples_t list = two_samples ();
  assert_int_equal (fk_trace_artifact_write (path, "demo", &list, &err), 0);
  /* overwrite: atomic replace, no temp file left */
  assert_int_equal (fk_trace_artifact_write (path, "demo2", &list, &err), 0);
  cleanup_free char *sub = xasprintf ("%s/a/b/c", dir);
  DIR *d = opendir (sub);
  assert_non_null (d);
  struct dirent *de;
  int entries = 0;
  while ((de = readdir (d)) != NULL)
    if (de->d_name[0] != '.' || strlen (de->d_name) > 2)
      {
        assert_string_equal (de->d_name, "art.json");
        entries++;
      }
  closedir (d);
  assert_int_equal (entries, 1);

  fk_trace_artifact_t *a = NULL;
  assert_int_equal (fk_trace_artifact_read (path, &a, &err), 0);
  assert_string_equal (a->kind, "demo2");
  assert_int_equal (a->samples.len, 2);
  assert_int_equal (a->n_traces, 0);
  assert_string_equal (a->samples.items[0]->metric, "a_ms");
  assert_true (a->samples.items[0]->value == 0.6);
  assert_string_equal (a->samples.items[0]->tags[0].key, "z");
  assert_string_equal (a->samples.items[0]->tags[0].value, "\"quoted\"");
  assert_string_equal (a->samples.items[0]->tags[1].key, "a");
  assert_int_equal (a->samples.items[1]->unit, FK_TRACE_UNIT_COUNT);
  fk_trace_artifact_free (a);

  /* a parent that is a file cannot be created */
  cleanup_free char *bad = xasprintf ("%s/a/b/c/art.json/x.json", dir);
  assert_true (fk_trace_artifact_write (bad, "demo", &list, &err) < 0);
  assert_error_contains (&err, "create parent directory");
  assert_true (fk_trace_artifact_write ("", "demo", &list, &err) < 0);
  assert_error_contains (&err, "does not name a file");
  cleanup_free char *slash = xasprintf ("%s/", dir);
  assert_true (fk_trace_artifact_write (slash, "demo", &list, &err) < 0);
  assert_error_contains (&err, "does not name a file");
  /* a missing artifact */
  cleanup_free char *missing = xasprintf ("%s/none.json", dir);
  assert_true (fk_trace_artifact_read (missing, &a, &err) < 0);
  assert_error_contains (&err, "No such file");
  fk_trace_samples_clear (&list);
  test_tmpdir_free (steal_pointer (&dir));
}

static void
reader_says_what_is_wrong (void **state)
{
  static const struct
  {
    const char *json, *error;
  } cases[] = {
    { "", "invalid JSON: the file is empty" },
    { "{\"kind\": \"k\", \"samples\": [", "expected near end of file (the file is truncated" },
    { "{\"kind\": \"k\", \"samples\": [{\"metric\": \"ab", "premature end of input" },
    { "{\"kind\": \"k\",, }", "line 1 column 14: string or '}' expected near ','" },
    { "{\"kind\": \"k\"} x", "end of file expected near 'x'" },
    { "{\"kind\": \"k\", \"kind\": \"j\", \"samples\": [], \"traces\": []}", "duplicate" },
    { "{\"kind\": \"k\", \"samples\": [], \"traces\": []", "line 1" },
    { "[]", "must be a JSON object" },
    { "{\"samples\": [], \"traces\": []}", "missing `kind'" },
    { "{\"kind\": 1, \"samples\": [], \"traces\": []}", "`kind' must be a string" },
    { "{\"kind\": \"\", \"samples\": [], \"traces\": []}", "`kind' is empty" },
    { "{\"kind\": \"k\", \"traces\": []}", "missing `samples'" },
    { "{\"kind\": \"k\", \"samples\": {}, \"traces\": []}", "`samples' must be an array" },
    { "{\"kind\": \"k\", \"samples\": []}", "missing `traces'" },
    { "{\"kind\": \"k\", \"samples\": [], \"traces\": 3}", "`traces' must be an array" },
    { "{\"kind\": \"k\", \"samples\": [{\"metric\":\"m\",\"kind\":\"WorkloadResource\",\"unit\":"
      "\"Count\",\"value\":1}, {\"kind\":\"WorkloadResource\",\"unit\":\"Count\",\"value\":1}], "
      "\"traces\": []}",
      "sample 1: missing `metric'" },
    { "{\"kind\": \"k\", \"samples\": [{\"metric\":\"m\",\"kind\":\"WorkloadResource\",\"unit\":"
      "\"Seconds\",\"value\":1}], \"traces\": []}",
      "sample 0: `m': unknown unit `Seconds'" },
    { "{\"kind\": \"k\", \"samples\": [{\"metric\":\"m\",\"kind\":\"Other\",\"unit\":"
      "\"Count\",\"value\":1}], \"traces\": []}",
      "sample 0: `m': unknown kind `Other'" },
    { "{\"kind\": \"k\", \"samples\": [{\"metric\":\"m\",\"kind\":\"WorkloadResource\",\"unit\":"
      "\"Count\",\"value\":true}], \"traces\": []}",
      "`value' must be a number" },
    { "{\"kind\": \"k\", \"samples\": [7], \"traces\": []}",
      "sample 0: a sample must be an object" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      fk_error_t err = FK_ERROR_INIT;
      fk_trace_artifact_t *a = NULL;
      assert_true (fk_trace_artifact_parse (cases[i].json, strlen (cases[i].json), &a, &err) < 0);
      assert_null (a);
      assert_error_contains (&err, cases[i].error);
    }
  /* too many tags */
  cleanup_free char *tags = xstrdup ("");
  for (int i = 0; i < 17; i++)
    {
      char *next = xasprintf ("%s%s\"t%d\":\"v\"", tags, i ? "," : "", i);
      free (tags);
      tags = next;
    }
  cleanup_free char *json = xasprintf (
      "{\"kind\":\"k\",\"samples\":[{\"metric\":\"m\",\"kind\":\"WorkloadResource\",\"unit\":"
      "\"Count\",\"value\":1,\"tags\":{%s}}],\"traces\":[]}",
      tags);
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_artifact_t *a = NULL;
  assert_true (fk_trace_artifact_parse (json, strlen (json), &a, &err) < 0);
  assert_error_contains (&err, "sample 0: `m': too many tags: 17 (at most 16)");
  /* a truncated file names the file */
  cleanup_free char *dir = test_tmpdir ();
  cleanup_free char *path = xasprintf ("%s/t.json", dir);
  FILE *f = fopen (path, "w");
  fputs ("{\n  \"kind\": \"k\",\n  \"samples\": [\n    {\n      \"metric\": \"m", f);
  fclose (f);
  assert_true (fk_trace_artifact_read (path, &a, &err) < 0);
  assert_non_null (strstr (fk_error_message (&err), "(the file is truncated: it ends inside"));
  cleanup_free char *want = xasprintf ("artifact `%s': invalid JSON at line 5", path);
  assert_error_contains (&err, want);
  test_tmpdir_free (steal_pointer (&dir));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (format_is_serde_pretty),
    cmocka_unit_test (numbers_are_shortest_round_trip),
    cmocka_unit_test (write_creates_parents_and_reads_back),
    cmocka_unit_test (reader_says_what_is_wrong),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
