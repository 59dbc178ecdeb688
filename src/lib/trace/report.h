/* trace/report.h: a human-readable table of an artifact, one block per metric. */
#ifndef FK_TRACE_REPORT_H
#define FK_TRACE_REPORT_H

#include <stdio.h>

#include "trace/artifact.h"

/* Prints, per metric in order of first appearance: its kind and unit, n, min, p50, p95, p99,
   max and the confidence for n, then the tags every sample of the metric shares (other than
   `confidence' and the per-repeat ones), e.g. a breakpoint's baseline and threshold. */
int fk_trace_report_print (FILE *out, const char *path, const fk_trace_artifact_t *artifact,
                           fk_error_t *err);

#endif
