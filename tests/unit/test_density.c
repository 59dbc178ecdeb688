/* Unit tests for trace/density: the reference's shell_pool_density_artifact_tags_completion_
   boundary carried over to C, and the edge cases of the breakpoint rule. */
#include "testutil.h"

#include <math.h>

#include "base/cleanup.h"
#include "base/xalloc.h"
#include "base/json.h"
#include "trace/artifact.h"
#include "trace/density.h"

#define US(n) ((uint64_t)(n)*1000u)

static json_t *
find_metric (json_t *samples, const char *metric)
{
  size_t i;
  json_t *s;
  json_array_foreach (samples, i, s)
  {
    if (strcmp (json_string_value (json_object_get (s, "metric")), metric) == 0)
      return s;
  }
  return NULL;
}

static const char *
tag (json_t *sample, const char *key)
{
  return json_string_value (json_object_get (json_object_get (sample, "tags"), key));
}

/* Asserts the sample's tags are exactly keys (in order) */
static void
assert_tag_keys (json_t *sample, const char *const *keys)
{
  json_t *tags = json_object_get (sample, "tags");
  size_t n = 0;
  const char *k;
  json_t *v;
  json_object_foreach (tags, k, v)
  {
    assert_non_null (keys[n]);
    assert_string_equal (k, keys[n]);
    n++;
  }
  assert_null (keys[n]);
}

static void
shell_pool_density_artifact_tags_completion_boundary (void **state)
{
  cleanup_free char *dir = test_tmpdir ();
  cleanup_free char *artifact = xasprintf ("%s/shell-pool-density.json", dir);
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (1, 0, 2, US (500)));
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (1, 1, 2, US (600)));
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (2, 0, 2, US (700)));
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (2, 1, 2, US (800)));
  assert_int_equal (
      fk_trace_density_artifact_write (&fk_trace_shell_pool_density, artifact, &samples, &err), 0);
  fk_trace_samples_clear (&samples);

  /* Read back with jansson alone, as the reference reads with serde_json. */
  json_error_t je;
  cleanup_json json_t *value = json_load_file (artifact, 0, &je);
  assert_non_null (value);
  assert_string_equal (json_string_value (json_object_get (value, "kind")),
                       "live_sandbox_shell_pool_density");
  json_t *list = json_object_get (value, "samples");
  assert_true (json_is_array (list));
  json_t *bp = find_metric (list, FK_TRACE_SHELL_POOL_DENSITY_BREAKPOINT_METRIC);
  assert_non_null (bp);
  assert_true (json_is_real (json_object_get (bp, "value")));
  assert_true (json_real_value (json_object_get (bp, "value")) == 2.0);
  json_t *sample = find_metric (list, "debug.exec.sandbox_shell_pool_run_completion_c1_ms");
  assert_non_null (sample);
  assert_string_equal (tag (sample, "measurement_boundary"), "sandbox_shell_pool_run_completion");
  assert_string_equal (tag (sample, "shell_surface"), "firkin_sandbox_shell_pool");
  assert_string_equal (tag (sample, "output_boundary"), "command_completion");
  assert_string_equal (tag (sample, "warmup_dispatch"), "excluded");

  /* Beyond the reference's assertions: the whole shape, so any change of a tag fails here. */
  assert_int_equal (json_array_size (list), 5);
  assert_true (json_is_array (json_object_get (value, "traces")));
  assert_int_equal (json_array_size (json_object_get (value, "traces")), 0);
  static const char *const level_keys[] = {
    "measurement_boundary", "shell_surface", "output_boundary", "command",    "warmup_dispatch",
    "concurrency_level",    "repeat_index",  "repeat_count",    "confidence", NULL
  };
  assert_tag_keys (sample, level_keys);
  assert_string_equal (json_string_value (json_object_get (sample, "kind")), "LifecycleLatency");
  assert_string_equal (json_string_value (json_object_get (sample, "unit")), "Milliseconds");
  assert_true (fabs (json_real_value (json_object_get (sample, "value")) - 0.5) < 1e-12);
  assert_string_equal (tag (sample, "command"), "printf");
  assert_string_equal (tag (sample, "concurrency_level"), "1");
  assert_string_equal (tag (sample, "repeat_index"), "0");
  assert_string_equal (tag (sample, "repeat_count"), "2");
  assert_string_equal (tag (sample, "confidence"), "smoke_only");
  static const char *const bp_keys[]
      = { "source",          "measurement_boundary", "shell_surface", "output_boundary",
          "baseline_p95_ms", "threshold_p95_ms",     "confidence",    NULL };
  assert_tag_keys (bp, bp_keys);
  assert_string_equal (json_string_value (json_object_get (bp, "kind")), "WorkloadResource");
  assert_string_equal (json_string_value (json_object_get (bp, "unit")), "Count");
  assert_string_equal (tag (bp, "source"), "sandbox-shell-pool-run-completion-p95-threshold");
  assert_string_equal (tag (bp, "measurement_boundary"), "sandbox_shell_pool_run_completion");
  assert_string_equal (tag (bp, "shell_surface"), "firkin_sandbox_shell_pool");
  assert_string_equal (tag (bp, "output_boundary"), "command_completion");
  assert_string_equal (tag (bp, "baseline_p95_ms"), "0.600000");
  assert_string_equal (tag (bp, "threshold_p95_ms"), "1.200000");
  assert_string_equal (tag (bp, "confidence"), "smoke_only");
  /* the breakpoint is last, after the level samples in their order */
  assert_ptr_equal (json_array_get (list, 4), bp);
  assert_ptr_equal (json_array_get (list, 0), sample);
  test_tmpdir_free (steal_pointer (&dir));
}

