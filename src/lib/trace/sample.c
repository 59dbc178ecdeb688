/* trace/sample.c: see sample.h. */
#include "trace/sample.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/xalloc.h"

static const char *const kind_names[FK_TRACE_KIND_COUNT_] = {
  [FK_TRACE_KIND_LIFECYCLE_LATENCY] = "LifecycleLatency",
  [FK_TRACE_KIND_FIRKIN_OVERHEAD] = "FirkinOverhead",
  [FK_TRACE_KIND_WORKLOAD_RESOURCE] = "WorkloadResource",
};

static const char *const unit_names[FK_TRACE_UNIT_COUNT_] = {
  [FK_TRACE_UNIT_MILLISECONDS] = "Milliseconds",
  [FK_TRACE_UNIT_MICROSECONDS] = "Microseconds",
  [FK_TRACE_UNIT_PERCENT] = "Percent",
  [FK_TRACE_UNIT_MEBIBYTES] = "Mebibytes",
  [FK_TRACE_UNIT_HERTZ] = "Hertz",
  [FK_TRACE_UNIT_BYTES] = "Bytes",
  [FK_TRACE_UNIT_COUNT] = "Count",
  [FK_TRACE_UNIT_COUNT_PER_SECOND] = "CountPerSecond",
  [FK_TRACE_UNIT_OPERATIONS_PER_SECOND] = "OperationsPerSecond",
  [FK_TRACE_UNIT_BYTES_PER_SECOND] = "BytesPerSecond",
  [FK_TRACE_UNIT_MEBIBYTES_PER_SECOND] = "MebibytesPerSecond",
  [FK_TRACE_UNIT_IOPS] = "Iops",
  [FK_TRACE_UNIT_RATIO] = "Ratio",
};

const char *
fk_trace_kind_name (fk_trace_kind_t kind)
{
  return (unsigned)kind < FK_TRACE_KIND_COUNT_ ? kind_names[kind] : "?";
}

const char *
fk_trace_unit_name (fk_trace_unit_t unit)
{
  return (unsigned)unit < FK_TRACE_UNIT_COUNT_ ? unit_names[unit] : "?";
}

int
fk_trace_kind_parse (const char *name, fk_trace_kind_t *ret_kind)
{
  for (int i = 0; i < FK_TRACE_KIND_COUNT_; i++)
    if (strcmp (name, kind_names[i]) == 0)
      {
        *ret_kind = (fk_trace_kind_t)i;
        return 0;
      }
  return -1;
}

int
fk_trace_unit_parse (const char *name, fk_trace_unit_t *ret_unit)
{
  for (int i = 0; i < FK_TRACE_UNIT_COUNT_; i++)
    if (strcmp (name, unit_names[i]) == 0)
      {
        *ret_unit = (fk_trace_unit_t)i;
        return 0;
      }
  return -1;
}

const char *
fk_trace_kind_names (void)
{
  return "LifecycleLatency, FirkinOverhead, WorkloadResource";
}

const char *
fk_trace_unit_names (void)
{
  return "Milliseconds, Microseconds, Percent, Mebibytes, Hertz, Bytes, Count, CountPerSecond, "
         "OperationsPerSecond, BytesPerSecond, MebibytesPerSecond, Iops, Ratio";
}

fk_trace_sample_t *
fk_trace_sample_new (const char *metric, fk_trace_kind_t kind, fk_trace_unit_t unit, double value)
{
  fk_trace_sample_t *s = xcalloc (1, sizeof *s);
  s->metric = xstrdup (metric);
  s->kind = kind;
  s->unit = unit;
  s->value = value;
  return s;
}

void
fk_trace_sample_free (fk_trace_sample_t *sample)
{
  if (sample == NULL)
    return;
  for (size_t i = 0; i < sample->n_tags; i++)
    {
      free (sample->tags[i].key);
      free (sample->tags[i].value);
    }
  free (sample->metric);
  free (sample);
}

