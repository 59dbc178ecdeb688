/* trace/sample.h: one benchmark sample {metric, kind, unit, value, tags}, its ordered tag map
   with hard limits, a growable list of samples, and the sample's JSON form. */
#ifndef FK_TRACE_SAMPLE_H
#define FK_TRACE_SAMPLE_H

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* Going past a limit is an error, never a silent truncation. */
#define FK_TRACE_MAX_TAGS 16
#define FK_TRACE_MAX_TAG_KEY 64    /* bytes */
#define FK_TRACE_MAX_TAG_VALUE 256 /* bytes */

typedef enum
{
  FK_TRACE_KIND_LIFECYCLE_LATENCY,
  FK_TRACE_KIND_FIRKIN_OVERHEAD,
  FK_TRACE_KIND_WORKLOAD_RESOURCE,
  FK_TRACE_KIND_COUNT_
} fk_trace_kind_t;

typedef enum
{
  FK_TRACE_UNIT_MILLISECONDS,
  FK_TRACE_UNIT_MICROSECONDS,
  FK_TRACE_UNIT_PERCENT,
  FK_TRACE_UNIT_MEBIBYTES,
  FK_TRACE_UNIT_HERTZ,
  FK_TRACE_UNIT_BYTES,
  FK_TRACE_UNIT_COUNT,
  FK_TRACE_UNIT_COUNT_PER_SECOND,
  FK_TRACE_UNIT_OPERATIONS_PER_SECOND,
  FK_TRACE_UNIT_BYTES_PER_SECOND,
  FK_TRACE_UNIT_MEBIBYTES_PER_SECOND,
  FK_TRACE_UNIT_IOPS,
  FK_TRACE_UNIT_RATIO,
  FK_TRACE_UNIT_COUNT_
} fk_trace_unit_t;

typedef struct fk_trace_tag
{
  char *key;   /* owned */
  char *value; /* owned */
} fk_trace_tag_t;

/* Static and dynamic tags share one map, in insertion order. */
typedef struct fk_trace_sample
{
  char *metric; /* owned */
  fk_trace_kind_t kind;
  fk_trace_unit_t unit;
  double value;
  size_t n_tags;
  fk_trace_tag_t tags[FK_TRACE_MAX_TAGS];
} fk_trace_sample_t;

typedef struct fk_trace_samples
{
  fk_trace_sample_t **items; /* owned, each owned */
  size_t len, cap;
} fk_trace_samples_t;

#define FK_TRACE_SAMPLES_INIT                                                                      \
  {                                                                                                \
    NULL, 0, 0                                                                                     \
  }

/* The JSON name of a kind or unit ("LifecycleLatency", "Milliseconds", ...). */
const char *fk_trace_kind_name (fk_trace_kind_t kind);
const char *fk_trace_unit_name (fk_trace_unit_t unit);
/* Looks a JSON name up; returns -1 when unknown. */
int fk_trace_kind_parse (const char *name, fk_trace_kind_t *ret_kind);
int fk_trace_unit_parse (const char *name, fk_trace_unit_t *ret_unit);
/* "A, B, C": every name, for error messages (static storage). */
const char *fk_trace_kind_names (void);
const char *fk_trace_unit_names (void);

/* A new sample without tags; free with fk_trace_sample_free. Aborts on out-of-memory. */
fk_trace_sample_t *fk_trace_sample_new (const char *metric, fk_trace_kind_t kind,
                                        fk_trace_unit_t unit, double value);
void fk_trace_sample_free (fk_trace_sample_t *sample);
/* A deep copy; free with fk_trace_sample_free. */
fk_trace_sample_t *fk_trace_sample_copy (const fk_trace_sample_t *sample);

/* Sets a tag: an existing key gets the new value in place (its position is kept), a new key
   is appended. More than FK_TRACE_MAX_TAGS tags, an empty key, or a key or value over its
   byte limit is an error and leaves the sample unchanged. */
int fk_trace_sample_set_tag (fk_trace_sample_t *sample, const char *key, const char *value,
                             fk_error_t *err);
/* Like fk_trace_sample_set_tag with a printf-formatted value. */
int fk_trace_sample_set_tagf (fk_trace_sample_t *sample, fk_error_t *err, const char *key,
                              const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));
/* The value of a tag (borrowed), or NULL. */
const char *fk_trace_sample_tag (const fk_trace_sample_t *sample, const char *key);

/* {"metric","kind","unit","value","tags":{...}}, tags in order. A value that is not finite
   cannot be written as JSON: that is an error. Caller decrefs. */
int fk_trace_sample_to_json (const fk_trace_sample_t *sample, json_t **ret_json, fk_error_t *err);
/* Validates and converts one sample object; err says what is wrong (missing metric, unknown
   kind or unit, wrong type, too many tags ...). */
int fk_trace_sample_from_json (const json_t *json, fk_trace_sample_t **ret_sample, fk_error_t *err);

/* Appends sample, taking ownership. */
void fk_trace_samples_push (fk_trace_samples_t *samples, fk_trace_sample_t *sample);
/* Frees every sample and the array; samples is empty afterwards. */
void fk_trace_samples_clear (fk_trace_samples_t *samples);

#endif