/* Builds level samples from {level, microseconds} pairs ended by {0, 0}, returns the
   breakpoint (or 0 when there is none) and its baseline/threshold tags. */
static size_t
breakpoint_of (const unsigned (*pairs)[2], char **ret_baseline, char **ret_threshold)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  for (size_t i = 0; pairs[i][0] != 0; i++)
    fk_trace_samples_push (
        &samples, fk_trace_shell_pool_density_sample (pairs[i][0], i, 1, US (pairs[i][1])));
  fk_trace_sample_t *bp = NULL;
  int r = fk_trace_shell_pool_density_breakpoint (&samples, &bp, &err);
  assert_true (r >= 0);
  fk_trace_samples_clear (&samples);
  if (r == 0)
    {
      assert_null (bp);
      return 0;
    }
  size_t level = (size_t)bp->value;
  assert_true (bp->value == (double)level);
  if (ret_baseline)
    *ret_baseline = xstrdup (fk_trace_sample_tag (bp, "baseline_p95_ms"));
  if (ret_threshold)
    *ret_threshold = xstrdup (fk_trace_sample_tag (bp, "threshold_p95_ms"));
  fk_trace_sample_free (bp);
  return level;
}

static void
one_sample (void **state)
{
  static const unsigned s[][2] = { { 1, 1500 }, { 0, 0 } };
  cleanup_free char *b = NULL;
  cleanup_free char *t = NULL;
  assert_int_equal (breakpoint_of (s, &b, &t), 1);
  assert_string_equal (b, "1.500000");
  assert_string_equal (t, "3.000000");
}

static void
no_level_one_means_no_breakpoint (void **state)
{
  static const unsigned s[][2] = { { 2, 500 }, { 4, 600 }, { 8, 700 }, { 0, 0 } };
  assert_int_equal (breakpoint_of (s, NULL, NULL), 0);
  static const unsigned none[][2] = { { 0, 0 } };
  assert_int_equal (breakpoint_of (none, NULL, NULL), 0);
  /* and the artifact then has no breakpoint sample */
  cleanup_free char *dir = test_tmpdir ();
  cleanup_free char *path = xasprintf ("%s/a.json", dir);
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (2, 0, 1, US (500)));
  assert_int_equal (
      fk_trace_density_artifact_write (&fk_trace_shell_pool_density, path, &samples, &err), 0);
  assert_int_equal (samples.len, 1);
  fk_trace_samples_clear (&samples);
  test_tmpdir_free (steal_pointer (&dir));
}

static void
all_levels_over_the_threshold (void **state)
{
  /* baseline 1 ms: threshold 2 ms; every higher level is slower than that */
  static const unsigned s[][2] = { { 1, 1000 }, { 2, 2001 }, { 4, 5000 }, { 8, 9000 }, { 0, 0 } };
  assert_int_equal (breakpoint_of (s, NULL, NULL), 1);
}

static void
highest_level_within_threshold_wins (void **state)
{
  /* not the first crossing: level 4 is back under the threshold after level 2 went over */
  static const unsigned s[][2] = { { 1, 1000 }, { 2, 2500 }, { 4, 1900 }, { 8, 2100 }, { 0, 0 } };
  assert_int_equal (breakpoint_of (s, NULL, NULL), 4);
}

static void
ties_at_the_threshold_count (void **state)
{
  /* p95 exactly twice the baseline is within ("at most twice") */
  static const unsigned s[][2]
      = { { 1, 1000 }, { 1, 1000 }, { 2, 2000 }, { 2, 2000 }, { 4, 2000 }, { 0, 0 } };
  cleanup_free char *b = NULL;
  cleanup_free char *t = NULL;
  assert_int_equal (breakpoint_of (s, &b, &t), 4);
  assert_string_equal (b, "1.000000");
  assert_string_equal (t, "2.000000");
}