fk_trace_sample_t *
fk_trace_sample_copy (const fk_trace_sample_t *sample)
{
  fk_trace_sample_t *c
      = fk_trace_sample_new (sample->metric, sample->kind, sample->unit, sample->value);
  for (size_t i = 0; i < sample->n_tags; i++)
    {
      c->tags[i].key = xstrdup (sample->tags[i].key);
      c->tags[i].value = xstrdup (sample->tags[i].value);
    }
  c->n_tags = sample->n_tags;
  return c;
}

int
fk_trace_sample_set_tag (fk_trace_sample_t *sample, const char *key, const char *value,
                         fk_error_t *err)
{
  size_t klen = strlen (key), vlen = strlen (value);
  if (klen == 0)
    return fk_error_set (err, EINVAL, "sample `%s': empty tag key", sample->metric);
  if (klen > FK_TRACE_MAX_TAG_KEY)
    return fk_error_set (err, EINVAL, "sample `%s': tag key `%.*s...' is %zu bytes (at most %d)",
                         sample->metric, 32, key, klen, FK_TRACE_MAX_TAG_KEY);
  if (vlen > FK_TRACE_MAX_TAG_VALUE)
    return fk_error_set (err, EINVAL, "sample `%s': tag `%s' value is %zu bytes (at most %d)",
                         sample->metric, key, vlen, FK_TRACE_MAX_TAG_VALUE);
  for (size_t i = 0; i < sample->n_tags; i++)
    if (strcmp (sample->tags[i].key, key) == 0)
      {
        char *v = xstrdup (value);
        free (sample->tags[i].value);
        sample->tags[i].value = v;
        return 0;
      }
  if (sample->n_tags >= FK_TRACE_MAX_TAGS)
    return fk_error_set (err, EINVAL,
                         "sample `%s': too many tags: `%s' would be tag %d (at most %d)",
                         sample->metric, key, FK_TRACE_MAX_TAGS + 1, FK_TRACE_MAX_TAGS);
  sample->tags[sample->n_tags].key = xstrdup (key);
  sample->tags[sample->n_tags].value = xstrdup (value);
  sample->n_tags++;
  return 0;
}

int
fk_trace_sample_set_tagf (fk_trace_sample_t *sample, fk_error_t *err, const char *key,
                          const char *fmt, ...)
{
  cleanup_free char *value = NULL;
  va_list ap;
  va_start (ap, fmt);
  int r = vasprintf (&value, fmt, ap);
  va_end (ap);
  if (r < 0)
    fk_oom (0);
  return fk_trace_sample_set_tag (sample, key, value, err);
}

const char *
fk_trace_sample_tag (const fk_trace_sample_t *sample, const char *key)
{
  for (size_t i = 0; i < sample->n_tags; i++)
    if (strcmp (sample->tags[i].key, key) == 0)
      return sample->tags[i].value;
  return NULL;
}

int
fk_trace_sample_to_json (const fk_trace_sample_t *sample, json_t **ret_json, fk_error_t *err)
{
  if (!isfinite (sample->value))
    return fk_error_set (err, EINVAL, "sample `%s': value %f is not a finite number",
                         sample->metric, sample->value);
  json_t *tags = json_object ();
  for (size_t i = 0; i < sample->n_tags; i++)
    json_object_set_new (tags, sample->tags[i].key, json_string (sample->tags[i].value));
  json_t *j = json_object ();
  json_object_set_new (j, "metric", json_string (sample->metric));
  json_object_set_new (j, "kind", json_string (fk_trace_kind_name (sample->kind)));
  json_object_set_new (j, "unit", json_string (fk_trace_unit_name (sample->unit)));
  json_object_set_new (j, "value", json_real (sample->value));
  json_object_set_new (j, "tags", tags);
  *ret_json = j;
  return 0;
}

