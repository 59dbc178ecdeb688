/* trace/confidence.h: how far a metric's figures can be trusted, from its sample count. */
#ifndef FK_TRACE_CONFIDENCE_H
#define FK_TRACE_CONFIDENCE_H

#include <stddef.h>

#include "trace/sample.h"

/* The reference's bands: 0 missing, 1-2 smoke_only, 3-4 superfast_iteration, 5-9
   fast_iteration, 10-29 baseline_checkpoint, 30-99 p50_p90_decision_grade, 100-499
   p95_decision_grade, 500 and more p99_decision_grade. Static storage. */
const char *fk_trace_confidence_for_count (size_t count);

/* Sets the `confidence' tag of every sample from the number of samples with its metric
   (an existing tag is replaced in place). Fails when a sample has no room for the tag. */
int fk_trace_confidence_tag_samples (fk_trace_samples_t *samples, fk_error_t *err);

#endif