static void
baseline_is_level_one_p95 (void **state)
{
  /* 20 samples at level 1: p95 is the 19th smallest (19 ms), not the maximum (100 ms) */
  unsigned s[24][2];
  size_t n = 0;
  for (unsigned i = 1; i <= 19; i++)
    {
      s[n][0] = 1;
      s[n++][1] = i * 1000;
    }
  s[n][0] = 1;
  s[n++][1] = 100000;
  s[n][0] = 2;
  s[n++][1] = 38000; /* exactly 2 x 19 */
  s[n][0] = 3;
  s[n++][1] = 38001;
  s[n][0] = 0;
  s[n][1] = 0;
  cleanup_free char *b = NULL;
  cleanup_free char *t = NULL;
  assert_int_equal (breakpoint_of ((const unsigned (*)[2])s, &b, &t), 2);
  assert_string_equal (b, "19.000000");
  assert_string_equal (t, "38.000000");
}

static void
level_p95_decides_not_p90 (void **state)
{
  /* level 2: 18 fast and 2 slow dispatches out of 20: p90 (rank 18) is within the threshold,
     p95 (rank 19) is not, so level 2 is past the breakpoint */
  unsigned s[23][2];
  size_t n = 0;
  s[n][0] = 1;
  s[n++][1] = 1000;
  for (unsigned i = 0; i < 18; i++)
    {
      s[n][0] = 2;
      s[n++][1] = 1000;
    }
  s[n][0] = 2;
  s[n++][1] = 3000;
  s[n][0] = 2;
  s[n++][1] = 3000;
  s[n][0] = 0;
  s[n][1] = 0;
  assert_int_equal (breakpoint_of ((const unsigned (*)[2])s, NULL, NULL), 1);
  /* one slow dispatch of 20: p95 is still fast, level 2 is within */
  s[n - 1][1] = 1000;
  assert_int_equal (breakpoint_of ((const unsigned (*)[2])s, NULL, NULL), 2);
}

static void
only_level_samples_take_part (void **state)
{
  fk_error_t err = FK_ERROR_INIT;
  fk_trace_samples_t samples = FK_TRACE_SAMPLES_INIT;
  fk_trace_samples_push (&samples, fk_trace_shell_pool_density_sample (1, 0, 1, US (1000)));
  fk_trace_sample_t *s = fk_trace_shell_pool_density_sample (2, 0, 1, US (1000));
  assert_int_equal (fk_trace_sample_set_tag (s, "concurrency_levels", "1,2,16", &err), 0);
  fk_trace_samples_push (&samples, s);
  /* another metric with a level tag: ignored */
  s = fk_trace_sample_new ("debug.exec.other_c16_ms", FK_TRACE_KIND_LIFECYCLE_LATENCY,
                           FK_TRACE_UNIT_MILLISECONDS, 1);
  assert_int_equal (fk_trace_sample_set_tag (s, "concurrency_level", "16", &err), 0);
  fk_trace_samples_push (&samples, s);
  /* a level sample whose level does not parse: ignored */
  s = fk_trace_shell_pool_density_sample (8, 0, 1, US (1000));
  assert_int_equal (fk_trace_sample_set_tag (s, "concurrency_level", " 8", &err), 0);
  fk_trace_samples_push (&samples, s);
  fk_trace_sample_t *bp = NULL;
  assert_int_equal (fk_trace_shell_pool_density_breakpoint (&samples, &bp, &err), 1);
  assert_true (bp->value == 2.0);
  assert_string_equal (fk_trace_sample_tag (bp, "concurrency_levels"), "1,2,16");
  assert_string_equal (bp->tags[6].key, "concurrency_levels");
  fk_trace_sample_free (bp);
  fk_trace_samples_clear (&samples);
}

static void
level_sample_value_is_milliseconds (void **state)
{
  fk_trace_sample_t *s = fk_trace_shell_pool_density_sample (8, 3, 10, 2500000123ull);
  assert_string_equal (s->metric, "debug.exec.sandbox_shell_pool_run_completion_c8_ms");
  assert_true (fabs (s->value - 2500.000123) < 1e-9);
  assert_string_equal (fk_trace_sample_tag (s, "repeat_index"), "3");
  assert_string_equal (fk_trace_sample_tag (s, "repeat_count"), "10");
  fk_trace_sample_free (s);
  size_t levels[] = { 1, 2, 4, 8 };
  cleanup_free char *t = fk_trace_density_levels_tag (levels, 4);
  assert_string_equal (t, "1,2,4,8");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (shell_pool_density_artifact_tags_completion_boundary),
    cmocka_unit_test (one_sample),
    cmocka_unit_test (no_level_one_means_no_breakpoint),
    cmocka_unit_test (all_levels_over_the_threshold),
    cmocka_unit_test (highest_level_within_threshold_wins),
    cmocka_unit_test (ties_at_the_threshold_count),
    cmocka_unit_test (baseline_is_level_one_p95),
    cmocka_unit_test (level_p95_decides_not_p90),
    cmocka_unit_test (only_level_samples_take_part),
    cmocka_unit_test (level_sample_value_is_milliseconds),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