int
fk_trace_sample_from_json (const json_t *json, fk_trace_sample_t **ret_sample, fk_error_t *err)
{
  if (!json_is_object (json))
    return fk_error_set (err, EINVAL, "a sample must be an object");
  json_t *metric = json_object_get (json, "metric");
  if (metric == NULL)
    return fk_error_set (err, EINVAL, "missing `metric'");
  if (!json_is_string (metric))
    return fk_error_set (err, EINVAL, "`metric' must be a string");
  const char *m = json_string_value (metric);
  if (m[0] == '\0')
    return fk_error_set (err, EINVAL, "`metric' is empty");
  if (strlen (m) != json_string_length (metric))
    return fk_error_set (err, EINVAL, "`metric' contains a NUL byte");

  fk_trace_kind_t kind;
  fk_trace_unit_t unit;
  json_t *k = json_object_get (json, "kind");
  if (k == NULL)
    return fk_error_set (err, EINVAL, "`%s': missing `kind'", m);
  if (!json_is_string (k))
    return fk_error_set (err, EINVAL, "`%s': `kind' must be a string", m);
  if (fk_trace_kind_parse (json_string_value (k), &kind) < 0)
    return fk_error_set (err, EINVAL, "`%s': unknown kind `%s' (expected one of %s)", m,
                         json_string_value (k), fk_trace_kind_names ());
  json_t *u = json_object_get (json, "unit");
  if (u == NULL)
    return fk_error_set (err, EINVAL, "`%s': missing `unit'", m);
  if (!json_is_string (u))
    return fk_error_set (err, EINVAL, "`%s': `unit' must be a string", m);
  if (fk_trace_unit_parse (json_string_value (u), &unit) < 0)
    return fk_error_set (err, EINVAL, "`%s': unknown unit `%s' (expected one of %s)", m,
                         json_string_value (u), fk_trace_unit_names ());
  json_t *v = json_object_get (json, "value");
  if (v == NULL)
    return fk_error_set (err, EINVAL, "`%s': missing `value'", m);
  if (!json_is_number (v))
    return fk_error_set (err, EINVAL, "`%s': `value' must be a number", m);

  fk_trace_sample_t *s = fk_trace_sample_new (m, kind, unit, json_number_value (v));
  json_t *tags = json_object_get (json, "tags");
  if (tags != NULL && !json_is_object (tags))
    {
      fk_trace_sample_free (s);
      return fk_error_set (err, EINVAL, "`%s': `tags' must be an object", m);
    }
  if (tags != NULL && json_object_size (tags) > FK_TRACE_MAX_TAGS)
    {
      fk_trace_sample_free (s);
      return fk_error_set (err, EINVAL, "`%s': too many tags: %zu (at most %d)", m,
                           json_object_size (tags), FK_TRACE_MAX_TAGS);
    }
  const char *key;
  json_t *tv;
  json_object_foreach (tags, key, tv)
  {
    if (!json_is_string (tv))
      {
        fk_trace_sample_free (s);
        return fk_error_set (err, EINVAL, "`%s': tag `%s' must be a string", m, key);
      }
    if (strlen (json_string_value (tv)) != json_string_length (tv))
      {
        fk_trace_sample_free (s);
        return fk_error_set (err, EINVAL, "`%s': tag `%s' contains a NUL byte", m, key);
      }
    if (fk_trace_sample_set_tag (s, key, json_string_value (tv), err) < 0)
      {
        fk_trace_sample_free (s);
        return -1;
      }
  }
  *ret_sample = s;
  return 0;
}

void
fk_trace_samples_push (fk_trace_samples_t *samples, fk_trace_sample_t *sample)
{
  xgrow ((void **)&samples->items, &samples->cap, samples->len + 1, sizeof *samples->items);
  samples->items[samples->len++] = sample;
}

void
fk_trace_samples_clear (fk_trace_samples_t *samples)
{
  for (size_t i = 0; i < samples->len; i++)
    fk_trace_sample_free (samples->items[i]);
  free (samples->items);
  samples->items = NULL;
  samples->len = samples->cap = 0;
}
